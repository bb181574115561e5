//! The machine a figure was measured on, and what a process costs (CPU, memory), read from
//! `/proc` — the same counters `getrusage` reports, without `unsafe`.
use std::time::Duration;

/// Cores, CPU model, RAM and the load when the run started.
#[derive(Debug, Clone)]
pub struct Machine {
    pub cores: usize,
    pub cpu_model: String,
    pub ram_gib: f64,
    pub kernel: String,
}

impl Machine {
    pub fn read() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")
                    .and_then(|r| r.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let ram_kib = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_string();
        Machine {
            cores: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            cpu_model,
            ram_gib: ram_kib / 1024.0 / 1024.0,
            kernel,
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "{} cores, {}, {:.1} GiB RAM, Linux {}",
            self.cores, self.cpu_model, self.ram_gib, self.kernel
        )
    }
}

/// The 1/5/15-minute load averages.
pub fn load_average() -> String {
    let raw = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    raw.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// User + system CPU time of a process (`self` or a pid).
pub fn cpu_time(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may contain spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the stat line: 11 and 12 after the name.
    Duration::from_secs_f64((ticks(11) + ticks(12)) / CLOCK_TICKS_PER_SECOND)
}

/// Resident set size now and its peak (`VmRSS`, `VmHWM`), in MiB.
pub fn rss_mib(pid: &str) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (kib("VmRSS:") / 1024.0, kib("VmHWM:") / 1024.0)
}

/// CPU and wall time between two points of a run.
pub struct Meter {
    pid: String,
    cpu0: Duration,
    wall0: std::time::Instant,
}

impl Meter {
    pub fn start(pid: &str) -> Meter {
        Meter {
            pid: pid.to_string(),
            cpu0: cpu_time(pid),
            wall0: std::time::Instant::now(),
        }
    }

    /// (wall, cpu) since the start.
    pub fn read(&self) -> (Duration, Duration) {
        (
            self.wall0.elapsed(),
            cpu_time(&self.pid).saturating_sub(self.cpu0),
        )
    }
}

/// The `q` quantile (0..=1) of sorted values.
pub fn quantile<T: Copy + Default>(sorted: &[T], q: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}
