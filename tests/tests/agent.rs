//! Remote probe agents end to end: the whole app (which probes nothing itself), an agent
//! loop in this process reporting as `busan-lg` through a TCP proxy the test can cut, and
//! the simulator as the dependency.
//!
//! The agent's results reach the detector like a local probe's (an outage seen only by the
//! agent becomes an incident), results taken while the server is unreachable are buffered
//! and delivered later, and agent tokens are good for nothing else.
mod support;

use meoktong::BuildOptions;
use meoktong::agent::{Agent, AgentClient, AgentConfig, AgentError};
use meoktong::commands::token::issue;
use meoktong_probe::simulator::{Mode, Service, Simulator};
use meoktong_storage::entity::incidents;
use meoktong_storage::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use meoktong_storage::{catalog, now_ms, users};
use meoktong_tests::{Backend, TestApp, spawn_app_with};
use std::time::Duration;
use support::{PATIENCE, Proxy, eventually, location, results_at, simulated};
use tokio_util::sync::CancellationToken;

const LOCATION: &str = "busan-lg";
const OPERATOR: &str = "ops@meoktong.example";

async fn spawn(sim_base: &str) -> TestApp {
    let dep = simulated(sim_base, "kakao-login", Duration::from_secs(1));
    spawn_app_with(
        Backend::default_for_tests(),
        move |s| {
            s.probe.enabled = false;
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

async fn operator(app: &TestApp) {
    let u = users::NewUser {
        email: OPERATOR,
        password_hash: "unused",
        role: "operator",
        merchant_id: None,
        association_id: None,
    };
    users::create(&app.db, &app.crypto, u, "test")
        .await
        .expect("operator");
}

fn quick(server: &str, token: &str, location: &str) -> AgentConfig {
    let mut cfg = AgentConfig::new(server, token, location);
    cfg.flush_every = Duration::from_millis(200);
    cfg.refresh_every = Duration::from_secs(2);
    cfg.max_backoff = Duration::from_secs(1);
    cfg.request_timeout = Duration::from_secs(3);
    cfg
}

#[tokio::test]
async fn an_agent_reports_buffers_while_cut_off_and_its_results_make_incidents() {
    let sim = Simulator::start("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("simulator");
    let app = spawn(&sim.base_url()).await;
    operator(&app).await;
    let token = issue(&app.db, &app.crypto, OPERATOR, Some(LOCATION), "test")
        .await
        .expect("agent token");
    let proxy = Proxy::start(format!("127.0.0.1:{}", app.port).parse().expect("addr")).await;
    let agent = Agent::new(quick(&proxy.url(), &token, LOCATION)).expect("agent");
    let buffer = agent.buffer();
    let stop = CancellationToken::new();
    let running = tokio::spawn(agent.run_until_stopped(stop.clone()));

    // It reports as its own location, and the server sees it alive.
    let loc = eventually("the agent's location", PATIENCE, || {
        location(&app.db, LOCATION)
    })
    .await;
    assert_eq!(loc.kind, "agent");
    eventually("results from the agent", PATIENCE, || async {
        (results_at(&app.db, loc.id).await.len() >= 2).then_some(())
    })
    .await;
    let seen = location(&app.db, LOCATION)
        .await
        .expect("location")
        .last_seen_at
        .expect("seen");
    assert!(now_ms() - seen < 10_000, "last_seen_at is fresh");

    // Cut off: results pile up in the agent's buffer; meanwhile the dependency goes down.
    proxy.set_up(false);
    let cut_at = now_ms();
    sim.set_mode(Service::parse("kakao-login").expect("svc"), Mode::Down);
    // Results taken well after the cut (none of them can have slipped through before it).
    let taken_while_cut = || {
        let (held, _) = buffer.lock().expect("lock").peek_batch(usize::MAX);
        held.iter()
            .filter(|r| r.report.started_at > cut_at + 1_500)
            .count()
    };
    eventually("results buffered while cut off", PATIENCE, || async {
        (taken_while_cut() >= 2).then_some(())
    })
    .await;
    let late = results_at(&app.db, loc.id)
        .await
        .into_iter()
        .filter(|r| r.started_at > cut_at + 1_500)
        .count();
    assert_eq!(late, 0, "nothing arrives while cut off");

    // Back: the buffered results arrive, and the outage the agent saw becomes an incident.
    let restored_at = now_ms();
    proxy.set_up(true);
    eventually("buffered results delivered", PATIENCE, || async {
        let n = results_at(&app.db, loc.id)
            .await
            .into_iter()
            .filter(|r| r.started_at > cut_at + 1_500 && r.started_at < restored_at)
            .count();
        (n >= 2).then_some(())
    })
    .await;
    let dep = catalog::dependency_by_slug(&app.db, "kakao-login")
        .await
        .expect("q")
        .expect("dep");
    let incident = eventually("an incident from the agent's results", PATIENCE, || async {
        incidents::Entity::find()
            .filter(incidents::Column::DependencyId.eq(dep.id))
            .one(&app.db.conn)
            .await
            .expect("q")
    })
    .await;
    assert!(
        incident.evidence.contains(LOCATION),
        "evidence names the agent's location: {}",
        incident.evidence
    );
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains(&format!("location=\"{LOCATION}\"")),
        "metrics are labelled by the agent's location"
    );

    // Each slot once, even though batches may have been sent twice around the cut.
    let results = results_at(&app.db, loc.id).await;
    let mut slots: Vec<i64> = results.iter().map(|r| r.slot_at).collect();
    let n = slots.len();
    slots.dedup();
    assert!(
        n - slots.len() <= results.len() / 2,
        "duplicates are only confirmation re-checks"
    );

    stop.cancel();
    running
        .await
        .expect("join")
        .expect("the agent stops cleanly");
    assert_eq!(buffer.lock().expect("lock").dropped(), 0);
}

#[tokio::test]
async fn agent_tokens_report_for_their_location_and_do_nothing_else() {
    let sim = Simulator::start("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("simulator");
    let app = spawn(&sim.base_url()).await;
    operator(&app).await;
    let agent_token = issue(&app.db, &app.crypto, OPERATOR, Some(LOCATION), "test")
        .await
        .expect("agent token");
    let api_token = issue(&app.db, &app.crypto, OPERATOR, None, "test")
        .await
        .expect("api token");

    let client = AgentClient::new(&app.address, &agent_token, LOCATION, Duration::from_secs(5))
        .expect("client");
    let checks = client.fetch_checks().await.expect("checks");
    assert_eq!(checks.location, LOCATION);
    assert_eq!(checks.checks.len(), 1);
    assert_eq!(checks.checks[0].dependency, "kakao-login");

    // Started with another location's name: refused, naming the token's.
    let wrong = AgentClient::new(
        &app.address,
        &agent_token,
        "seoul-kt",
        Duration::from_secs(5),
    )
    .expect("client");
    match wrong.fetch_checks().await {
        Err(AgentError::Refused(m)) => assert!(m.contains(LOCATION), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // An agent token is not a user's API token, and the other way round.
    let me = app
        .client
        .get(app.url("/api/v1/me/subscriptions"))
        .bearer_auth(&agent_token)
        .send()
        .await
        .expect("get");
    assert_eq!(me.status().as_u16(), 401);
    let as_agent = AgentClient::new(&app.address, &api_token, LOCATION, Duration::from_secs(5))
        .expect("client");
    assert!(matches!(
        as_agent.fetch_checks().await,
        Err(AgentError::Refused(_))
    ));
    // A bad token ends the agent at once, with the reason.
    let bad = Agent::new(quick(&app.address, "not-a-token", LOCATION)).expect("agent");
    let ended = tokio::time::timeout(
        Duration::from_secs(10),
        bad.run_until_stopped(CancellationToken::new()),
    )
    .await
    .expect("ends");
    assert!(matches!(ended, Err(AgentError::Refused(_))), "{ended:?}");
    // Only operators issue agent tokens.
    let u = users::NewUser {
        email: "m@example.com",
        password_hash: "x",
        role: "association",
        merchant_id: None,
        association_id: None,
    };
    users::create(&app.db, &app.crypto, u, "test")
        .await
        .expect("user");
    assert_eq!(
        issue(&app.db, &app.crypto, "m@example.com", Some(LOCATION), "t")
            .await
            .expect_err("not an operator")
            .code,
        2
    );
}
