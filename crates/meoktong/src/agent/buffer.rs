//! Results waiting to be sent: bounded, oldest dropped first (and counted) when the server
//! stays unreachable longer than the buffer lasts.
use meoktong_engine::agent::AgentResult;
use std::collections::VecDeque;

pub struct ResultBuffer {
    items: VecDeque<(u64, AgentResult)>,
    next_seq: u64,
    capacity: usize,
    dropped: u64,
}

impl ResultBuffer {
    pub fn new(capacity: usize) -> ResultBuffer {
        ResultBuffer {
            items: VecDeque::new(),
            next_seq: 0,
            capacity: capacity.max(1),
            dropped: 0,
        }
    }

    /// Adds a result; when full, the oldest goes (counted in [`ResultBuffer::dropped`]).
    pub fn push(&mut self, r: AgentResult) {
        while self.items.len() >= self.capacity {
            self.items.pop_front();
            self.dropped += 1;
        }
        self.items.push_back((self.next_seq, r));
        self.next_seq += 1;
    }

    /// Up to `n` of the oldest results, and the sequence number of the last one.
    pub fn peek_batch(&self, n: usize) -> (Vec<AgentResult>, Option<u64>) {
        let batch: Vec<&(u64, AgentResult)> = self.items.iter().take(n).collect();
        let last = batch.last().map(|(seq, _)| *seq);
        (batch.into_iter().map(|(_, r)| r.clone()).collect(), last)
    }

    /// Forgets every result up to and including `seq` (the server has them). Results dropped
    /// meanwhile are simply no longer there.
    pub fn ack_through(&mut self, seq: u64) {
        while self.items.front().is_some_and(|(s, _)| *s <= seq) {
            self.items.pop_front();
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Results dropped because the buffer was full, since the start.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meoktong_domain::Outcome;
    use meoktong_probe::{ProbeReport, Timings};

    fn result(slot_at: i64) -> AgentResult {
        let report = ProbeReport {
            started_at: slot_at,
            outcome: Outcome::Ok,
            class: None,
            status: Some(200),
            provider_code: None,
            error: None,
            timings: Timings::default(),
            detail: None,
            resolver_failure: false,
        };
        AgentResult {
            check_id: 1,
            slot_at,
            confirmation: false,
            report,
        }
    }

    #[test]
    fn keeps_the_newest_and_counts_what_it_drops() {
        let mut b = ResultBuffer::new(3);
        for t in 0..5 {
            b.push(result(t));
        }
        assert_eq!(b.len(), 3);
        assert_eq!(b.dropped(), 2);
        let (batch, _) = b.peek_batch(10);
        assert_eq!(
            batch.iter().map(|r| r.slot_at).collect::<Vec<_>>(),
            vec![2, 3, 4]
        );
    }

    #[test]
    fn an_acknowledged_batch_leaves_what_came_after_it() {
        let mut b = ResultBuffer::new(10);
        for t in 0..4 {
            b.push(result(t));
        }
        let (batch, last) = b.peek_batch(2);
        assert_eq!(batch.len(), 2);
        b.push(result(4));
        b.ack_through(last.expect("a batch"));
        let (rest, _) = b.peek_batch(10);
        assert_eq!(
            rest.iter().map(|r| r.slot_at).collect::<Vec<_>>(),
            vec![2, 3, 4]
        );
    }

    #[test]
    fn results_dropped_while_a_batch_was_in_flight_do_not_confuse_the_acknowledgement() {
        let mut b = ResultBuffer::new(2);
        b.push(result(0));
        b.push(result(1));
        let (_, last) = b.peek_batch(2);
        b.push(result(2)); // drops 0
        b.push(result(3)); // drops 1
        b.ack_through(last.expect("a batch"));
        let (rest, _) = b.peek_batch(10);
        assert_eq!(
            rest.iter().map(|r| r.slot_at).collect::<Vec<_>>(),
            vec![2, 3]
        );
        assert_eq!(b.dropped(), 2);
    }
}
