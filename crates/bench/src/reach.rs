//! Who has been reached, and when: per merchant of the bench's fixtures, the first message
//! any provider accepted for them, and the first SMS. Recipients are mapped back to the
//! merchant's index through the fixtures' numbering (`fixtures::phone`, `ownerN@…`).
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub struct Reach {
    base: Instant,
    /// Milliseconds after `base` (+1, so 0 means "not yet") of the first message of any kind.
    any: Vec<AtomicU32>,
    /// The same for the first SMS.
    sms: Vec<AtomicU32>,
    reached_any: AtomicUsize,
    reached_sms: AtomicUsize,
}

/// The fixture index of a recipient: `+8210NNNNNNNN`, `010NNNNNNNN` (national, as Solapi
/// takes it) or `ownerN@example.com`. Backup numbers (`fixtures::phone(i + 50_000_000)`)
/// map to their merchant.
pub fn merchant_index(recipient: &str) -> Option<usize> {
    if let Some(rest) = recipient.strip_prefix("owner") {
        return rest.split('@').next()?.parse().ok();
    }
    let digits = recipient
        .strip_prefix("+8210")
        .or_else(|| recipient.strip_prefix("010"))?;
    let n: usize = digits.parse().ok()?;
    let i = n.checked_sub(20_000_000)?;
    Some(if i >= 50_000_000 { i - 50_000_000 } else { i })
}

impl Reach {
    pub fn new(merchants: usize) -> Reach {
        Reach {
            base: Instant::now(),
            any: (0..merchants).map(|_| AtomicU32::new(0)).collect(),
            sms: (0..merchants).map(|_| AtomicU32::new(0)).collect(),
            reached_any: AtomicUsize::new(0),
            reached_sms: AtomicUsize::new(0),
        }
    }

    fn stamp(&self, at: Instant) -> u32 {
        (at.saturating_duration_since(self.base).as_millis() as u32).saturating_add(1)
    }

    /// Notes a message to `recipient` accepted at `at`.
    pub fn mark(&self, recipient: &str, sms: bool, at: Instant) {
        let Some(i) = merchant_index(recipient).filter(|&i| i < self.any.len()) else {
            return;
        };
        let t = self.stamp(at);
        if first(&self.any[i], t) {
            self.reached_any.fetch_add(1, Ordering::Relaxed);
        }
        if sms && first(&self.sms[i], t) {
            self.reached_sms.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn reached_any(&self) -> usize {
        self.reached_any.load(Ordering::Relaxed)
    }

    pub fn reached_sms(&self) -> usize {
        self.reached_sms.load(Ordering::Relaxed)
    }

    /// Times after `since` of the merchants reached (any channel, or SMS), sorted.
    pub fn times(&self, sms: bool, since: Instant) -> Vec<Duration> {
        let offset = since.saturating_duration_since(self.base).as_millis() as u64;
        let list = if sms { &self.sms } else { &self.any };
        let mut out: Vec<Duration> = list
            .iter()
            .map(|t| t.load(Ordering::Relaxed))
            .filter(|&t| t > 0)
            .map(|t| Duration::from_millis((t as u64 - 1).saturating_sub(offset)))
            .collect();
        out.sort_unstable();
        out
    }
}

/// Keeps the earliest stamp; true when this was the first.
fn first(slot: &AtomicU32, t: u32) -> bool {
    let mut current = slot.load(Ordering::Relaxed);
    loop {
        if current != 0 && current <= t {
            return false;
        }
        match slot.compare_exchange(current, t, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return current == 0,
            Err(seen) => current = seen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_map_back_to_their_merchant() {
        assert_eq!(
            merchant_index(&crate::fixtures::phone(123_456)),
            Some(123_456)
        );
        assert_eq!(merchant_index("01020000007"), Some(7));
        assert_eq!(
            merchant_index(&crate::fixtures::phone(50_000_000 + 10)),
            Some(10)
        );
        assert_eq!(merchant_index("owner42@example.com"), Some(42));
        assert_eq!(merchant_index("someone@example.com"), None);
    }

    #[test]
    fn a_merchant_is_counted_once_with_the_earliest_time() {
        let r = Reach::new(3);
        let t0 = Instant::now();
        r.mark("owner1@example.com", false, t0 + Duration::from_millis(50));
        r.mark(
            &crate::fixtures::phone(1),
            true,
            t0 + Duration::from_millis(80),
        );
        r.mark("owner1@example.com", false, t0 + Duration::from_millis(10));
        assert_eq!((r.reached_any(), r.reached_sms()), (1, 1));
        let any = r.times(false, r.base);
        assert_eq!(any.len(), 1);
        assert!(any[0] <= Duration::from_millis(10) + t0.duration_since(r.base));
    }
}
