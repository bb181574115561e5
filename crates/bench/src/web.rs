//! `web`: the application (`meoktong::Application`, no background workers) over 10,000
//! merchants and 90 days of history; `/status`, `/status.json` and merchants' `/dashboard`
//! overview under 64 keep-alive connections from a client in the same process.
use crate::dbs::{self, BENCH_KEY, Backend, FreshDb};
use crate::load::{self, Expect, LoadResult, Request};
use crate::machine::{Meter, rss_mib};
use crate::report::{Table, ms, secs, thousands, verdict};
use crate::{POSTGRES_URL, fixtures};
use meoktong::{Application, BuildOptions};
use meoktong_config::Settings;
use meoktong_storage::entity::{probe_results, probe_rollups_hourly};
use meoktong_storage::sea_orm::{ActiveValue::NotSet, ConnectionTrait, EntityTrait, Set};
use meoktong_storage::users::{self, NewUser};
use meoktong_storage::{Crypto, Db, catalog, incidents, merchants, now_ms, probes, sessions};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 10_000)]
    merchants: usize,
    #[arg(long, default_value_t = 90)]
    days: i64,
    /// Days of raw probe results (hourly rollups cover every day).
    #[arg(long, default_value_t = 1)]
    raw_days: i64,
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// One backend only (default: SQLite, then PostgreSQL).
    #[arg(long, value_enum)]
    backend: Option<Backend>,
    #[arg(long, default_value = POSTGRES_URL)]
    postgres_url: String,
    /// More public paths to measure the same way (e.g. `/healthz,/status/bench-kakaopay`).
    #[arg(long, value_delimiter = ',')]
    also: Vec<String>,
}

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
const CHECKS_PER_DEPENDENCY: usize = 3;
const PROBE_EVERY_MS: i64 = 30_000;

/// Incidents every few days per dependency, 5 to 95 minutes long; one still open.
async fn history(db: &Db, days: i64, raw_days: i64) -> anyhow::Result<(usize, usize, usize)> {
    let now = now_ms();
    let location = probes::ensure_location(db, "seoul", "local", now).await?;
    let checks = catalog::enabled_checks(db).await?;
    let mut dep_ids: Vec<i64> = checks.iter().map(|(_, d)| d.id).collect();
    dep_ids.dedup();
    let mut n_incidents = 0;
    for (k, dep) in dep_ids.iter().enumerate() {
        let mut t = now - days * DAY_MS + (k as i64) * 7 * HOUR_MS;
        let mut j = 0i64;
        while t < now - DAY_MS {
            let duration = (5 + (j * 37 + k as i64 * 11) % 90) * 60_000;
            let evidence =
                serde_json::json!({"failing_checks": ["bench"], "sample": {"status": 503}});
            let id = incidents::open(
                &db.conn,
                *dep,
                if j % 4 == 3 { "degraded" } else { "down" },
                t,
                t + 6_000,
                &evidence,
            )
            .await?;
            incidents::resolve(&db.conn, id, t + duration, t + duration).await?;
            n_incidents += 1;
            t += (2 + (j * 13 + k as i64) % 5) * DAY_MS;
            j += 1;
        }
    }
    if let Some(dep) = dep_ids.first() {
        incidents::open(
            &db.conn,
            *dep,
            "down",
            now - 20 * 60_000,
            now - 19 * 60_000,
            &serde_json::json!({}),
        )
        .await?;
        db.conn.execute_unprepared(&format!("UPDATE dependency_states SET state = 'down', since = {} WHERE dependency_id = {dep}", now - 20 * 60_000)).await?;
        db.conn
            .execute_unprepared(&format!(
                "UPDATE dependency_states SET state = 'up' WHERE dependency_id <> {dep}"
            ))
            .await?;
    }
    // Hourly rollups for every day, raw results for the last `raw_days`.
    let first_hour = (now - days * DAY_MS) / HOUR_MS * HOUR_MS;
    let mut rollups = Vec::new();
    for (c, d) in &checks {
        let mut h = first_hour;
        while h < now {
            let n = HOUR_MS / PROBE_EVERY_MS;
            rollups.push(probe_rollups_hourly::ActiveModel {
                id: NotSet,
                check_id: Set(c.id),
                dependency_id: Set(d.id),
                location_id: Set(location),
                hour_at: Set(h),
                ok_count: Set(n - 1),
                degraded_count: Set(0),
                fail_count: Set(1),
                config_error_count: Set(0),
                total_us: Set(n * (40_000 + (h / HOUR_MS % 24) * 1_000)),
                max_us: Set(250_000),
            });
            h += HOUR_MS;
        }
    }
    let n_rollups = rollups.len();
    for chunk in rollups.chunks(2_000) {
        probe_rollups_hourly::Entity::insert_many(chunk.to_vec())
            .exec(&db.conn)
            .await?;
    }
    let mut n_raw = 0;
    for (c, d) in &checks {
        let mut batch = Vec::new();
        let mut t = now - raw_days * DAY_MS;
        while t < now {
            batch.push(probe_results::ActiveModel {
                id: NotSet,
                check_id: Set(c.id),
                dependency_id: Set(d.id),
                location_id: Set(location),
                slot_at: Set(t),
                started_at: Set(t + 3),
                outcome: Set("ok".into()),
                class: Set(None),
                status: Set(Some(200)),
                provider_code: Set(None),
                error: Set(None),
                duration_us: Set(40_000 + t % 20_000),
                timings: Set(Some("{\"total_ms\":41.0}".into())),
            });
            t += PROBE_EVERY_MS;
        }
        n_raw += batch.len();
        for chunk in batch.chunks(1_000) {
            probe_results::Entity::insert_many(chunk.to_vec())
                .exec(&db.conn)
                .await?;
        }
    }
    Ok((n_incidents, n_rollups, n_raw))
}

/// Merchant accounts with a live session each; returns their `Cookie` headers.
async fn sessions_for(
    db: &Db,
    crypto: &Crypto,
    count: usize,
    merchants: usize,
) -> anyhow::Result<Vec<String>> {
    let mut cookies = Vec::new();
    for i in 0..count {
        let merchant_id = ((i * merchants / count.max(1)) + 1) as i64;
        let email = format!("bench-owner{i}@example.com");
        let user = users::create(
            db,
            crypto,
            NewUser {
                email: &email,
                password_hash: "unused",
                role: "merchant",
                merchant_id: Some(merchant_id),
                association_id: None,
            },
            "bench",
        )
        .await?;
        let token = format!("bench-session-{i:04}-{}", "x".repeat(32));
        sessions::create_session(db, crypto, &token, user, "csrf", now_ms(), 3_600_000).await?;
        cookies.push(format!("{}={token}", meoktong_web::auth::session::COOKIE));
    }
    Ok(cookies)
}

fn cells(backend: Backend, what: &str, r: &LoadResult, cpu: Duration) -> Vec<String> {
    vec![
        backend.name().into(),
        what.into(),
        thousands(r.per_second()),
        ms(r.quantile(0.5)),
        ms(r.quantile(0.99)),
        r.failed.to_string(),
        format!("{:.0} µs", cpu.as_secs_f64() * 1e6 / r.ok.max(1) as f64),
    ]
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    crate::report::header("web", "cargo run --release -p meoktong-bench -- web");
    let mut table = Table::new(
        &format!(
            "web: {} merchants, {} days of history, {} keep-alive connections, {} s each",
            thousands(a.merchants as f64),
            a.days,
            a.connections,
            a.seconds
        ),
        &[
            "backend",
            "page",
            "requests/s",
            "p50",
            "p99",
            "errors",
            "CPU per request (server + client)",
        ],
    );
    let mut notes = Vec::new();
    for backend in dbs::selected(a.backend) {
        let fresh = FreshDb::create(backend, &a.postgres_url).await?;
        let mut settings = Settings::default();
        settings.database.url = fresh.url.clone();
        settings.server.listen = "127.0.0.1:0".into();
        settings.probe.canaries = Vec::new(); // benches never contact a public address
        settings.dependency =
            fixtures::catalog("http://127.0.0.1:9/health", CHECKS_PER_DEPENDENCY, 30)?;
        let (db, crypto) = fresh.connect(settings.database.max_connections).await?;
        let t = Instant::now();
        catalog::sync_dependencies(&db, &settings.dependency, "config").await?;
        let slugs: Vec<&str> = fixtures::DEPENDENCIES.iter().map(|d| d.0).collect();
        let mut records = fixtures::merchants(a.merchants, &[]);
        for (i, r) in records.iter_mut().enumerate() {
            r.dependencies = (0..3)
                .map(|k| slugs[(i + k * 3) % slugs.len()].to_string())
                .collect();
        }
        merchants::import(&db, &crypto, &records, now_ms()).await?;
        let (n_incidents, n_rollups, n_raw) = history(&db, a.days, a.raw_days).await?;
        let cookies = sessions_for(&db, &crypto, a.connections, a.merchants).await?;
        eprintln!("{}: fixtures in {}", backend.name(), secs(t.elapsed()));
        db.conn.clone().close().await.ok();

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let app = Application::build_with_listener(
            settings,
            BuildOptions {
                data_key: Some(BENCH_KEY),
                ..BuildOptions::default()
            },
            listener,
        )
        .await?;
        let port = app.port();
        let stop = CancellationToken::new();
        let s = stop.clone();
        let server = tokio::spawn(app.run_until_stopped(async move { s.cancelled().await }));
        let duration = Duration::from_secs(a.seconds);
        let page = |path: &str| {
            vec![Request {
                path: path.into(),
                cookie: None,
            }]
        };
        let dashboards: Vec<Request> = cookies
            .iter()
            .map(|c| Request {
                path: "/dashboard".into(),
                cookie: Some(c.clone()),
            })
            .collect();
        let ok = |needle: &str| Expect {
            status: 200,
            body_contains: Some(needle.into()),
        };
        // Warm-up, then each measurement.
        load::run(
            port,
            page("/status"),
            ok("</html>"),
            4,
            Duration::from_secs(1),
        )
        .await;
        let mut runs: Vec<(&str, Vec<Request>, Expect, usize)> = vec![
            (
                "/status (HTML)",
                page("/status"),
                ok("</html>"),
                a.connections,
            ),
            (
                "/status.json",
                page("/status.json"),
                ok("\"dependencies\""),
                a.connections,
            ),
            (
                "/dashboard (merchant overview)",
                dashboards.clone(),
                ok("</html>"),
                a.connections,
            ),
            ("/dashboard, 1 connection", dashboards, ok("</html>"), 1),
        ];
        for path in &a.also {
            runs.push((
                path.as_str(),
                page(path),
                Expect {
                    status: 200,
                    body_contains: None,
                },
                a.connections,
            ));
        }
        for (what, requests, expect, connections) in runs {
            let meter = Meter::start("self");
            let r = load::run(port, requests, expect, connections, duration).await;
            let (_, cpu) = meter.read();
            if let Some(f) = &r.first_failure {
                eprintln!("{what}: first failure: {f}");
            }
            table.row(cells(backend, what, &r, cpu));
            if what.starts_with("/status (") {
                notes.push(format!(
                    "{}: status page {} requests/s (target ≥ 5,000: {})",
                    backend.name(),
                    thousands(r.per_second()),
                    verdict(r.per_second() >= 5000.0)
                ));
            }
            if what == "/dashboard (merchant overview)" {
                notes.push(format!("{}: merchant overview p99 {} at {connections} connections (target < 50 ms: {})", backend.name(), ms(r.quantile(0.99)), verdict(r.quantile(0.99) < Duration::from_millis(50))));
            }
        }
        notes.push(format!(
            "{}: data: {} merchants × 3 subscriptions, {} dependencies × {CHECKS_PER_DEPENDENCY} checks, {n_incidents} incidents over {} days (one open), {} hourly rollups, {} raw results ({} day)",
            backend.name(),
            thousands(a.merchants as f64),
            fixtures::DEPENDENCIES.len(),
            a.days,
            thousands(n_rollups as f64),
            thousands(n_raw as f64),
            a.raw_days
        ));
        stop.cancel();
        let _ = server.await;
        fresh.drop_database().await;
    }
    for n in notes {
        table.note(n);
    }
    table.note("server: `Application::build_with_listener` + `run_until_stopped` (workers off), database pool of the default 16; client: HTTP/1.1 keep-alive in the same process, so both share the 2 cores");
    table.note("/dashboard: each connection signed in as a different merchant (session cookie)");
    table.note(format!(
        "peak RSS of the bench process: {:.0} MiB",
        rss_mib("self").1
    ));
    table.print();
    crate::report::footer();
    Ok(())
}
