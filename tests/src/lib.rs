//! The test harness: `spawn_app()` runs the whole application on port 0 with a fresh database.
//!
//! SQLite by default (a fresh file per test). When `TEST_DATABASE_URL` points at PostgreSQL
//! (`postgres://postgres@127.0.0.1:5432/postgres`), each test gets a fresh database, dropped
//! when the test ends; `Backend::each()` lets a storage test run against every backend.
#![forbid(unsafe_code)]

use meoktong::{Application, BuildOptions};
use meoktong_config::Settings;
use meoktong_storage::{Crypto, Db};
use sea_orm::{ConnectionTrait, Database};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The data key of every test app.
pub const TEST_KEY: [u8; 32] = [42u8; 32];

/// A database for one test; dropped (PostgreSQL) or deleted (SQLite) with it.
pub struct TestDb {
    pub url: String,
    admin_url: Option<String>,
    name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// SQLite always; PostgreSQL too when `TEST_DATABASE_URL` is set.
    pub fn each() -> Vec<Backend> {
        let mut v = vec![Backend::Sqlite];
        if postgres_admin_url().is_some() {
            v.push(Backend::Postgres);
        }
        v
    }

    /// PostgreSQL when `TEST_DATABASE_URL` is set, else SQLite.
    pub fn default_for_tests() -> Backend {
        if postgres_admin_url().is_some() {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

fn postgres_admin_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
                TestDb {
                    url,
                    admin_url: None,
                    name: None,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let admin = postgres_admin_url().expect("TEST_DATABASE_URL");
                let name = format!("meoktong_test_{}", uuid::Uuid::new_v4().simple());
                let conn = Database::connect(&admin)
                    .await
                    .expect("connect to TEST_DATABASE_URL");
                conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                let _ = conn.close().await;
                let mut url = url::Url::parse(&admin).expect("TEST_DATABASE_URL is a URL");
                url.set_path(&format!("/{name}"));
                TestDb {
                    url: url.to_string(),
                    admin_url: Some(admin),
                    name: Some(name),
                    _dir: None,
                }
            }
        }
    }

    /// Another handle on the same database that drops nothing: replicas share one database,
    /// and the handle it was made from owns it (keep that one alive longest).
    pub fn share(&self) -> TestDb {
        TestDb {
            url: self.url.clone(),
            admin_url: None,
            name: None,
            _dir: None,
        }
    }

    pub async fn connect(&self) -> Db {
        let db = Db::connect(&self.url, 5).await.expect("connect");
        db.migrate().await.expect("migrate");
        db
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (Some(admin), Some(name)) = (self.admin_url.clone(), self.name.clone()) else {
            return;
        };
        // Drop on a separate thread with its own runtime: Drop cannot be async.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(conn) = Database::connect(&admin).await {
                    let _ = conn
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

/// Settings for a test app: loopback on port 0, the given database, `log` providers.
pub fn test_settings(db_url: &str) -> Settings {
    let mut s = Settings::default();
    s.server.listen = "127.0.0.1:0".into();
    s.database.url = db_url.to_string();
    s.database.max_connections = 5;
    // Tests never contact a public address: the built-in canaries are public endpoints.
    s.probe.canaries = Vec::new();
    s
}

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub db: Db,
    pub crypto: Arc<Crypto>,
    pub client: reqwest::Client,
    stop: CancellationToken,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    pub test_db: TestDb,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Stops the app the way SIGTERM does and waits for it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.stop.cancel();
        match self.server.take() {
            Some(h) => h.await?,
            None => Ok(()),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Spawns the app with default test settings on the default backend.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(
        Backend::default_for_tests(),
        |_| {},
        BuildOptions::default(),
    )
    .await
}

/// Spawns the app on a port bound first, so `server.public_url` is the real address (links in
/// messages and Twilio callbacks reach it); `tweak` adjusts the settings after that.
pub async fn spawn_app_with(
    backend: Backend,
    tweak: impl FnOnce(&mut Settings),
    opts: BuildOptions,
) -> TestApp {
    spawn_on(TestDb::new(backend).await, tweak, opts).await
}

/// Spawns another app on an existing database, like a second replica of the service: same
/// data key, its own port and workers. `db` must outlive every app spawned on it.
pub async fn spawn_app_on(
    db: &TestDb,
    tweak: impl FnOnce(&mut Settings),
    opts: BuildOptions,
) -> TestApp {
    spawn_on(db.share(), tweak, opts).await
}

async fn spawn_on(
    test_db: TestDb,
    tweak: impl FnOnce(&mut Settings),
    mut opts: BuildOptions,
) -> TestApp {
    let mut settings = test_settings(&test_db.url);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    let bound = listener.local_addr().expect("local addr");
    settings.server.public_url = format!("http://{bound}");
    tweak(&mut settings);
    opts.data_key = Some(TEST_KEY);
    opts.dev_mode = true;
    let app = Application::build_with_listener(settings, opts, listener)
        .await
        .expect("build app");
    let port = app.port();
    let address = format!("http://127.0.0.1:{port}");
    let db = app.state().db.clone();
    let crypto = app.state().crypto.clone();
    let stop = CancellationToken::new();
    let stop_signal = stop.clone();
    let server = tokio::spawn(app.run_until_stopped(async move { stop_signal.cancelled().await }));
    TestApp {
        address,
        port,
        db,
        crypto,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        stop,
        server: Some(server),
        test_db,
    }
}
