//! Stand-ins for the outside world, for tests only: Twilio- and Solapi-like HTTP servers and a
//! real SMTP server, all on 127.0.0.1 with an OS-chosen port.
//!
//! They check requests the way the real services do (so a client bug fails a test instead of
//! production) and record everything they receive. Waiting helpers poll with a deadline:
//! give them generous timeouts, tests must not depend on timing luck.
#![forbid(unsafe_code)]

mod smtp;
mod solapi;
mod twilio;

pub use smtp::{ReceivedMail, SmtpServer};
pub use solapi::{SolapiFault, SolapiMessage, SolapiRequest, SolapiStandIn};
pub use twilio::{
    HookResponse, Mode, RecordedCall, RecordedMessage, RecordedRequest, Signing, StandInError,
    TwilioStandIn, TwilioVoiceStandIn,
};

use std::time::{Duration, Instant};

/// A `wait_for…` helper gave up: fewer than `expected` items arrived in time.
#[derive(Debug, thiserror::Error)]
#[error("waited {waited:?} for {expected} {what}, saw {seen}")]
pub struct WaitTimeout {
    pub what: &'static str,
    pub expected: usize,
    pub seen: usize,
    pub waited: Duration,
}

/// Polls `current` every 20 ms until it has `n` items or `timeout` passes.
async fn wait_until<T>(
    what: &'static str,
    n: usize,
    timeout: Duration,
    current: impl Fn() -> Vec<T>,
) -> Result<Vec<T>, WaitTimeout> {
    let start = Instant::now();
    loop {
        let items = current();
        if items.len() >= n {
            return Ok(items);
        }
        if start.elapsed() >= timeout {
            return Err(WaitTimeout {
                what,
                expected: n,
                seen: items.len(),
                waited: start.elapsed(),
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
