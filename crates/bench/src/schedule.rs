//! `schedule`: 100,000 checks at 60 s intervals against a local nginx, run by the real probe
//! loop (`meoktong_engine::runner::ProbeLoop`: scheduler, slot claims, probes, detector, stored
//! results) for a few minutes of real time. Lateness is read back from the stored results:
//! `started_at − slot_at` of every probe, and slots that never ran.
use crate::dbs::{Backend, FreshDb};
use crate::local::Nginx;
use crate::machine::{Meter, quantile, rss_mib};
use crate::report::{Table, secs, thousands, verdict};
use crate::{POSTGRES_URL, fixtures};
use meoktong_config::Settings;
use meoktong_engine::clock::SystemClock;
use meoktong_engine::runner::ProbeLoop;
use meoktong_engine::schedule::spread;
use meoktong_storage::entity::probe_results;
use meoktong_storage::sea_orm::{EntityTrait, PaginatorTrait, QuerySelect};
use meoktong_storage::{catalog, now_ms};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncBufReadExt;
use tokio_util::sync::CancellationToken;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 100_000)]
    checks: usize,
    /// Dependencies the checks are spread over.
    #[arg(long, default_value_t = 1_000)]
    dependencies: usize,
    #[arg(long, default_value_t = 60)]
    interval: u64,
    /// Real time the probe loop runs.
    #[arg(long, default_value_t = 150)]
    seconds: u64,
    #[arg(long, value_enum, default_value = "sqlite")]
    backend: Backend,
    #[arg(long, default_value = POSTGRES_URL)]
    postgres_url: String,
    #[arg(long, default_value_t = 1)]
    nginx_workers: usize,
}

fn quantiles(sorted: &[i64]) -> String {
    if sorted.is_empty() {
        return "no probes".into();
    }
    format!(
        "{} / {} / {} / {} ms",
        quantile(sorted, 0.5),
        quantile(sorted, 0.99),
        quantile(sorted, 0.999),
        sorted.last().copied().unwrap_or_default()
    )
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    crate::report::header(
        "schedule",
        "cargo run --release -p meoktong-bench -- schedule",
    );
    let nginx = Nginx::start(a.nginx_workers)?;
    let fresh = FreshDb::create(a.backend, &a.postgres_url).await?;
    let mut settings = Settings::default();
    settings.database.url = fresh.url.clone();
    settings.probe.location = "bench".into();
    settings.probe.canaries = Vec::new(); // benches never contact a public address
    let (db, _) = fresh.connect(settings.database.max_connections).await?;
    let per_dep = a.checks.div_ceil(a.dependencies.max(1));
    let t = Instant::now();
    let mut deps = Vec::new();
    let mut made = 0;
    for d in 0..a.dependencies {
        let n = per_dep.min(a.checks - made);
        if n == 0 {
            break;
        }
        let checks = (0..n)
            .map(|i| fixtures::http_check(&format!("c{i}"), &nginx.url(), a.interval))
            .collect::<anyhow::Result<Vec<_>>>()?;
        deps.push(fixtures::dependency(
            &format!("bench-dep-{d}"),
            &format!("의존성 {d}"),
            "other",
            None,
            checks,
        )?);
        made += n;
    }
    catalog::sync_dependencies(&db, &deps, "config").await?;
    drop(deps);
    let check_ids: Vec<i64> = catalog::enabled_checks(&db)
        .await?
        .into_iter()
        .map(|(c, _)| c.id)
        .collect();
    eprintln!("{} checks stored in {}", check_ids.len(), secs(t.elapsed()));

    // The probe loop runs in a process of its own (this program again, `schedule-loop`), as
    // it does in `serve`: its memory is the loop's, not the set-up's (writing and reading
    // back 100,000 checks leaves this process far larger than the loop).
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .arg("schedule-loop")
        .arg("--database-url")
        .arg(&fresh.url)
        .arg("--seconds")
        .arg(a.seconds.to_string())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().map(|p| p.to_string()).unwrap_or_default();
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let mut reported = std::collections::HashMap::new();
    // The child reports `built <seconds> <RSS MiB>` when the loop is built, `running <ms>`
    // when it starts it and `peak <VmHWM MiB> <CPU s> <wall s>` just before it exits.
    let mut start = 0;
    let began = Instant::now();
    let mut next_report = 10;
    loop {
        let line = tokio::select! {
            l = lines.next_line() => l?,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {
                let elapsed = began.elapsed().as_secs();
                if elapsed >= next_report {
                    next_report += 10;
                    let stored = probe_results::Entity::find()
                        .count(&db.conn)
                        .await
                        .unwrap_or(0);
                    eprintln!(
                        "{elapsed:>4} s: {stored} results stored, loop RSS {:.0} MiB",
                        rss_mib(&pid).0,
                    );
                }
                continue;
            }
        };
        let Some(line) = line else { break };
        let mut words = line.split_whitespace();
        match words.next() {
            Some("running") => {
                start = words
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_default();
            }
            Some(what) => {
                reported.insert(
                    what.to_string(),
                    words
                        .filter_map(|w| w.parse::<f64>().ok())
                        .collect::<Vec<_>>(),
                );
            }
            None => {}
        }
    }
    let status = child.wait().await?;
    anyhow::ensure!(status.success(), "the probe loop process failed: {status}");
    let end = now_ms();
    let field = |what: &str, i: usize| {
        reported
            .get(what)
            .and_then(|v| v.get(i))
            .copied()
            .unwrap_or_default()
    };
    let (build, rss_before) = (
        Duration::from_secs_f64(field("built", 0)),
        field("built", 1),
    );
    let peak_rss = field("peak", 0);
    let (cpu, wall) = (
        Duration::from_secs_f64(field("peak", 1)),
        Duration::from_secs_f64(field("peak", 2)),
    );

    let rows: Vec<(i64, i64, String)> = probe_results::Entity::find()
        .select_only()
        .column(probe_results::Column::SlotAt)
        .column(probe_results::Column::StartedAt)
        .column(probe_results::Column::Outcome)
        .into_tuple()
        .all(&db.conn)
        .await?;
    let interval_ms = a.interval as i64 * 1000;
    // Slots due while the loop ran, minus the last 10 s (their probes may still be in flight).
    let due_until = end - 10_000;
    let expected: usize = check_ids
        .iter()
        .map(|id| {
            let offset = spread(*id, interval_ms);
            // Slots are `offset + k × interval`: count those in (start, due_until].
            let k_first = (start - offset).div_euclid(interval_ms) + 1;
            let k_last = (due_until - offset).div_euclid(interval_ms);
            usize::try_from(k_last - k_first + 1).unwrap_or(0)
        })
        .sum();
    let in_window: Vec<&(i64, i64, String)> = rows
        .iter()
        .filter(|(slot, _, _)| *slot > start && *slot <= due_until)
        .collect();
    let not_ok = rows.iter().filter(|(_, _, o)| o != "ok").count();
    let mut all: Vec<i64> = in_window
        .iter()
        .map(|(slot, started, _)| started - slot)
        .collect();
    all.sort_unstable();
    let mut steady: Vec<i64> = in_window
        .iter()
        .filter(|(slot, _, _)| *slot > start + interval_ms)
        .map(|(slot, started, _)| started - slot)
        .collect();
    steady.sort_unstable();
    let missed = expected.saturating_sub(in_window.len());
    let p99 = quantile(&all, 0.99);

    let mut table = Table::new(
        &format!(
            "schedule: {} checks every {} s, real probe loop, {} s of real time",
            thousands(check_ids.len() as f64),
            a.interval,
            a.seconds
        ),
        &[
            "slots",
            "lateness p50 / p99 / p99.9 / max",
            "probes run",
            "slots missed",
            "not ok",
            "loop process RSS (built → peak)",
            "CPU",
        ],
    );
    table.row(vec![
        "all due in the run".into(),
        quantiles(&all),
        thousands(rows.len() as f64),
        format!(
            "{} of {}",
            thousands(missed as f64),
            thousands(expected as f64)
        ),
        not_ok.to_string(),
        format!("{:.0} → {:.0} MiB", rss_before, peak_rss),
        format!(
            "{} ({:.2} cores)",
            secs(cpu),
            cpu.as_secs_f64() / wall.as_secs_f64()
        ),
    ]);
    table.row(vec![
        format!("after the first {} s", a.interval),
        quantiles(&steady),
        thousands(steady.len() as f64),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
    ]);
    table.note(format!(
        "p99 lateness of the scheduled start {p99} ms (target < 500 ms: {})",
        verdict(p99 < 500 && missed == 0)
    ));
    table.note(format!("peak RSS of the probe loop's process {peak_rss:.0} MiB (target < 300 MB: {}), {rss_before:.0} MiB when the loop was built", verdict(peak_rss * 1.048_576 < 300.0)));
    table.note(format!(
        "probe loop: `ProbeLoop::build` + `run_until_stopped` as `serve` runs it, in a process of its own ({} database, probe.max_concurrency {}, built in {}); slots claimed in batches per tick, results recorded in batches through `DetectEngine::process_batch`",
        a.backend.name(),
        settings.probe.max_concurrency,
        secs(build)
    ));
    table.note(format!(
        "one scrape of /metrics at the end (inside the peak): {:.0} MB of text for {} probe series, written in {}",
        field("scrape", 0) / 1e6,
        thousands(field("scrape", 2)),
        secs(Duration::from_secs_f64(field("scrape", 1)))
    ));
    table.note(format!(
        "{} dependencies × {} checks; nginx-light target with {} worker(s)",
        a.dependencies, per_dep, a.nginx_workers
    ));
    table.note("lateness = started_at − slot_at of each stored result (the runner is given the clock when the probe task starts)");
    table.print();
    crate::report::footer();
    db.conn.clone().close().await.ok();
    fresh.drop_database().await;
    drop(nginx);
    Ok(())
}

/// The probe loop's own process (`meoktong-bench schedule-loop`, started by `schedule`).
#[derive(clap::Args)]
pub struct LoopArgs {
    #[arg(long)]
    database_url: String,
    #[arg(long)]
    seconds: u64,
}

/// Builds the probe loop on the database `schedule` filled, runs it for `seconds`, and
/// reports on stdout (see `run`).
pub async fn run_loop(a: LoopArgs) -> anyhow::Result<()> {
    let mut settings = Settings::default();
    settings.database.url = a.database_url.clone();
    settings.probe.location = "bench".into();
    settings.probe.canaries = Vec::new(); // benches never contact a public address
    let db =
        meoktong_storage::Db::connect(&a.database_url, settings.database.max_connections).await?;
    let t = Instant::now();
    let metrics = meoktong_metrics::Metrics::new();
    let probe_loop = ProbeLoop::build(
        db.clone(),
        metrics.clone(),
        &settings,
        Arc::new(SystemClock),
        "bench".into(),
    )
    .await?;
    println!("built {} {}", t.elapsed().as_secs_f64(), rss_mib("self").0);
    let stop = CancellationToken::new();
    let meter = Meter::start("self");
    println!("running {}", now_ms());
    let task = tokio::spawn(probe_loop.run_until_stopped(stop.clone()));
    tokio::time::sleep(Duration::from_secs(a.seconds)).await;
    stop.cancel();
    let t = Instant::now();
    task.await?;
    eprintln!("probe loop stopped in {}", secs(t.elapsed()));
    let (wall, cpu) = meter.read();
    // One scrape of `/metrics` as the handler streams it, inside the measured peak.
    let t = Instant::now();
    let bytes: usize = metrics.render_chunks().map(|chunk| chunk.len()).sum();
    println!(
        "scrape {bytes} {} {}",
        t.elapsed().as_secs_f64(),
        metrics.probes.len()
    );
    println!(
        "peak {} {} {}",
        rss_mib("self").1,
        cpu.as_secs_f64(),
        wall.as_secs_f64()
    );
    db.conn.close().await.ok();
    Ok(())
}
