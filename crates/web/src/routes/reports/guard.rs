//! Abuse resistance of the public form, without third-party services: a CSRF token (the
//! session's for signed-in users, a double-submit cookie for everyone else), a honeypot
//! field, a minimum fill time (a timestamp signed with the data key, so every replica can
//! check it) and a rate limit per client address.
use crate::AppState;
use crate::auth::session::{CurrentUser, cookie_value, random_token, same_secret};
use crate::error::WebError;
pub use crate::extract::{ClientIp, client_ip};

use axum::http::HeaderMap;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use meoktong_storage::Crypto;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// The anonymous form's double-submit cookie.
pub const CSRF_COOKIE: &str = "mt_report_csrf";
/// Faster than this, a person did not fill in the form.
pub const MIN_FILL_MS: i64 = 3_000;
/// Older than this, the form is stale: show it again with a fresh stamp.
pub const MAX_FORM_AGE_MS: i64 = 24 * 3600 * 1000;
/// The honeypot: hidden from people, irresistible to form-filling bots.
pub const HONEYPOT_FIELD: &str = "website";

/// Submissions per client address: a burst of [`BURST`], then one every [`REFILL`].
const BURST: u32 = 20;
const REFILL: Duration = Duration::from_secs(30);
/// Past this many tracked addresses, forget the ones whose budget is full again.
const MAX_TRACKED: usize = 10_000;

/// The rate limiter of one process (each replica limits on its own).
#[derive(Clone)]
pub struct Limiter(Arc<DefaultKeyedRateLimiter<String>>);

impl Limiter {
    pub fn new() -> Limiter {
        let burst = NonZeroU32::new(BURST).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(REFILL)
            .unwrap_or_else(|| Quota::per_minute(burst))
            .allow_burst(burst);
        Limiter(Arc::new(RateLimiter::keyed(quota)))
    }

    /// True when `client` may submit now.
    pub fn allow(&self, client: &str) -> bool {
        if self.0.len() > MAX_TRACKED {
            self.0.retain_recent();
        }
        self.0.check_key(&client.to_string()).is_ok()
    }
}

impl Default for Limiter {
    fn default() -> Self {
        Limiter::new()
    }
}

/// The signed timestamp a form carries: `{issued_ms}.{keyed hash}`.
pub fn form_stamp(crypto: &Crypto, issued_ms: i64) -> String {
    format!(
        "{issued_ms}.{}",
        crypto.hash(&format!("report-form:v1:{issued_ms}"))
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StampCheck {
    Ok,
    TooFast,
    /// Missing, forged or too old.
    Stale,
}

pub fn check_stamp(crypto: &Crypto, stamp: &str, now: i64) -> StampCheck {
    let Some((issued, mac)) = stamp.split_once('.') else {
        return StampCheck::Stale;
    };
    let Ok(issued_ms) = issued.parse::<i64>() else {
        return StampCheck::Stale;
    };
    let genuine = crypto
        .lookup_hashes(&format!("report-form:v1:{issued_ms}"))
        .iter()
        .any(|h| same_secret(h, mac));
    let age = now - issued_ms;
    if !genuine || !(0..=MAX_FORM_AGE_MS).contains(&age) {
        StampCheck::Stale
    } else if age < MIN_FILL_MS {
        StampCheck::TooFast
    } else {
        StampCheck::Ok
    }
}

/// The CSRF token the form should carry, and the cookie to set when a new one was made.
pub fn csrf_for_form(
    state: &AppState,
    user: Option<&CurrentUser>,
    headers: &HeaderMap,
) -> (String, Option<String>) {
    if let Some(u) = user {
        return (u.csrf.clone(), None);
    }
    if let Some(existing) = cookie_value(headers, CSRF_COOKIE).filter(|c| c.len() >= 32) {
        return (existing, None);
    }
    let token = random_token(24);
    let secure = if state.settings.server.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{CSRF_COOKIE}={token}; Path=/reports; HttpOnly; SameSite=Strict; Max-Age=86400{secure}"
    );
    (token, Some(cookie))
}

/// A submission's CSRF token: the session's, or equal to the double-submit cookie.
pub fn check_csrf(
    user: Option<&CurrentUser>,
    headers: &HeaderMap,
    submitted: &str,
) -> Result<(), WebError> {
    if let Some(u) = user {
        return u.check_csrf(Some(submitted));
    }
    match cookie_value(headers, CSRF_COOKIE) {
        Some(c) if c.len() >= 32 && same_secret(&c, submitted) => Ok(()),
        _ => Err(WebError::Csrf),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_signed_and_timed() {
        let c = Crypto::from_key(&[3u8; 32]);
        let now = 1_000_000_000;
        assert_eq!(
            check_stamp(&c, &form_stamp(&c, now - 10_000), now),
            StampCheck::Ok
        );
        assert_eq!(
            check_stamp(&c, &form_stamp(&c, now - 1_000), now),
            StampCheck::TooFast
        );
        assert_eq!(
            check_stamp(&c, &form_stamp(&c, now - MAX_FORM_AGE_MS - 1), now),
            StampCheck::Stale
        );
        assert_eq!(
            check_stamp(&c, &form_stamp(&c, now + 60_000), now),
            StampCheck::Stale,
            "from the future"
        );
        let forged = form_stamp(&Crypto::from_key(&[4u8; 32]), now - 10_000);
        assert_eq!(check_stamp(&c, &forged, now), StampCheck::Stale);
        assert_eq!(check_stamp(&c, "", now), StampCheck::Stale);
    }

    #[test]
    fn the_limiter_allows_a_burst_then_refuses() {
        let l = Limiter::new();
        assert!((0..BURST).all(|_| l.allow("a")));
        assert!(!l.allow("a"));
        assert!(l.allow("b"), "buckets are per address");
    }
}
