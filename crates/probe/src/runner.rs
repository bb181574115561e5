//! The runner: one probe of one check, bounded by the check's `timeout`, judged into a
//! [`ProbeReport`]. Cheap to clone; share one per process (it holds the TLS config and resolver).
use crate::classify::Verdict;
use crate::net::{NetError, Progress, Stage};
use crate::report::{ProbeReport, Timings};
use crate::ssrf::SsrfPolicy;
use crate::{checks, dns, steps};
use hickory_resolver::TokioResolver;
use http::HeaderValue;
use meoktong_config::{CheckKind, CheckSettings};
use meoktong_domain::{Millis, Outcome};
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use std::fmt;
use std::sync::{Arc, OnceLock};

/// `User-Agent` of every probe unless [`RunnerOptions::user_agent`] says otherwise.
pub const DEFAULT_USER_AGENT: &str = concat!("meoktong-probe/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, Clone)]
pub struct RunnerOptions {
    pub ssrf: SsrfPolicy,
    pub user_agent: String,
    /// Trusted in addition to the Mozilla roots (webpki-roots): a private CA, or a test CA.
    pub extra_roots: Vec<CertificateDer<'static>>,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        RunnerOptions {
            ssrf: SsrfPolicy::default(),
            user_agent: DEFAULT_USER_AGENT.to_string(),
            extra_roots: Vec::new(),
        }
    }
}

/// Runs checks. `Clone` shares everything (an `Arc`).
#[derive(Clone)]
pub struct Runner {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub ssrf: SsrfPolicy,
    pub user_agent: HeaderValue,
    pub tls: Arc<ClientConfig>,
    /// Built on first use (`dns` checks only): reads the system's resolver configuration.
    resolver: Arc<OnceLock<Result<TokioResolver, String>>>,
}

impl Shared {
    pub(crate) fn resolver(&self) -> Result<&TokioResolver, String> {
        self.resolver
            .get_or_init(dns::system_resolver)
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl fmt::Debug for Runner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runner")
            .field("ssrf", &self.shared.ssrf)
            .field("user_agent", &self.shared.user_agent)
            .finish()
    }
}

/// What a check found, before timing and latency are added.
pub(crate) struct Finding {
    pub verdict: Verdict,
    pub status: Option<u16>,
    pub detail: Option<String>,
    pub resolver_failure: bool,
}

impl Finding {
    pub(crate) fn new(verdict: Verdict) -> Self {
        Finding {
            verdict,
            status: None,
            detail: None,
            resolver_failure: false,
        }
    }

    pub(crate) fn net(e: NetError) -> Self {
        let resolver_failure = matches!(e, NetError::Dns(_));
        let verdict = match e {
            NetError::BadTarget(m) => Verdict::config(m),
            NetError::Blocked(ip) => Verdict::config(crate::ssrf::Blocked(ip).to_string()),
            NetError::Dns(m) => Verdict::fail(format!("DNS: {m}")),
            NetError::Connect(m) => Verdict::fail(m),
            NetError::Tls(m) => Verdict::fail(format!("TLS: {m}")),
            NetError::Http(m) => Verdict::fail(format!("HTTP: {m}")),
        };
        Finding {
            resolver_failure,
            ..Finding::new(verdict)
        }
    }
}

fn tls_config(extra_roots: &[CertificateDer<'static>]) -> Arc<ClientConfig> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let (_added, _ignored) = roots.add_parsable_certificates(extra_roots.iter().cloned());
    // Name the provider: other crates in the process may enable a second rustls backend.
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports TLS 1.2 and 1.3");
    let mut config = builder.with_root_certificates(roots).with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

impl Runner {
    pub fn new(options: RunnerOptions) -> Runner {
        let user_agent = HeaderValue::from_str(&options.user_agent)
            .unwrap_or_else(|_| HeaderValue::from_static(DEFAULT_USER_AGENT));
        Runner {
            shared: Arc::new(Shared {
                ssrf: options.ssrf,
                user_agent,
                tls: tls_config(&options.extra_roots),
                resolver: Arc::new(OnceLock::new()),
            }),
        }
    }

    pub fn ssrf_policy(&self) -> SsrfPolicy {
        self.shared.ssrf
    }

    /// The same runner (TLS config, resolver, user agent) under another SSRF policy: e.g. one
    /// for the operator's file checks (`allow_private`) and one for merchant-supplied checks.
    pub fn with_ssrf(&self, ssrf: SsrfPolicy) -> Runner {
        let s = &self.shared;
        Runner {
            shared: Arc::new(Shared {
                ssrf,
                user_agent: s.user_agent.clone(),
                tls: Arc::clone(&s.tls),
                resolver: Arc::clone(&s.resolver),
            }),
        }
    }

    /// Probes `check` once. Never fails: every problem is a verdict in the report.
    /// `now_ms` is the wall-clock start (the report's `started_at`, and "now" for certificates).
    pub async fn run(&self, check: &CheckSettings, now_ms: Millis) -> ProbeReport {
        let limit = check.timeout.unwrap_or(CheckSettings::DEFAULT_TIMEOUT);
        let mut p = Progress::new();
        let finished = tokio::time::timeout(limit, self.dispatch(check, now_ms, &mut p)).await;
        let total = p.started.elapsed();
        let mut finding = finished.unwrap_or_else(|_| {
            let step = p.step.map(|s| format!("step `{s}`, ")).unwrap_or_default();
            let message = format!(
                "timeout after {} ms ({step}{})",
                limit.as_millis(),
                p.stage.describe()
            );
            Finding {
                resolver_failure: p.stage == Stage::Resolving,
                ..Finding::new(Verdict::fail(message))
            }
        });
        if finding.verdict.outcome == Outcome::Ok
            && let Some(slow) = check.degraded_latency
            && total > slow
        {
            let code = finding.verdict.provider_code.take();
            finding.verdict = Verdict::degraded(format!(
                "slow: {} ms, over {} ms",
                total.as_millis(),
                slow.as_millis()
            ));
            finding.verdict.provider_code = code;
        }
        let Verdict {
            outcome,
            class,
            provider_code,
            error,
        } = finding.verdict;
        ProbeReport {
            started_at: now_ms,
            outcome,
            class,
            status: finding.status,
            provider_code,
            error,
            timings: Timings { total, ..p.timings },
            detail: finding.detail,
            resolver_failure: finding.resolver_failure,
        }
    }

    async fn dispatch<'a>(
        &self,
        check: &'a CheckSettings,
        now_ms: Millis,
        p: &mut Progress<'a>,
    ) -> Finding {
        let shared = &*self.shared;
        match check.kind {
            CheckKind::Http => checks::http(shared, check, p).await,
            CheckKind::Tcp => checks::tcp(shared, check, p).await,
            CheckKind::Tls => checks::tls(shared, check, now_ms, p).await,
            CheckKind::Dns => dns::run(shared, check, p).await,
            CheckKind::Steps => steps::run(shared, check, p).await,
        }
    }
}
