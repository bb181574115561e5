//! Brakes on guessing: sign-in attempts per (client address, email) and password-reset
//! emails per address, with governor's keyed GCRA limiters (in memory, per process; with N
//! replicas an attacker gets N times the budget, which still stops online guessing).
//!
//! The client address is the first `X-Forwarded-For` hop when a load balancer sets it;
//! without it the key is the email alone.
use axum::http::HeaderMap;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::LazyLock;

const fn n(v: u32) -> NonZeroU32 {
    match NonZeroU32::new(v) {
        Some(n) => n,
        None => NonZeroU32::MIN,
    }
}

/// Five attempts at once, then one a minute.
static LOGIN: LazyLock<DefaultKeyedRateLimiter<String>> =
    LazyLock::new(|| RateLimiter::keyed(Quota::per_minute(n(1)).allow_burst(n(5))));

/// Three reset emails at once, then one every twenty minutes.
static RESET: LazyLock<DefaultKeyedRateLimiter<String>> =
    LazyLock::new(|| RateLimiter::keyed(Quota::per_hour(n(3)).allow_burst(n(3))));

fn client(headers: &HeaderMap) -> String {
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| "-".into())
}

fn key(headers: &HeaderMap, email: &str) -> String {
    format!("{}|{}", client(headers), email.trim().to_lowercase())
}

pub fn login_allowed(headers: &HeaderMap, email: &str) -> bool {
    let ok = LOGIN.check_key(&key(headers, email)).is_ok();
    if LOGIN.len() > 100_000 {
        LOGIN.retain_recent();
    }
    ok
}

pub fn reset_allowed(headers: &HeaderMap, email: &str) -> bool {
    let ok = RESET.check_key(&key(headers, email)).is_ok();
    if RESET.len() > 100_000 {
        RESET.retain_recent();
    }
    ok
}
