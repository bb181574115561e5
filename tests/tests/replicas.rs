//! Several replicas of the service on one PostgreSQL database, sharing one probe location.
//!
//! Each scheduled slot of a check is run by exactly one of them (so an outage costs the
//! dependency one request per interval, not one per replica), an outage opens one incident,
//! each merchant is alerted once, and when a replica stops the others keep its checks going
//! without a gap of more than two intervals. Skipped unless `TEST_DATABASE_URL` names a
//! PostgreSQL server (SQLite is one process's database).
mod support;

use meoktong::BuildOptions;
use meoktong_probe::simulator::{Mode, Service, Simulator, SimulatorHandle};
use meoktong_storage::entity::{incidents, probe_results};
use meoktong_storage::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use meoktong_storage::{Db, catalog, now_ms};
use meoktong_tests::{Backend, TestApp, TestDb, spawn_app_on};
use std::collections::BTreeMap;
use std::time::Duration;
use support::{
    PATIENCE, SETTLE, eventually, import, location, messages_of, notices_of, results_at, sent_sms,
    shop, simulated,
};

const INTERVAL_MS: i64 = 1_000;
const LOCATION: &str = "seoul-kt";

fn postgres() -> bool {
    let on = std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres"));
    if !on {
        eprintln!("skipped: TEST_DATABASE_URL does not name a PostgreSQL server");
    }
    on
}

async fn replica(db: &TestDb, sim: &SimulatorHandle) -> TestApp {
    let dep = simulated(
        &sim.base_url(),
        "kakao-login",
        Duration::from_millis(INTERVAL_MS as u64),
    );
    spawn_app_on(
        db,
        move |s| {
            s.probe.location = LOCATION.into();
            s.dependency = vec![dep];
            s.detection.confirm_after = vec![Duration::from_millis(300)];
            s.detection.group_window = Duration::from_millis(300);
        },
        BuildOptions {
            run_workers: true,
            ..Default::default()
        },
    )
    .await
}

/// Scheduled results (not confirmation re-checks) by slot: they keep the check's phase.
fn scheduled(results: &[probe_results::Model]) -> BTreeMap<i64, usize> {
    let Some(phase) = results.first().map(|r| r.slot_at.rem_euclid(INTERVAL_MS)) else {
        return BTreeMap::new();
    };
    let mut per_slot = BTreeMap::new();
    for r in results
        .iter()
        .filter(|r| r.slot_at.rem_euclid(INTERVAL_MS) == phase)
    {
        *per_slot.entry(r.slot_at).or_insert(0) += 1;
    }
    per_slot
}

async fn incidents_of(db: &Db, dependency_id: i64) -> Vec<incidents::Model> {
    incidents::Entity::find()
        .filter(incidents::Column::DependencyId.eq(dependency_id))
        .all(&db.conn)
        .await
        .expect("q")
}

#[tokio::test]
async fn replicas_run_each_slot_once_open_one_incident_and_alert_each_merchant_once() {
    if !postgres() {
        return;
    }
    let sim = Simulator::start("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("simulator");
    let login = Service::parse("kakao-login").expect("svc");
    let test_db = TestDb::new(Backend::Postgres).await;
    let mut apps = Vec::new();
    for _ in 0..3 {
        apps.push(replica(&test_db, &sim).await);
    }
    let db = apps[0].db.clone();
    let merchants = import(
        &db,
        &apps[0].crypto,
        &[
            shop(
                "바삭 분식",
                "+821011112222",
                "a@example.com",
                &["kakao-login"],
            ),
            shop(
                "고요 카페",
                "+821033334444",
                "b@example.com",
                &["kakao-login"],
            ),
        ],
    )
    .await;
    let loc = eventually("the shared location", PATIENCE, || location(&db, LOCATION)).await;

    // Up: three replicas, one request per slot.
    let started = now_ms();
    eventually("a few slots", PATIENCE, || async {
        (scheduled(&results_at(&db, loc.id).await).len() >= 4).then_some(())
    })
    .await;
    let results = results_at(&db, loc.id).await;
    let per_slot = scheduled(&results);
    assert!(
        per_slot.values().all(|n| *n == 1),
        "each slot runs once among the replicas: {per_slot:?}"
    );
    let elapsed_slots = (now_ms() - started) / INTERVAL_MS + 2;
    assert!(
        results.len() as i64 <= elapsed_slots,
        "{} requests in about {elapsed_slots} intervals",
        results.len()
    );

    // Down: one incident, one alert per merchant.
    sim.set_mode(login, Mode::Down);
    let dep = catalog::dependency_by_slug(&db, "kakao-login")
        .await
        .expect("q")
        .expect("dep");
    for m in &merchants {
        eventually("the down SMS", PATIENCE, || sent_sms(&db, *m, "down")).await;
    }
    tokio::time::sleep(SETTLE).await;
    assert_eq!(
        incidents_of(&db, dep.id).await.len(),
        1,
        "one incident for one outage"
    );
    for m in &merchants {
        let down = notices_of(&db, *m, "down").await;
        assert_eq!(down.len(), 1, "merchant {m}: one alert");
        assert_eq!(
            messages_of(&db, down[0].id, "sms").await.len(),
            1,
            "merchant {m}: one SMS"
        );
    }

    // One replica stops mid-outage: the others keep its checks going.
    let stopped_at = now_ms();
    apps.remove(1).stop().await.expect("replica stops");
    eventually("slots after the stop", PATIENCE, || async {
        let after = scheduled(&results_at(&db, loc.id).await)
            .into_keys()
            .filter(|s| *s > stopped_at)
            .count();
        (after >= 4).then_some(())
    })
    .await;
    let per_slot = scheduled(&results_at(&db, loc.id).await);
    assert!(
        per_slot.values().all(|n| *n == 1),
        "still once per slot: {per_slot:?}"
    );
    let around: Vec<i64> = per_slot
        .keys()
        .copied()
        .filter(|s| *s > stopped_at - 2 * INTERVAL_MS)
        .collect();
    for w in around.windows(2) {
        assert!(
            w[1] - w[0] <= 2 * INTERVAL_MS,
            "no gap over two intervals around the stop: {around:?}"
        );
    }

    // Recovery: told once too.
    sim.set_mode(login, Mode::Up);
    for m in &merchants {
        eventually("the recovery SMS", PATIENCE, || {
            sent_sms(&db, *m, "recovery")
        })
        .await;
    }
    tokio::time::sleep(SETTLE).await;
    for m in &merchants {
        assert_eq!(notices_of(&db, *m, "down").await.len(), 1, "merchant {m}");
        assert_eq!(
            notices_of(&db, *m, "recovery").await.len(),
            1,
            "merchant {m}"
        );
    }
    assert_eq!(incidents_of(&db, dep.id).await.len(), 1);
    for app in apps {
        app.stop().await.expect("replica stops");
    }
}
