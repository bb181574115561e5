//! The background workers of one process, each a loop around one testable step:
//! probes (schedule → probe → detect), the planner (incidents → notices), the dispatcher
//! (outbox → providers), the hub's timers (fallback and escalation) and the outbox gauges,
//! and the store heartbeat sweeper.
use anyhow::Context;
use meoktong_config::{Settings, SmsProviderKind};
use meoktong_engine::clock::{Clock, SystemClock};
use meoktong_engine::runner::ProbeLoop;
use meoktong_notify::compose::{ComposeConfig, Composer};
use meoktong_notify::delivery_poll::DeliveryPoller;
use meoktong_notify::dispatcher::{Dispatcher, DispatcherConfig, SmsRoute};
use meoktong_notify::heartbeat::HeartbeatSweeper;
use meoktong_notify::planner::{Planner, PlannerConfig};
use meoktong_notify::status_subscribers::StatusNotifier;
use meoktong_notify::timers::Timers;
use meoktong_notify::{
    DevOutbox, EmailProvider, LogEmail, LogSms, SmsProvider, SmtpEmail, SolapiSms, SsrfPolicy,
    TwilioSms, WebhookSender,
};
use meoktong_storage::{Db, dev_outbox, now_ms, outbox};
use meoktong_web::AppState;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The `log` providers write to the dev outbox table.
struct DbDevOutbox(Db);

#[async_trait::async_trait]
impl DevOutbox for DbDevOutbox {
    async fn record(
        &self,
        channel: &str,
        recipient: &str,
        subject: Option<&str>,
        body: &str,
    ) -> Result<(), String> {
        dev_outbox::record(&self.0, channel, recipient, subject, body)
            .await
            .map_err(|e| e.to_string())
    }
}

/// This process's name in slot claims and outbox claims.
pub fn holder_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
    format!(
        "{host}-{}-{}",
        std::process::id(),
        meoktong_web::auth::session::random_token(4)
    )
}

pub struct Providers {
    pub sms: Vec<SmsRoute>,
    pub sms_platform: Option<String>,
    pub email: Option<Arc<dyn EmailProvider>>,
}

/// The alert-call provider of `[voice]`; `None` without it (no calls).
pub fn voice_provider(
    settings: &Settings,
) -> anyhow::Result<Option<Arc<meoktong_notify::TwilioVoice>>> {
    let Some(v) = &settings.voice else {
        return Ok(None);
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()?;
    let token = v.auth_token().context("[voice]")?;
    let voice = meoktong_notify::TwilioVoice::new(v, token, http)
        .map_err(|e| anyhow::anyhow!("[voice]: {}", e.message()))?;
    Ok(Some(Arc::new(voice)))
}

/// SMS providers in order and the email provider, from the settings. In dev mode without
/// `[email]`, email goes to the dev outbox too.
pub fn providers(settings: &Settings, db: &Db, dev_mode: bool) -> anyhow::Result<Providers> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()?;
    let dev: Arc<dyn DevOutbox> = Arc::new(DbDevOutbox(db.clone()));
    let mut sms = Vec::new();
    for (i, s) in settings.sms.iter().enumerate() {
        let provider: Arc<dyn SmsProvider> = match s.provider {
            SmsProviderKind::Twilio => {
                let token = s.auth_token().with_context(|| format!("sms[{i}]"))?;
                Arc::new(
                    TwilioSms::new(s, token, http.clone())
                        .map_err(|e| anyhow::anyhow!("sms[{i}]: {}", e.message()))?,
                )
            }
            SmsProviderKind::Solapi => {
                let (key, secret) = s
                    .solapi_credentials()
                    .with_context(|| format!("sms[{i}]"))?;
                Arc::new(
                    SolapiSms::new(s, key, secret, http.clone())
                        .map_err(|e| anyhow::anyhow!("sms[{i}]: {}", e.message()))?,
                )
            }
            SmsProviderKind::Log => Arc::new(LogSms::new(dev.clone())),
        };
        sms.push(SmsRoute::new(provider, s.rate_per_second));
    }
    let sms_platform = settings
        .sms
        .first()
        .filter(|s| {
            matches!(
                s.provider,
                SmsProviderKind::Twilio | SmsProviderKind::Solapi
            )
        })
        .map(|s| s.provider.as_str().to_string());
    let email: Option<Arc<dyn EmailProvider>> = match &settings.email {
        Some(e) => Some(Arc::new(
            SmtpEmail::from_settings(e).map_err(|e| anyhow::anyhow!("[email]: {}", e.message()))?,
        )),
        None if dev_mode => Some(Arc::new(LogEmail::new(dev))),
        None => None,
    };
    Ok(Providers {
        sms,
        sms_platform,
        email,
    })
}

pub fn planner_config(settings: &Settings) -> PlannerConfig {
    PlannerConfig {
        group_window: settings.detection.group_window,
        reopen_window: settings.detection.reopen_window,
        partial_recovery_after: settings.detection.partial_recovery_after,
    }
}

/// How notices are rendered and addressed, from the settings and the providers built.
pub fn compose_config(settings: &Settings, providers: &Providers) -> ComposeConfig {
    ComposeConfig {
        ack_timeout: settings.notify.ack_timeout,
        sms_queue_budget: settings.notify.sms_queue_budget,
        alert_link_ttl: settings.notify.alert_link_ttl,
        public_url: settings.server.public_url.clone(),
        default_locale: settings.notify.default_locale.clone(),
        time_zone: chrono_tz::Tz::from_str(&settings.notify.time_zone)
            .unwrap_or(chrono_tz::Asia::Seoul),
        sms_rate_per_second: settings.sms.first().map(|s| s.rate_per_second).unwrap_or(0),
        sms_validity: settings
            .sms
            .first()
            .map(|s| s.validity)
            .unwrap_or(Duration::from_secs(900)),
        email_enabled: providers.email.is_some(),
        sms_enabled: !providers.sms.is_empty(),
        sms_platform: providers.sms_platform.clone(),
        sms_limit: providers
            .sms
            .first()
            .map(|r| r.provider.text_limit())
            .unwrap_or_default(),
    }
}

/// A claim must outlive the wait for the slowest provider's rate limit plus a request, or
/// another replica could take over rows still waiting to be sent. A batching provider has
/// up to `dispatch_concurrency` batches of `batch_size` messages waiting.
pub fn lease_for(settings: &Settings) -> Duration {
    let wait = settings
        .sms
        .iter()
        .filter(|s| s.rate_per_second > 0)
        .map(|s| {
            let per_place = match s.provider {
                SmsProviderKind::Solapi => s.batch_size.max(1) as u64,
                _ => 1,
            };
            settings.notify.dispatch_concurrency as u64 * per_place / u64::from(s.rate_per_second)
        })
        .max()
        .unwrap_or(0);
    Duration::from_secs(60.max(wait + 30))
}

/// Starts every worker; each returns soon after `stop` is cancelled.
pub async fn spawn_all(
    state: &AppState,
    stop: CancellationToken,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let settings = state.settings.clone();
    let holder = holder_name();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut handles = Vec::new();
    let incident_changed = if settings.probe.enabled {
        let probe_loop = ProbeLoop::build(
            state.db.clone(),
            state.metrics.clone(),
            &settings,
            clock.clone(),
            holder.clone(),
        )
        .await?;
        let n = probe_loop.incident_changed();
        handles.push(tokio::spawn(probe_loop.run_until_stopped(stop.clone())));
        n
    } else {
        Arc::new(Notify::new())
    };
    let p = providers(&settings, &state.db, state.dev_mode)?;
    let outbox_changed = state.outbox_changed.clone();
    // The dispatchers wake after each committed batch, not after the whole pass.
    let composer = Arc::new(Composer::new(
        state.db.clone(),
        state.crypto.clone(),
        compose_config(&settings, &p),
    ));
    let planner = Arc::new(
        Planner::new(
            state.db.clone(),
            composer.clone(),
            planner_config(&settings),
        )
        .notify_when_written(outbox_changed.clone()),
    );
    handles.push(tokio::spawn(plan_loop(
        planner.clone(),
        incident_changed,
        outbox_changed.clone(),
        stop.clone(),
    )));
    sync_config_maintenance(state, &settings).await;
    let tz = settings
        .notify
        .time_zone
        .parse()
        .unwrap_or(chrono_tz::Asia::Seoul);
    handles.push(tokio::spawn(status_loop(
        StatusNotifier::new(
            state.db.clone(),
            state.crypto.clone(),
            &settings.server.public_url,
            tz,
            settings.detection.group_window,
        ),
        outbox_changed.clone(),
        stop.clone(),
    )));
    let mut sweeper = HeartbeatSweeper::new(state.db.clone(), composer.clone());
    if settings.probe.enabled && !settings.probe.canaries.is_empty() {
        sweeper = sweeper.watching_location(settings.probe.location.clone());
    }
    handles.push(tokio::spawn(heartbeat_loop(
        sweeper,
        state.metrics.clone(),
        outbox_changed.clone(),
        stop.clone(),
    )));
    let polled: Vec<Arc<dyn SmsProvider>> = p.sms.iter().map(|r| r.provider.clone()).collect();
    if let Some(poller) = DeliveryPoller::new(state.db.clone(), state.metrics.clone(), &polled) {
        handles.push(tokio::spawn(delivery_poll_loop(
            poller,
            outbox_changed.clone(),
            stop.clone(),
        )));
    }
    let dispatcher = Dispatcher::new(
        state.db.clone(),
        state.crypto.clone(),
        state.metrics.clone(),
        p.sms,
        p.email,
        DispatcherConfig {
            holder,
            concurrency: settings.notify.dispatch_concurrency,
            status_callback: Some(format!(
                "{}/hooks/twilio/status",
                settings.server.public_url.trim_end_matches('/')
            )),
            failover_after: settings.notify.failover_after,
            lease: lease_for(&settings),
            ..DispatcherConfig::default()
        },
    )
    .with_renderer(composer.clone())
    .with_webhooks(
        WebhookSender::guarded(SsrfPolicy {
            allow_private: settings.probe.allow_private_targets,
        })
        .context("building the webhook client")?,
    );
    let voice = voice_provider(&settings)?;
    let dispatcher = match &voice {
        Some(v) => dispatcher.with_voice(
            v.clone(),
            format!(
                "{}{}",
                settings.server.public_url.trim_end_matches('/'),
                meoktong_notify::compose::VOICE_STATUS_PATH
            ),
        ),
        None => dispatcher,
    };
    handles.push(tokio::spawn(
        Arc::new(dispatcher).run_until_stopped(outbox_changed.clone(), stop.clone()),
    ));
    let timers = Timers::new(
        state.db.clone(),
        composer,
        settings.notify.sms_delivery_timeout,
        settings.notify.sms_queue_budget,
        settings.notify.ack_timeout,
    );
    let timers = match voice {
        Some(_) => timers.with_voice(settings.notify.voice_after),
        None => timers,
    };
    handles.push(tokio::spawn(timer_loop(
        timers,
        state.clone(),
        outbox_changed,
        stop,
    )));
    Ok(handles)
}

/// The planner's loop in `serve`: a pass, the dispatchers told, then a wait for news or
/// 250 ms. A pass is interrupted when an incident changes while it runs, and a new one begins
/// at once (see `Planner::plan_once_until`).
pub async fn plan_loop(
    planner: Arc<Planner>,
    incident_changed: Arc<Notify>,
    outbox_changed: Arc<Notify>,
    stop: CancellationToken,
) {
    loop {
        // Listen before planning: an incident decided during the pass starts the next at once.
        let changed = incident_changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let interrupted = tokio::select! {
            _ = stop.cancelled() => return,
            done = planner.plan_once_until(now_ms(), &mut changed) => match done {
                Ok(stats) => {
                    if stats.messages > 0 {
                        outbox_changed.notify_waiters();
                    }
                    stats.interrupted
                }
                Err(e) => {
                    tracing::error!(error = %e, "planning failed; will retry");
                    false
                }
            },
        };
        if interrupted {
            continue;
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = &mut changed => {}
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
}

/// `[[maintenance]]` windows from the configuration, stored once each (times were validated
/// when the configuration was loaded; an unknown dependency slug is logged and skipped).
async fn sync_config_maintenance(state: &AppState, settings: &meoktong_config::Settings) {
    use meoktong_storage::status_comms::maintenance::{NewWindow, sync_config};
    let deps = match meoktong_storage::catalog::list_dependencies(&state.db).await {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "cannot read dependencies for maintenance windows");
            return;
        }
    };
    let parse = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|t| t.timestamp_millis())
    };
    let windows: Vec<NewWindow<'_>> = settings
        .maintenance
        .iter()
        .filter_map(|m| {
            let dep = deps.iter().find(|d| d.slug == m.dependency)?;
            Some(NewWindow {
                dependency_id: dep.id,
                starts_at: parse(&m.starts_at)?,
                ends_at: parse(&m.ends_at)?,
                title: &m.title,
                source: "config",
                user_id: None,
            })
        })
        .collect();
    if windows.len() != settings.maintenance.len() {
        tracing::warn!(
            "a [[maintenance]] entry names an unknown dependency or a bad time; skipped"
        );
    }
    if let Err(e) = sync_config(&state.db, &windows, now_ms()).await {
        tracing::error!(error = %e, "cannot store the configured maintenance windows");
    }
}

/// Status-page subscribers: automatic updates recorded, subscribers told, every second.
async fn status_loop(
    notifier: StatusNotifier,
    outbox_changed: Arc<Notify>,
    stop: CancellationToken,
) {
    loop {
        match notifier.notify_once(now_ms()).await {
            Ok(s) if s.messages > 0 => outbox_changed.notify_waiters(),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "telling status subscribers failed; will retry"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// Store heartbeats: silent stores become incidents, and their notices are written.
async fn heartbeat_loop(
    sweeper: HeartbeatSweeper,
    metrics: meoktong_metrics::Metrics,
    outbox_changed: Arc<Notify>,
    stop: CancellationToken,
) {
    loop {
        match sweeper.sweep_once(now_ms()).await {
            Ok(s) => {
                if s.opened > 0 {
                    // One bounded label for every store: a label per merchant would not stay bounded.
                    metrics
                        .incidents_opened
                        .with_label_values(&["store-internet"])
                        .inc_by(s.opened as u64);
                }
                if s.messages > 0 {
                    outbox_changed.notify_waiters();
                }
            }
            Err(e) => tracing::error!(error = %e, "heartbeat sweep failed; will retry"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// Delivery reports of providers that are polled (Solapi), every 2 seconds.
async fn delivery_poll_loop(
    poller: DeliveryPoller,
    outbox_changed: Arc<Notify>,
    stop: CancellationToken,
) {
    loop {
        match poller.poll_once(now_ms()).await {
            Ok(s) if s.fallbacks > 0 => outbox_changed.notify_waiters(),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "applying delivery reports failed; will retry"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}

async fn timer_loop(
    timers: Timers,
    state: AppState,
    outbox_changed: Arc<Notify>,
    stop: CancellationToken,
) {
    loop {
        let now = now_ms();
        match timers.sweep_once(now).await {
            Ok(s) if s.fallbacks + s.escalations > 0 => outbox_changed.notify_waiters(),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "timer sweep failed; will retry"),
        }
        if let Ok((depth, oldest_ms)) = outbox::depth(&state.db, now).await {
            state.metrics.outbox_depth.set(depth);
            state.metrics.outbox_oldest_age.set(oldest_ms / 1000);
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}
