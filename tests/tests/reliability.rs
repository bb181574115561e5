//! The service through a database outage: PostgreSQL reached through a TCP proxy the test cuts
//! (every open connection dropped, new ones refused — what clients see while PostgreSQL
//! restarts), then restores. Meanwhile `/readyz` says 503 and `/healthz` still answers; after
//! it, `/readyz` is 200 again and the probe loop records results again, without a restart.
//! Skipped unless `TEST_DATABASE_URL` names a PostgreSQL server.
mod support;

use meoktong::BuildOptions;
use meoktong_probe::simulator::Simulator;
use meoktong_storage::now_ms;
use meoktong_tests::{Backend, TestDb, spawn_app_on};
use std::net::SocketAddr;
use std::time::Duration;
use support::{PATIENCE, Proxy, eventually, location, results_at, simulated};

#[tokio::test]
async fn a_database_outage_is_reported_by_readyz_and_survived() {
    if !std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres")) {
        eprintln!("skipped: TEST_DATABASE_URL does not name a PostgreSQL server");
        return;
    }
    let sim = Simulator::start("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("simulator");
    let test_db = TestDb::new(Backend::Postgres).await;
    let mut url = url::Url::parse(&test_db.url).expect("url");
    let target: SocketAddr = format!(
        "{}:{}",
        url.host_str().expect("host"),
        url.port().unwrap_or(5432)
    )
    .parse()
    .expect("addr");
    let proxy = Proxy::start(target).await;
    url.set_port(Some(proxy.addr.port())).expect("port");
    url.set_host(Some("127.0.0.1")).expect("host");
    let dep = simulated(&sim.base_url(), "kakao-login", Duration::from_secs(1));
    let db_url = url.to_string();
    let app = spawn_app_on(
        &test_db,
        move |s| {
            s.database.url = db_url;
            s.probe.location = "seoul-kt".into();
            s.dependency = vec![dep];
        },
        BuildOptions {
            run_workers: true,
            ..Default::default()
        },
    )
    .await;
    let status = |path: &'static str| {
        let (client, url) = (app.client.clone(), app.url(path));
        async move {
            client
                .get(url)
                .timeout(Duration::from_secs(20))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .ok()
        }
    };
    assert_eq!(status("/readyz").await, Some(200));
    // A second connection, straight to PostgreSQL, to watch what the app records.
    let direct = test_db.connect().await;
    let loc = eventually("the probe location", PATIENCE, || {
        location(&direct, "seoul-kt")
    })
    .await;
    eventually("probe results", PATIENCE, || async {
        (!results_at(&direct, loc.id).await.is_empty()).then_some(())
    })
    .await;

    // The database goes away.
    proxy.set_up(false);
    eventually("/readyz to say 503", PATIENCE, || async {
        (status("/readyz").await == Some(503)).then_some(())
    })
    .await;
    assert_eq!(
        status("/healthz").await,
        Some(200),
        "the process still answers"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        status("/readyz").await,
        Some(503),
        "still not ready while the database is away"
    );

    // It comes back: ready again, and probing goes on by itself.
    let back = now_ms();
    proxy.set_up(true);
    eventually("/readyz to say 200 again", PATIENCE, || async {
        (status("/readyz").await == Some(200)).then_some(())
    })
    .await;
    eventually("probe results after the outage", PATIENCE, || async {
        results_at(&direct, loc.id)
            .await
            .iter()
            .any(|r| r.started_at > back)
            .then_some(())
    })
    .await;
    app.stop().await.expect("the app stops cleanly, no panic");
}
