//! `probes`: completed probes per second of one process against a local nginx (a fresh
//! connection per probe, status + body checked, every result stored), beside Prometheus
//! blackbox_exporter driven with the same concurrency in the same run.
use crate::dbs::{Backend, FreshDb};
use crate::local::{Blackbox, Nginx};
use crate::machine::{Meter, rss_mib};
use crate::report::{Table, thousands, verdict};
use crate::{fixtures, load};
use meoktong_config::CheckSettings;
use meoktong_domain::Outcome;
use meoktong_domain::detector::DetectorPolicy;
use meoktong_domain::incident::IncidentPolicy;
use meoktong_engine::detect::{CheckInfo, DetectEngine, Probed};
use meoktong_engine::runner::to_outcome;
use meoktong_probe::{Runner, RunnerOptions, SsrfPolicy};
use meoktong_storage::probes;
use meoktong_storage::{Db, catalog, now_ms};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

#[derive(clap::Args)]
pub struct Args {
    /// Probes in flight at once, one measurement each.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 16, 64, 256])]
    levels: Vec<usize>,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// nginx worker processes.
    #[arg(long, default_value_t = 1)]
    nginx_workers: usize,
    /// Results stored per transaction by the recorder.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    #[arg(long)]
    skip_blackbox: bool,
}

/// One measurement of one prober at one concurrency.
struct Figure {
    probes: u64,
    not_ok: u64,
    wall: Duration,
    cpu: Duration,
    rss_mib: f64,
    extra: String,
}

impl Figure {
    fn per_second(&self) -> f64 {
        self.probes as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    fn cpu_per_probe_us(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / (self.probes.max(1) as f64)
    }

    fn cells(&self, who: &str, level: usize) -> Vec<String> {
        vec![
            who.into(),
            level.to_string(),
            thousands(self.per_second()),
            format!("{:.0} µs", self.cpu_per_probe_us()),
            format!(
                "{:.2}",
                self.cpu.as_secs_f64() / self.wall.as_secs_f64().max(1e-9)
            ),
            format!("{:.0} MiB", self.rss_mib),
            self.not_ok.to_string(),
            self.extra.clone(),
        ]
    }
}

struct Target {
    db: Db,
    check: Arc<CheckSettings>,
    infos: Vec<CheckInfo>,
    location_id: i64,
}

async fn prepare(nginx: &Nginx, checks: usize) -> anyhow::Result<(FreshDb, Target)> {
    let fresh = FreshDb::create(Backend::Sqlite, "").await?;
    let (db, _) = fresh.connect(8).await?;
    let list = (0..checks)
        .map(|i| fixtures::http_check(&format!("nginx-{i}"), &nginx.url(), 60))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let check = Arc::new(list[0].clone());
    let dep = fixtures::dependency("bench-nginx", "nginx", "other", None, list)?;
    catalog::sync_dependencies(&db, &[dep], "config").await?;
    let infos = catalog::enabled_checks(&db)
        .await?
        .into_iter()
        .map(|(c, d)| CheckInfo {
            check_id: c.id,
            check_name: c.name,
            dependency_id: d.id,
            dependency_slug: d.slug,
            platform: d.platform,
            period: Duration::from_secs(60),
        })
        .collect();
    let location_id = probes::ensure_location(&db, "bench", "local", now_ms()).await?;
    Ok((
        fresh,
        Target {
            db,
            check,
            infos,
            location_id,
        },
    ))
}

fn probed(t: &Target, i: usize, report: &meoktong_probe::ProbeReport) -> Probed {
    let outcome = to_outcome(report);
    Probed {
        check_id: t.infos[i % t.infos.len()].check_id,
        slot_at: outcome.started_at,
        outcome,
    }
}

/// Probes with `level` in flight until the deadline; a recorder task takes the results in
/// batches through the probe loop's own path (`DetectEngine::process_batch`: results, hourly
/// rollups and detector trackers in one transaction per batch). Counts recorded results only.
async fn ours_batched(
    t: &Arc<Target>,
    runner: &Runner,
    level: usize,
    seconds: u64,
    batch: usize,
) -> anyhow::Result<Figure> {
    let (tx, mut rx) = mpsc::channel::<Probed>(batch * 4);
    let stored = Arc::new(AtomicU64::new(0));
    let not_ok = Arc::new(AtomicU64::new(0));
    let meter = Meter::start("self");
    let engine = DetectEngine::new(
        t.db.clone(),
        meoktong_metrics::Metrics::new(),
        DetectorPolicy {
            confirm_after: vec![Duration::from_secs(2), Duration::from_secs(4)],
            recovery_successes: 2,
        },
        IncidentPolicy {
            reopen_window: Duration::from_secs(600),
        },
        t.location_id,
        "bench".into(),
        t.infos.clone(),
    );
    let recorder = {
        let stored = stored.clone();
        tokio::spawn(async move {
            let mut rows = Vec::with_capacity(batch);
            while rx.recv_many(&mut rows, batch).await > 0 {
                if let Err(e) = engine.process_batch(&rows, now_ms()).await {
                    eprintln!("process_batch failed: {e}");
                } else {
                    stored.fetch_add(rows.len() as u64, Ordering::Relaxed);
                }
                rows.clear();
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let workers: Vec<_> = (0..level)
        .map(|i| {
            let (t, runner, tx, not_ok) = (t.clone(), runner.clone(), tx.clone(), not_ok.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let report = runner.run(&t.check, now_ms()).await;
                    if report.outcome != Outcome::Ok && not_ok.fetch_add(1, Ordering::Relaxed) == 0
                    {
                        eprintln!("first failed probe: {:?}", report.error);
                    }
                    if tx.send(probed(&t, i, &report)).await.is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    drop(tx);
    for w in workers {
        w.await?;
    }
    recorder.await?;
    let (wall, cpu) = meter.read();
    Ok(Figure {
        probes: stored.load(Ordering::Relaxed),
        not_ok: not_ok.load(Ordering::Relaxed),
        wall,
        cpu,
        rss_mib: rss_mib("self").0,
        extra: format!(
            "recorded as the probe loop does (`DetectEngine::process_batch`), ≤ {batch} per transaction"
        ),
    })
}

async fn blackbox(bb: &Blackbox, target: &str, level: usize, seconds: u64) -> Figure {
    let meter = Meter::start(&bb.pid());
    let driver = Meter::start("self");
    let r = load::run(
        bb.port,
        vec![load::Request {
            path: Blackbox::probe_path(target),
            cookie: None,
        }],
        load::Expect {
            status: 200,
            body_contains: Some("probe_success 1".into()),
        },
        level,
        Duration::from_secs(seconds),
    )
    .await;
    let (_, cpu) = meter.read();
    let (_, driver_cpu) = driver.read();
    if let Some(f) = &r.first_failure {
        eprintln!("blackbox_exporter: first failure: {f}");
    }
    Figure {
        probes: r.ok,
        not_ok: r.failed,
        wall: r.elapsed,
        cpu,
        rss_mib: rss_mib(&bb.pid()).0,
        extra: format!(
            "exporter process only; our HTTP client driving it used {:.0} µs more per probe",
            driver_cpu.as_secs_f64() * 1e6 / r.ok.max(1) as f64
        ),
    }
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    crate::report::header("probes", "cargo run --release -p meoktong-bench -- probes");
    let nginx = Nginx::start(a.nginx_workers)?;
    let checks = a.levels.iter().copied().max().unwrap_or(1).max(1);
    let (fresh, target) = prepare(&nginx, checks).await?;
    let target = Arc::new(target);
    let runner = Runner::new(RunnerOptions {
        ssrf: SsrfPolicy {
            allow_private: true,
        },
        ..RunnerOptions::default()
    });
    let bb = if a.skip_blackbox {
        None
    } else {
        Some(Blackbox::start()?)
    };
    let mut table = Table::new(
        "probes: one process, local nginx, fresh connection per probe, status + body checked",
        &[
            "prober",
            "concurrency",
            "probes/s",
            "CPU per probe",
            "cores busy",
            "RSS",
            "not ok",
            "how results are handled",
        ],
    );
    let mut best: Option<(usize, f64, f64)> = None; // (level, ours/s, ours µs)
    let mut ratios = Vec::new();
    for &level in &a.levels {
        let ours = ours_batched(&target, &runner, level, a.seconds, a.batch).await?;
        table.row(ours.cells("meoktong", level));
        if best.is_none_or(|(_, p, _)| ours.per_second() > p) {
            best = Some((level, ours.per_second(), ours.cpu_per_probe_us()));
        }
        if let Some(bb) = &bb {
            let theirs = blackbox(bb, &nginx.url(), level, a.seconds).await;
            table.row(theirs.cells(&Blackbox::name(), level));
            ratios.push((
                level,
                ours.per_second() / theirs.per_second().max(1e-9),
                ours.per_second(),
                theirs.per_second(),
            ));
        }
    }
    let (_, peak) = rss_mib("self");
    if let Some((level, per_s, us)) = best {
        table.note(format!(
            "best: {} probes/s at concurrency {level} (target ≥ 10,000: {})",
            thousands(per_s),
            verdict(per_s >= 10_000.0)
        ));
        table.note(format!(
            "CPU per probe at that level: {us:.0} µs (target ≤ 150 µs: {})",
            verdict(us <= 150.0)
        ));
    }
    for (level, ratio, ours, theirs) in &ratios {
        table.note(format!(
            "concurrency {level}: {ratio:.1}× blackbox_exporter ({} vs {} probes/s; target ≥ 4×: {})",
            thousands(*ours),
            thousands(*theirs),
            verdict(*ratio >= 4.0)
        ));
    }
    table.note(format!(
        "peak RSS of the bench process (probes + SQLite + HTTP client): {peak:.0} MiB"
    ));
    table.note(format!(
        "target: nginx-light, {} worker process(es), `return 200` with a fixed body; results stored in a SQLite file (WAL)",
        a.nginx_workers
    ));
    table.note("CPU per probe = user + system time of the process (/proc/<pid>/stat, as getrusage) ÷ probes completed; nginx's own CPU is in neither column");
    table.print();
    crate::report::footer();
    drop(bb);
    drop(nginx);
    fresh.drop_database().await;
    Ok(())
}
