//! `Application::build(settings)`: one function used by `main` and by the tests.
use anyhow::Context;
use meoktong_config::{DependencySettings, Settings};
use meoktong_metrics::Metrics;
use meoktong_storage::crypto::KeySource;
use meoktong_storage::{Crypto, Db, catalog};
use meoktong_web::AppState;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long workers get to finish or release claimed work after a stop signal.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Serve `/dev/outbox` (demo and tests only).
    pub dev_mode: bool,
    /// Dependencies added besides the configuration's (the demo's simulated ones).
    pub extra_dependencies: Vec<DependencySettings>,
    /// A data key to use instead of `MEOKTONG_DATA_KEY` (tests run many apps in one process).
    pub data_key: Option<[u8; 32]>,
    /// Run the background workers (probes, planner, dispatcher, timers). `serve` and `demo`
    /// do; tests that drive one stage by hand leave them off.
    pub run_workers: bool,
}

pub struct Application {
    listener: TcpListener,
    state: AppState,
    stop: CancellationToken,
    workers: Vec<JoinHandle<()>>,
}

/// Connects, loads the data key, applies migrations. Shared by every command that touches data.
pub async fn open_database(settings: &Settings) -> anyhow::Result<(Db, Arc<Crypto>)> {
    open_database_with(settings, None).await
}

/// Like [`open_database`], with an injected data key.
pub async fn open_database_with(
    settings: &Settings,
    key: Option<[u8; 32]>,
) -> anyhow::Result<(Db, Arc<Crypto>)> {
    let (db, crypto) = connect_database(settings, key).await?;
    let applied = db.migrate().await.context("cannot apply migrations")?;
    if applied > 0 {
        tracing::info!(migrations.applied = applied, "database migrated");
    }
    Ok((db, crypto))
}

/// Connects and loads the data key without migrating (`meoktong migrate` counts what is
/// pending first).
pub async fn connect_database(
    settings: &Settings,
    key: Option<[u8; 32]>,
) -> anyhow::Result<(Db, Arc<Crypto>)> {
    if let Some(key) = key {
        let db = Db::connect(&settings.database.url, settings.database.max_connections).await?;
        return Ok((db, Arc::new(Crypto::from_key(&key))));
    }
    let sqlite_file = meoktong_storage::db::sqlite_path(&settings.database.url);
    let (crypto, source) = Crypto::load(if settings.database.is_postgres() {
        None
    } else {
        sqlite_file.as_deref().map(Path::new)
    })?;
    if let KeySource::GeneratedFile(path) = &source {
        tracing::warn!(
            key.file = %path.display(),
            "MEOKTONG_DATA_KEY is not set: generated a data key beside the database; back it up, and set MEOKTONG_DATA_KEY in production"
        );
    }
    let db = Db::connect(&settings.database.url, settings.database.max_connections)
        .await
        .with_context(|| {
            format!(
                "cannot connect to the database at {}",
                redact_url(&settings.database.url)
            )
        })?;
    Ok((db, Arc::new(crypto)))
}

/// Presets the operator enabled in `[catalog] enable`, with `${VAR}` read from the environment.
pub fn enabled_presets(settings: &Settings) -> anyhow::Result<Vec<DependencySettings>> {
    use meoktong_probe::presets::{PresetBases, catalog, required_setting};
    let bases = PresetBases::default()
        .with_kakaotalk_channel(settings.catalog.kakaotalk_channel.as_deref())
        .map_err(|e| anyhow::anyhow!(e))?;
    let all = catalog(&bases);
    let mut out = Vec::new();
    for slug in &settings.catalog.enable {
        let Some(d) = all.iter().find(|d| &d.slug == slug) else {
            let known: Vec<&str> = all.iter().map(|d| d.slug.as_str()).collect();
            anyhow::bail!(
                "catalog.enable: unknown preset `{slug}` (known: {})",
                known.join(", ")
            );
        };
        if let Some(key) = required_setting(slug, &bases) {
            anyhow::bail!(
                "{key}: the `{slug}` preset in catalog.enable needs it (your channel's id, e.g. \"_AbCdE\" from pf.kakao.com/_AbCdE, or its URL)"
            );
        }
        out.push(
            meoktong_probe::presets::expand_preset_env(d)
                .map_err(|e| anyhow::anyhow!("catalog.enable `{slug}`: {e}"))?,
        );
    }
    Ok(out)
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

impl Application {
    pub async fn build(settings: Settings, opts: BuildOptions) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(&settings.server.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.server.listen))?;
        Self::build_with_listener(settings, opts, listener).await
    }

    /// Like [`Application::build`] on a listener bound by the caller (tests bind port 0 first
    /// so `server.public_url` can name the real address).
    pub async fn build_with_listener(
        settings: Settings,
        opts: BuildOptions,
        listener: TcpListener,
    ) -> anyhow::Result<Application> {
        let (db, crypto) = open_database_with(&settings, opts.data_key).await?;
        let mut deps = settings.dependency.clone();
        deps.extend(enabled_presets(&settings)?);
        deps.extend(opts.extra_dependencies.iter().cloned());
        catalog::sync_dependencies(&db, &deps, "config")
            .await
            .context("cannot store the dependency catalog")?;
        let metrics = Metrics::new();
        let mut twilio_auth_tokens = Vec::new();
        for sms in settings
            .sms
            .iter()
            .filter(|s| s.provider == meoktong_config::SmsProviderKind::Twilio)
        {
            twilio_auth_tokens.push(
                sms.auth_token()
                    .context("an [[sms]] provider needs its auth token")?,
            );
        }
        if let Some(voice) = &settings.voice {
            twilio_auth_tokens.push(voice.auth_token().context("[voice] needs its auth token")?);
        }
        let state = AppState {
            db,
            crypto,
            settings: Arc::new(settings),
            metrics,
            dev_mode: opts.dev_mode,
            twilio_auth_tokens,
            outbox_changed: Arc::new(tokio::sync::Notify::new()),
            caches: Default::default(),
            catalog_extras: Arc::new(meoktong_probe::presets::extras()),
        };
        let stop = CancellationToken::new();
        let workers = if opts.run_workers {
            crate::workers::spawn_all(&state, stop.clone())
                .await
                .context("cannot start the workers")?
        } else {
            Vec::new()
        };
        Ok(Application {
            listener,
            state,
            stop,
            workers,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// A token that stops the workers; cancelled by `run_until_stopped` on shutdown.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Adds a background worker; it must return soon after the stop token is cancelled.
    pub fn spawn_worker<F>(&mut self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.workers.push(tokio::spawn(fut));
    }

    /// Serves until `shutdown` resolves; then stops taking work, gives workers
    /// [`SHUTDOWN_GRACE`] to finish or release what they claimed, and returns.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Application {
            listener,
            state,
            stop,
            workers,
        } = self;
        let router = meoktong_web::router(state);
        let stop_for_server = stop.clone();
        // Handlers see the peer address (per-IP rate limits on public forms).
        let server = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            tokio::select! {
                _ = shutdown => {}
                _ = stop_for_server.cancelled() => {}
            }
        });
        let result = server.await;
        stop.cancel();
        let joined = tokio::time::timeout(SHUTDOWN_GRACE, futures::future::join_all(workers)).await;
        if joined.is_err() {
            tracing::warn!("workers did not stop within the grace period");
        }
        result.context("HTTP server failed")
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("stop signal received; shutting down");
}
