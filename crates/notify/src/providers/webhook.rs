//! Signed JSON webhooks, for merchants and associations that want alerts in their own systems.
//!
//! The receiver checks `X-Meoktong-Signature: sha256=<hex HMAC-SHA256 of "{timestamp}.{body}">`
//! with the webhook's own secret, and `X-Meoktong-Timestamp` (Unix seconds) for freshness, so
//! a captured request cannot be replayed later. The URL is user-supplied: production uses
//! [`WebhookSender::guarded`], which checks every URL with the SSRF guard before sending and
//! connects only to vetted addresses (see `webhook_guard`).
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tracing::Instrument;

use super::ProviderError;
use super::twilio_classify::{classify_transport_error, parse_retry_after};
use super::webhook_guard::{WebhookUrlError, check_webhook_url, guarded_client};
use meoktong_probe::SsrfPolicy;

pub const TIMESTAMP_HEADER: &str = "X-Meoktong-Timestamp";
pub const SIGNATURE_HEADER: &str = "X-Meoktong-Signature";

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> HmacSha256 {
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `X-Meoktong-Signature` value for `body` sent at `timestamp` (Unix seconds).
pub fn webhook_signature(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
    )
}

/// Checks `X-Meoktong-Signature` in constant time. Freshness is a separate check
/// ([`webhook_timestamp_is_fresh`]) because only the receiver knows its tolerance.
pub fn verify_webhook_signature(
    secret: &[u8],
    timestamp: &str,
    body: &[u8],
    header_value: &str,
) -> bool {
    let Some(hex_part) = header_value.trim().strip_prefix("sha256=") else {
        return false;
    };
    match hex::decode(hex_part) {
        Ok(given) => mac(secret, timestamp, body).verify_slice(&given).is_ok(),
        Err(_) => false,
    }
}

/// True when `timestamp` (Unix seconds) is within `tolerance` of `now`, either way.
pub fn webhook_timestamp_is_fresh(timestamp: &str, now: SystemTime, tolerance: Duration) -> bool {
    let Ok(sent) = timestamp.trim().parse::<u64>() else {
        return false;
    };
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    now.abs_diff(sent) <= tolerance.as_secs()
}

/// Posts signed JSON to webhook URLs.
#[derive(Debug, Clone)]
pub struct WebhookSender {
    http: reqwest::Client,
    timeout: Duration,
    /// When set, every URL passes the SSRF guard before it is sent to.
    guard: Option<SsrfPolicy>,
}

impl WebhookSender {
    /// Someone else's server: give it a little longer than Twilio, but not forever.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

    pub fn new(http: reqwest::Client) -> Self {
        WebhookSender {
            http,
            timeout: Self::DEFAULT_TIMEOUT,
            guard: None,
        }
    }

    /// A sender for merchant-supplied URLs: the SSRF guard's client, and every URL checked
    /// against `policy` (again: its name may have been repointed) before each request.
    pub fn guarded(policy: SsrfPolicy) -> Result<Self, reqwest::Error> {
        Ok(WebhookSender {
            guard: Some(policy),
            ..WebhookSender::new(guarded_client(policy)?)
        })
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Posts `payload` to `url`, signed with `secret` at the current time.
    pub async fn send(
        &self,
        url: &str,
        secret: &[u8],
        payload: &serde_json::Value,
    ) -> Result<(), ProviderError> {
        if let Some(policy) = self.guard {
            match check_webhook_url(url, policy).await {
                Ok(_) => {}
                // DNS may be failing for a while: retry like any connection failure.
                Err(WebhookUrlError::Unresolvable(host)) => {
                    return Err(ProviderError::transient(
                        Some("dns".into()),
                        format!("webhook host {host} did not resolve"),
                        None,
                    ));
                }
                Err(e) => return Err(ProviderError::permanent(Some("url".into()), e.to_string())),
            }
        }
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
            .to_string();
        // The signature covers these exact bytes, so serialise once.
        let body = serde_json::to_vec(payload)
            .map_err(|e| ProviderError::permanent(None, format!("payload: {e}")))?;
        let host = url::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        let span = tracing::info_span!("webhook.send", webhook.host = %host);
        async {
            let response = self
                .http
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(TIMESTAMP_HEADER, &timestamp)
                .header(
                    SIGNATURE_HEADER,
                    webhook_signature(secret, &timestamp, &body),
                )
                .body(body)
                .timeout(self.timeout)
                .send()
                .await
                .map_err(|e| classify_transport_error("webhook", &e))?;
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok());
            let result =
                classify_webhook_status(response.status().as_u16(), retry_after, SystemTime::now());
            if let Err(e) = &result {
                tracing::warn!(error = %e, "webhook receiver did not accept the alert");
            }
            result
        }
        .instrument(span)
        .await
    }
}

/// 2xx ok; 408, 429 and 5xx transient (honouring `Retry-After`); any other status permanent
/// (the receiver refuses this request as it is, or redirects where we will not follow).
pub(crate) fn classify_webhook_status(
    status: u16,
    retry_after: Option<&str>,
    now: SystemTime,
) -> Result<(), ProviderError> {
    let message = format!("webhook answered HTTP {status}");
    match status {
        200..=299 => Ok(()),
        408 | 429 | 500..=599 => Err(ProviderError::transient(
            None,
            message,
            retry_after.and_then(|v| parse_retry_after(v, now)),
        )),
        _ => Err(ProviderError::permanent(None, message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hex_hmac_sha256_of_timestamp_dot_body() {
        // Independently computed: python3 -c "import hmac,hashlib;
        // print(hmac.new(b'secret', b'1700000000.{\"a\":1}', hashlib.sha256).hexdigest())"
        let sig = webhook_signature(b"secret", "1700000000", br#"{"a":1}"#);
        assert_eq!(sig, format!("sha256={}", EXPECTED_HEX));
        assert!(verify_webhook_signature(
            b"secret",
            "1700000000",
            br#"{"a":1}"#,
            &sig
        ));
        assert!(!verify_webhook_signature(
            b"other",
            "1700000000",
            br#"{"a":1}"#,
            &sig
        ));
        assert!(!verify_webhook_signature(
            b"secret",
            "1700000001",
            br#"{"a":1}"#,
            &sig
        ));
        assert!(!verify_webhook_signature(
            b"secret",
            "1700000000",
            br#"{"a":2}"#,
            &sig
        ));
        assert!(!verify_webhook_signature(
            b"secret",
            "1700000000",
            br#"{"a":1}"#,
            EXPECTED_HEX
        ));
        assert!(!verify_webhook_signature(
            b"secret",
            "1700000000",
            br#"{"a":1}"#,
            "sha256=zz"
        ));
    }

    const EXPECTED_HEX: &str = "49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686";

    #[test]
    fn freshness_is_checked_both_ways() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let five_min = Duration::from_secs(300);
        assert!(webhook_timestamp_is_fresh("1700000000", now, five_min));
        assert!(webhook_timestamp_is_fresh("1699999800", now, five_min));
        assert!(!webhook_timestamp_is_fresh("1699999000", now, five_min));
        assert!(!webhook_timestamp_is_fresh("1700001000", now, five_min));
        assert!(!webhook_timestamp_is_fresh("yesterday", now, five_min));
    }

    #[test]
    fn status_classification() {
        let now = SystemTime::now();
        assert!(classify_webhook_status(204, None, now).is_ok());
        for s in [400, 401, 403, 404, 410, 301] {
            assert!(
                classify_webhook_status(s, None, now).is_err_and(|e| e.is_permanent()),
                "{s}"
            );
        }
        for s in [408, 429, 500, 502, 503] {
            assert!(
                classify_webhook_status(s, None, now).is_err_and(|e| !e.is_permanent()),
                "{s}"
            );
        }
        let e = classify_webhook_status(429, Some("12"), now).expect_err("429");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(12)));
    }
}
