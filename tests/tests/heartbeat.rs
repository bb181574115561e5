//! Store heartbeats end to end: the whole app with its workers, a store pinging
//! `/hb/{token}` with a short period, then falling silent, then coming back.
//!
//! The merchant is told like any other outage (SMS via the `log` provider, recorded in the
//! outbox), and only that merchant: another shop, and the public status page and API, never
//! hear of it. On PostgreSQL a second replica sweeps the same database, and still each notice
//! goes out once.
mod support;

use meoktong::BuildOptions;
use meoktong::commands::heartbeat::{HeartbeatSpec, create_heartbeat};
use meoktong_storage::entity::{heartbeat_monitors, incidents};
use meoktong_storage::sea_orm::EntityTrait;
use meoktong_tests::{Backend, TestApp, spawn_app_on, spawn_app_with};
use std::time::Duration;
use support::{PATIENCE, SETTLE, eventually, import, notices_of, sent_sms, shop};

const SPEC: HeartbeatSpec<'static> = HeartbeatSpec {
    name: "counter POS",
    period: Duration::from_secs(1),
    grace: Duration::from_secs(3),
};

fn no_probes(s: &mut meoktong_config::Settings) {
    s.probe.enabled = false;
}

async fn ping(app: &TestApp, url: &str, post: bool) -> (u16, String) {
    let req = if post {
        app.client.post(url)
    } else {
        app.client.get(url)
    };
    let resp = req.send().await.expect("ping");
    (resp.status().as_u16(), resp.text().await.expect("body"))
}

/// Pings every 300 ms for `d`.
async fn keep_pinging(app: &TestApp, url: &str, d: Duration) {
    let until = std::time::Instant::now() + d;
    while std::time::Instant::now() < until {
        assert_eq!(ping(app, url, false).await.0, 200);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn a_silent_store_is_told_to_switch_to_lte_and_told_again_when_it_is_back() {
    for backend in Backend::each() {
        let app = spawn_app_with(
            backend,
            no_probes,
            BuildOptions {
                run_workers: true,
                ..Default::default()
            },
        )
        .await;
        let public_url = app.address.clone();
        // On PostgreSQL a second replica sweeps the same monitors.
        let replica = match backend {
            Backend::Postgres => Some(
                spawn_app_on(
                    &app.test_db,
                    // Replicas share one public URL (behind one load balancer).
                    |s| {
                        no_probes(s);
                        s.server.public_url = public_url;
                    },
                    BuildOptions {
                        run_workers: true,
                        ..Default::default()
                    },
                )
                .await,
            ),
            Backend::Sqlite => None,
        };
        let ids = import(
            &app.db,
            &app.crypto,
            &[
                shop("바삭 분식", "+821011112222", "a@example.com", &[]),
                shop("고요 카페", "+821033334444", "b@example.com", &[]),
            ],
        )
        .await;
        let (pinging, silent) = (ids[0], ids[1]);
        let url = create_heartbeat(&app.db, &app.crypto, &app.address, "010-1111-2222", SPEC)
            .await
            .expect("heartbeat");
        assert!(url.starts_with(&format!("{}/hb/", app.address)), "{url}");
        // A heartbeat nobody ever pinged is not an outage: it was never set up.
        create_heartbeat(&app.db, &app.crypto, &app.address, "010-3333-4444", SPEC)
            .await
            .expect("heartbeat");

        assert_eq!(
            ping(&app, &url, false).await,
            (200, "OK\n".to_string()),
            "{backend:?}: GET pings"
        );
        assert_eq!(
            ping(&app, &url, true).await.0,
            200,
            "{backend:?}: POST pings"
        );
        keep_pinging(&app, &url, Duration::from_secs(6)).await;
        assert!(
            notices_of(&app.db, pinging, "store_offline")
                .await
                .is_empty(),
            "{backend:?}: no alert while pinging"
        );

        // Silence: period + grace pass, and the merchant gets the SMS.
        let sms = eventually("the store-offline SMS", PATIENCE, || {
            sent_sms(&app.db, pinging, "store_offline")
        })
        .await;
        assert!(
            sms.body.starts_with("[매장 인터넷]"),
            "{backend:?}: {}",
            sms.body
        );
        assert!(
            sms.body.contains("LTE"),
            "{backend:?}: says what to do: {}",
            sms.body
        );
        assert!(
            sms.body.contains(&format!("{}/a/", app.address)),
            "{backend:?}: carries the alert link: {}",
            sms.body
        );
        let monitor = heartbeat_monitors::Entity::find()
            .all(&app.db.conn)
            .await
            .expect("q")
            .into_iter()
            .find(|m| m.merchant_id == pinging)
            .expect("monitor");
        assert_eq!(monitor.state, "down");
        let incident_id = monitor.open_incident_id.expect("an open incident");
        let incident = incidents::Entity::find_by_id(incident_id)
            .one(&app.db.conn)
            .await
            .expect("q")
            .expect("incident");
        assert_eq!(
            incident.started_at,
            monitor.last_ping_at.expect("pinged"),
            "{backend:?}: dated by the last ping"
        );

        // Nobody else hears of it: not the public status page, not the public API.
        let status: serde_json::Value = app
            .client
            .get(app.url("/status.json"))
            .send()
            .await
            .expect("status")
            .json()
            .await
            .expect("json");
        assert!(
            !status.to_string().contains("store-internet"),
            "{backend:?}: {status}"
        );
        assert!(
            status["incidents"]
                .as_array()
                .expect("incidents")
                .iter()
                .all(|i| i["id"] != incident_id),
            "{backend:?}: {status}"
        );
        let api: serde_json::Value = app
            .client
            .get(app.url("/api/v1/incidents"))
            .send()
            .await
            .expect("api")
            .json()
            .await
            .expect("json");
        assert!(
            !api.to_string().contains(&format!("\"id\":{incident_id},")),
            "{backend:?}: {api}"
        );

        // Pings resume: the incident ends at the first ping, and the merchant hears it is back.
        let back_at = meoktong_storage::now_ms();
        assert_eq!(ping(&app, &url, true).await.0, 200);
        let back = eventually("the store-back SMS", PATIENCE, || {
            sent_sms(&app.db, pinging, "store_back")
        })
        .await;
        assert!(
            back.body.starts_with("[매장 인터넷 복구]"),
            "{backend:?}: {}",
            back.body
        );
        let incident = incidents::Entity::find_by_id(incident_id)
            .one(&app.db.conn)
            .await
            .expect("q")
            .expect("incident");
        let resolved = incident.resolved_at.expect("resolved");
        assert!(
            resolved >= back_at && resolved < back_at + 5_000,
            "{backend:?}: resolved at the first ping"
        );

        // Exactly once each, for this merchant only, whatever the replicas did meanwhile.
        keep_pinging(&app, &url, SETTLE).await;
        assert_eq!(
            notices_of(&app.db, pinging, "store_offline").await.len(),
            1,
            "{backend:?}"
        );
        assert_eq!(
            notices_of(&app.db, pinging, "store_back").await.len(),
            1,
            "{backend:?}"
        );
        for kind in ["store_offline", "store_back", "down"] {
            assert!(
                notices_of(&app.db, silent, kind).await.is_empty(),
                "{backend:?}: the other shop hears nothing ({kind})"
            );
        }
        if let Some(r) = replica {
            r.stop().await.expect("replica stops");
        }
        app.stop().await.expect("app stops");
    }
}

#[tokio::test]
async fn unknown_or_malformed_tokens_are_not_found() {
    let app = spawn_app_with(Backend::Sqlite, no_probes, BuildOptions::default()).await;
    for path in ["/hb/nope", &format!("/hb/{}", "x".repeat(300))] {
        let resp = app.client.get(app.url(path)).send().await.expect("get");
        assert_eq!(resp.status().as_u16(), 404, "{path}");
        assert_eq!(resp.headers()["cache-control"], "no-store");
    }
}

#[tokio::test]
async fn heartbeat_create_refuses_what_it_cannot_use() {
    let app = spawn_app_with(Backend::Sqlite, no_probes, BuildOptions::default()).await;
    import(
        &app.db,
        &app.crypto,
        &[shop("바삭 분식", "+821011112222", "a@example.com", &[])],
    )
    .await;
    let unknown = create_heartbeat(&app.db, &app.crypto, &app.address, "010-9999-8888", SPEC)
        .await
        .expect_err("no such merchant");
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.message.contains("no merchant"),
        "{}",
        unknown.message
    );
    let landline = create_heartbeat(&app.db, &app.crypto, &app.address, "02-123-4567", SPEC)
        .await
        .expect_err("landline");
    assert_eq!(landline.code, 2);
    let fast = HeartbeatSpec {
        period: Duration::from_millis(100),
        ..SPEC
    };
    assert_eq!(
        create_heartbeat(&app.db, &app.crypto, &app.address, "010-1111-2222", fast)
            .await
            .expect_err("too fast")
            .code,
        2
    );
}
