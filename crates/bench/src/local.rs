//! Local servers the benchmarks start and stop themselves: an nginx probe target and
//! Prometheus blackbox_exporter. Each runs from a private temporary directory and is stopped
//! by its own process id when dropped.
use anyhow::{Context, bail};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What the probe target answers; probes check the status and that the body contains it.
pub const TARGET_BODY: &str = "meoktong-bench-ok";

/// A port nobody listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_listening(port: u16, child: &mut Child, what: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            bail!("{what} exited at start-up ({status})");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("{what} did not listen on 127.0.0.1:{port} within 10 s")
}

fn find_binary(candidates: &[&str]) -> Option<PathBuf> {
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

/// nginx serving `GET /health` → 200 with [`TARGET_BODY`], access log off.
pub struct Nginx {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Nginx {
    pub fn start(workers: usize) -> anyhow::Result<Nginx> {
        let bin = find_binary(&["/usr/sbin/nginx", "/usr/bin/nginx"])
            .context("nginx not found: apt-get install -y nginx-light")?;
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        let d = dir.path().display();
        let conf = format!(
            "worker_processes {workers};\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 8192; multi_accept on; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
               server {{\n    listen 127.0.0.1:{port} backlog=4096;\n\
                 location = /health {{ default_type text/plain; return 200 \"{TARGET_BODY}\\n\"; }}\n  }}\n}}\n"
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf)?;
        let mut child = Command::new(bin)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start nginx")?;
        wait_listening(port, &mut child, "nginx")?;
        Ok(Nginx {
            child,
            port,
            _dir: dir,
        })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/health", self.port)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // TERM to the master: it stops its workers too (a KILL would orphan them).
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// Prometheus blackbox_exporter with one module: HTTP, status 2xx, body regexp.
pub struct Blackbox {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

pub const BLACKBOX_MODULE: &str = "http_2xx_body";

impl Blackbox {
    pub fn start() -> anyhow::Result<Blackbox> {
        let bin = find_binary(&[
            "/usr/bin/prometheus-blackbox-exporter",
            "/usr/local/bin/blackbox_exporter",
        ])
        .context("blackbox_exporter not found: apt-get install -y prometheus-blackbox-exporter")?;
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        let conf = format!(
            "modules:\n  {BLACKBOX_MODULE}:\n    prober: http\n    timeout: 5s\n    http:\n      \
             valid_status_codes: [200]\n      preferred_ip_protocol: ip4\n      \
             fail_if_body_not_matches_regexp: [\"{TARGET_BODY}\"]\n"
        );
        let conf_path = dir.path().join("blackbox.yml");
        std::fs::write(&conf_path, conf)?;
        let mut child = Command::new(bin)
            .arg(format!("--config.file={}", conf_path.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start blackbox_exporter")?;
        wait_listening(port, &mut child, "blackbox_exporter")?;
        Ok(Blackbox {
            child,
            port,
            _dir: dir,
        })
    }

    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// "blackbox_exporter 0.23.0", read from the binary (`--version`).
    pub fn name() -> String {
        let bin = find_binary(&[
            "/usr/bin/prometheus-blackbox-exporter",
            "/usr/local/bin/blackbox_exporter",
        ]);
        let version = bin
            .and_then(|b| Command::new(b).arg("--version").output().ok())
            .map(|o| {
                let text = String::from_utf8_lossy(&o.stdout).to_string()
                    + &String::from_utf8_lossy(&o.stderr);
                text.split_whitespace()
                    .skip_while(|w| *w != "version")
                    .nth(1)
                    .unwrap_or("?")
                    .to_string()
            })
            .unwrap_or_else(|| "?".into());
        format!("blackbox_exporter {version}")
    }

    /// The path that runs one probe of `target`.
    pub fn probe_path(target: &str) -> String {
        format!(
            "/probe?module={BLACKBOX_MODULE}&target={}",
            url::form_urlencoded::byte_serialize(target.as_bytes()).collect::<String>()
        )
    }
}

impl Drop for Blackbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
