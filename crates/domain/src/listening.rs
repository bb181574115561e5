//! Since when could we have heard a store's heartbeat?
//!
//! A store pings us; silence is only evidence against the store if we were there to hear
//! it. After our own start-up, a database outage, a pause of the sweeper, or a spell in which
//! this location's own network was suspect, pings may have been sent and lost on our side. So
//! every heartbeat gets a whole fresh period + grace from the moment we are healthy again:
//! a heartbeat is overdue only when both its last ping and the start of our current
//! uninterrupted listening are more than period + grace ago.
use crate::Millis;

/// The sweeper's record of its own health, updated at every pass.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listening {
    /// Start of the current uninterrupted span in which we could receive pings.
    since: Option<Millis>,
    /// The previous pass.
    last_pass: Option<Millis>,
}

impl Listening {
    /// A pass of the sweeper at `now`. `healthy` is false while this location's own network is
    /// suspect; a pass more than `max_pause` after the previous one (or the first pass since
    /// start-up) begins a new span. Returns the start of the current span, or `None` while
    /// not healthy (then nothing is overdue).
    pub fn pass(&mut self, now: Millis, healthy: bool, max_pause: Millis) -> Option<Millis> {
        let paused = self
            .last_pass
            .is_none_or(|last| now.saturating_sub(last) > max_pause);
        self.last_pass = Some(now);
        if !healthy {
            self.since = None;
            return None;
        }
        if paused || self.since.is_none() {
            self.since = Some(now);
        }
        self.since
    }

    /// A pass failed (the database did not answer): the next good pass begins a new span.
    pub fn interrupted(&mut self) {
        self.since = None;
    }
}

/// Whether a heartbeat last heard at `last_ping` is overdue at `now`, given the start of our
/// current listening span: silent for a whole `period + grace` during which we could hear it.
pub fn overdue(
    last_ping: Millis,
    listening_since: Millis,
    period_and_grace: Millis,
    now: Millis,
) -> bool {
    last_ping
        .max(listening_since)
        .saturating_add(period_and_grace)
        < now
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PAUSE: Millis = 10_000;

    #[test]
    fn start_up_gives_every_heartbeat_a_fresh_period_and_grace() {
        let mut l = Listening::default();
        let since = l.pass(1_000_000, true, PAUSE).expect("listening");
        assert_eq!(since, 1_000_000);
        // Last ping long ago (we were down): not overdue until period + grace after start-up.
        assert!(!overdue(0, since, 180_000, 1_000_000 + 180_000));
        assert!(overdue(0, since, 180_000, 1_000_000 + 180_001));
    }

    #[test]
    fn a_pause_a_failure_or_a_suspect_spell_starts_the_span_again() {
        let mut l = Listening::default();
        assert_eq!(l.pass(0, true, PAUSE), Some(0));
        assert_eq!(l.pass(1_000, true, PAUSE), Some(0), "a regular pass");
        assert_eq!(
            l.pass(60_000, true, PAUSE),
            Some(60_000),
            "the sweeper paused"
        );
        l.interrupted();
        assert_eq!(
            l.pass(61_000, true, PAUSE),
            Some(61_000),
            "the database was out"
        );
        assert_eq!(l.pass(62_000, false, PAUSE), None, "our network is suspect");
        assert_eq!(l.pass(63_000, true, PAUSE), Some(63_000));
        assert_eq!(l.pass(64_000, true, PAUSE), Some(63_000));
    }

    proptest! {
        #[test]
        fn overdue_only_after_a_whole_period_and_grace_of_listening(
            last_ping in 0i64..1_000_000,
            since in 0i64..1_000_000,
            pg in 1i64..500_000,
            now in 0i64..2_000_000,
        ) {
            let o = overdue(last_ping, since, pg, now);
            prop_assert_eq!(o, now - last_ping > pg && now - since > pg);
        }
    }
}
