//! The process answers, tells the truth about its database, and exposes its metrics.
use meoktong_tests::{Backend, TestDb, spawn_app, spawn_app_on, spawn_app_with};

#[tokio::test]
async fn healthz_readyz_and_metrics_answer() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(r.status(), 200);
    let r = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    assert!(text.contains("meoktong_outbox_depth"), "{text}");
    assert!(
        text.contains("meoktong_outbox_oldest_age_seconds"),
        "{text}"
    );
}

#[tokio::test]
async fn readyz_fails_when_the_database_is_gone() {
    let app = spawn_app_with(Backend::Sqlite, |_| {}, Default::default()).await;
    app.db.conn.clone().close().await.expect("close pool");
    let r = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(r.status(), 503);
}

#[tokio::test]
async fn status_json_follows_the_contract() {
    let app = spawn_app_with(
        Backend::default_for_tests(),
        |s| {
            s.dependency = toml_deps();
        },
        Default::default(),
    )
    .await;
    let v: serde_json::Value = app
        .client
        .get(app.url("/status.json"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert!(
        v["generated_at"]
            .as_str()
            .expect("generated_at")
            .ends_with("+09:00"),
        "{v}"
    );
    let deps = v["dependencies"].as_array().expect("array");
    assert_eq!(deps.len(), 1);
    assert_eq!(deps[0]["slug"], "kakao-login");
    assert_eq!(deps[0]["name_en"], "Kakao Login");
    assert_eq!(deps[0]["category"], "login");
    assert_eq!(deps[0]["state"], "unknown");
    assert!(v["incidents"].as_array().expect("incidents").is_empty());
    let page = app
        .client
        .get(app.url("/status"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("body");
    assert!(page.contains("카카오 로그인"), "Korean by default");
    let page = app
        .client
        .get(app.url("/status?lang=en"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("body");
    assert!(page.contains("Kakao Login"));
}

/// `meoktong_dependency_state{dependency="…"}` in a /metrics text, if present.
fn state_gauge(text: &str, slug: &str) -> Option<i64> {
    let prefix = format!("meoktong_dependency_state{{dependency=\"{slug}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.trim().parse().ok())
}

async fn metrics_text(app: &meoktong_tests::TestApp) -> String {
    app.client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body")
}

#[tokio::test]
async fn dependency_state_gauge_reports_what_another_process_decided() {
    let db = TestDb::new(Backend::default_for_tests()).await;
    let tweak = |s: &mut meoktong_config::Settings| s.dependency = toml_deps();
    let first = spawn_app_on(&db, tweak, Default::default()).await;
    let second = spawn_app_on(&db, tweak, Default::default()).await;
    assert_eq!(
        state_gauge(&metrics_text(&second).await, "kakao-login"),
        Some(0),
        "unknown at start, reported before any change"
    );
    // Another process's detector puts the dependency down (as detect.rs writes it).
    let dep = meoktong_storage::catalog::dependency_by_slug(&first.db, "kakao-login")
        .await
        .expect("q")
        .expect("dep");
    let row = meoktong_storage::incidents::dependency_state(&first.db.conn, dep.id)
        .await
        .expect("q")
        .expect("state row");
    let now = meoktong_storage::now_ms();
    let written = meoktong_storage::incidents::update_dependency_state(
        &first.db.conn,
        dep.id,
        row.version,
        "down",
        now,
        &row.tracker,
        None,
        now,
    )
    .await
    .expect("write state");
    assert!(written);
    for app in [&first, &second] {
        assert_eq!(
            state_gauge(&metrics_text(app).await, "kakao-login"),
            Some(3),
            "down (3) on every replica"
        );
    }
    // And on a process started afterwards.
    let third = spawn_app_on(&db, tweak, Default::default()).await;
    assert_eq!(
        state_gauge(&metrics_text(&third).await, "kakao-login"),
        Some(3)
    );
}

fn toml_deps() -> Vec<meoktong_config::DependencySettings> {
    let s = meoktong_config::load_str(
        r#"
[[dependency]]
slug = "kakao-login"
name = "카카오 로그인"
name_en = "Kakao Login"
category = "login"
  [[dependency.check]]
  name = "oidc-discovery"
  type = "http"
  url = "http://127.0.0.1:9/.well-known/openid-configuration"
  interval = "10s"
"#,
        None,
    )
    .expect("config");
    s.dependency
}
