//! `fanout --national`: a million merchants on PostgreSQL and one Kakao outage, through the
//! real `meoktong serve` process.
//!
//! The bench imports the merchants (one mobile and one email each, every tenth a backup
//! mobile), starts the providers' stand-ins on loopback — the Solapi stand-in of
//! `meoktong-testkit` (signatures, EUC-KR limits, batches of up to 10,000, polled reports),
//! a Twilio-like server and an SMTP relay, each noting whom it reached and when — then runs
//! the `meoktong` binary built beside it with `[[sms]]` Solapi (batched, at its configured
//! rate) then Twilio (a short code's 100 messages a second) and `[email]`, on the default
//! settings otherwise. It commits one incident as the detector would and watches until every
//! merchant has been reached by SMS, or by some channel and a minute has passed, or the run
//! times out.
//!
//! Scenarios: `solapi` (the domestic route healthy; what would leave later than
//! `sms_queue_budget` also goes by email at once) and `solapi-down` (Solapi answers 503 for
//! the whole event: `failover_after` hands over to Twilio at 100/s, and the timers send email
//! for each SMS that waited longer than the budget).
use crate::dbs::{BENCH_KEY, Backend, FreshDb};
use crate::machine::{cpu_time, rss_mib};
use crate::reach::Reach;
use crate::report::{Table, secs, thousands, verdict};
use crate::sms_server::SmsServer;
use crate::smtp_sink::SmtpSink;
use crate::{fixtures, machine};
use anyhow::Context;
use base64::Engine;
use meoktong_storage::sea_orm::{ConnectionTrait, Statement};
use meoktong_storage::{Db, catalog, merchants, now_ms};
use meoktong_testkit::{SolapiFault, SolapiStandIn};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DEPENDENCY: &str = "bench-kakaotalk";
const SOLAPI_KEY: &str = "NCSBENCHKEY0000A";
const SOLAPI_SECRET: &str = "BENCHSECRET0000000000000000000AB";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Solapi healthy, Twilio behind it.
    Solapi,
    /// Solapi failing (503) for the whole event: Twilio at its rate, email for the rest.
    SolapiDown,
    /// Both, one after the other on the same merchants.
    Both,
}

pub struct Options {
    pub merchants: usize,
    pub postgres_url: String,
    pub solapi_rate: u32,
    pub solapi_batch: usize,
    pub twilio_rate: u32,
    pub scenario: Scenario,
    pub run_timeout: Duration,
    pub observe: Duration,
}

struct Run {
    name: &'static str,
    plan: Option<Duration>,
    notices: i64,
    all_any: Option<Duration>,
    any_p50: Option<Duration>,
    any_p99: Option<Duration>,
    reached_any: usize,
    all_sms: Option<Duration>,
    reached_sms: usize,
    sms_p50: Option<Duration>,
    wall: Duration,
    solapi: ProviderFigures,
    twilio: ProviderFigures,
    email: ProviderFigures,
    serve_rss: (f64, f64),
    db_growth: i64,
    cpu_serve: Duration,
    cpu_postgres: Duration,
    cpu_bench: Duration,
    log_bytes: u64,
}

#[derive(Default)]
struct ProviderFigures {
    requests: u64,
    messages: u64,
    /// First and last request after the decision.
    window: Option<(Duration, Duration)>,
}

impl ProviderFigures {
    fn per_second(&self, n: u64) -> f64 {
        match self.window {
            Some((a, b)) if b > a => n as f64 / (b - a).as_secs_f64(),
            _ => 0.0,
        }
    }

    fn describe(&self, configured: Option<u32>) -> String {
        if self.messages == 0 {
            return "none".into();
        }
        let msgs = self.per_second(self.messages);
        let mut s = format!(
            "{} msgs in {} req; {} msg/s, {} req/s",
            thousands(self.messages as f64),
            thousands(self.requests as f64),
            thousands(msgs),
            thousands(self.per_second(self.requests))
        );
        if let Some(rate) = configured.filter(|r| *r > 0) {
            s.push_str(&format!(
                " ({:.0} % of {rate}/s)",
                100.0 * msgs / rate as f64
            ));
        }
        s
    }
}

/// The `meoktong` binary built beside this one (`cargo build --release -p meoktong`).
fn serve_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let bin = exe.with_file_name("meoktong");
    anyhow::ensure!(
        bin.exists(),
        "{} is missing: build it first with `cargo build --release -p meoktong`",
        bin.display()
    );
    Ok(bin)
}

/// The configuration an operator would write for this route, on the defaults otherwise.
fn config(o: &Options, port: u16, db_url: &str, solapi: &str, twilio: &str, smtp: &str) -> String {
    format!(
        r#"# written by meoktong-bench fanout --national
[server]
listen = "127.0.0.1:{port}"
public_url = "http://127.0.0.1:{port}"

[database]
url = "{db_url}"

[probe]
enabled = false   # the bench commits the detector's decision itself
canaries = []

[[sms]]
provider = "solapi"
base_url = "{solapi}"
api_key_env = "MEOKTONG_BENCH_SOLAPI_KEY"
api_secret_env = "MEOKTONG_BENCH_SOLAPI_SECRET"
from = "{sender}"
rate_per_second = {solapi_rate}
batch_size = {solapi_batch}

[[sms]]
provider = "twilio"
base_url = "{twilio}"
account_sid = "ACbench0000000000000000000000000000"
auth_token_env = "MEOKTONG_BENCH_TWILIO_TOKEN"
from = "+15005550006"
rate_per_second = {twilio_rate}

[email]
smtp_url = "{smtp}"
from = "Meoktong <alerts@meoktong.example>"
"#,
        sender = SolapiStandIn::SENDER,
        solapi_rate = o.solapi_rate,
        solapi_batch = o.solapi_batch,
        twilio_rate = o.twilio_rate,
    )
}

async fn scalar_i64(db: &Db, sql: &str) -> anyhow::Result<i64> {
    let row = db
        .conn
        .query_one_raw(Statement::from_string(db.conn.get_database_backend(), sql))
        .await?
        .context("no row")?;
    Ok(row.try_get_by_index::<Option<i64>>(0)?.unwrap_or(0))
}

/// CPU time of every running PostgreSQL process (server and backends).
fn postgres_cpu() -> Duration {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Duration::ZERO;
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "postgres")
        })
        .map(|pid| cpu_time(&pid))
        .sum()
}

/// Resolves what is open and forgets every notice (`fanout`'s reset) and provider state, so a
/// scenario starts as the first outage of the day would.
async fn reset(db: &Db) -> anyhow::Result<()> {
    crate::fanout::resolve_and_forget(db, now_ms()).await?;
    db.conn
        .execute_unprepared("DELETE FROM provider_states")
        .await?;
    Ok(())
}

struct Serve {
    child: tokio::process::Child,
    pid: String,
    log: PathBuf,
}

impl Serve {
    async fn start(bin: &Path, dir: &Path, toml: &str, port: u16) -> anyhow::Result<Serve> {
        let config = dir.join("meoktong.toml");
        std::fs::write(&config, toml)?;
        let log = dir.join("serve.log");
        let out = std::fs::File::create(&log)?;
        let child = tokio::process::Command::new(bin)
            .arg("--config")
            .arg(&config)
            .arg("serve")
            .env(
                "MEOKTONG_DATA_KEY",
                base64::engine::general_purpose::STANDARD.encode(BENCH_KEY),
            )
            .env("MEOKTONG_BENCH_SOLAPI_KEY", SOLAPI_KEY)
            .env("MEOKTONG_BENCH_SOLAPI_SECRET", SOLAPI_SECRET)
            .env("MEOKTONG_BENCH_TWILIO_TOKEN", "bench-token")
            .env_remove("RUST_LOG")
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let pid = child.id().context("serve has no pid")?.to_string();
        let ready = format!("http://127.0.0.1:{port}/readyz");
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if reqwest::get(&ready)
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "serve did not become ready; see {}",
                log.display()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(Serve { child, pid, log })
    }

    async fn stop(mut self) -> u64 {
        let _ = tokio::process::Command::new("kill")
            .arg("-TERM")
            .arg(&self.pid)
            .status()
            .await;
        if tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
        std::fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0)
    }
}

async fn one_scenario(
    o: &Options,
    name: &'static str,
    solapi_down: bool,
    db: &Db,
    db_url: &str,
    dep_id: i64,
) -> anyhow::Result<Run> {
    reset(db).await?;
    let reach = Arc::new(Reach::new(o.merchants));
    let solapi = SolapiStandIn::start(SOLAPI_KEY, SOLAPI_SECRET).await;
    let twilio = SmsServer::start_with(Some(reach.clone())).await?;
    let smtp = SmtpSink::start(reach.clone()).await?;
    let dir = tempfile::Builder::new()
        .prefix("meoktong-national")
        .tempdir()?;
    let port = crate::local::free_port()?;
    let toml = config(
        o,
        port,
        db_url,
        &solapi.base_url(),
        &twilio.base_url,
        &smtp.url,
    );
    let serve = Serve::start(&serve_binary()?, dir.path(), &toml, port).await?;
    if solapi_down {
        solapi.set_fault(Some(SolapiFault::ServerError));
    }
    let size_before = scalar_i64(db, "SELECT pg_database_size(current_database())").await?;
    eprintln!(
        "{name}: serve ready (pid {}), load {}; deciding",
        serve.pid,
        machine::load_average()
    );
    let (serve0, pg0, bench0) = (cpu_time(&serve.pid), postgres_cpu(), cpu_time("self"));
    let decided_ms = now_ms();
    crate::fanout::decide_down(db, dep_id, decided_ms - 6_000, decided_ms).await?;
    let decided = Instant::now();
    let n = o.merchants;
    let mut solapi_seen = 0;
    let mut last_print = Instant::now();
    let (mut planned, mut last_count) = (None, Instant::now());
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        // Planned = every merchant's notice written (`created_at` is the pass's start, so the
        // count is watched instead, once a second).
        if planned.is_none() && last_count.elapsed() >= Duration::from_secs(1) {
            last_count = Instant::now();
            if scalar_i64(db, "SELECT count(*) FROM notices").await? >= n as i64 {
                planned = Some(decided.elapsed());
            }
        }
        let fresh = solapi.accepted_since(solapi_seen);
        solapi_seen += fresh.len();
        for (to, at) in &fresh {
            reach.mark(to, true, *at);
        }
        let elapsed = decided.elapsed();
        if last_print.elapsed() >= Duration::from_secs(15) {
            last_print = Instant::now();
            eprintln!(
                "{name}: {} s: reached {} (SMS {}), solapi {}, twilio {}, email {}, serve RSS {:.0} MiB, load {}",
                elapsed.as_secs(),
                thousands(reach.reached_any() as f64),
                thousands(reach.reached_sms() as f64),
                thousands(solapi_seen as f64),
                thousands(twilio.seen.requests() as f64),
                thousands(smtp.mails.load(std::sync::atomic::Ordering::Relaxed) as f64),
                rss_mib(&serve.pid).0,
                machine::load_average()
            );
        }
        if reach.reached_sms() >= n
            || (reach.reached_any() >= n && elapsed >= o.observe)
            || elapsed >= o.run_timeout
        {
            break;
        }
    }
    let wall = decided.elapsed();
    let cpu_serve = cpu_time(&serve.pid).saturating_sub(serve0);
    let cpu_postgres = postgres_cpu().saturating_sub(pg0);
    let cpu_bench = cpu_time("self").saturating_sub(bench0);
    let serve_rss = rss_mib(&serve.pid);
    let log_bytes = serve.stop().await;
    // The last messages accepted between the final look and the stop.
    let fresh = solapi.accepted_since(solapi_seen);
    for (to, at) in &fresh {
        reach.mark(to, true, *at);
    }
    let size_after = scalar_i64(db, "SELECT pg_database_size(current_database())").await?;
    let notices = scalar_i64(db, "SELECT count(*) FROM notices").await?;
    let plan = planned;

    let after = |t: Instant| t.saturating_duration_since(decided);
    let sends = solapi.send_requests();
    let ok_sends: Vec<_> = sends.iter().filter(|r| r.answered == 200).collect();
    let solapi_fig = ProviderFigures {
        requests: sends.len() as u64,
        messages: solapi.message_count() as u64,
        window: match (ok_sends.first(), ok_sends.last()) {
            (Some(a), Some(b)) => Some((after(a.at), after(b.at))),
            _ => None,
        },
    };
    let twilio_fig = ProviderFigures {
        requests: twilio.seen.requests(),
        messages: twilio.seen.requests(),
        window: match (twilio.seen.first(), twilio.seen.last()) {
            (Some(a), Some(b)) => Some((after(a), after(b))),
            _ => None,
        },
    };
    let mails = smtp.mails.load(std::sync::atomic::Ordering::Relaxed);
    let email_fig = ProviderFigures {
        requests: smtp.connections.load(std::sync::atomic::Ordering::Relaxed),
        messages: mails,
        window: smtp.window().map(|(a, b)| (after(a), after(b))),
    };
    let any = reach.times(false, decided);
    let sms = reach.times(true, decided);
    let q = |v: &[Duration], p: f64| (!v.is_empty()).then(|| machine::quantile(v, p));
    Ok(Run {
        name,
        plan,
        notices,
        all_any: (any.len() >= n).then(|| any[n - 1]),
        any_p50: q(&any, 0.5),
        any_p99: q(&any, 0.99),
        reached_any: any.len(),
        all_sms: (sms.len() >= n).then(|| sms[n - 1]),
        reached_sms: sms.len(),
        sms_p50: q(&sms, 0.5),
        wall,
        solapi: solapi_fig,
        twilio: twilio_fig,
        email: email_fig,
        serve_rss,
        db_growth: size_after - size_before,
        cpu_serve,
        cpu_postgres,
        cpu_bench,
        log_bytes,
    })
}

/// Which limit held the fan-out back, from what was measured.
fn binding_limit(o: &Options, r: &Run) -> String {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as f64;
    let wall = r.wall.as_secs_f64().max(1e-9);
    let (serve, pg, bench) = (
        r.cpu_serve.as_secs_f64() / wall,
        r.cpu_postgres.as_secs_f64() / wall,
        r.cpu_bench.as_secs_f64() / wall,
    );
    let mut out = Vec::new();
    let solapi = r.solapi.per_second(r.solapi.messages);
    if o.solapi_rate > 0 && solapi >= 0.9 * o.solapi_rate as f64 {
        out.push(format!("Solapi's rate ({}/s)", o.solapi_rate));
    }
    let twilio = r.twilio.per_second(r.twilio.messages);
    if o.twilio_rate > 0 && twilio >= 0.9 * o.twilio_rate as f64 {
        out.push(format!("Twilio's rate ({}/s)", o.twilio_rate));
    }
    let busy = serve + pg + bench;
    if busy >= 0.85 * cores {
        out.push(format!("CPU ({busy:.2} of {cores:.0} cores busy)"));
    }
    if out.is_empty() {
        out.push("none at the limit (waits: group window, budget, timers)".into());
    }
    format!(
        "{} — CPU: serve {serve:.2}, PostgreSQL {pg:.2}, stand-ins {bench:.2} cores",
        out.join(", ")
    )
}

fn opt(d: Option<Duration>) -> String {
    d.map(secs).unwrap_or_else(|| "—".into())
}

pub async fn run(o: Options) -> anyhow::Result<()> {
    crate::report::header(
        "fanout --national",
        "cargo build --release -p meoktong && cargo run --release -p meoktong-bench -- fanout --national",
    );
    let bin = serve_binary()?;
    eprintln!("serve binary: {}", bin.display());
    let fresh = FreshDb::create(Backend::Postgres, &o.postgres_url).await?;
    let (db, crypto) = fresh.connect(8).await?;
    let t0 = Instant::now();
    let deps = fixtures::catalog("http://127.0.0.1:9/health", 1, 60)?;
    catalog::sync_dependencies(&db, &deps, "config").await?;
    let dep_id = catalog::dependency_by_slug(&db, DEPENDENCY)
        .await?
        .map(|d| d.id)
        .ok_or_else(|| anyhow::anyhow!("no {DEPENDENCY}"))?;
    for start in (0..o.merchants).step_by(100_000) {
        let end = (start + 100_000).min(o.merchants);
        let mut chunk = fixtures::merchants(end, &[DEPENDENCY]);
        chunk.drain(..start);
        merchants::import(&db, &crypto, &chunk, now_ms()).await?;
        eprintln!("imported {end} merchants in {}", secs(t0.elapsed()));
    }
    let import = t0.elapsed();
    let base_size = scalar_i64(&db, "SELECT pg_database_size(current_database())").await?;

    let scenarios: Vec<(&'static str, bool)> = match o.scenario {
        Scenario::Solapi => vec![("Solapi first", false)],
        Scenario::SolapiDown => vec![("Solapi down → Twilio", true)],
        Scenario::Both => vec![("Solapi first", false), ("Solapi down → Twilio", true)],
    };
    let mut runs = Vec::new();
    for (name, down) in scenarios {
        runs.push(one_scenario(&o, name, down, &db, &fresh.url, dep_id).await?);
    }
    db.conn.clone().close().await.ok();
    fresh.drop_database().await;

    let mut table = Table::new(
        &format!(
            "fanout --national: {} merchants on PostgreSQL, one Kakao outage, the real `serve`",
            thousands(o.merchants as f64)
        ),
        &[
            "scenario",
            "plan (decision → every notice written, ±1 s)",
            "every merchant reached (any channel)",
            "reach p50 / p99",
            "reached by SMS",
            "Solapi",
            "Twilio",
            "email (SMTP)",
            "serve RSS now / peak",
            "DB growth",
        ],
    );
    let n = o.merchants;
    for r in &runs {
        table.row(vec![
            r.name.into(),
            match r.plan {
                Some(p) => format!("{} ({} notices)", secs(p), thousands(r.notices as f64)),
                None => format!("unfinished ({} notices)", thousands(r.notices as f64)),
            },
            match r.all_any {
                Some(d) => secs(d),
                None => format!(
                    "{} of {} in {}",
                    thousands(r.reached_any as f64),
                    thousands(n as f64),
                    secs(r.wall)
                ),
            },
            format!("{} / {}", opt(r.any_p50), opt(r.any_p99)),
            match r.all_sms {
                Some(d) => format!("all in {} (p50 {})", secs(d), opt(r.sms_p50)),
                None => format!(
                    "{} of {} in {}",
                    thousands(r.reached_sms as f64),
                    thousands(n as f64),
                    secs(r.wall)
                ),
            },
            r.solapi.describe(Some(o.solapi_rate)),
            r.twilio.describe(Some(o.twilio_rate)),
            r.email.describe(None),
            format!("{:.0} / {:.0} MiB", r.serve_rss.0, r.serve_rss.1),
            format!("{:.0} MiB", r.db_growth as f64 / 1048576.0),
        ]);
    }
    for r in &runs {
        table.note(format!(
            "{}: plan ≤ 30 s {}; everyone reached ≤ 5 min {}; serve RSS ≤ 500 MB {}; Solapi at its rate {}; binds: {}; serve's log {:.0} MiB",
            r.name,
            verdict(r.plan.is_some_and(|p| p <= Duration::from_secs(30))),
            verdict(r.all_any.is_some_and(|d| d <= Duration::from_secs(300))),
            verdict(r.serve_rss.1 * 1.048_576 <= 500.0),
            if r.solapi.messages == 0 {
                "n/a (not used)"
            } else {
                verdict(r.solapi.per_second(r.solapi.messages) >= 0.9 * o.solapi_rate as f64)
            },
            binding_limit(&o, r),
            r.log_bytes as f64 / 1048576.0
        ));
    }
    table.note(format!(
        "set-up: {} merchants imported in {} (database {:.0} MiB before the first decision)",
        thousands(n as f64),
        secs(import),
        base_size as f64 / 1048576.0
    ));
    table.note(format!(
        "serve: `meoktong serve` (this build's binary) on the defaults (group_window 5 s, sms_queue_budget 60 s, sms_delivery_timeout 2 m, failover_after 30 s, dispatch_concurrency 32, 16 database connections, log level info to a file) with [[sms]] solapi (rate {}/s, batch {}) then twilio (rate {}/s), [email]; probing off (the bench commits the detector's decision)",
        o.solapi_rate, o.solapi_batch, o.twilio_rate
    ));
    table.note("reached = a provider accepted a message for the merchant (Solapi intake 2000, Twilio 201, the SMTP relay's 250 after DATA); Solapi's delivery reports are polled by serve as in production");
    table.note("rates are over each provider's first to last accepted request after the decision; CPU is per process over the run (PostgreSQL: its processes alive at the end)");
    table.print();
    crate::report::footer();
    Ok(())
}
