//! Our own downtime never pages a store (issue 15): a heartbeat is overdue only after a whole
//! period + grace during which we could receive its pings. Time is injected: the sweeper's
//! passes and the pings are made at the test's "now", and the sweeper's downtime is simply
//! a stretch of time with no pass.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed
mod hub_fixture;

use hub_fixture::{Hub, PAY, merchant, phone};
use meoktong::commands::heartbeat::{HeartbeatSpec, create_heartbeat};
use meoktong_notify::heartbeat::HeartbeatSweeper;
use meoktong_storage::entity::heartbeat_monitors;
use meoktong_storage::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use meoktong_storage::{heartbeats, probes};
use meoktong_tests::Backend;
use std::time::Duration;

/// The defaults: a ping every minute, two minutes of grace.
const PERIOD: Duration = Duration::from_secs(60);
const GRACE: Duration = Duration::from_secs(120);
const PG: i64 = 180_000;

async fn heartbeat_of(hub: &Hub, name: &str, mobile: &'static str) -> (i64, String) {
    let id = merchant(hub, name, &[PAY], &[phone(mobile)]).await;
    let url = create_heartbeat(
        &hub.app.db,
        &hub.app.crypto,
        &hub.app.address,
        mobile,
        HeartbeatSpec {
            name: "POS",
            period: PERIOD,
            grace: GRACE,
        },
    )
    .await
    .unwrap();
    (id, url.rsplit('/').next().unwrap().to_string())
}

async fn ping(hub: &Hub, token: &str, now: i64) {
    let hashes = hub.app.crypto.lookup_hashes(token);
    assert!(
        heartbeats::ping(&hub.app.db, &hashes, now)
            .await
            .unwrap()
            .is_some()
    );
}

async fn state(hub: &Hub, merchant_id: i64) -> String {
    heartbeat_monitors::Entity::find()
        .filter(heartbeat_monitors::Column::MerchantId.eq(merchant_id))
        .one(&hub.app.db.conn)
        .await
        .unwrap()
        .unwrap()
        .state
}

/// Sweeps every 5 s over `[from, until]`, stores in `pinging` pinging every 10 s; returns the
/// incidents opened.
async fn run(
    hub: &Hub,
    sweeper: &HeartbeatSweeper,
    pinging: &[&str],
    from: i64,
    until: i64,
) -> usize {
    let mut opened = 0;
    let mut t = from;
    while t <= until {
        if (t - from) % 10_000 == 0 {
            for token in pinging {
                ping(hub, token, t).await;
            }
        }
        opened += sweeper.sweep_once(t).await.unwrap().opened;
        t += 5_000;
    }
    opened
}

#[tokio::test]
async fn our_downtime_pages_no_store_and_a_store_that_really_stops_is_told_after_a_fresh_period() {
    for backend in Backend::each() {
        let hub = Hub::start_on(backend).await;
        let (keeps, keeps_token) = heartbeat_of(&hub, "계속분식", "+821020000001").await;
        let (stops, stops_token) = heartbeat_of(&hub, "멈춤분식", "+821020000002").await;
        let t0 = hub.t0;
        let sweeper = HeartbeatSweeper::new(hub.app.db.clone(), hub.composer.clone());
        let tokens = [keeps_token.as_str(), stops_token.as_str()];
        assert_eq!(run(&hub, &sweeper, &tokens, t0, t0 + 50_000).await, 0);

        // The sweeper is down for five minutes (period + grace is three). One store's pings
        // still reach us (only the sweeper stalled); the other's are lost with us.
        let restart = t0 + 50_000 + 300_000;
        let mut t = t0 + 60_000;
        while t < restart {
            ping(&hub, &keeps_token, t).await;
            t += 10_000;
        }
        // Back: nobody is overdue at restart, nor for a whole fresh period + grace.
        assert_eq!(
            run(&hub, &sweeper, &[&keeps_token], restart, restart + PG).await,
            0,
            "{backend:?}: no store is paged for our own downtime"
        );
        assert_eq!(state(&hub, stops).await, "up");
        // The store that really stopped is told once the fresh period + grace is over.
        assert_eq!(
            run(
                &hub,
                &sweeper,
                &[&keeps_token],
                restart + PG + 5_000,
                restart + PG + 5_000
            )
            .await,
            1,
            "{backend:?}"
        );
        assert_eq!(state(&hub, stops).await, "down");
        assert_eq!(state(&hub, keeps).await, "up");
    }
}

#[tokio::test]
async fn while_our_network_is_suspect_no_heartbeat_is_overdue() {
    let hub = Hub::start_on(Backend::Sqlite).await;
    let (stops, token) = heartbeat_of(&hub, "멈춤분식", "+821020000003").await;
    let t0 = hub.t0;
    let location = probes::ensure_location(&hub.app.db, "seoul-kt", "local", t0)
        .await
        .unwrap();
    let sweeper = HeartbeatSweeper::new(hub.app.db.clone(), hub.composer.clone())
        .watching_location("seoul-kt");
    assert_eq!(run(&hub, &sweeper, &[&token], t0, t0 + 20_000).await, 0);
    // The store's last ping is at +20 s; our canaries go dark at +30 s for ten minutes.
    probes::set_canaries_failing(&hub.app.db, location, Some(t0 + 30_000))
        .await
        .unwrap();
    assert_eq!(run(&hub, &sweeper, &[], t0 + 25_000, t0 + 630_000).await, 0);
    probes::set_canaries_failing(&hub.app.db, location, None)
        .await
        .unwrap();
    let back = t0 + 635_000;
    assert_eq!(
        run(&hub, &sweeper, &[], back, back + PG).await,
        0,
        "a fresh period + grace once our network is back"
    );
    assert_eq!(state(&hub, stops).await, "up");
    assert_eq!(
        run(&hub, &sweeper, &[], back + PG + 5_000, back + PG + 5_000).await,
        1
    );
}
