//! Delivery reports fetched by polling, for providers without a signable webhook (Solapi).
//!
//! One step, [`DeliveryPoller::poll_once`]: for each route whose provider
//! [`polls_reports`](crate::SmsProvider::polls_reports), the accepted SMS still waiting for a
//! report are asked about (a page per pass, going round), and each final report is applied
//! exactly as a Twilio status callback is ([`crate::delivery_status`]): `delivered` cancels
//! the contact's waiting email, `failed` makes it due at once. So email fallback,
//! `sms_delivery_timeout` and escalation behave the same whatever the provider.
use crate::providers::SmsProvider;
use meoktong_metrics::Metrics;
use meoktong_storage::{Db, StorageError, sms_reports};
use std::sync::{Arc, Mutex};

/// Messages asked about per route and pass.
const PAGE: u64 = 500;
/// Messages accepted longer ago than this are no longer asked about (by then the email has
/// long gone; Solapi keeps reports six months, but a report this late changes nothing).
const LOOKBACK_MS: i64 = 24 * 3600 * 1000;

/// What a pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PollStats {
    pub asked: usize,
    pub delivered: usize,
    pub failed: usize,
    /// Emails that became due.
    pub fallbacks: u64,
}

pub struct DeliveryPoller {
    db: Db,
    metrics: Metrics,
    /// `(route index, provider)` of the routes that poll.
    routes: Vec<(i32, Arc<dyn SmsProvider>)>,
    /// Per route, the last outbox id asked about (the next pass goes on from there).
    cursors: Mutex<Vec<i64>>,
}

impl DeliveryPoller {
    /// From the dispatcher's providers in order; `None` when none polls.
    pub fn new(db: Db, metrics: Metrics, providers: &[Arc<dyn SmsProvider>]) -> Option<Self> {
        let routes: Vec<(i32, Arc<dyn SmsProvider>)> = providers
            .iter()
            .enumerate()
            .filter(|(_, p)| p.polls_reports())
            .map(|(i, p)| (i32::try_from(i).unwrap_or(i32::MAX), p.clone()))
            .collect();
        if routes.is_empty() {
            return None;
        }
        let cursors = Mutex::new(vec![0; routes.len()]);
        Some(DeliveryPoller {
            db,
            metrics,
            routes,
            cursors,
        })
    }

    /// Asks each polling provider about a page of its accepted SMS and applies the reports.
    pub async fn poll_once(&self, now: i64) -> Result<PollStats, StorageError> {
        let mut stats = PollStats::default();
        for (slot, (index, provider)) in self.routes.iter().enumerate() {
            let after = self.cursor(slot);
            let waiting =
                sms_reports::awaiting_report(&self.db, *index, now - LOOKBACK_MS, after, PAGE)
                    .await?;
            // Past the last one: start again from the beginning next pass.
            let next = if (waiting.len() as u64) < PAGE {
                0
            } else {
                waiting.last().map_or(0, |w| w.id)
            };
            self.set_cursor(slot, next);
            if waiting.is_empty() {
                continue;
            }
            let ids: Vec<String> = waiting
                .iter()
                .map(|w| w.provider_message_id.clone())
                .collect();
            stats.asked += ids.len();
            let reports = match provider.poll_reports(&ids).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(provider = provider.name(), error = %e, "cannot fetch delivery reports; will ask again");
                    continue;
                }
            };
            for r in reports
                .iter()
                .filter(|r| matches!(r.status.as_str(), "delivered" | "failed"))
            {
                let applied = crate::delivery_status::apply_polled_status(
                    &self.db,
                    &self.metrics,
                    provider.name(),
                    &r.provider_message_id,
                    &r.status,
                    r.error_code.as_deref(),
                    now,
                )
                .await?;
                if let Some(fallbacks) = applied {
                    stats.fallbacks += fallbacks;
                    if r.status == "delivered" {
                        stats.delivered += 1;
                    } else {
                        stats.failed += 1;
                    }
                }
            }
        }
        Ok(stats)
    }

    fn cursor(&self, slot: usize) -> i64 {
        self.cursors
            .lock()
            .map(|c| c.get(slot).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    fn set_cursor(&self, slot: usize, to: i64) {
        if let Ok(mut c) = self.cursors.lock()
            && let Some(v) = c.get_mut(slot)
        {
            *v = to;
        }
    }
}
