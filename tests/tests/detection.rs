//! Outage detection with injected time against simulated Kakao dependencies.
//!
//! Probes are real HTTP requests to the simulator; time is a manual clock the test moves from
//! one scheduled run to the next, so no test sleeps and none depends on timing luck.
use meoktong_config::DependencySettings;
use meoktong_domain::detector::DetectorPolicy;
use meoktong_domain::incident::IncidentPolicy;
use meoktong_engine::detect::{CheckInfo, DetectEngine};
use meoktong_engine::runner::to_outcome;
use meoktong_engine::schedule::{Cadence, Scheduler};
use meoktong_metrics::Metrics;
use meoktong_probe::presets::{PresetBases, catalog};
use meoktong_probe::simulator::{Mode, Service, Simulator, SimulatorHandle};
use meoktong_probe::{Runner, RunnerOptions, SsrfPolicy};
use meoktong_storage::entity::{checks, incidents};
use meoktong_storage::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use meoktong_storage::{Db, catalog as store, incidents as store_incidents, probes};
use meoktong_tests::{Backend, TestDb};
use std::time::Duration;

const T0: i64 = 1_795_000_000_000;
const INTERVAL_MS: i64 = 10_000;

struct World {
    _tdb: TestDb,
    db: Db,
    sim: SimulatorHandle,
    runner: Runner,
    metrics: Metrics,
    check: meoktong_config::CheckSettings,
    check_id: i64,
    dependency_id: i64,
}

async fn world(backend: Backend, slug: &str) -> World {
    let tdb = TestDb::new(backend).await;
    let db = tdb.connect().await;
    let sim = Simulator::start("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("simulator");
    let mut dep: DependencySettings = catalog(&PresetBases::all(&sim.base_url()))
        .into_iter()
        .find(|d| d.slug == slug)
        .expect("preset");
    dep.check.truncate(1);
    dep.check[0].interval = Some(Duration::from_millis(INTERVAL_MS as u64));
    store::sync_dependencies(&db, std::slice::from_ref(&dep), "config")
        .await
        .expect("sync");
    let d = store::dependency_by_slug(&db, slug)
        .await
        .expect("q")
        .expect("dep");
    let c = checks::Entity::find()
        .filter(checks::Column::DependencyId.eq(d.id))
        .one(&db.conn)
        .await
        .expect("q")
        .expect("check");
    World {
        _tdb: tdb,
        db,
        sim,
        runner: Runner::new(RunnerOptions {
            ssrf: SsrfPolicy {
                allow_private: true,
            },
            ..RunnerOptions::default()
        }),
        metrics: Metrics::new(),
        check: dep.check[0].clone(),
        check_id: c.id,
        dependency_id: d.id,
    }
}

async fn engine(w: &World, location: &str) -> DetectEngine {
    let location_id = probes::ensure_location(&w.db, location, "local", T0)
        .await
        .expect("location");
    DetectEngine::new(
        w.db.clone(),
        w.metrics.clone(),
        DetectorPolicy::default(),
        IncidentPolicy::default(),
        location_id,
        location.to_string(),
        vec![CheckInfo {
            check_id: w.check_id,
            check_name: w.check.name.clone(),
            dependency_id: w.dependency_id,
            dependency_slug: "dep".into(),
            platform: None,
            period: Duration::from_millis(INTERVAL_MS as u64),
        }],
    )
}

async fn open_incidents(w: &World) -> Vec<incidents::Model> {
    incidents::Entity::find()
        .filter(incidents::Column::DependencyId.eq(w.dependency_id))
        .all(&w.db.conn)
        .await
        .expect("q")
}

/// Runs the schedule from `from` to `until` (virtual ms), the simulator in `mode_at(t)`.
/// Returns the times of every probe run, in order.
async fn drive(
    w: &World,
    engines: &[(&DetectEngine, &dyn Fn(i64) -> Mode)],
    from: i64,
    until: i64,
) -> Vec<i64> {
    let mut sched = Scheduler::new();
    sched.insert(
        w.check_id,
        Cadence::Every {
            interval_ms: INTERVAL_MS,
        },
        from,
    );
    let mut times = Vec::new();
    while let Some(t) = sched.next_due() {
        if t > until {
            break;
        }
        for run in sched.due(t) {
            times.push(t);
            let mut confirm = None;
            for (engine, mode_at) in engines {
                w.sim
                    .set_mode(Service::parse("kakao-login").expect("svc"), mode_at(t));
                let report = w.runner.run(&w.check, t).await;
                let outcome = to_outcome(&report);
                let c = engine
                    .process(run.check_id, run.slot_at, &outcome, t)
                    .await
                    .expect("process");
                confirm = confirm.or(c);
            }
            if let Some(after) = confirm {
                sched.confirm_at(w.check_id, t + after.as_millis() as i64);
            }
        }
    }
    times
}

#[tokio::test]
async fn an_outage_is_detected_within_interval_plus_confirmations_and_dated_by_its_probes() {
    for backend in Backend::each() {
        let w = world(backend, "kakao-login").await;
        let e = engine(&w, "seoul-kt").await;
        let outage = T0 + 35_000..T0 + 95_000;
        let mode = |t: i64| {
            if outage.contains(&t) {
                Mode::Down
            } else {
                Mode::Up
            }
        };
        let times = drive(&w, &[(&e, &mode)], T0, T0 + 150_000).await;
        let incs = open_incidents(&w).await;
        assert_eq!(incs.len(), 1, "{backend:?}: exactly one incident");
        let inc = &incs[0];
        let first_failed = *times
            .iter()
            .find(|t| outage.contains(t))
            .expect("a probe during the outage");
        assert_eq!(inc.started_at, first_failed, "start = first failed probe");
        // interval + confirm_after (2 s + 4 s) + 1 s
        let budget = INTERVAL_MS + 6_000 + 1_000;
        assert!(
            inc.confirmed_at - outage.start <= budget,
            "detected {} ms after the outage began",
            inc.confirmed_at - outage.start
        );
        let first_good = *times
            .iter()
            .find(|t| **t >= outage.end)
            .expect("a probe after recovery");
        assert_eq!(
            inc.resolved_at,
            Some(first_good),
            "end = first good probe of the recovery streak"
        );
        let events = store_incidents::events(&w.db, inc.id)
            .await
            .expect("events");
        assert!(
            events
                .iter()
                .any(|e| e.kind == "first_failure" && e.detail.contains("503")),
            "evidence holds the sample error: {events:?}"
        );
    }
}

#[tokio::test]
async fn a_single_failed_probe_followed_by_success_opens_no_incident() {
    let w = world(Backend::Sqlite, "kakao-login").await;
    let e = engine(&w, "seoul-kt").await;
    // Down only for the first scheduled run after T0 + 30 s; the 2 s re-check sees it up.
    let window = T0 + 30_000..T0 + 30_000 + INTERVAL_MS;
    let blip = |t: i64| {
        if window.contains(&t) && is_slot(t) {
            Mode::Down
        } else {
            Mode::Up
        }
    };
    let times = drive(&w, &[(&e, &blip)], T0, T0 + 120_000).await;
    assert!(times.len() > 5);
    let results = probes::recent_results(&w.db, w.dependency_id, 0)
        .await
        .expect("results");
    assert_eq!(
        results.iter().filter(|r| r.outcome == "fail").count(),
        1,
        "exactly one failed probe happened"
    );
    assert!(
        open_incidents(&w).await.is_empty(),
        "no incident from one failure"
    );
}

/// Scheduled slots of the check fall on its phase; confirmation runs fall 2 s / 4 s later.
fn is_slot(t: i64) -> bool {
    let phase = meoktong_engine::schedule::spread(CHECK_ID_FOR_PHASE, INTERVAL_MS);
    (t - phase).rem_euclid(INTERVAL_MS) == 0
}

// The first check of a fresh database has id 1.
const CHECK_ID_FOR_PHASE: i64 = 1;

#[tokio::test]
async fn one_of_three_locations_failing_opens_no_incident_and_flags_that_location() {
    let w = world(Backend::Sqlite, "kakao-login").await;
    let a = engine(&w, "seoul-kt").await;
    let b = engine(&w, "busan-skb").await;
    let c = engine(&w, "daejeon-lgu").await;
    let down = |_t: i64| Mode::Down;
    let up = |_t: i64| Mode::Up;
    drive(&w, &[(&a, &down), (&b, &up), (&c, &up)], T0, T0 + 90_000).await;
    assert!(
        open_incidents(&w).await.is_empty(),
        "the majority sees it up"
    );
    let locations = probes::locations(&w.db).await.expect("locations");
    let kt = locations.iter().find(|l| l.name == "seoul-kt").expect("kt");
    assert!(kt.network_suspect, "the dissenting location is flagged");
    assert!(
        locations
            .iter()
            .filter(|l| l.name != "seoul-kt")
            .all(|l| !l.network_suspect)
    );
}

/// The probe loop's heartbeat only says "this location is alive": it must not clear the
/// network-suspect flag the detector set (the operator page would show it for ≤ 10 s).
#[tokio::test]
async fn the_probe_loop_heartbeat_keeps_a_location_flagged_suspect() {
    let w = world(Backend::Sqlite, "kakao-login").await;
    let a = engine(&w, "seoul-kt").await;
    let b = engine(&w, "busan-skb").await;
    let c = engine(&w, "daejeon-lgu").await;
    let down = |_t: i64| Mode::Down;
    let up = |_t: i64| Mode::Up;
    drive(&w, &[(&a, &down), (&b, &up), (&c, &up)], T0, T0 + 90_000).await;
    let kt = |w: &World| {
        let db = w.db.clone();
        async move {
            probes::locations(&db)
                .await
                .expect("locations")
                .into_iter()
                .find(|l| l.name == "seoul-kt")
                .expect("kt")
        }
    };
    assert!(kt(&w).await.network_suspect, "the detector flagged it");

    // The location's own probe loop starts and beats; the manual clock never reaches a run.
    let beat_at = T0 + 100_000;
    let mut settings = meoktong_config::Settings::default();
    settings.probe.location = "seoul-kt".into();
    settings.probe.canaries = Vec::new(); // never a public address in tests
    let probe_loop = meoktong_engine::runner::ProbeLoop::build(
        w.db.clone(),
        w.metrics.clone(),
        &settings,
        std::sync::Arc::new(meoktong_engine::clock::ManualClock::new(beat_at)),
        "test-holder".into(),
    )
    .await
    .expect("probe loop");
    let stop = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(probe_loop.run_until_stopped(stop.clone()));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while kt(&w).await.last_seen_at != Some(beat_at) {
        assert!(
            std::time::Instant::now() < deadline,
            "no heartbeat from the probe loop"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    task.await.expect("probe loop stops");
    let after = kt(&w).await;
    assert_eq!(after.last_seen_at, Some(beat_at), "the heartbeat landed");
    assert!(
        after.network_suspect,
        "the heartbeat left the detector's flag alone"
    );
}

#[tokio::test]
async fn two_of_three_locations_failing_is_an_outage() {
    let w = world(Backend::Sqlite, "kakao-login").await;
    let a = engine(&w, "seoul-kt").await;
    let b = engine(&w, "busan-skb").await;
    let c = engine(&w, "daejeon-lgu").await;
    let down = |_t: i64| Mode::Down;
    let up = |_t: i64| Mode::Up;
    drive(&w, &[(&a, &down), (&b, &down), (&c, &up)], T0, T0 + 90_000).await;
    assert_eq!(open_incidents(&w).await.len(), 1);
}

#[tokio::test]
async fn a_bad_api_key_is_a_configuration_problem_not_an_outage() {
    let w = world(Backend::Sqlite, "kakao-login").await;
    let e = engine(&w, "seoul-kt").await;
    let bad_key = |_t: i64| Mode::BadKey;
    drive(&w, &[(&e, &bad_key)], T0, T0 + 90_000).await;
    assert!(
        open_incidents(&w).await.is_empty(),
        "no merchant-facing incident"
    );
    let text = w.metrics.render();
    assert!(
        text.lines()
            .any(|l| l.starts_with("meoktong_probe_results_total")
                && l.contains("outcome=\"config_error\"")),
        "{text}"
    );
    let rows = probes::recent_results(&w.db, w.dependency_id, 0)
        .await
        .expect("results");
    assert!(rows.iter().all(|r| r.outcome == "config_error"), "{rows:?}");
}
