//! Connecting to the database and applying migrations.
use crate::error::StorageError;
use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, ExecResult, QueryResult, Statement,
};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A connection pool and which backend it talks to.
#[derive(Clone, Debug)]
pub struct Db {
    pub conn: DatabaseConnection,
    pub backend: Backend,
    /// SQLite has one writer at a time. Write transactions of this process queue here, in
    /// order, instead of in SQLite's busy handler, which sleeps in steps of up to 100 ms and
    /// so turned a busy moment into long stalls (the probe loop's slot claims waited behind
    /// the result recorder). Other processes still meet the busy timeout.
    write_gate: Arc<tokio::sync::Mutex<()>>,
}

/// The longest a write transaction waits for the other writers of this process.
const WRITE_GATE_WAIT: Duration = Duration::from_secs(10);

/// A write transaction from [`Db::begin_write`]; holds this process's SQLite write turn until
/// it is committed, rolled back or dropped. Use it as the `DatabaseTransaction` it wraps.
pub struct WriteTxn {
    txn: DatabaseTransaction,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTxn {
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }
}

impl std::ops::Deref for WriteTxn {
    type Target = DatabaseTransaction;
    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTxn {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
    }
}

/// Arbitrary constant identifying Meoktong's migration advisory lock on PostgreSQL.
const MIGRATION_LOCK_ID: i64 = 0x6d65_6f6b_746f_6e67;

/// `localhost`, a 127.0.0.0/8 or `::1` address, or a Unix socket directory.
fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_matches(|c| c == '[' || c == ']');
    host.eq_ignore_ascii_case("localhost")
        || host.starts_with('/')
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl Db {
    /// Connects; for SQLite creates the parent directory and turns on WAL so readers never
    /// wait for the writer.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Db, StorageError> {
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        if backend == Backend::Sqlite
            && let Some(path) = sqlite_path(url)
            && let Some(parent) = std::path::Path::new(&path).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|e| {
                StorageError::Data(format!("cannot create directory {}: {e}", parent.display()))
            })?;
        }
        let sqlite_file = (backend == Backend::Sqlite)
            .then(|| sqlite_path(url))
            .flatten();
        if let Some(path) = &sqlite_file
            && url.contains("mode=rwc")
        {
            create_private(std::path::Path::new(path))?;
        }
        let mut opts = ConnectOptions::new(url.to_string());
        opts.max_connections(max_connections.max(1))
            .min_connections(1)
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(10))
            .sqlx_logging(false);
        // On every pooled connection: `synchronous` belongs to the connection (only
        // `journal_mode` is stored in the file), so setting it once after connecting left every
        // other connection syncing the WAL on each commit.
        // Statement journals of multi-row upserts stay in memory (not temp files). The page
        // cache keeps SQLite's default (2 MiB per connection): a larger one made big batches
        // a little faster but multiplied by the pool it cost far more memory than it saved.
        opts.map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .pragma("temp_store", "memory")
        });
        if backend == Backend::Postgres && !url.to_ascii_lowercase().contains("sslmode") {
            // No TLS to a server on this machine unless the URL asks for it: it protects
            // nothing there, and sqlx 0.9 (which does not set TCP_NODELAY) writes a large
            // statement as several TLS records, the last of which Nagle holds until the
            // server's delayed ACK — about 40 ms per batched insert, which made planning a
            // 100,000-merchant fan-out 4× slower.
            opts.map_sqlx_postgres_opts(|o| {
                if o.get_socket().is_some() || is_loopback_host(o.get_host()) {
                    o.ssl_mode(sea_orm::sqlx::postgres::PgSslMode::Disable)
                } else {
                    o
                }
            });
        }
        let conn = Database::connect(opts).await?;
        if let Some(path) = &sqlite_file {
            // SQLite gives the WAL and shared-memory files the database's mode; a database
            // made by an older version (0644) is tightened here, all three files.
            for suffix in ["", "-wal", "-shm"] {
                make_private(std::path::Path::new(&format!("{path}{suffix}")))?;
            }
        }
        Ok(Db {
            conn,
            backend,
            write_gate: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// Begins a transaction that is going to write. On SQLite it is `BEGIN IMMEDIATE`: a
    /// deferred transaction that reads first and writes later fails at once with "database
    /// is locked" when another connection holds the write lock at that moment (SQLite does
    /// not wait on the busy timeout when upgrading a read transaction), which the workers of
    /// a running `serve` make likely. PostgreSQL is unaffected.
    pub async fn begin_write(&self) -> Result<WriteTxn, StorageError> {
        use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
        let turn = self.write_turn().await?;
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        Ok(WriteTxn {
            txn: self.conn.begin_with_options(options).await?,
            _turn: turn,
        })
    }

    /// This process's SQLite write turn (`None` on PostgreSQL), for a single write statement
    /// that must not wait in SQLite's busy handler behind this process's own transactions
    /// (see `write_gate`). Hold it while the statement runs.
    pub async fn write_turn(
        &self,
    ) -> Result<Option<tokio::sync::OwnedMutexGuard<()>>, StorageError> {
        match self.backend {
            Backend::Postgres => Ok(None),
            Backend::Sqlite => Ok(Some(
                tokio::time::timeout(WRITE_GATE_WAIT, self.write_gate.clone().lock_owned())
                    .await
                    .map_err(|_| {
                        StorageError::Db(DbErr::Custom(
                            "database is locked: other writers of this process held it too long"
                                .into(),
                        ))
                    })?,
            )),
        }
    }

    pub fn db_backend(&self) -> DbBackend {
        match self.backend {
            Backend::Sqlite => DbBackend::Sqlite,
            Backend::Postgres => DbBackend::Postgres,
        }
    }

    /// Applies pending migrations. Safe when several replicas start at once: on PostgreSQL
    /// they queue on an advisory lock; on SQLite the file lock serialises them.
    pub async fn migrate(&self) -> Result<usize, StorageError> {
        if self.backend == Backend::Postgres {
            // Session-level lock: take it on one pooled connection inside a transaction-free
            // block; pg_advisory_xact_lock keeps it for the transaction only, so use that.
            use sea_orm::TransactionTrait;
            let txn = self.conn.begin().await?;
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock($1)",
                [MIGRATION_LOCK_ID.into()],
            ))
            .await?;
            let pending = Migrator::get_pending_migrations(&txn).await?.len();
            if pending > 0 {
                Migrator::up(&txn, None).await?;
            }
            txn.commit().await?;
            return Ok(pending);
        }
        let pending = Migrator::get_pending_migrations(&self.conn).await?.len();
        if pending > 0 {
            Migrator::up(&self.conn, None).await?;
        }
        Ok(pending)
    }

    /// Readiness: the database answers and no migration is pending.
    pub async fn ready(&self) -> Result<(), StorageError> {
        self.conn.execute_unprepared("SELECT 1").await?;
        let pending = Migrator::get_pending_migrations(&self.conn).await?;
        if !pending.is_empty() {
            return Err(StorageError::Data(format!(
                "{} migration(s) pending",
                pending.len()
            )));
        }
        Ok(())
    }
}

/// Creates an empty database file readable by its owner only (0600), unless it exists:
/// personal data lives in it (encrypted, but names and settings are not).
fn create_private(path: &std::path::Path) -> Result<(), StorageError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StorageError::Data(format!(
            "cannot create {}: {e}",
            path.display()
        ))),
    }
}

/// Takes group and other permissions off an existing file (no-op when missing or off Unix).
fn make_private(path: &std::path::Path) -> Result<(), StorageError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let Ok(meta) = std::fs::metadata(path) else {
            return Ok(());
        };
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))
                .map_err(|e| StorageError::Data(format!("cannot chmod {}: {e}", path.display())))?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// The file path inside a `sqlite://path?opts` URL, if it names a file.
pub fn sqlite_path(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        None
    } else {
        Some(path.to_string())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_hosts_are_recognised() {
        for host in [
            "localhost",
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "[::1]",
            "/var/run/postgresql",
        ] {
            assert!(super::is_loopback_host(host), "{host}");
        }
        for host in [
            "db.example.com",
            "10.0.0.5",
            "192.168.1.2",
            "::ffff:10.0.0.1",
        ] {
            assert!(!super::is_loopback_host(host), "{host}");
        }
    }

    use super::*;

    #[test]
    fn sqlite_path_is_read_from_the_url() {
        assert_eq!(
            sqlite_path("sqlite://data/m.db?mode=rwc").as_deref(),
            Some("data/m.db")
        );
        assert_eq!(
            sqlite_path("sqlite:///tmp/x.db").as_deref(),
            Some("/tmp/x.db")
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
    }
}
