//! The SSRF guard for merchant-supplied webhook URLs, the same policy as merchant-supplied
//! checks ([`SsrfPolicy`], the operator's `probe.allow_private_targets`).
//!
//! Three layers: [`check_webhook_url`] when the merchant saves the URL (syntax, https, every
//! resolved address public); the same check again before each send (a name may have been
//! repointed since); and [`guarded_client`], whose resolver hands reqwest only the vetted
//! addresses, so a DNS answer that changes between the check and the connection (rebinding)
//! cannot reach a private address. Redirects are never followed and no proxy is used.
pub use meoktong_probe::SsrfPolicy;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// URLs longer than this are refused (no real endpoint needs more).
pub const MAX_WEBHOOK_URL_LEN: usize = 2048;

/// Why a webhook URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookUrlError {
    #[error("not a valid URL")]
    Invalid,
    #[error("the URL is longer than {MAX_WEBHOOK_URL_LEN} characters")]
    TooLong,
    #[error("the URL must start with https://")]
    NotHttps,
    #[error("the URL must not contain a user name or password")]
    Credentials,
    #[error("the host {0} could not be resolved")]
    Unresolvable(String),
    /// A loopback, private, link-local or metadata address (the SSRF guard).
    #[error("blocked by SSRF guard: {0} is not a public address")]
    Blocked(IpAddr),
}

/// Checks the URL's form without touching the network: http(s) with a host, https unless
/// private targets are allowed (tests, the demo), no credentials, and an IP literal host
/// allowed by `policy`.
pub fn parse_webhook_url(raw: &str, policy: SsrfPolicy) -> Result<url::Url, WebhookUrlError> {
    let raw = raw.trim();
    if raw.len() > MAX_WEBHOOK_URL_LEN {
        return Err(WebhookUrlError::TooLong);
    }
    let url = url::Url::parse(raw).map_err(|_| WebhookUrlError::Invalid)?;
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_private => {}
        "http" => return Err(WebhookUrlError::NotHttps),
        _ => return Err(WebhookUrlError::Invalid),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(WebhookUrlError::Credentials);
    }
    match url.host() {
        None => Err(WebhookUrlError::Invalid),
        Some(url::Host::Ipv4(ip)) => check_ip(IpAddr::V4(ip), policy).map(|()| url),
        Some(url::Host::Ipv6(ip)) => check_ip(IpAddr::V6(ip), policy).map(|()| url),
        Some(url::Host::Domain(_)) => Ok(url),
    }
}

fn check_ip(ip: IpAddr, policy: SsrfPolicy) -> Result<(), WebhookUrlError> {
    policy.check(ip).map_err(|b| WebhookUrlError::Blocked(b.0))
}

/// [`parse_webhook_url`], then resolves a host name: refused when it does not resolve or when
/// any of its addresses is one `policy` refuses.
pub async fn check_webhook_url(raw: &str, policy: SsrfPolicy) -> Result<url::Url, WebhookUrlError> {
    let url = parse_webhook_url(raw, policy)?;
    if let Some(url::Host::Domain(name)) = url.host() {
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name, port))
            .await
            .map_err(|_| WebhookUrlError::Unresolvable(name.to_string()))?
            .collect();
        if addrs.is_empty() {
            return Err(WebhookUrlError::Unresolvable(name.to_string()));
        }
        for a in addrs {
            check_ip(a.ip(), policy)?;
        }
    }
    Ok(url)
}

/// Resolves with the system resolver and keeps only the addresses the policy allows.
#[derive(Debug, Clone, Copy)]
struct GuardedResolver {
    policy: SsrfPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let allowed: Vec<SocketAddr> = found.filter(|a| policy.check(a.ip()).is_ok()).collect();
            if allowed.is_empty() {
                let e: Box<dyn std::error::Error + Send + Sync> =
                    format!("blocked by SSRF guard: {host} has no public address").into();
                return Err(e);
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// The HTTP client for webhooks: guarded resolver, no redirects, no proxy.
pub fn guarded_client(policy: SsrfPolicy) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver { policy }))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("Meoktong-Webhook/", env!("CARGO_PKG_VERSION")))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUBLIC_ONLY: SsrfPolicy = SsrfPolicy {
        allow_private: false,
    };
    const PRIVATE_OK: SsrfPolicy = SsrfPolicy {
        allow_private: true,
    };

    #[test]
    fn form_of_the_url() {
        assert!(parse_webhook_url("https://pos.example.com/hook?x=1", PUBLIC_ONLY).is_ok());
        assert_eq!(
            parse_webhook_url("http://pos.example.com/hook", PUBLIC_ONLY),
            Err(WebhookUrlError::NotHttps)
        );
        assert!(parse_webhook_url("http://pos.example.com/hook", PRIVATE_OK).is_ok());
        assert_eq!(
            parse_webhook_url("ftp://pos.example.com/", PRIVATE_OK),
            Err(WebhookUrlError::Invalid)
        );
        assert_eq!(
            parse_webhook_url("pos.example.com/hook", PUBLIC_ONLY),
            Err(WebhookUrlError::Invalid)
        );
        assert_eq!(
            parse_webhook_url("https://user:pw@pos.example.com/", PUBLIC_ONLY),
            Err(WebhookUrlError::Credentials)
        );
        let long = format!(
            "https://pos.example.com/{}",
            "a".repeat(MAX_WEBHOOK_URL_LEN)
        );
        assert_eq!(
            parse_webhook_url(&long, PUBLIC_ONLY),
            Err(WebhookUrlError::TooLong)
        );
    }

    #[test]
    fn private_literals_are_refused_unless_allowed() {
        for url in [
            "https://127.0.0.1/h",
            "https://[::1]/h",
            "https://10.0.0.5/h",
            "https://169.254.169.254/latest",
            "https://[::ffff:127.0.0.1]/h",
        ] {
            assert!(
                matches!(
                    parse_webhook_url(url, PUBLIC_ONLY),
                    Err(WebhookUrlError::Blocked(_))
                ),
                "{url}"
            );
        }
        assert!(parse_webhook_url("http://127.0.0.1:9000/h", PRIVATE_OK).is_ok());
        // Metadata stays refused even when private targets are allowed.
        assert!(matches!(
            parse_webhook_url("http://169.254.169.254/latest", PRIVATE_OK),
            Err(WebhookUrlError::Blocked(_))
        ));
    }

    #[tokio::test]
    async fn names_are_judged_by_their_addresses() {
        assert!(matches!(
            check_webhook_url("https://localhost:9/h", PUBLIC_ONLY).await,
            Err(WebhookUrlError::Blocked(_))
        ));
        assert!(
            check_webhook_url("http://localhost:9/h", PRIVATE_OK)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn the_client_will_not_connect_to_a_name_with_only_private_addresses() {
        let client = guarded_client(PUBLIC_ONLY).expect("client");
        let e = client
            .get("http://localhost:9/")
            .send()
            .await
            .expect_err("blocked");
        let chain = {
            use std::error::Error as _;
            let mut s = e.to_string();
            let mut src = e.source();
            while let Some(x) = src {
                s.push_str(&format!(": {x}"));
                src = x.source();
            }
            s
        };
        assert!(chain.contains("SSRF"), "{chain}");
    }
}
