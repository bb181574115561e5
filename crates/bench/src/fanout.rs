//! `fanout`: 100,000 merchants subscribed to one dependency that goes down.
//!
//! Per backend: (1) `Planner::plan_once` alone, timed; (2) the dispatcher of `serve`
//! (`Dispatcher::run_until_stopped`) until every SMS has reached an unlimited local provider
//! through the real Twilio client; (3) with the outbox emptied, the planner loop and the
//! dispatcher running as in `meoktong::workers` while a new incident is decided: time from
//! the decision to the provider's first request, and to its last.
use crate::dbs::{self, Backend, FreshDb};
use crate::machine::{Meter, rss_mib};
use crate::report::{Table, ms, secs, thousands, verdict};
use crate::sms_server::SmsServer;
use crate::{POSTGRES_URL, fixtures};
use meoktong_config::{Secret, Settings, SmsProviderKind, SmsProviderSettings};
use meoktong_notify::TwilioSms;
use meoktong_notify::compose::Composer;
use meoktong_notify::dispatcher::{Dispatcher, DispatcherConfig, SmsRoute};
use meoktong_notify::planner::{Planner, PlannerConfig};
use meoktong_storage::sea_orm::{ConnectionTrait, TransactionTrait};
use meoktong_storage::{Crypto, Db, catalog, incidents, merchants, now_ms};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

#[derive(clap::Args)]
pub struct Args {
    /// Merchants (default 100,000; with `--national` 1,000,000).
    #[arg(long)]
    merchants: Option<usize>,
    /// The national case: PostgreSQL, the real `serve` process, Solapi in batches and Twilio
    /// at a short code's rate, email once the SMS queue passes `sms_queue_budget`.
    #[arg(long)]
    national: bool,
    /// `--national`: which route to run.
    #[arg(long, value_enum, default_value = "both")]
    scenario: crate::national::Scenario,
    /// `--national`: Solapi's `rate_per_second`.
    #[arg(long, default_value_t = 5_000)]
    solapi_rate: u32,
    /// `--national`: Solapi's `batch_size` (its documented limit is 10,000 per request).
    #[arg(long, default_value_t = 1_000)]
    solapi_batch: usize,
    /// `--national`: Twilio's `rate_per_second` (a short code: 100).
    #[arg(long, default_value_t = 100)]
    twilio_rate: u32,
    /// `--national`: stop a scenario after this many seconds.
    #[arg(long, default_value_t = 480)]
    run_timeout: u64,
    /// One backend only (default: SQLite, then PostgreSQL).
    #[arg(long, value_enum)]
    backend: Option<Backend>,
    #[arg(long, default_value = POSTGRES_URL)]
    postgres_url: String,
    /// Provider requests in flight (default: `notify.dispatch_concurrency`'s default).
    #[arg(long)]
    dispatch_concurrency: Option<usize>,
    /// Only time `plan_once` (no dispatch, no pipelined run).
    #[arg(long)]
    plan_only: bool,
    /// Give up waiting for the pipelined fan-out after this many seconds.
    #[arg(long, default_value_t = 240)]
    pipeline_timeout: u64,
}

const DEPENDENCY: &str = "bench-kakaotalk";

impl Args {
    /// Merchants of the (non-national) fan-out.
    fn count(&self) -> usize {
        self.merchants.unwrap_or(100_000)
    }
}

fn settings(db_url: &str, sms_base_url: &str) -> Settings {
    let mut s = Settings::default();
    s.database.url = db_url.to_string();
    s.probe.canaries = Vec::new(); // benches never contact a public address
    s.sms = vec![SmsProviderSettings {
        provider: SmsProviderKind::Twilio,
        base_url: sms_base_url.to_string(),
        account_sid: "ACbench0000000000000000000000000000".into(),
        auth_token_env: "MEOKTONG_BENCH_TWILIO_TOKEN".into(),
        from: "+15005550006".into(),
        rate_per_second: 0,
        validity: Duration::from_secs(900),
        ..SmsProviderSettings::default()
    }];
    s
}

fn dispatcher(
    db: &Db,
    crypto: &Arc<Crypto>,
    s: &Settings,
    concurrency: usize,
) -> anyhow::Result<Dispatcher> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()?;
    let twilio = TwilioSms::new(&s.sms[0], Secret::new("bench-token"), http)
        .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
    Ok(Dispatcher::new(
        db.clone(),
        crypto.clone(),
        meoktong_metrics::Metrics::new(),
        vec![SmsRoute::new(Arc::new(twilio), 0)],
        None,
        DispatcherConfig {
            holder: "bench".into(),
            concurrency,
            status_callback: Some(format!("{}/hooks/twilio/status", s.server.public_url)),
            ..DispatcherConfig::default()
        },
    ))
}

/// The composer `serve` builds from these settings, with an email provider present (each
/// SMS gets its waiting email fallback, as in production).
fn composer(db: &Db, crypto: &Arc<Crypto>, s: &Settings) -> Arc<Composer> {
    let providers = meoktong::workers::Providers {
        sms: Vec::new(),
        sms_platform: Some("twilio".into()),
        email: None,
    };
    let mut cfg = meoktong::workers::compose_config(s, &providers);
    cfg.sms_enabled = true;
    cfg.email_enabled = true;
    Arc::new(Composer::new(db.clone(), crypto.clone(), cfg))
}

fn planner_config(s: &Settings) -> PlannerConfig {
    meoktong::workers::planner_config(s)
}

/// The detector's decision as `DetectEngine` stores it: the incident and its first events in
/// one transaction. Returns the incident id.
pub(crate) async fn decide_down(
    db: &Db,
    dependency_id: i64,
    started_at: i64,
    confirmed_at: i64,
) -> anyhow::Result<i64> {
    let txn = db.conn.begin().await?;
    let evidence = serde_json::json!({"failing_checks": ["bench"], "locations": ["bench"], "sample": {"status": 503}});
    let id = incidents::open(
        &txn,
        dependency_id,
        "down",
        started_at,
        confirmed_at,
        &evidence,
    )
    .await?;
    incidents::add_event(
        &txn,
        id,
        started_at,
        "first_failure",
        None,
        None,
        &evidence["sample"],
    )
    .await?;
    incidents::add_event(
        &txn,
        id,
        confirmed_at,
        "confirmed_down",
        None,
        None,
        &serde_json::json!({}),
    )
    .await?;
    txn.commit().await?;
    Ok(id)
}

struct Figures {
    setup: Duration,
    plan: Duration,
    plan_cpu: Duration,
    notices: usize,
    messages: usize,
    dispatched: u64,
    dispatch: Duration,
    dispatch_cpu: Duration,
    first_request: Option<Duration>,
    last_request: Option<Duration>,
    pipelined: u64,
}

async fn one_backend(a: &Args, backend: Backend, server: &SmsServer) -> anyhow::Result<Figures> {
    let fresh = FreshDb::create(backend, &a.postgres_url).await?;
    let s = settings(&fresh.url, &server.base_url);
    let (db, crypto) = fresh.connect(s.database.max_connections).await?;
    let t0 = Instant::now();
    let deps = fixtures::catalog("http://127.0.0.1:9/health", 1, 60)?;
    catalog::sync_dependencies(&db, &deps, "config").await?;
    let dep_id = catalog::dependency_by_slug(&db, DEPENDENCY)
        .await?
        .map(|d| d.id)
        .ok_or_else(|| anyhow::anyhow!("no {DEPENDENCY}"))?;
    merchants::import(
        &db,
        &crypto,
        &fixtures::merchants(a.count(), &[DEPENDENCY]),
        now_ms(),
    )
    .await?;
    let setup = t0.elapsed();
    eprintln!(
        "{}: {} merchants imported in {}",
        backend.name(),
        a.count(),
        secs(setup)
    );

    // (1) Planning alone: the group window has closed, every merchant is due.
    let planner = Planner::new(db.clone(), composer(&db, &crypto, &s), planner_config(&s));
    let now = now_ms();
    decide_down(&db, dep_id, now - 20_000, now - 10_000).await?;
    let meter = Meter::start("self");
    let stats = planner.plan_once(now_ms()).await?;
    let (plan, plan_cpu) = meter.read();
    eprintln!(
        "{}: planned {} notices, {} messages in {}",
        backend.name(),
        stats.notices,
        stats.messages,
        secs(plan)
    );

    if a.plan_only {
        fresh.drop_database().await;
        return Ok(Figures {
            setup,
            plan,
            plan_cpu,
            notices: stats.notices,
            messages: stats.messages,
            dispatched: 0,
            dispatch: Duration::ZERO,
            dispatch_cpu: Duration::ZERO,
            first_request: None,
            last_request: None,
            pipelined: 0,
        });
    }
    // (2) The dispatcher alone, until the provider has every SMS.
    let concurrency = a
        .dispatch_concurrency
        .unwrap_or(s.notify.dispatch_concurrency);
    server.seen.reset();
    let meter = Meter::start("self");
    let started = Instant::now();
    let (wake, stop) = (Arc::new(Notify::new()), CancellationToken::new());
    let task = tokio::spawn(
        Arc::new(dispatcher(&db, &crypto, &s, concurrency)?).run_until_stopped(wake, stop.clone()),
    );
    wait_for(
        server,
        stats.notices as u64,
        Duration::from_secs(a.pipeline_timeout),
    )
    .await;
    let dispatch = server
        .seen
        .last()
        .map(|t| t.duration_since(started))
        .unwrap_or_else(|| started.elapsed());
    let (_, dispatch_cpu) = meter.read();
    stop.cancel();
    let _ = task.await;
    let dispatched = server.seen.requests();
    eprintln!(
        "{}: dispatched {dispatched} in {}",
        backend.name(),
        secs(dispatch)
    );

    // (3) The loops of `serve` and a fresh decision.
    resolve_and_forget(&db, now_ms()).await?;
    server.seen.reset();
    let (first_request, last_request, pipelined) =
        pipelined(a, &db, &crypto, &s, dep_id, concurrency, server).await?;
    db.conn.clone().close().await.ok();
    fresh.drop_database().await;
    Ok(Figures {
        setup,
        plan,
        plan_cpu,
        notices: stats.notices,
        messages: stats.messages,
        dispatched,
        dispatch,
        dispatch_cpu,
        first_request,
        last_request,
        pipelined,
    })
}

/// Resolves the open incident and forgets every notice, so the next decision starts clean.
pub(crate) async fn resolve_and_forget(db: &Db, now: i64) -> anyhow::Result<()> {
    db.conn
        .execute_unprepared(&format!(
            "UPDATE incidents SET resolved_at = {now} WHERE resolved_at IS NULL"
        ))
        .await?;
    for table in ["delivery_attempts", "outbox", "notice_incidents", "notices"] {
        db.conn
            .execute_unprepared(&format!("DELETE FROM {table}"))
            .await?;
    }
    if db.backend == meoktong_storage::Backend::Postgres {
        // What autovacuum would have done before a real outage: the 300,000 rows just
        // deleted are otherwise dead index entries every query of the next phase walks.
        db.conn
            .execute_unprepared(
                "VACUUM ANALYZE delivery_attempts, outbox, notice_incidents, notices",
            )
            .await?;
    }
    Ok(())
}

async fn pipelined(
    a: &Args,
    db: &Db,
    crypto: &Arc<Crypto>,
    s: &Settings,
    dep_id: i64,
    concurrency: usize,
    server: &SmsServer,
) -> anyhow::Result<(Option<Duration>, Option<Duration>, u64)> {
    let mut cfg = planner_config(s);
    // No grouping wait: the figure is the pipeline's own delay. (`group_window`, 5 s by
    // default, is added on purpose in production to merge platforms failing together.)
    cfg.group_window = Duration::ZERO;
    let (incident_changed, outbox_changed) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let planner = Planner::new(db.clone(), composer(db, crypto, s), cfg)
        .notify_when_written(outbox_changed.clone());
    let d = Arc::new(dispatcher(db, crypto, s, concurrency)?);
    let stop = CancellationToken::new();
    let plan_task = tokio::spawn(meoktong::workers::plan_loop(
        Arc::new(planner),
        incident_changed.clone(),
        outbox_changed.clone(),
        stop.clone(),
    ));
    let dispatch_task = tokio::spawn(d.run_until_stopped(outbox_changed, stop.clone()));
    tokio::time::sleep(Duration::from_millis(500)).await; // both loops idle, waiting
    let now = now_ms();
    decide_down(db, dep_id, now - 6_000, now).await?;
    let decided = Instant::now();
    incident_changed.notify_waiters();
    wait_for(
        server,
        a.count() as u64,
        Duration::from_secs(a.pipeline_timeout),
    )
    .await;
    stop.cancel();
    let _ = plan_task.await;
    let _ = dispatch_task.await;
    let seen = &server.seen;
    Ok((
        seen.first().map(|t| t.duration_since(decided)),
        seen.last().map(|t| t.duration_since(decided)),
        seen.requests(),
    ))
}

/// Until the provider has seen `n` requests (or `timeout` passed).
async fn wait_for(server: &SmsServer, n: u64, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while server.seen.requests() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    if a.national {
        return crate::national::run(crate::national::Options {
            merchants: a.merchants.unwrap_or(1_000_000),
            postgres_url: a.postgres_url,
            solapi_rate: a.solapi_rate,
            solapi_batch: a.solapi_batch,
            twilio_rate: a.twilio_rate,
            scenario: a.scenario,
            run_timeout: Duration::from_secs(a.run_timeout),
            observe: Duration::from_secs(60),
        })
        .await;
    }
    crate::report::header("fanout", "cargo run --release -p meoktong-bench -- fanout");
    let server = SmsServer::start().await?;
    let mut table = Table::new(
        &format!(
            "fanout: {} merchants subscribed to one dependency that goes down",
            thousands(a.count() as f64)
        ),
        &[
            "backend",
            "plan (plan_once)",
            "notices / outbox rows",
            "dispatch",
            "SMS requests/s",
            "CPU per SMS",
            "decision → first request",
            "decision → last request",
        ],
    );
    let mut notes = Vec::new();
    for backend in dbs::selected(a.backend) {
        let f = one_backend(&a, backend, &server).await?;
        let rate = f.dispatched as f64 / f.dispatch.as_secs_f64().max(1e-9);
        table.row(vec![
            backend.name().into(),
            format!("{} ({} CPU)", secs(f.plan), secs(f.plan_cpu)),
            format!(
                "{} / {}",
                thousands(f.notices as f64),
                thousands(f.messages as f64)
            ),
            format!(
                "{} for {}",
                secs(f.dispatch),
                thousands(f.dispatched as f64)
            ),
            thousands(rate),
            format!(
                "{:.0} µs",
                f.dispatch_cpu.as_secs_f64() * 1e6 / f.dispatched.max(1) as f64
            ),
            f.first_request.map(ms).unwrap_or_else(|| "none".into()),
            match f.last_request {
                Some(d) => format!("{} ({} requests)", secs(d), thousands(f.pipelined as f64)),
                None => "none".into(),
            },
        ]);
        notes.push(format!(
            "{}: plan < 5 s {}, dispatch ≥ 5,000/s {}, first request < 50 ms {} (setup: import {})",
            backend.name(),
            verdict(f.plan < Duration::from_secs(5)),
            verdict(rate >= 5000.0),
            verdict(
                f.first_request
                    .is_some_and(|d| d < Duration::from_millis(50))
            ),
            secs(f.setup)
        ));
    }
    for n in notes {
        table.note(n);
    }
    table.note("each notice: one SMS (pending) and its email fallback (waiting), as with SMTP configured; the dispatcher sends SMS only");
    table.note(format!(
        "provider: the real Twilio client (reqwest) → a local axum server answering 201 at once; SmsRoute rate 0 (unlimited); dispatch concurrency {}",
        a.dispatch_concurrency.unwrap_or(Settings::default().notify.dispatch_concurrency)
    ));
    table.note("before the decision the outbox of the dispatch phase is deleted (PostgreSQL: then vacuumed, as autovacuum would have)");
    table.note("decision = the incident committed (as DetectEngine does), then the planner woken; the planner loop of `meoktong::workers` and `Dispatcher::run_until_stopped`, with group_window 0 (production waits group_window, 5 s, on purpose)");
    table.note(format!(
        "peak RSS of the bench process: {:.0} MiB",
        rss_mib("self").1
    ));
    table.print();
    crate::report::footer();
    Ok(())
}
