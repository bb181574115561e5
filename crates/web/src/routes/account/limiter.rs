//! Brakes on guessing: sign-in attempts per email and per client address, password-reset
//! emails per email (and per address), with governor's keyed GCRA limiters (in memory, per
//! process; with N replicas an attacker gets N times the budget, which still stops online
//! guessing).
//!
//! Keys: the account (email) for the strict limit, so rotating addresses does not buy more
//! guesses at one account; and the client address ([`ClientIp`], which trusts
//! `X-Forwarded-For` only from a private-network proxy) for the looser per-address limit.
use crate::routes::reports::guard::ClientIp;
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

/// Thirty sign-in attempts at once from one address, then one every two seconds.
static LOGIN_PER_ADDRESS: LazyLock<DefaultKeyedRateLimiter<String>> =
    LazyLock::new(|| RateLimiter::keyed(Quota::per_minute(n(30)).allow_burst(n(30))));

fn account(email: &str) -> String {
    email.trim().to_lowercase()
}

fn trim(l: &DefaultKeyedRateLimiter<String>) {
    if l.len() > 100_000 {
        l.retain_recent();
    }
}

pub fn login_allowed(ip: &ClientIp, email: &str) -> bool {
    let per_address = LOGIN_PER_ADDRESS.check_key(&ip.0).is_ok();
    let per_account = per_address && LOGIN.check_key(&account(email)).is_ok();
    trim(&LOGIN);
    trim(&LOGIN_PER_ADDRESS);
    per_address && per_account
}

pub fn reset_allowed(ip: &ClientIp, email: &str) -> bool {
    let ok = LOGIN_PER_ADDRESS.check_key(&ip.0).is_ok() && RESET.check_key(&account(email)).is_ok();
    trim(&RESET);
    ok
}
