//! Brakes on the messages a signed-up user can make us send: verification codes and test
//! alerts go to any number a merchant types in, so without a limit one account (or many made
//! in a row) could have us text a stranger without end, at our cost.
//!
//! governor keyed GCRA limiters, in memory per process (like [`super::account`]'s sign-in
//! limits; with N replicas the budget is N times larger, still bounded):
//! - verification codes: 5 per hour per contact and 5 per hour per destination number;
//! - email verification links: 5 per hour per contact and per address (email costs little,
//!   but it must not become a way to spam a stranger either);
//! - test alerts: 3 per 10 minutes per merchant and per destination number;
//! - sign-ups: 10 per hour per client address ([`ClientIp`]), so fresh accounts do not buy
//!   fresh budgets.
use crate::error::WebError;
use crate::extract::ClientIp;
use crate::i18n::Lang;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::LazyLock;
use std::time::Duration;

/// Codes per contact or per number: a burst of 5, then one every 12 minutes.
pub const CODES_PER_HOUR: u32 = 5;
/// Test alerts per merchant or per number: a burst of 3, then one every 200 seconds.
pub const TEST_ALERTS_PER_10_MINUTES: u32 = 3;
/// Sign-ups per client address: a burst of 10, then one every 6 minutes.
pub const SIGN_UPS_PER_HOUR: u32 = 10;

/// Past this many keys, forget the ones whose budget is full again.
const MAX_TRACKED: usize = 100_000;

fn quota(count: u32, window: Duration) -> Quota {
    let burst = NonZeroU32::new(count).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(window / count.max(1))
        .unwrap_or_else(|| Quota::per_hour(burst))
        .allow_burst(burst)
}

fn keyed(count: u32, window: Duration) -> DefaultKeyedRateLimiter<String> {
    RateLimiter::keyed(quota(count, window))
}

const HOUR: Duration = Duration::from_secs(3600);
const TEN_MINUTES: Duration = Duration::from_secs(600);

static CODES: LazyLock<DefaultKeyedRateLimiter<String>> =
    LazyLock::new(|| keyed(CODES_PER_HOUR, HOUR));
static EMAIL_LINKS: LazyLock<DefaultKeyedRateLimiter<String>> =
    LazyLock::new(|| keyed(CODES_PER_HOUR, HOUR));
static TEST_ALERTS: LazyLock<DefaultKeyedRateLimiter<String>> =
    LazyLock::new(|| keyed(TEST_ALERTS_PER_10_MINUTES, TEN_MINUTES));
/// Invite codes a merchant may try: a burst of 10, then one every 6 minutes (codes carry 50
/// random bits; this only keeps a script from walking them).
pub const INVITE_CODES_PER_HOUR: u32 = 10;
static INVITE_CODES: LazyLock<DefaultKeyedRateLimiter<String>> =
    LazyLock::new(|| keyed(INVITE_CODES_PER_HOUR, HOUR));
static SIGN_UPS: LazyLock<DefaultKeyedRateLimiter<String>> =
    LazyLock::new(|| keyed(SIGN_UPS_PER_HOUR, HOUR));

/// Takes one from every key's budget, stopping at the first that is empty.
fn take(limiter: &DefaultKeyedRateLimiter<String>, keys: &[String]) -> bool {
    if limiter.len() > MAX_TRACKED {
        limiter.retain_recent();
    }
    keys.iter().all(|k| limiter.check_key(k).is_ok())
}

/// One more verification code to `contact_id` at `phone` (E.164), or 429.
pub fn allow_code(contact_id: i64, phone: &str, lang: Lang) -> Result<(), WebError> {
    let keys = [format!("contact:{contact_id}"), format!("number:{phone}")];
    if take(&CODES, &keys) {
        return Ok(());
    }
    Err(WebError::TooManyRequests(
        lang.t(
            "인증번호를 너무 자주 요청했습니다. 한 시간에 5번까지 보낼 수 있으니 잠시 뒤에 다시 받아 주세요.",
            "Too many codes requested: at most 5 an hour. Try again a little later.",
        )
        .into(),
    ))
}

/// One more email verification link to `contact_id` at `email`, or 429.
pub fn allow_email_link(contact_id: i64, email: &str, lang: Lang) -> Result<(), WebError> {
    let keys = [
        format!("contact:{contact_id}"),
        format!("email:{}", email.trim().to_lowercase()),
    ];
    if take(&EMAIL_LINKS, &keys) {
        return Ok(());
    }
    Err(WebError::TooManyRequests(
        lang.t(
            "확인 메일을 너무 자주 요청했습니다. 한 시간에 5번까지 보낼 수 있으니 잠시 뒤에 다시 해 주세요.",
            "Too many confirmation emails requested: at most 5 an hour. Try again a little later.",
        )
        .into(),
    ))
}

/// One more test alert for `merchant_id` (to `phone`, when it goes by SMS), or 429.
pub fn allow_test_alert(merchant_id: i64, phone: Option<&str>, lang: Lang) -> Result<(), WebError> {
    let mut keys = vec![format!("merchant:{merchant_id}")];
    keys.extend(phone.map(|p| format!("number:{p}")));
    if take(&TEST_ALERTS, &keys) {
        return Ok(());
    }
    Err(WebError::TooManyRequests(
        lang.t(
            "테스트 알림을 너무 자주 보냈습니다. 10분에 3번까지 보낼 수 있으니 잠시 뒤에 다시 해 주세요.",
            "Too many test alerts: at most 3 every 10 minutes. Try again a little later.",
        )
        .into(),
    ))
}

/// True when the merchant may try one more association invite code.
pub fn allow_invite_code(merchant_id: i64) -> bool {
    take(&INVITE_CODES, &[format!("merchant:{merchant_id}")])
}

/// True when the client address may sign up once more.
pub fn allow_sign_up(ip: &ClientIp) -> bool {
    take(&SIGN_UPS, &[format!("address:{}", ip.0)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_limited_per_contact_and_per_number() {
        let l = keyed(CODES_PER_HOUR, HOUR);
        let a = ["contact:1".to_string(), "number:+821011112222".to_string()];
        assert!((0..CODES_PER_HOUR).all(|_| take(&l, &a)));
        assert!(!take(&l, &a), "the sixth code within the hour");
        let same_number = ["contact:2".to_string(), "number:+821011112222".to_string()];
        assert!(
            !take(&l, &same_number),
            "another contact (or merchant) with the same number"
        );
        let other = ["contact:3".to_string(), "number:+821033334444".to_string()];
        assert!(take(&l, &other));
    }

    #[test]
    fn quotas_refill_at_the_stated_rate() {
        let q = quota(TEST_ALERTS_PER_10_MINUTES, TEN_MINUTES);
        assert_eq!(q.burst_size().get(), 3);
        assert_eq!(q.replenish_interval(), Duration::from_secs(200));
    }
}
