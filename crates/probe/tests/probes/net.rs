//! SSRF refusal, tcp, tls (with a test CA), dns and broken servers.
use super::{NOW_MS, http_check, runner, sim};
use meoktong_config::CheckKind;
use meoktong_domain::{FailureClass, Outcome};
use meoktong_probe::{Runner, RunnerOptions, SsrfPolicy};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const CA: &[u8] = include_bytes!("../fixtures/ca.pem");
const LEAF: &[u8] = include_bytes!("../fixtures/leaf.pem");
const LEAF_KEY: &[u8] = include_bytes!("../fixtures/leaf.key");

fn cert(pem: &[u8]) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem).unwrap_or_else(|e| panic!("fixture: {e:?}"))
}

async fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    l.local_addr().unwrap_or_else(|e| panic!("{e}"))
}

/// A TLS server (test CA) answering every request `200 ok`.
async fn tls_server() -> SocketAddr {
    let key = PrivateKeyDer::from_pem_slice(LEAF_KEY).unwrap_or_else(|e| panic!("fixture: {e:?}"));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .and_then(|b| {
        b.with_no_client_auth()
            .with_single_cert(vec![cert(LEAF)], key)
    })
    .unwrap_or_else(|e| panic!("server config: {e}"));
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = vec![0u8; 4096];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tls
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    addr
}

fn tls_runner(trust_test_ca: bool) -> Runner {
    let extra_roots = if trust_test_ca {
        vec![cert(CA)]
    } else {
        vec![]
    };
    Runner::new(RunnerOptions {
        ssrf: SsrfPolicy {
            allow_private: true,
        },
        extra_roots,
        ..RunnerOptions::default()
    })
}

#[tokio::test]
async fn ssrf_guard_refuses_loopback_unless_allowed() {
    let (sim, _deps) = sim().await;
    assert!(
        !Runner::new(RunnerOptions::default())
            .ssrf_policy()
            .allow_private
    );
    let public_only = runner().with_ssrf(SsrfPolicy::default());
    let port = sim.addr().port();
    for url in [
        format!("{}/__sim", sim.base_url()),
        format!("http://localhost:{port}/__sim"),
    ] {
        let r = public_only.run(&http_check(&url), NOW_MS).await;
        assert_eq!(
            (r.outcome, r.class),
            (Outcome::ConfigError, Some(FailureClass::Config)),
            "{url}: {r:?}"
        );
        let error = r.error.unwrap_or_default();
        assert!(
            error == "blocked by SSRF guard: 127.0.0.1" || error == "blocked by SSRF guard: ::1",
            "{error}"
        );
        assert!(r.timings.connect.is_none());
    }
    let mut tcp = http_check(&format!("[::ffff:127.0.0.1]:{port}"));
    tcp.kind = CheckKind::Tcp;
    let r = public_only.run(&tcp, NOW_MS).await;
    assert_eq!(
        r.error.as_deref(),
        Some("blocked by SSRF guard: ::ffff:127.0.0.1")
    );
    assert_eq!(
        runner()
            .run(&http_check(&format!("{}/__sim", sim.base_url())), NOW_MS)
            .await
            .outcome,
        Outcome::Ok
    );
}

#[tokio::test]
async fn tcp_connects_or_is_refused() {
    let (sim, _deps) = sim().await;
    let mut check = http_check(&format!("tcp://{}", sim.addr()));
    check.kind = CheckKind::Tcp;
    let r = runner().run(&check, NOW_MS).await;
    assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
    assert_eq!(r.detail, Some(format!("connected to {}", sim.addr())));
    let closed = closed_port().await;
    check.url = Some(closed.to_string());
    let r = runner().run(&check, NOW_MS).await;
    assert_eq!(
        (r.outcome, r.class),
        (Outcome::Fail, Some(FailureClass::Provider))
    );
    assert_eq!(r.error, Some(format!("connect refused by {closed}")));
    let text = meoktong_probe::report_text::format_report("x", &r);
    assert!(
        text.starts_with(&format!("DOWN connect refused by {closed} (")),
        "{text}"
    );
}

#[tokio::test]
async fn http_to_a_closed_port_and_a_mute_server() {
    let closed = closed_port().await;
    let r = runner()
        .run(&http_check(&format!("http://{closed}/")), NOW_MS)
        .await;
    assert_eq!((r.outcome, r.status), (Outcome::Fail, None));
    // A server that accepts and closes without answering.
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
        }
    });
    let r = runner()
        .run(&http_check(&format!("http://{addr}/")), NOW_MS)
        .await;
    assert_eq!(
        (r.outcome, r.class),
        (Outcome::Fail, Some(FailureClass::Provider)),
        "{r:?}"
    );
    assert!(
        r.error.as_deref().is_some_and(|e| e.starts_with("HTTP: ")),
        "{r:?}"
    );
}

#[tokio::test]
async fn tls_check_reads_certificate_expiry() {
    let addr = tls_server().await;
    let mut check = http_check(&format!("localhost:{}", addr.port()));
    check.kind = CheckKind::Tls;
    let r = tls_runner(true).run(&check, NOW_MS).await;
    assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
    assert!(
        r.detail
            .as_deref()
            .is_some_and(|d| d.starts_with("certificate valid for ")),
        "{r:?}"
    );
    assert!(r.timings.tls.is_some());
    // Far more days than any certificate has: degraded.
    check.min_days_valid = Some(100_000);
    assert_eq!(
        tls_runner(true).run(&check, NOW_MS).await.outcome,
        Outcome::Degraded
    );
    // Untrusted chain: the handshake fails.
    let r = tls_runner(false).run(&check, NOW_MS).await;
    assert_eq!(
        (r.outcome, r.class),
        (Outcome::Fail, Some(FailureClass::Provider))
    );
    assert!(
        r.error.as_deref().is_some_and(|e| e.starts_with("TLS: ")),
        "{r:?}"
    );
}

#[tokio::test]
async fn https_check_over_rustls() {
    let addr = tls_server().await;
    let mut check = http_check(&format!("https://localhost:{}/health", addr.port()));
    check.expect_body_contains = Some("ok".into());
    let r = tls_runner(true).run(&check, NOW_MS).await;
    assert_eq!((r.outcome, r.status), (Outcome::Ok, Some(200)), "{r:?}");
    let t = r.timings;
    assert!(
        t.dns.is_some() && t.connect.is_some() && t.tls.is_some() && t.first_byte.is_some(),
        "{t:?}"
    );
    assert!(
        t.dns <= t.connect
            && t.connect <= t.tls
            && t.tls <= t.first_byte
            && t.first_byte <= Some(t.total)
    );
    // By IP, the certificate's IP SAN is checked.
    check.url = Some(format!("https://127.0.0.1:{}/", addr.port()));
    assert_eq!(
        tls_runner(true).run(&check, NOW_MS).await.outcome,
        Outcome::Ok
    );
}

#[tokio::test]
async fn dns_check_with_hickory() {
    let mut check = http_check("localhost");
    check.kind = CheckKind::Dns;
    check.expect_records = vec!["127.0.0.1".into()];
    let r = runner().run(&check, NOW_MS).await;
    assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
    assert!(
        r.detail.as_deref().is_some_and(|d| d.starts_with("A: ")),
        "{r:?}"
    );
    check.expect_records = vec!["10.9.8.7".into()];
    let r = runner().run(&check, NOW_MS).await;
    assert_eq!(r.outcome, Outcome::Fail);
    assert!(!r.resolver_failure);
    check.record_type = Some("SRV".into());
    assert_eq!(
        runner().run(&check, NOW_MS).await.outcome,
        Outcome::ConfigError
    );
}

#[tokio::test]
async fn unresolvable_names_are_resolver_failures() {
    let mut check = http_check("http://no-such-host.invalid/");
    check.timeout = Some(std::time::Duration::from_secs(3));
    let r = runner().run(&check, NOW_MS).await;
    assert_eq!(
        (r.outcome, r.class),
        (Outcome::Fail, Some(FailureClass::Provider)),
        "{r:?}"
    );
    assert!(r.resolver_failure, "{r:?}");
    let mut r = r;
    r.blame_local_network();
    assert_eq!(r.class, Some(FailureClass::LocalNetwork));
}

#[tokio::test]
async fn bad_check_input_is_a_configuration_error() {
    let mut check = http_check("ftp://example.com/");
    let r = runner().run(&check, NOW_MS).await;
    assert_eq!(r.outcome, Outcome::ConfigError);
    check.url = Some("http://127.0.0.1:1/".into());
    check.headers.insert("Bad Header".into(), "x".into());
    assert_eq!(
        runner().run(&check, NOW_MS).await.outcome,
        Outcome::ConfigError
    );
    check.headers.clear();
    check.method = Some("G E T".into());
    assert_eq!(
        runner().run(&check, NOW_MS).await.outcome,
        Outcome::ConfigError
    );
}
