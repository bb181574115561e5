//! Every metric of the contract (the README's metrics list), registered in the app's own registry so
//! tests can run many apps in one process.
#![forbid(unsafe_code)]

pub mod probes;
pub use probes::ProbeSeries;

use prometheus::{
    Encoder, HistogramOpts, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    /// `meoktong_probe_duration_seconds` (dependency, check, location) and
    /// `meoktong_probe_results_total` (…, outcome = ok | fail | degraded | config_error):
    /// one compact series per check and location, outside the registry (see [`probes`]).
    pub probes: ProbeSeries,
    /// dependency → 0 unknown, 1 up, 2 degraded, 3 down
    pub dependency_state: IntGaugeVec,
    /// dependency
    pub incidents_opened: IntCounterVec,
    /// location → 1 while its canaries do not answer (its results are set aside), else 0
    pub location_network_suspect: IntGaugeVec,
    /// channel = sms | email | webhook, outcome = accepted | delivered | failed | retried
    pub notifications: IntCounterVec,
    pub outbox_depth: IntGauge,
    pub outbox_oldest_age: IntGauge,
    /// incident start → provider accepted
    pub time_to_notify: prometheus::Histogram,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn must<T>(r: prometheus::Result<T>) -> T {
    // Metric definitions are constants; a failure here is a programming error caught by tests.
    match r {
        Ok(v) => v,
        Err(e) => panic!("metric definition: {e}"),
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let dependency_state = must(IntGaugeVec::new(
            Opts::new(
                "meoktong_dependency_state",
                "0 unknown, 1 up, 2 degraded, 3 down.",
            ),
            &["dependency"],
        ));
        let location_network_suspect = must(IntGaugeVec::new(
            Opts::new(
                "meoktong_location_network_suspect",
                "1 while the probe location's own network is suspect (its canaries do not answer), else 0.",
            ),
            &["location"],
        ));
        let incidents_opened = must(IntCounterVec::new(
            Opts::new("meoktong_incidents_opened_total", "Incidents opened."),
            &["dependency"],
        ));
        let notifications = must(IntCounterVec::new(
            Opts::new(
                "meoktong_notifications_total",
                "Notification sends by channel and outcome.",
            ),
            &["channel", "outcome"],
        ));
        let outbox_depth = must(IntGauge::new(
            "meoktong_outbox_depth",
            "Messages waiting in the outbox.",
        ));
        let outbox_oldest_age = must(IntGauge::new(
            "meoktong_outbox_oldest_age_seconds",
            "Age of the oldest message waiting in the outbox.",
        ));
        let time_to_notify = must(prometheus::Histogram::with_opts(
            HistogramOpts::new(
                "meoktong_time_to_notify_seconds",
                "Incident start to provider acceptance.",
            )
            .buckets(vec![
                1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 60.0, 120.0, 300.0, 900.0,
            ]),
        ));
        for c in [
            Box::new(dependency_state.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(incidents_opened.clone()),
            Box::new(location_network_suspect.clone()),
            Box::new(notifications.clone()),
            Box::new(outbox_depth.clone()),
            Box::new(outbox_oldest_age.clone()),
            Box::new(time_to_notify.clone()),
        ] {
            must(registry.register(c));
        }
        Metrics {
            registry,
            probes: ProbeSeries::default(),
            dependency_state,
            incidents_opened,
            location_network_suspect,
            notifications,
            outbox_depth,
            outbox_oldest_age,
            time_to_notify,
        }
    }

    /// Replaces every `meoktong_dependency_state` series with `states` (slug, gauge value), so
    /// the gauge tells the state stored in the database, whichever process changed it, and
    /// forgets dependencies no longer enabled.
    pub fn set_dependency_states<'a>(&self, states: impl IntoIterator<Item = (&'a str, i64)>) {
        self.dependency_state.reset();
        for (slug, value) in states {
            self.dependency_state.with_label_values(&[slug]).set(value);
        }
    }

    /// The text exposition format, in chunks: the registry's families, then the per-check
    /// probe families a few thousand series at a time (a scrape of 100,000 checks is about
    /// 150 MB of text, which is better streamed than held).
    pub fn render_chunks(&self) -> impl Iterator<Item = String> + Send + 'static {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        std::iter::once(String::from_utf8(buf).unwrap_or_default())
            .chain(self.probes.render_chunks())
    }

    /// The whole text exposition format at once.
    pub fn render(&self) -> String {
        self.render_chunks().collect()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_contract_metric_is_exposed() {
        let m = Metrics::new();
        m.probes.observe("kakao-login", "oidc", "seoul", 0.1, "ok");
        m.dependency_state
            .with_label_values(&["kakao-login"])
            .set(1);
        m.incidents_opened.with_label_values(&["kakao-login"]).inc();
        m.notifications
            .with_label_values(&["sms", "accepted"])
            .inc();
        m.time_to_notify.observe(3.0);
        let text = m.render();
        for name in [
            "meoktong_probe_duration_seconds_bucket",
            "meoktong_probe_results_total",
            "meoktong_dependency_state",
            "meoktong_incidents_opened_total",
            "meoktong_notifications_total",
            "meoktong_outbox_depth",
            "meoktong_outbox_oldest_age_seconds",
            "meoktong_time_to_notify_seconds_bucket",
        ] {
            assert!(text.contains(name), "{name} missing from\n{text}");
        }
    }
}
