//! Brakes on guessing: failed sign-in attempts per account, per known device and per client
//! address; password-reset emails per email (and per address). In memory, per process (with
//! N replicas an attacker gets N times the budget, which still stops online guessing).
//!
//! Only *failures* spend the sign-in budgets, and a budget is checked before the password is:
//! once it is spent, guessing stops, while a right password never costs anything.
//!
//! - Per account (email), from devices that never signed in to it: 5 failures, then one a
//!   minute. Rotating addresses buys no extra guesses at one account.
//! - Per known device of that account: the same budget, its own. A device that signed in to
//!   the account before carries a keyed cookie (`mt_device`, see [`device_cookie`]), so a
//!   stranger's failures cannot lock the owner's own phone or PC out.
//! - Per client address ([`ClientIp`], `X-Forwarded-For` only from `server.trusted_proxies`):
//!   30 failures, then one every two seconds, so one address cannot spray many accounts.
use crate::AppState;
use crate::auth::session::random_token;
use crate::extract::ClientIp;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use meoktong_storage::Crypto;
use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

const fn n(v: u32) -> NonZeroU32 {
    match NonZeroU32::new(v) {
        Some(n) => n,
        None => NonZeroU32::MIN,
    }
}

/// The cookie marking a device that signed in to an account before.
pub const DEVICE_COOKIE: &str = "mt_device";
const DEVICE_TTL_SECS: i64 = 365 * 24 * 3600;

/// A leaky bucket of failures per key: `burst` failures at once, then one per `leak`.
/// Unlike governor's limiters it can be asked without spending.
struct FailureBudget {
    burst: f64,
    leak: Duration,
    levels: Mutex<BTreeMap<String, (f64, Instant)>>,
}

impl FailureBudget {
    const fn new(burst: u32, leak: Duration) -> FailureBudget {
        FailureBudget {
            burst: burst as f64,
            leak,
            levels: Mutex::new(BTreeMap::new()),
        }
    }

    fn level(&self, map: &BTreeMap<String, (f64, Instant)>, key: &str, now: Instant) -> f64 {
        map.get(key).map_or(0.0, |(level, at)| {
            let drained = now.duration_since(*at).as_secs_f64() / self.leak.as_secs_f64();
            (level - drained).max(0.0)
        })
    }

    /// True while another failure would still be within the budget.
    fn allows(&self, key: &str) -> bool {
        let Ok(map) = self.levels.lock() else {
            return false;
        };
        self.level(&map, key, Instant::now()) + 1.0 <= self.burst
    }

    fn fail(&self, key: &str) {
        let Ok(mut map) = self.levels.lock() else {
            return;
        };
        let now = Instant::now();
        let level = self.level(&map, key, now) + 1.0;
        map.insert(key.to_string(), (level, now));
        if map.len() > 100_000 {
            let (burst, leak) = (self.burst, self.leak.as_secs_f64());
            map.retain(|_, (l, at)| now.duration_since(*at).as_secs_f64() < burst.max(*l) * leak);
        }
    }
}

static PER_ACCOUNT: FailureBudget = FailureBudget::new(5, Duration::from_secs(60));
static PER_DEVICE: FailureBudget = FailureBudget::new(5, Duration::from_secs(60));
static PER_ADDRESS: FailureBudget = FailureBudget::new(30, Duration::from_secs(2));

/// Three reset emails at once, then one every twenty minutes.
static RESET: LazyLock<DefaultKeyedRateLimiter<String>> =
    LazyLock::new(|| RateLimiter::keyed(Quota::per_hour(n(3)).allow_burst(n(3))));

fn account(email: &str) -> String {
    email.trim().to_lowercase()
}

fn device_mac(crypto: &Crypto, email: &str, nonce: &str) -> Vec<String> {
    crypto.lookup_hashes(&format!("login-device:v1:{}:{nonce}", account(email)))
}

/// The budget an attempt at `email` spends: this device's, when its `mt_device` cookie was
/// issued for this account, else the account's.
fn key_of(crypto: &Crypto, email: &str, device: Option<&str>) -> (&'static FailureBudget, String) {
    let known = device.and_then(|d| {
        let (nonce, mac) = d.split_once('.')?;
        device_mac(crypto, email, nonce)
            .iter()
            .any(|h| crate::auth::session::same_secret(h, mac))
            .then(|| nonce.to_string())
    });
    match known {
        Some(nonce) => (&PER_DEVICE, format!("{}:{nonce}", account(email))),
        None => (&PER_ACCOUNT, account(email)),
    }
}

/// An attempt at one account from one client.
pub struct Attempt {
    budget: &'static FailureBudget,
    key: String,
    address: String,
}

impl Attempt {
    pub fn new(crypto: &Crypto, ip: &ClientIp, email: &str, device: Option<&str>) -> Attempt {
        let (budget, key) = key_of(crypto, email, device);
        Attempt {
            budget,
            key,
            address: ip.0.clone(),
        }
    }

    /// False when this client or this account (from this device) has no failures left.
    pub fn allowed(&self) -> bool {
        PER_ADDRESS.allows(&self.address) && self.budget.allows(&self.key)
    }

    /// A wrong password: spends one failure of each budget.
    pub fn failed(&self) {
        PER_ADDRESS.fail(&self.address);
        self.budget.fail(&self.key);
    }
}

/// `Set-Cookie` marking this device as one that signed in to `email`'s account.
pub fn device_cookie(state: &AppState, email: &str) -> String {
    let nonce = random_token(16);
    let mac = device_mac(&state.crypto, email, &nonce)
        .into_iter()
        .next()
        .unwrap_or_default();
    let secure = if state.settings.server.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{DEVICE_COOKIE}={nonce}.{mac}; Path=/login; HttpOnly; SameSite=Strict; Max-Age={DEVICE_TTL_SECS}{secure}"
    )
}

/// Sign-up emails to one address (a confirmation link or an "already registered" note):
/// three at once, then one every twenty minutes, so nobody can flood a mailbox through us.
pub fn sign_up_mail_allowed(email: &str) -> bool {
    RESET
        .check_key(&format!("signup:{}", account(email)))
        .is_ok()
}

/// Reset emails spend the address's failure budget too (each one is a look-up of an email).
pub fn reset_allowed(ip: &ClientIp, email: &str) -> bool {
    if !PER_ADDRESS.allows(&ip.0) {
        return false;
    }
    PER_ADDRESS.fail(&ip.0);
    let ok = RESET.check_key(&account(email)).is_ok();
    if RESET.len() > 100_000 {
        RESET.retain_recent();
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_failures_spend_a_budget() {
        let b = FailureBudget::new(2, Duration::from_secs(3600));
        assert!(b.allows("a") && b.allows("a"), "asking is free");
        b.fail("a");
        assert!(b.allows("a"));
        b.fail("a");
        assert!(!b.allows("a"));
        assert!(b.allows("b"), "per key");
    }

    #[test]
    fn a_device_cookie_is_for_one_account_and_cannot_be_forged() {
        let c = Crypto::from_key(&[7u8; 32]);
        let nonce = "abc";
        let mac = device_mac(&c, "Owner@Example.com", nonce).remove(0);
        let cookie = format!("{nonce}.{mac}");
        let (b, _) = key_of(&c, "owner@example.com", Some(&cookie));
        assert!(std::ptr::eq(b, &PER_DEVICE), "known device");
        let (b, _) = key_of(&c, "other@example.com", Some(&cookie));
        assert!(std::ptr::eq(b, &PER_ACCOUNT), "another account");
        let (b, _) = key_of(&c, "owner@example.com", Some("abc.forged"));
        assert!(std::ptr::eq(b, &PER_ACCOUNT), "forged");
    }
}
