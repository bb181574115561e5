//! Network plumbing shared by the checks: targets, name resolution with the SSRF guard, TCP
//! connect to the vetted address, TLS, and the probe's progress clock.
use crate::report::Timings;
use crate::ssrf::{Blocked, SsrfPolicy};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Why a request never produced an answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NetError {
    /// The check itself is unusable (bad URL, header, method): a configuration error.
    BadTarget(String),
    /// Name resolution failed.
    Dns(String),
    Blocked(IpAddr),
    Connect(String),
    Tls(String),
    Http(String),
}

impl From<Blocked> for NetError {
    fn from(b: Blocked) -> Self {
        NetError::Blocked(b.0)
    }
}

/// The phase a probe is in, named in timeout errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    Starting,
    Resolving,
    Connecting,
    TlsHandshake,
    WaitingForResponse,
    ReadingBody,
}

impl Stage {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Stage::Starting => "starting",
            Stage::Resolving => "resolving the host name",
            Stage::Connecting => "connecting",
            Stage::TlsHandshake => "in the TLS handshake",
            Stage::WaitingForResponse => "waiting for the response",
            Stage::ReadingBody => "reading the body",
        }
    }
}

/// The clock and phase marks of one probe.
pub(crate) struct Progress<'a> {
    pub started: Instant,
    request_started: Instant,
    pub timings: Timings,
    pub stage: Stage,
    /// The `steps` step being run.
    pub step: Option<&'a str>,
}

impl<'a> Progress<'a> {
    pub(crate) fn new() -> Self {
        let now = Instant::now();
        Progress {
            started: now,
            request_started: now,
            timings: Timings::default(),
            stage: Stage::Starting,
            step: None,
        }
    }

    /// A new request (a step): phase marks start again from here.
    pub(crate) fn begin_request(&mut self, step: Option<&'a str>) {
        self.request_started = Instant::now();
        self.timings = Timings::default();
        self.stage = Stage::Starting;
        self.step = step;
    }

    /// Time since the current request started.
    pub(crate) fn mark(&self) -> Option<Duration> {
        Some(self.request_started.elapsed())
    }
}

/// A host to reach: an address, or a name to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostRef<'a> {
    Ip(IpAddr),
    Name(Cow<'a, str>),
}

impl<'a> HostRef<'a> {
    pub(crate) fn from_url(host: url::Host<&'a str>) -> Self {
        match host {
            url::Host::Ipv4(ip) => HostRef::Ip(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => HostRef::Ip(IpAddr::V6(ip)),
            // Non-special schemes (`tcp://`) leave IP literals as opaque hosts.
            url::Host::Domain(d) => match d
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
            {
                Ok(ip) => HostRef::Ip(ip),
                Err(_) => HostRef::Name(Cow::Borrowed(d)),
            },
        }
    }

    pub(crate) fn into_owned(self) -> HostRef<'static> {
        match self {
            HostRef::Ip(ip) => HostRef::Ip(ip),
            HostRef::Name(n) => HostRef::Name(Cow::Owned(n.into_owned())),
        }
    }
}

/// `host:port`, `tcp://host:port` or any URL → host and port (`default_port` when none given).
pub(crate) fn parse_host_port(
    target: &str,
    default_port: Option<u16>,
) -> Result<(HostRef<'static>, u16), String> {
    let text: Cow<'_, str> = if target.contains("://") {
        Cow::Borrowed(target.trim())
    } else {
        Cow::Owned(format!("tcp://{}", target.trim()))
    };
    let url = url::Url::parse(&text).map_err(|e| format!("`{target}` is not host:port ({e})"))?;
    let host = url
        .host()
        .ok_or_else(|| format!("`{target}` has no host"))?;
    let host = HostRef::from_url(host).into_owned();
    let port = url
        .port_or_known_default()
        .or(default_port)
        .ok_or_else(|| format!("`{target}` needs a port"))?;
    Ok((host, port))
}

/// Resolves `host` and keeps the addresses the policy allows (refusing only when none is left).
pub(crate) async fn resolve(
    host: &HostRef<'_>,
    port: u16,
    policy: SsrfPolicy,
    p: &mut Progress<'_>,
) -> Result<Vec<SocketAddr>, NetError> {
    match host {
        HostRef::Ip(ip) => {
            policy.check(*ip)?;
            Ok(vec![SocketAddr::new(*ip, port)])
        }
        HostRef::Name(name) => {
            p.stage = Stage::Resolving;
            let found = tokio::net::lookup_host((name.as_ref(), port))
                .await
                .map_err(|e| NetError::Dns(format!("{name}: {e}")))?;
            p.timings.dns = p.mark();
            let mut allowed = Vec::with_capacity(2);
            let mut blocked = None;
            for addr in found {
                match policy.check(addr.ip()) {
                    Ok(()) => allowed.push(addr),
                    Err(b) => blocked = blocked.or(Some(b)),
                }
            }
            match (allowed.is_empty(), blocked) {
                (false, _) => Ok(allowed),
                (true, Some(b)) => Err(b.into()),
                (true, None) => Err(NetError::Dns(format!("{name}: no addresses"))),
            }
        }
    }
}

/// Connects to the first vetted address that answers.
pub(crate) async fn connect(
    addrs: &[SocketAddr],
    p: &mut Progress<'_>,
) -> Result<TcpStream, NetError> {
    p.stage = Stage::Connecting;
    let mut last = NetError::Connect("no address to connect to".into());
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                // Probes send one small request: no Nagle delay. Failure to set it is harmless.
                let _ = stream.set_nodelay(true);
                p.timings.connect = p.mark();
                return Ok(stream);
            }
            Err(e) => last = NetError::Connect(describe_connect(*addr, &e)),
        }
    }
    Err(last)
}

fn describe_connect(addr: SocketAddr, e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::ConnectionRefused => format!("connect refused by {addr}"),
        ErrorKind::TimedOut => format!("connect to {addr} timed out"),
        ErrorKind::NetworkUnreachable => format!("network unreachable ({addr})"),
        ErrorKind::HostUnreachable => format!("host unreachable ({addr})"),
        _ => format!("connect to {addr}: {e}"),
    }
}

/// TLS handshake with SNI = the host name, verifying the chain with the shared config.
pub(crate) async fn tls_handshake(
    tcp: TcpStream,
    host: &HostRef<'_>,
    config: &Arc<ClientConfig>,
    p: &mut Progress<'_>,
) -> Result<TlsStream<TcpStream>, NetError> {
    p.stage = Stage::TlsHandshake;
    let name = match host {
        HostRef::Ip(ip) => ServerName::IpAddress((*ip).into()),
        HostRef::Name(n) => ServerName::try_from(n.trim_end_matches('.').to_string())
            .map_err(|_| NetError::BadTarget(format!("`{n}` is not a valid TLS server name")))?,
    };
    let stream = TlsConnector::from(Arc::clone(config))
        .connect(name, tcp)
        .await
        .map_err(|e| {
            let text = match e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            {
                Some(tls) => tls.to_string(),
                None => e.to_string(),
            };
            NetError::Tls(text)
        })?;
    p.timings.tls = p.mark();
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        let ip = |s: &str| HostRef::Ip(s.parse().unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(
            parse_host_port("127.0.0.1:80", None),
            Ok((ip("127.0.0.1"), 80))
        );
        assert_eq!(
            parse_host_port("tcp://[::1]:8080", None),
            Ok((ip("::1"), 8080))
        );
        assert_eq!(
            parse_host_port("kauth.kakao.com", Some(443)),
            Ok((HostRef::Name("kauth.kakao.com".into()), 443))
        );
        assert_eq!(
            parse_host_port("https://pay.toss.im/x", None),
            Ok((HostRef::Name("pay.toss.im".into()), 443))
        );
        assert!(parse_host_port("kauth.kakao.com", None).is_err());
        assert!(parse_host_port("", Some(1)).is_err());
    }
}
