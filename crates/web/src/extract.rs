//! Extractors shared by routes of several audiences. Each route module keeps the ones only it
//! uses (`routes::dashboard::Dash`, `routes::api::ApiMerchant`, `routes::agent::Agent`); the
//! session's are in `auth::session` (`CurrentUser`, `MaybeUser`).
use crate::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use meoktong_config::IpNet;
use std::net::{IpAddr, SocketAddr};

/// The client's address: the peer, or, when the peer is one of `server.trusted_proxies` (a
/// load balancer the operator listed), the address that proxy appended last to
/// `X-Forwarded-For`. From any other peer the header is ignored, so a client cannot pick its
/// own rate-limit bucket. Without connection info (never in the served app), one shared
/// bucket.
pub struct ClientIp(pub String);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(ClientIp(client_ip(
            peer,
            &parts.headers,
            &state.settings.server.trusted_proxy_nets(),
        )))
    }
}

pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> String {
    let Some(peer) = peer else {
        return "unknown".into();
    };
    let forwarded = || {
        headers
            .get_all("x-forwarded-for")
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse::<IpAddr>().ok())
    };
    match forwarded() {
        Some(f) if trusted.iter().any(|n| n.contains(peer)) => f.to_string(),
        _ => peer.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn forwarded_addresses_count_only_from_a_listed_proxy() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.1.1.1, 203.0.113.9"),
        );
        let lb: IpAddr = "10.0.0.5".parse().expect("ip");
        let other_private: IpAddr = "10.0.0.6".parse().expect("ip");
        let direct: IpAddr = "198.51.100.7".parse().expect("ip");
        let listed = [IpNet::parse("10.0.0.5").expect("net")];
        assert_eq!(client_ip(Some(lb), &h, &listed), "203.0.113.9");
        assert_eq!(
            client_ip(Some(other_private), &h, &listed),
            "10.0.0.6",
            "a private peer that is not listed is not a proxy"
        );
        assert_eq!(
            client_ip(Some(lb), &h, &[]),
            "10.0.0.5",
            "no proxies listed: the header is ignored"
        );
        assert_eq!(
            client_ip(Some(direct), &h, &listed),
            "198.51.100.7",
            "a client cannot pick its own bucket"
        );
        assert_eq!(client_ip(None, &HeaderMap::new(), &listed), "unknown");
    }
}
