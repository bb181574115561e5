//! The `http`, `tcp` and `tls` check types.
use crate::classify::{HttpExpectations, Verdict, classify_http};
use crate::http::{HttpRequest, exchange};
use crate::net::{self, Progress};
use crate::runner::{Finding, Shared};
use meoktong_config::CheckSettings;
use meoktong_domain::Millis;

/// Default `min_days_valid` of a `tls` check.
pub const DEFAULT_MIN_DAYS_VALID: u32 = 14;

pub(crate) async fn http(shared: &Shared, check: &CheckSettings, p: &mut Progress<'_>) -> Finding {
    let Some(url) = check.url.as_deref() else {
        return Finding::new(Verdict::config("an http check needs a url"));
    };
    let exp = HttpExpectations::from_check(check);
    let req = HttpRequest {
        method: check.method.as_deref().unwrap_or("GET"),
        url,
        headers: &check.headers,
        body: check.body.as_deref(),
        keep_body: exp.needs_body(),
    };
    match exchange(shared, &req, p).await {
        Ok(resp) => {
            let judged = classify_http(&exp, resp.status, &resp.body);
            Finding {
                status: Some(resp.status),
                ..Finding::new(judged.verdict)
            }
        }
        Err(e) => Finding::net(e),
    }
}

pub(crate) async fn tcp(shared: &Shared, check: &CheckSettings, p: &mut Progress<'_>) -> Finding {
    let (host, port) = match net::parse_host_port(check.url.as_deref().unwrap_or_default(), None) {
        Ok(t) => t,
        Err(e) => return Finding::new(Verdict::config(e)),
    };
    let connected = async {
        let addrs = net::resolve(&host, port, shared.ssrf, p).await?;
        let stream = net::connect(&addrs, p).await?;
        Ok(stream
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_default())
    };
    match connected.await {
        Ok(peer) => Finding {
            detail: Some(format!("connected to {peer}")),
            ..Finding::new(Verdict::ok())
        },
        Err(e) => Finding::net(e),
    }
}

pub(crate) async fn tls(
    shared: &Shared,
    check: &CheckSettings,
    now_ms: Millis,
    p: &mut Progress<'_>,
) -> Finding {
    let (host, port) =
        match net::parse_host_port(check.url.as_deref().unwrap_or_default(), Some(443)) {
            Ok(t) => t,
            Err(e) => return Finding::new(Verdict::config(e)),
        };
    let handshake = async {
        let addrs = net::resolve(&host, port, shared.ssrf, p).await?;
        let tcp = net::connect(&addrs, p).await?;
        net::tls_handshake(tcp, &host, &shared.tls, p).await
    };
    let stream = match handshake.await {
        Ok(s) => s,
        Err(e) => return Finding::net(e),
    };
    let leaf = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|certs| certs.first());
    let Some(not_after) = leaf.and_then(|der| leaf_not_after(der.as_ref())) else {
        return Finding::new(Verdict::fail("TLS: no readable server certificate"));
    };
    let min_days = check.min_days_valid.unwrap_or(DEFAULT_MIN_DAYS_VALID);
    let (verdict, detail) = cert_verdict(not_after, now_ms, min_days);
    Finding {
        detail: Some(detail),
        ..Finding::new(verdict)
    }
}

/// notAfter of a DER certificate, in Unix seconds.
pub fn leaf_not_after(der: &[u8]) -> Option<i64> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.validity().not_after.timestamp())
}

/// Whole days from `now_ms` until `not_after` (Unix seconds), rounded down; negative once expired.
pub fn days_left(not_after: i64, now_ms: Millis) -> i64 {
    (not_after - now_ms.div_euclid(1000)).div_euclid(86_400)
}

/// Expired → fail; fewer than `min_days` left → degraded; else ok. Also the detail line.
pub fn cert_verdict(not_after: i64, now_ms: Millis, min_days: u32) -> (Verdict, String) {
    let date = chrono::DateTime::from_timestamp(not_after, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| not_after.to_string());
    let days = days_left(not_after, now_ms);
    if not_after * 1000 <= now_ms {
        let ago = (now_ms.div_euclid(1000) - not_after).div_euclid(86_400);
        return (
            Verdict::fail(format!("certificate expired on {date}")),
            format!("certificate expired {ago} days ago ({date})"),
        );
    }
    let detail = format!("certificate valid for {days} more days (until {date})");
    if days < i64::from(min_days) {
        let v = Verdict::degraded(format!(
            "certificate expires in {days} days ({date}), under {min_days}"
        ));
        return (v, detail);
    }
    (Verdict::ok(), detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use meoktong_domain::Outcome;

    const DAY: i64 = 86_400;
    const NOW_MS: i64 = 1_760_486_400_000; // 2025-10-15T00:00:00Z

    #[test]
    fn days_left_rounds_down() {
        let now = NOW_MS / 1000;
        assert_eq!(days_left(now + 30 * DAY, NOW_MS), 30);
        assert_eq!(days_left(now + 30 * DAY - 1, NOW_MS), 29);
        assert_eq!(days_left(now + 1, NOW_MS), 0);
        assert_eq!(days_left(now - 1, NOW_MS), -1);
    }

    #[test]
    fn expiry_verdicts() {
        let now = NOW_MS / 1000;
        let (v, d) = cert_verdict(now + 90 * DAY, NOW_MS, 14);
        assert_eq!(v.outcome, Outcome::Ok);
        assert_eq!(d, "certificate valid for 90 more days (until 2026-01-13)");
        let (v, _) = cert_verdict(now + 13 * DAY, NOW_MS, 14);
        assert_eq!(v.outcome, Outcome::Degraded);
        assert_eq!(
            v.error.as_deref(),
            Some("certificate expires in 13 days (2025-10-28), under 14")
        );
        let (v, _) = cert_verdict(now + 14 * DAY, NOW_MS, 14);
        assert_eq!(v.outcome, Outcome::Ok);
        let (v, d) = cert_verdict(now - 2 * DAY, NOW_MS, 14);
        assert_eq!(v.outcome, Outcome::Fail);
        assert_eq!(d, "certificate expired 2 days ago (2025-10-13)");
        let (v, _) = cert_verdict(now, NOW_MS, 0);
        assert_eq!(v.outcome, Outcome::Fail);
    }

    #[test]
    fn reads_not_after_of_a_certificate() {
        let pem = include_str!("../tests/fixtures/leaf.pem");
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64)
            .unwrap_or_default();
        let not_after = leaf_not_after(&der);
        // notAfter of the fixture is in 2126.
        assert!(
            not_after.is_some_and(|t| t > 4_900_000_000),
            "{not_after:?}"
        );
        assert_eq!(leaf_not_after(b"not a certificate"), None);
    }
}
