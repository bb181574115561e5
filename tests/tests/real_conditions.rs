//! Detection under real conditions (issue 15): the presets' own intervals and the default
//! detection settings, a platform failing at once, our own network failing, gaps in our own
//! probing, and the evidence an incident keeps.
//!
//! Probes are real HTTP requests to the simulator and to a loopback "canary" server the test
//! can darken; time is passed in by the driver, which walks each location's schedule from one
//! due run to the next (no sleeps). Nothing here contacts a public address.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed
mod common;

use meoktong_config::CheckSettings;
use meoktong_domain::Outcome;
use meoktong_domain::detector::DetectorPolicy;
use meoktong_domain::incident::IncidentPolicy;
use meoktong_engine::canary::{CANARY_EVERY_MS, CanaryWatch, LocationHealth};
use meoktong_engine::detect::{CheckInfo, DetectEngine, Probed};
use meoktong_engine::runner::to_outcome;
use meoktong_engine::schedule::{Cadence, Scheduler};
use meoktong_metrics::Metrics;
use meoktong_probe::presets::{PresetBases, catalog};
use meoktong_probe::simulator::{Mode, Service, Simulator, SimulatorHandle};
use meoktong_probe::{Runner, RunnerOptions, SsrfPolicy};
use meoktong_storage::entity::{checks, incidents};
use meoktong_storage::sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use meoktong_storage::{Db, catalog as store, incidents as store_incidents, probes};
use meoktong_tests::{Backend, TestDb};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const T0: i64 = 1_795_000_000_000;
/// The four Kakao presets (10 s, 30 s, 30 s, 5 min) and one of another platform.
const KAKAO: [&str; 4] = ["kakao-login", "kakao-map", "kakaopay", "kakaotalk-channel"];
/// Default detection: the first failure plus re-checks 2 s and 4 s later.
const CONFIRM_CYCLE_MS: i64 = 2_000 + 4_000;

struct World {
    tdb: TestDb,
    db: Db,
    sim: SimulatorHandle,
    runner: Runner,
    /// Every check of the world: what the engine knows and how to run it.
    checks: Vec<(CheckInfo, CheckSettings)>,
}

async fn world(backend: Backend, slugs: &[&str]) -> World {
    let tdb = TestDb::new(backend).await;
    let db = tdb.connect().await;
    let sim = Simulator::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let deps: Vec<_> = catalog(&PresetBases::all(&sim.base_url()))
        .into_iter()
        .filter(|d| slugs.contains(&d.slug.as_str()))
        .collect();
    assert_eq!(deps.len(), slugs.len());
    store::sync_dependencies(&db, &deps, "config")
        .await
        .unwrap();
    let mut all = Vec::new();
    for slug in slugs {
        let d = store::dependency_by_slug(&db, slug).await.unwrap().unwrap();
        let rows = checks::Entity::find()
            .filter(checks::Column::DependencyId.eq(d.id))
            .order_by_asc(checks::Column::Id)
            .all(&db.conn)
            .await
            .unwrap();
        for c in rows {
            let settings: CheckSettings = serde_json::from_str(&c.spec).unwrap();
            let period = settings.interval.expect("presets have intervals");
            all.push((
                CheckInfo {
                    check_id: c.id,
                    check_name: c.name.clone(),
                    dependency_id: d.id,
                    dependency_slug: d.slug.clone(),
                    platform: d.platform.clone(),
                    period,
                },
                settings,
            ));
        }
    }
    World {
        tdb,
        db,
        sim,
        runner: Runner::new(RunnerOptions {
            ssrf: SsrfPolicy {
                allow_private: true,
            },
            ..RunnerOptions::default()
        }),
        checks: all,
    }
}

/// A loopback HTTP server standing in for the public canaries: it answers 204, or, while
/// dark, closes every connection without an answer (as an unreachable endpoint gives none).
struct Gate {
    urls: Vec<String>,
    dark: Arc<AtomicBool>,
}

async fn gate() -> Gate {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let dark = Arc::new(AtomicBool::new(false));
    let d = dark.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            if d.load(Ordering::SeqCst) {
                drop(sock);
                continue;
            }
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let _ = sock.read(&mut buf).await;
                let _ = sock
                    .write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    Gate {
        urls: vec![
            format!("http://{addr}/generate_204"),
            format!("http://{addr}/connecttest.txt"),
        ],
        dark,
    }
}

/// One probe location of the driver.
struct Loc<'a> {
    engine: DetectEngine,
    canaries: Option<(CanaryWatch, &'a Gate)>,
    /// Whether this location's own network is dark at a time (its probes and canaries fail).
    dark: &'a dyn Fn(i64) -> bool,
}

async fn location<'a>(
    w: &World,
    metrics: &Metrics,
    name: &str,
    gate: Option<&'a Gate>,
    dark: &'a dyn Fn(i64) -> bool,
) -> Loc<'a> {
    let id = probes::ensure_location(&w.db, name, "local", T0)
        .await
        .unwrap();
    let health = Arc::new(LocationHealth::default());
    let engine = DetectEngine::new(
        w.db.clone(),
        metrics.clone(),
        DetectorPolicy::default(),
        IncidentPolicy::default(),
        id,
        name.to_string(),
        w.checks.iter().map(|(i, _)| i.clone()).collect(),
    )
    .with_health(health.clone());
    let canaries = gate.map(|g| {
        (
            CanaryWatch::new(
                w.db.clone(),
                metrics.clone(),
                id,
                name.to_string(),
                &g.urls,
                health,
            ),
            g,
        )
    });
    Loc {
        engine,
        canaries,
        dark,
    }
}

/// A run the driver made: when, which check, whether it was a re-check.
#[derive(Debug, Clone, Copy)]
struct Ran {
    at: i64,
    check_id: i64,
    confirmation: bool,
}

/// Walks every location's schedule from `from` to `until`. A check's probe fails when the
/// provider is out (`outage(slug, t)`) or the location's network is dark. The canaries are
/// probed every 30 s and at once after a batch with a failure (before the next run), as the
/// probe loop does. Returns each location's runs.
async fn drive(
    w: &World,
    locs: &[&Loc<'_>],
    outage: &dyn Fn(&str, i64) -> bool,
    from: i64,
    until: i64,
) -> Vec<Vec<Ran>> {
    let mut scheds: Vec<Scheduler> = locs
        .iter()
        .map(|_| {
            let mut s = Scheduler::new();
            for (info, _) in &w.checks {
                let interval_ms = info.period.as_millis() as i64;
                s.insert(info.check_id, Cadence::Every { interval_ms }, from);
            }
            s
        })
        .collect();
    let mut next_canary: Vec<i64> = vec![from; locs.len()];
    let mut ran = vec![Vec::new(); locs.len()];
    loop {
        let next_run = scheds.iter().filter_map(Scheduler::next_due).min();
        let next_look = locs
            .iter()
            .zip(&next_canary)
            .filter(|(l, _)| l.canaries.is_some())
            .map(|(_, t)| *t)
            .min();
        let Some(t) = [next_run, next_look].into_iter().flatten().min() else {
            break;
        };
        if t > until {
            break;
        }
        for (k, loc) in locs.iter().enumerate() {
            let dark = (loc.dark)(t);
            if let Some((watch, gate)) = &loc.canaries
                && next_canary[k] <= t
            {
                gate.dark.store(dark, Ordering::SeqCst);
                watch.probe_once(t).await.unwrap();
                next_canary[k] = t + CANARY_EVERY_MS;
            }
            let due = scheds[k].due(t);
            if due.is_empty() {
                continue;
            }
            let mut items = Vec::new();
            for run in due {
                let (info, settings) = w
                    .checks
                    .iter()
                    .find(|(i, _)| i.check_id == run.check_id)
                    .unwrap();
                let down = dark || outage(&info.dependency_slug, t);
                let service = Service::parse(&info.dependency_slug).unwrap();
                w.sim
                    .set_mode(service, if down { Mode::Down } else { Mode::Up });
                let report = w.runner.run(settings, t).await;
                ran[k].push(Ran {
                    at: t,
                    check_id: run.check_id,
                    confirmation: run.confirmation,
                });
                items.push(Probed {
                    check_id: run.check_id,
                    slot_at: run.slot_at,
                    outcome: to_outcome(&report),
                });
            }
            let confirms = loc.engine.process_batch(&items, t).await.unwrap();
            for (check_id, after) in confirms {
                scheds[k].confirm_at(check_id, t + after.as_millis() as i64);
            }
            if items.iter().any(|i| i.outcome.outcome == Outcome::Fail) {
                next_canary[k] = t; // "at once": before the next run
            }
        }
    }
    ran
}

async fn incidents_of(w: &World, slug: &str) -> Vec<incidents::Model> {
    let d = store::dependency_by_slug(&w.db, slug)
        .await
        .unwrap()
        .unwrap();
    incidents::Entity::find()
        .filter(incidents::Column::DependencyId.eq(d.id))
        .all(&w.db.conn)
        .await
        .unwrap()
}

fn gauge(metrics: &Metrics, location: &str) -> Option<String> {
    let text = metrics.render();
    text.lines()
        .find(|l| {
            l.starts_with("meoktong_location_network_suspect{")
                && l.contains(&format!("location=\"{location}\""))
        })
        .and_then(|l| l.rsplit(' ').next())
        .map(str::to_string)
}

#[tokio::test]
async fn a_platform_failing_at_once_is_confirmed_within_one_cycle_whatever_the_intervals() {
    for backend in Backend::each() {
        let mut slugs = KAKAO.to_vec();
        slugs.push("naver-login");
        let w = world(backend, &slugs).await;
        let metrics = Metrics::new();
        let never = |_t: i64| false;
        let seoul = location(&w, &metrics, "seoul-kt", None, &never).await;
        // Let every check, the 5-minute one included, report up first.
        let out_from = T0 + 400_000 + 3_217;
        let kakao_out = |slug: &str, t: i64| KAKAO.contains(&slug) && t >= out_from;
        let ran = drive(&w, &[&seoul], &kakao_out, T0, out_from + 60_000).await;

        let first_fail = ran[0]
            .iter()
            .filter(|r| r.at >= out_from)
            .map(|r| r.at)
            .min()
            .unwrap();
        // The fastest check (10 s) fails at its next slot; the whole platform follows.
        let budget = 10_000 + CONFIRM_CYCLE_MS + 1_000;
        for slug in KAKAO {
            let incs = incidents_of(&w, slug).await;
            assert_eq!(incs.len(), 1, "{backend:?} {slug}: {incs:?}");
            let inc = &incs[0];
            assert!(
                inc.confirmed_at - out_from <= budget,
                "{backend:?} {slug}: confirmed {} ms after the outage began (budget {budget})",
                inc.confirmed_at - out_from
            );
            assert!(
                inc.confirmed_at - first_fail <= CONFIRM_CYCLE_MS + 1_000,
                "{backend:?} {slug}: confirmed {} ms after the first failing check",
                inc.confirmed_at - first_fail
            );
            assert_eq!(
                inc.started_at, first_fail,
                "{backend:?} {slug}: the correlated re-check is its first failed probe"
            );
        }
        assert!(
            incidents_of(&w, "naver-login").await.is_empty(),
            "another platform is not touched"
        );
        // Re-checks are one-off runs: every check's regular slots keep their phase.
        for (info, _) in &w.checks {
            let slots: Vec<i64> = ran[0]
                .iter()
                .filter(|r| r.check_id == info.check_id && !r.confirmation)
                .map(|r| r.at)
                .collect();
            let period = info.period.as_millis() as i64;
            assert!(
                slots.windows(2).all(|p| p[1] - p[0] == period),
                "{}: {slots:?}",
                info.check_name
            );
        }
        // The 5-minute check was re-checked at once, then by its own confirm_after re-checks.
        let pay = &w
            .checks
            .iter()
            .find(|(i, _)| i.dependency_slug == "kakaopay")
            .unwrap()
            .0;
        let rechecks: Vec<i64> = ran[0]
            .iter()
            .filter(|r| r.check_id == pay.check_id && r.confirmation)
            .map(|r| r.at - first_fail)
            .collect();
        assert_eq!(rechecks, vec![0, 2_000, 6_000], "{backend:?}");
    }
}

/// The platform comes back together: the first check to answer again re-checks the others
/// still down, so the 5-minute KakaoPay check is back within a confirmation cycle of the
/// 10-second Login check instead of two of its own intervals later (one recovery notice, not
/// a wait of ten minutes).
#[tokio::test]
async fn a_platform_back_at_once_is_resolved_together_whatever_the_intervals() {
    for backend in Backend::each() {
        let w = world(backend, &KAKAO).await;
        let metrics = Metrics::new();
        let never = |_t: i64| false;
        let seoul = location(&w, &metrics, "seoul-kt", None, &never).await;
        let out_from = T0 + 400_000 + 3_217;
        let back_from = out_from + 180_000;
        let kakao_out =
            |slug: &str, t: i64| KAKAO.contains(&slug) && t >= out_from && t < back_from;
        drive(&w, &[&seoul], &kakao_out, T0, back_from + 90_000).await;
        let mut resolved = Vec::new();
        for slug in KAKAO {
            let incs = incidents_of(&w, slug).await;
            assert_eq!(incs.len(), 1, "{backend:?} {slug}: {incs:?}");
            let at = incs[0].resolved_at.unwrap_or_else(|| {
                panic!("{backend:?} {slug}: still open 90 s after the platform came back")
            });
            resolved.push((slug, at));
        }
        let first = resolved.iter().map(|(_, at)| *at).min().unwrap();
        let last = resolved.iter().map(|(_, at)| *at).max().unwrap();
        assert!(
            first - back_from <= 10_000,
            "{backend:?}: the fastest check is back at its next slot: {resolved:?}"
        );
        assert!(
            last - first <= 1_000,
            "{backend:?}: the others' first good probe is the correlated re-check: {resolved:?}"
        );
    }
}

#[tokio::test]
async fn our_own_network_failing_opens_nothing_and_a_real_outage_afterwards_is_told() {
    for backend in Backend::each() {
        let w = world(backend, &KAKAO).await;
        let metrics = Metrics::new();
        let g = gate().await;
        let dark_spell = T0 + 65_000..T0 + 245_000;
        let dark = |t: i64| dark_spell.contains(&t);
        let seoul = location(&w, &metrics, "seoul-kt", Some(&g), &dark).await;
        let no_outage = |_: &str, _: i64| false;
        drive(&w, &[&seoul], &no_outage, T0, dark_spell.end - 1).await;

        for slug in KAKAO {
            assert!(
                incidents_of(&w, slug).await.is_empty(),
                "{backend:?} {slug}: our network, not theirs"
            );
        }
        assert_eq!(gauge(&metrics, "seoul-kt").as_deref(), Some("1"));
        let loc = probes::locations(&w.db)
            .await
            .unwrap()
            .into_iter()
            .find(|l| l.name == "seoul-kt")
            .unwrap();
        assert!(
            loc.canaries_failing_since.is_some(),
            "stored for the others"
        );
        let failed = probes::recent_results(&w.db, w.checks[0].0.dependency_id, 0)
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.outcome == "fail")
            .count();
        assert!(
            failed > 5,
            "the results are recorded all the same: {failed}"
        );
        operator_page_shows_the_suspect_location(&w.tdb).await;

        // The network is back; then Kakao really goes down.
        let out_from = T0 + 300_000 + 1_234;
        let kakao_out = |_: &str, t: i64| t >= out_from;
        drive(&w, &[&seoul], &kakao_out, dark_spell.end, out_from + 60_000).await;
        assert_eq!(gauge(&metrics, "seoul-kt").as_deref(), Some("0"));
        for slug in KAKAO {
            let incs = incidents_of(&w, slug).await;
            assert_eq!(incs.len(), 1, "{backend:?} {slug}");
            assert!(
                incs[0].confirmed_at - out_from <= 10_000 + CONFIRM_CYCLE_MS + 1_000,
                "{backend:?} {slug}: told as usual"
            );
        }
    }
}

async fn operator_page_shows_the_suspect_location(tdb: &TestDb) {
    let app = meoktong_tests::spawn_app_on(
        tdb,
        |s| s.probe.enabled = false,
        meoktong::BuildOptions::default(),
    )
    .await;
    let hash = tokio::task::spawn_blocking(|| meoktong_web::auth::password::hash("operator pw 1"))
        .await
        .unwrap()
        .unwrap();
    meoktong_storage::users::create(
        &app.db,
        &app.crypto,
        meoktong_storage::users::NewUser {
            email: "op@example.com",
            password_hash: &hash,
            role: "operator",
            merchant_id: None,
            association_id: None,
        },
        "test",
    )
    .await
    .unwrap();
    let c = common::Client::new(&app);
    c.submit(
        "/login",
        "/login",
        &[("email", "op@example.com"), ("password", "operator pw 1")],
    )
    .await;
    let page = c.get("/operator?lang=en").await;
    assert!(
        page.body.contains("seoul-kt") && page.body.contains("network-suspect"),
        "{}",
        page.body
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn with_two_locations_the_healthy_one_decides_while_the_other_is_network_suspect() {
    for backend in Backend::each() {
        let w = world(backend, &["kakao-login"]).await;
        let metrics = Metrics::new();
        let (ga, gb) = (gate().await, gate().await);
        let out_from = T0 + 65_000;
        let a_dark = |t: i64| t >= out_from;
        let never = |_t: i64| false;
        let seoul = location(&w, &metrics, "seoul-kt", Some(&ga), &a_dark).await;
        let busan = location(&w, &metrics, "busan-skb", Some(&gb), &never).await;
        // Seoul's network and Kakao Login fail at the same moment: only Busan can tell.
        let out = |_: &str, t: i64| t >= out_from;
        drive(&w, &[&seoul, &busan], &out, T0, out_from + 40_000).await;
        let incs = incidents_of(&w, "kakao-login").await;
        assert_eq!(incs.len(), 1, "{backend:?}");
        let inc = &incs[0];
        assert!(
            inc.confirmed_at - out_from <= 10_000 + CONFIRM_CYCLE_MS + 1_000,
            "{backend:?}: Busan alone decided, {} ms after",
            inc.confirmed_at - out_from
        );
        let evidence: serde_json::Value = serde_json::from_str(&inc.evidence).unwrap();
        assert_eq!(evidence["locations"], serde_json::json!(["busan-skb"]));
        let views = evidence["views"].as_array().unwrap();
        let seoul_view = views.iter().find(|v| v["location"] == "seoul-kt").unwrap();
        assert_eq!(seoul_view["counted"], false, "{views:?}");
        assert_eq!(seoul_view["network_suspect"], true);
        assert_eq!(gauge(&metrics, "seoul-kt").as_deref(), Some("1"));
        assert_eq!(gauge(&metrics, "busan-skb").as_deref(), Some("0"));
    }
}

#[tokio::test]
async fn nothing_resolves_across_a_gap_in_our_own_probing() {
    for backend in Backend::each() {
        // Kakao Map: one check, every 30 s.
        let w = world(backend, &["kakao-map"]).await;
        let metrics = Metrics::new();
        let never = |_t: i64| false;
        let seoul = location(&w, &metrics, "seoul-kt", None, &never).await;
        let outage = T0 + 35_000..T0 + 95_000;
        let out = |_: &str, t: i64| outage.contains(&t);
        // Down and confirmed; Kakao comes back; one good probe; then we stop probing for two
        // minutes (a deploy, the database restarting).
        let ran = drive(&w, &[&seoul], &out, T0, outage.end + 30_000 - 1).await;
        let before_gap = ran[0].last().unwrap().at;
        assert!(before_gap >= outage.end, "one good probe before the gap");
        let inc = &incidents_of(&w, "kakao-map").await[0];
        assert_eq!(inc.resolved_at, None, "one good probe is not a recovery");

        let resume = outage.end + 30_000 + 120_000;
        let ran = drive(&w, &[&seoul], &out, resume, resume + 120_000).await;
        let first_after = ran[0].first().unwrap().at;
        let inc = &incidents_of(&w, "kakao-map").await[0];
        let resolved = inc.resolved_at.expect("resolved after the gap");
        assert_eq!(
            resolved, first_after,
            "{backend:?}: the recovery streak is made after the gap alone (the good probe at {before_gap} is before it)"
        );
        assert!(
            inc.updated_at > first_after,
            "decided at the second good probe"
        );
    }
}

#[tokio::test]
async fn a_failure_streak_cut_by_our_gap_does_not_open_an_incident() {
    let w = world(Backend::Sqlite, &["kakao-login"]).await;
    let metrics = Metrics::new();
    let never = |_t: i64| false;
    let seoul = location(&w, &metrics, "seoul-kt", None, &never).await;
    let up = |_: &str, _: i64| false;
    drive(&w, &[&seoul], &up, T0, T0 + 60_000).await;
    // Two failed probes of one check, then our process stops (no third probe: no re-check).
    let (info, settings) = &w.checks[0];
    w.sim
        .set_mode(Service::parse("kakao-login").unwrap(), Mode::Down);
    for t in [T0 + 61_000, T0 + 63_000] {
        let report = w.runner.run(settings, t).await;
        let item = Probed {
            check_id: info.check_id,
            slot_at: t,
            outcome: to_outcome(&report),
        };
        seoul.engine.process_batch(&[item], t).await.unwrap();
    }
    // Back two minutes later, Kakao still failing: one failure after the gap is not a third.
    let t = T0 + 183_000;
    let report = w.runner.run(settings, t).await;
    let item = Probed {
        check_id: info.check_id,
        slot_at: t,
        outcome: to_outcome(&report),
    };
    let confirms = seoul.engine.process_batch(&[item], t).await.unwrap();
    assert!(
        incidents_of(&w, "kakao-login").await.is_empty(),
        "no incident across the gap"
    );
    assert!(
        confirms
            .iter()
            .any(|(c, after)| *c == info.check_id && *after == Duration::from_secs(2)),
        "a fresh confirmation begins: {confirms:?}"
    );
}

#[tokio::test]
async fn an_incident_keeps_its_first_failed_probe_and_every_locations_view() {
    for backend in Backend::each() {
        let w = world(backend, &["kakao-login"]).await;
        let metrics = Metrics::new();
        let never = |_t: i64| false;
        let seoul = location(&w, &metrics, "seoul-kt", None, &never).await;
        let busan = location(&w, &metrics, "busan-skb", None, &never).await;
        let outage = T0 + 35_000..T0 + 120_000;
        let out = |_: &str, t: i64| outage.contains(&t);
        let ran = drive(&w, &[&seoul, &busan], &out, T0, T0 + 200_000).await;
        let incs = incidents_of(&w, "kakao-login").await;
        assert_eq!(incs.len(), 1, "{backend:?}");
        let inc = &incs[0];
        let events = store_incidents::events(&w.db, inc.id).await.unwrap();
        let first = events.iter().find(|e| e.kind == "first_failure").unwrap();
        let detail: serde_json::Value = serde_json::from_str(&first.detail).unwrap();
        // The first failed probe of all: its own time, location, check and error.
        let first_at = ran
            .iter()
            .flatten()
            .map(|r| r.at)
            .filter(|t| outage.contains(t))
            .min()
            .unwrap();
        assert_eq!(first.at, first_at);
        assert_eq!(detail["at"], first_at, "{detail}");
        assert_eq!(detail["status"], 503, "{detail}");
        assert_eq!(detail["outcome"], "fail");
        let row = probes::result_at(
            &w.db.conn,
            first.check_id.unwrap(),
            first.location_id.unwrap(),
            first_at,
        )
        .await
        .unwrap()
        .expect("the event points at the stored probe");
        assert_eq!(row.started_at, first_at);
        let location_name = |id: i64| {
            let db = w.db.clone();
            async move {
                probes::location(&db, id)
                    .await
                    .unwrap()
                    .map(|l| l.name)
                    .unwrap()
            }
        };
        assert_eq!(
            detail["location"].as_str().unwrap(),
            location_name(first.location_id.unwrap()).await
        );
        // Confirmation and recovery each list every location's view and who agreed.
        for kind in ["confirmed_down", "recovered"] {
            let e = events.iter().find(|e| e.kind == kind).unwrap();
            let d: serde_json::Value = serde_json::from_str(&e.detail).unwrap();
            let names: Vec<&str> = d["locations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["location"].as_str().unwrap())
                .collect();
            assert!(
                names.contains(&"seoul-kt") && names.contains(&"busan-skb"),
                "{kind}: {d}"
            );
            assert!(!d["agreed"].as_array().unwrap().is_empty(), "{kind}: {d}");
        }
        let evidence: serde_json::Value = serde_json::from_str(&inc.evidence).unwrap();
        assert_eq!(
            evidence["sample"], detail,
            "the evidence is the first failure"
        );
        assert_eq!(evidence["locations"].as_array().unwrap().len(), 2);
    }
}

#[tokio::test]
async fn a_remote_agent_whose_canaries_fail_is_set_aside_until_they_answer() {
    use meoktong_engine::agent::{AgentBatch, AgentResult, AgentSource, ingest};
    for backend in Backend::each() {
        let w = world(backend, &["kakao-login"]).await;
        let metrics = Metrics::new();
        let mut settings = meoktong_config::Settings::default();
        settings.probe.canaries = Vec::new(); // never a public address in tests
        let location_id = probes::ensure_location(&w.db, "busan-agent", "agent", T0)
            .await
            .unwrap();
        let source = AgentSource {
            location_id,
            location_name: "busan-agent",
            holder: "agent:1",
        };
        let (info, check) = &w.checks[0];
        w.sim
            .set_mode(Service::parse("kakao-login").unwrap(), Mode::Down);
        // A failure and both re-checks, as the agent would send them.
        let streak = |start: i64| {
            let runner = w.runner.clone();
            let check = check.clone();
            let check_id = info.check_id;
            async move {
                let mut results = Vec::new();
                for (k, t) in [start, start + 2_000, start + 6_000]
                    .into_iter()
                    .enumerate()
                {
                    results.push(AgentResult {
                        check_id,
                        slot_at: t,
                        confirmation: k > 0,
                        report: runner.run(&check, t).await,
                    });
                }
                results
            }
        };
        let batch = AgentBatch {
            results: streak(T0 + 10_000).await,
            network_suspect: Some(true),
        };
        let ack = ingest(&w.db, &metrics, &settings, &source, batch, T0 + 17_000)
            .await
            .unwrap();
        assert_eq!(ack.accepted, 3, "recorded all the same");
        assert!(
            incidents_of(&w, "kakao-login").await.is_empty(),
            "{backend:?}"
        );
        assert_eq!(gauge(&metrics, "busan-agent").as_deref(), Some("1"));
        let loc = probes::location(&w.db, location_id).await.unwrap().unwrap();
        assert!(loc.canaries_failing_since.is_some());

        // Its canaries answer again: the same evidence now counts.
        let batch = AgentBatch {
            results: streak(T0 + 40_000).await,
            network_suspect: Some(false),
        };
        ingest(&w.db, &metrics, &settings, &source, batch, T0 + 47_000)
            .await
            .unwrap();
        assert_eq!(
            incidents_of(&w, "kakao-login").await.len(),
            1,
            "{backend:?}"
        );
        assert_eq!(gauge(&metrics, "busan-agent").as_deref(), Some("0"));
    }
}
