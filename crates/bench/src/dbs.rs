//! A fresh database per benchmark: a SQLite file in a temporary directory, or a new
//! PostgreSQL database on the given server, dropped at the end.
use anyhow::Context;
use meoktong_storage::sea_orm::{ConnectionTrait, Database};
use meoktong_storage::{Crypto, Db};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

/// The data key of every benchmark database.
pub const BENCH_KEY: [u8; 32] = [7u8; 32];

pub struct FreshDb {
    pub url: String,
    admin: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl FreshDb {
    pub async fn create(backend: Backend, postgres_url: &str) -> anyhow::Result<FreshDb> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::Builder::new()
                    .prefix("meoktong-bench")
                    .tempdir()?;
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("bench.db").display()
                );
                Ok(FreshDb {
                    url,
                    admin: None,
                    _dir: Some(dir),
                })
            }
            Backend::Postgres => {
                let name = format!("meoktong_bench_{}_{}", std::process::id(), rand_suffix());
                let conn = Database::connect(postgres_url)
                    .await
                    .with_context(|| format!("cannot connect to {postgres_url}"))?;
                conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await?;
                let _ = conn.close().await;
                let mut url = url::Url::parse(postgres_url)?;
                url.set_path(&format!("/{name}"));
                Ok(FreshDb {
                    url: url.to_string(),
                    admin: Some((postgres_url.to_string(), name)),
                    _dir: None,
                })
            }
        }
    }

    /// Connects with `max_connections` and applies the migrations.
    pub async fn connect(&self, max_connections: u32) -> anyhow::Result<(Db, Arc<Crypto>)> {
        let db = Db::connect(&self.url, max_connections).await?;
        db.migrate().await?;
        Ok((db, Arc::new(Crypto::from_key(&BENCH_KEY))))
    }

    /// Drops the PostgreSQL database (the SQLite directory goes with `self`).
    pub async fn drop_database(self) {
        if let Some((admin, name)) = &self.admin
            && let Ok(conn) = Database::connect(admin.as_str()).await
        {
            let _ = conn
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
            let _ = conn.close().await;
        }
    }
}

fn rand_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{nanos:x}")
}

/// The backends a `--backend` option selects (`both` when absent).
pub fn selected(choice: Option<Backend>) -> Vec<Backend> {
    match choice {
        Some(b) => vec![b],
        None => vec![Backend::Sqlite, Backend::Postgres],
    }
}
