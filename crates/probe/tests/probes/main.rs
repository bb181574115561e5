//! Probes against real sockets on loopback: the simulator in every mode, SSRF refusal, steps,
//! tcp/tls/dns checks.
mod net;
mod sim;

use meoktong_config::{CheckKind, CheckSettings, DependencySettings};
use meoktong_probe::presets::{PresetBases, catalog};
use meoktong_probe::simulator::{Simulator, SimulatorHandle};
use meoktong_probe::{ProbeReport, Runner, RunnerOptions, SsrfPolicy};
use std::collections::BTreeMap;

pub const NOW_MS: i64 = 1_760_486_400_000;

pub fn runner() -> Runner {
    Runner::new(RunnerOptions {
        ssrf: SsrfPolicy {
            allow_private: true,
        },
        ..RunnerOptions::default()
    })
}

pub async fn sim() -> (SimulatorHandle, Vec<DependencySettings>) {
    let sim = Simulator::start("127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")))
        .await
        .unwrap_or_else(|e| panic!("simulator: {e}"));
    let deps = catalog(&PresetBases::all(&sim.base_url()));
    (sim, deps)
}

pub fn find<'a>(deps: &'a [DependencySettings], slug: &str, check: &str) -> &'a CheckSettings {
    deps.iter()
        .find(|d| d.slug == slug)
        .and_then(|d| d.check.iter().find(|c| c.name == check))
        .unwrap_or_else(|| panic!("no check {slug}/{check}"))
}

/// Every check of every preset, run concurrently.
pub async fn run_all(runner: &Runner, deps: &[DependencySettings]) -> Vec<(String, ProbeReport)> {
    let mut tasks = Vec::new();
    for d in deps {
        for c in &d.check {
            let (runner, c, key) = (runner.clone(), c.clone(), format!("{}/{}", d.slug, c.name));
            tasks.push(tokio::spawn(
                async move { (key, runner.run(&c, NOW_MS).await) },
            ));
        }
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap_or_else(|e| panic!("{e}")));
    }
    out
}

pub fn http_check(url: &str) -> CheckSettings {
    CheckSettings {
        name: "t".into(),
        kind: CheckKind::Http,
        url: Some(url.into()),
        method: None,
        headers: BTreeMap::new(),
        body: None,
        expect_status: Vec::new(),
        expect_body_contains: None,
        expect_json: BTreeMap::new(),
        expect_json_exists: Vec::new(),
        record_type: None,
        expect_records: Vec::new(),
        min_days_valid: None,
        dialect: None,
        steps: Vec::new(),
        interval: None,
        schedule: None,
        timeout: None,
        degraded_latency: None,
    }
}
