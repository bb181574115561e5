//! Load figure for the HTTP runner: `cargo run --release -p meoktong-probe --example probe_load --
//! URL [PROBES] [CONCURRENCY]` prints probes per second and CPU per probe (Linux: /proc/self/stat).
use meoktong_config::{CheckKind, CheckSettings};
use meoktong_domain::Outcome;
use meoktong_probe::{Runner, RunnerOptions, SsrfPolicy};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// User + system CPU seconds of this process.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or("usage: probe_load URL [PROBES] [CONCURRENCY]")?;
    let probes: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(50_000);
    let concurrency: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(64);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let runner = Runner::new(RunnerOptions { ssrf: SsrfPolicy { allow_private: true }, ..RunnerOptions::default() });
        let check: CheckSettings = toml::from_str(&format!("name = \"load\"\ntype = \"http\"\nurl = \"{url}\"\n"))?;
        let check = Arc::new(check);
        assert_eq!(check.kind, CheckKind::Http);
        let next = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicUsize::new(0));
        let (cpu0, t0) = (cpu_seconds(), Instant::now());
        let workers: Vec<_> = (0..concurrency)
            .map(|_| {
                let (runner, check, next, failed) = (runner.clone(), check.clone(), next.clone(), failed.clone());
                tokio::spawn(async move {
                    while next.fetch_add(1, Ordering::Relaxed) < probes {
                        let r = runner.run(&check, 0).await;
                        if r.outcome != Outcome::Ok && failed.fetch_add(1, Ordering::Relaxed) == 0 {
                            eprintln!("first failure: {r:?}");
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            w.await?;
        }
        let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
        println!(
            "{probes} probes, concurrency {concurrency}: {:.0} probes/s, {:.1} µs CPU per probe, {} not ok",
            probes as f64 / wall,
            cpu / probes as f64 * 1e6,
            failed.load(Ordering::Relaxed)
        );
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}
