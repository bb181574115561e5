//! Brakes on status-page subscriptions (issue 20): anyone can type any address or number,
//! so without limits the subscribe form would have us mail or text a stranger without end.
//!
//! governor keyed limiters in memory per process (like [`super::limits`]):
//! - per address or number: 3 confirmation messages per 24 hours (a burst of 3, then one
//!   every 8 hours), whatever the client;
//! - per client address ([`ClientIp`]): 10 SMS sign-ups per 4 hours (Statuspage's figure)
//!   and 20 email sign-ups per 4 hours (email costs less, but must not become a spam tool);
//! - an SMS code: 5 tries, 10 minutes (`status_comms::subscribers`).
use crate::extract::ClientIp;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::LazyLock;
use std::time::Duration;

pub const PER_RECIPIENT_PER_DAY: u32 = 3;
pub const SMS_PER_IP_PER_4_HOURS: u32 = 10;
pub const EMAIL_PER_IP_PER_4_HOURS: u32 = 20;

fn keyed(count: u32, window: Duration) -> DefaultKeyedRateLimiter<String> {
    let burst = NonZeroU32::new(count).unwrap_or(NonZeroU32::MIN);
    let quota = Quota::with_period(window / count.max(1))
        .unwrap_or_else(|| Quota::per_hour(burst))
        .allow_burst(burst);
    RateLimiter::keyed(quota)
}

const DAY: Duration = Duration::from_secs(24 * 3600);
const FOUR_HOURS: Duration = Duration::from_secs(4 * 3600);

static RECIPIENTS: LazyLock<DefaultKeyedRateLimiter<String>> =
    LazyLock::new(|| keyed(PER_RECIPIENT_PER_DAY, DAY));
static SMS_IPS: LazyLock<DefaultKeyedRateLimiter<String>> =
    LazyLock::new(|| keyed(SMS_PER_IP_PER_4_HOURS, FOUR_HOURS));
static EMAIL_IPS: LazyLock<DefaultKeyedRateLimiter<String>> =
    LazyLock::new(|| keyed(EMAIL_PER_IP_PER_4_HOURS, FOUR_HOURS));

/// Which limit refused a sign-up.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    Recipient,
    Client,
}

/// One more confirmation to `recipient_hash` (a keyed hash of the address or number) from
/// `ip` over `channel`. The client's budget is checked first, so a refused client does not
/// spend the recipient's.
pub fn allow(channel: &str, recipient_hash: &str, ip: &ClientIp) -> Result<(), Refused> {
    let by_ip = if channel == "sms" {
        &SMS_IPS
    } else {
        &EMAIL_IPS
    };
    if by_ip.check_key(&ip.0).is_err() {
        return Err(Refused::Client);
    }
    if RECIPIENTS
        .check_key(&format!("{channel}:{recipient_hash}"))
        .is_err()
    {
        return Err(Refused::Recipient);
    }
    for l in [&*RECIPIENTS, &*SMS_IPS, &*EMAIL_IPS] {
        if l.len() > 100_000 {
            l.retain_recent();
        }
    }
    Ok(())
}
