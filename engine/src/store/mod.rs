//! Storage on SQLite (the embedded default) and PostgreSQL (scale-out). One `Store` serves
//! both: each query is written once in portable SQL and run on whichever backend the URL
//! chose; where the dialects differ the code says so beside the query. Migrations for each
//! backend live in `migrations/<backend>` and run when the store opens.
//!
//! SQLite has one writer connection (writes take `BEGIN IMMEDIATE` on it) and a pool of
//! readers; PostgreSQL has one pool. Every operation runs in one transaction.

pub mod access;
pub mod bank;
mod buffer;
pub mod case_notes;
pub(crate) mod customers;
pub mod dashboard;
mod ids;
pub mod inbound;
pub mod interest_notes;
mod ledger;
mod open_items;
pub mod pay_links;
mod pg_bulk;
pub mod pull;
pub(crate) mod reports;
pub mod webhooks;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::pool::PoolOptions;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

use crate::clock::Clock;
use crate::ledger::FieldError;

pub use buffer::{Buffer, HistoryInsert, OutboxInsert, TimerInsert};
pub use customers::{CustomerFilter, CustomerSaveOutcome};
pub(crate) use ids::{Ids, List};
pub use interest_notes::{
    CompensationCharge, FeeCharge, FeeOutcome, InterestNote, InterestNoteFilter, IssuedNote,
    NoteSettings, NoteSort, NoteStatus, NotesRun, charge_fee_in, charge_recovery_compensation_in,
    issue_interest_note_in,
};
pub use ledger::{
    AllocationRecord, BookedDocument, BookingOutcome, CreditOperation, CreditRecord,
    DocumentDetail, DocumentFilter, DocumentSummary,
};
pub use reports::{AgingQuery, BalanceRow};

/// Runs `$body` with `$c` bound to the transaction's connection, `$db` to the backend's
/// `sqlx::Database` type and `$pg` to whether it is PostgreSQL.
macro_rules! on {
    ($tx:expr, $c:ident, $db:ident, $pg:ident => $body:expr) => {
        match &mut ($tx).conn {
            $crate::store::Conn::Sqlite(t) => {
                #[allow(dead_code)]
                type $db = sqlx::Sqlite;
                #[allow(dead_code)]
                const $pg: bool = false;
                let $c: &mut sqlx::SqliteConnection = &mut **t;
                $body
            }
            $crate::store::Conn::Postgres(t) => {
                #[allow(dead_code)]
                type $db = sqlx::Postgres;
                #[allow(dead_code)]
                const $pg: bool = true;
                let $c: &mut sqlx::PgConnection = &mut **t;
                $body
            }
        }
    };
}
pub(crate) use on;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}", rejections_text(.0))]
    Rejected(Vec<Rejection>),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Immutable(String),
    #[error("{0}")]
    Conflict(String),
    #[error("cannot open the database {url}: {source}")]
    Open { url: String, source: sqlx::Error },
    #[error("database migration {version} ({name}) failed: {source}")]
    Migration {
        version: i64,
        name: &'static str,
        source: sqlx::Error,
    },
    #[error(
        "the database was migrated by a newer arrears (schema version {found}, this build knows {known})"
    )]
    SchemaTooNew { found: i64, known: i64 },
    #[error("database error: {0}")]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> StoreError {
        if let Some(db) = e.as_database_error() {
            let msg = db.message();
            if msg.contains("arrears:") && msg.contains("immutable") {
                let text = msg
                    .split("arrears:")
                    .nth(1)
                    .unwrap_or(msg)
                    .trim()
                    .to_string();
                return StoreError::Immutable(text);
            }
        }
        StoreError::Database(e)
    }
}

/// One refused item of a batch: which item (0-based, in input order) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rejection {
    pub item: usize,
    pub error: FieldError,
}

impl Rejection {
    pub fn new(item: usize, field: &'static str, message: impl Into<String>) -> Rejection {
        Rejection {
            item,
            error: FieldError::new(field, message),
        }
    }
}

fn rejections_text(r: &[Rejection]) -> String {
    let mut out = String::new();
    for (i, rej) in r.iter().enumerate() {
        if i > 0 {
            out.push_str("; ");
        }
        out.push_str(&format!("item {}: {}", rej.item, rej.error));
    }
    out
}

#[derive(Clone)]
enum Backend {
    Sqlite { write: SqlitePool, read: SqlitePool },
    Postgres(PgPool),
}

/// An open transaction on either backend.
/// A transaction, and the rows it appends in bulk when it buffers (see `buffer`).
pub struct Tx {
    pub(crate) conn: Conn,
    buffer: Option<Box<Buffer>>,
}

pub enum Conn {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    fn new(conn: Conn) -> Tx {
        Tx { conn, buffer: None }
    }

    /// From now on, history, timers and outbox rows are collected and written in bulk
    /// before the commit (group commit of many transitions).
    pub fn start_buffering(&mut self) {
        if self.buffer.is_none() {
            self.buffer = Some(Box::default());
        }
    }

    pub fn buffer(&mut self) -> Option<&mut Buffer> {
        self.buffer.as_deref_mut()
    }

    /// Writes the buffered rows; the transaction goes on buffering.
    pub async fn flush(&mut self) -> Result<(), StoreError> {
        if let Some(mut b) = self.buffer.take() {
            let r = b.flush(self).await;
            self.buffer = Some(b);
            r?;
        }
        Ok(())
    }

    pub async fn commit(mut self) -> Result<(), StoreError> {
        self.flush().await?;
        match self.conn {
            Conn::Sqlite(t) => t.commit().await?,
            Conn::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    pub async fn rollback(self) -> Result<(), StoreError> {
        match self.conn {
            Conn::Sqlite(t) => t.rollback().await?,
            Conn::Postgres(t) => t.rollback().await?,
        }
        Ok(())
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.conn, Conn::Postgres(_))
    }
}

/// Which database a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> DatabaseUrl {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            DatabaseUrl::Postgres(url.to_string())
        } else {
            let path = url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
                .unwrap_or(url);
            DatabaseUrl::Sqlite(PathBuf::from(path))
        }
    }
}

/// The ledger's storage. Cheap to clone; clones share the pools.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend_name())
            .finish()
    }
}

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "ledger",
        sqlite: include_str!("../../../migrations/sqlite/0001_ledger.sql"),
        postgres: include_str!("../../../migrations/postgres/0001_ledger.sql"),
    },
    Migration {
        version: 2,
        name: "runtime",
        sqlite: include_str!("../../../migrations/sqlite/0002_runtime.sql"),
        postgres: include_str!("../../../migrations/postgres/0002_runtime.sql"),
    },
    Migration {
        version: 3,
        name: "interest",
        sqlite: include_str!("../../../migrations/sqlite/0003_interest.sql"),
        postgres: include_str!("../../../migrations/postgres/0003_interest.sql"),
    },
    Migration {
        version: 4,
        name: "bank",
        sqlite: include_str!("../../../migrations/sqlite/0004_bank.sql"),
        postgres: include_str!("../../../migrations/postgres/0004_bank.sql"),
    },
    Migration {
        version: 5,
        name: "correspondence",
        sqlite: include_str!("../../../migrations/sqlite/0005_correspondence.sql"),
        postgres: include_str!("../../../migrations/postgres/0005_correspondence.sql"),
    },
    Migration {
        version: 6,
        name: "connectors",
        sqlite: include_str!("../../../migrations/sqlite/0006_connectors.sql"),
        postgres: include_str!("../../../migrations/postgres/0006_connectors.sql"),
    },
    Migration {
        version: 7,
        name: "web",
        sqlite: include_str!("../../../migrations/sqlite/0007_web.sql"),
        postgres: include_str!("../../../migrations/postgres/0007_web.sql"),
    },
    Migration {
        version: 8,
        name: "subscriptions",
        sqlite: include_str!("../../../migrations/sqlite/0008_subscriptions.sql"),
        postgres: include_str!("../../../migrations/postgres/0008_subscriptions.sql"),
    },
    Migration {
        version: 9,
        name: "pull_connectors",
        sqlite: include_str!("../../../migrations/sqlite/0009_pull_connectors.sql"),
        postgres: include_str!("../../../migrations/postgres/0009_pull_connectors.sql"),
    },
    Migration {
        version: 10,
        name: "debtor_page",
        sqlite: include_str!("../../../migrations/sqlite/0010_debtor_page.sql"),
        postgres: include_str!("../../../migrations/postgres/0010_debtor_page.sql"),
    },
    Migration {
        version: 11,
        name: "case_notes",
        sqlite: include_str!("../../../migrations/sqlite/0011_case_notes.sql"),
        postgres: include_str!("../../../migrations/postgres/0011_case_notes.sql"),
    },
];

impl Store {
    /// Opens (creating a SQLite file when needed) and migrates the database `url` names.
    pub async fn open(url: &str, clock: Arc<dyn Clock>) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open {
            url: redact(url),
            source,
        };
        let backend = match DatabaseUrl::parse(url) {
            DatabaseUrl::Sqlite(path) => {
                let opts = SqliteConnectOptions::new()
                    .filename(&path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(30))
                    .pragma("cache_size", "-262144")
                    .pragma("wal_autocheckpoint", "16384")
                    .pragma("temp_store", "memory");
                let write = PoolOptions::<Sqlite>::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(120))
                    .connect_with(opts.clone())
                    .await
                    .map_err(open_err)?;
                let read = PoolOptions::<Sqlite>::new()
                    .max_connections(8)
                    .connect_with(opts.read_only(true))
                    .await
                    .map_err(open_err)?;
                Backend::Sqlite { write, read }
            }
            DatabaseUrl::Postgres(u) => {
                let opts = PgConnectOptions::from_str(&u).map_err(open_err)?;
                let pool = PgPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(60))
                    .connect_with(opts)
                    .await
                    .map_err(open_err)?;
                Backend::Postgres(pool)
            }
        };
        let store = Store { backend, clock };
        store.migrate().await?;
        Ok(store)
    }

    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite { .. } => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// A transaction that may write. On SQLite it holds the single writer from the start.
    pub async fn write(&self) -> Result<Tx, StoreError> {
        Ok(match &self.backend {
            Backend::Sqlite { write, .. } => {
                Tx::new(Conn::Sqlite(write.begin_with("BEGIN IMMEDIATE").await?))
            }
            Backend::Postgres(pool) => Tx::new(Conn::Postgres(pool.begin().await?)),
        })
    }

    /// A read-only transaction: one consistent snapshot for a report.
    pub async fn read(&self) -> Result<Tx, StoreError> {
        Ok(match &self.backend {
            Backend::Sqlite { read, .. } => Tx::new(Conn::Sqlite(read.begin().await?)),
            Backend::Postgres(pool) => Tx::new(Conn::Postgres(
                pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?,
            )),
        })
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        on!(&mut tx, c, DB, PG => {
            if PG {
                // Several processes may start at once on one PostgreSQL: one migrates.
                sqlx::query("SELECT pg_advisory_xact_lock(4242001)").execute(&mut *c).await?;
            }
            sqlx::query(
                "CREATE TABLE IF NOT EXISTS arrears_migrations (
                    version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
            )
            .execute(&mut *c)
            .await?;
            let applied: Vec<(i64,)> = sqlx::query_as("SELECT version FROM arrears_migrations")
                .fetch_all(&mut *c)
                .await?;
            let known = MIGRATIONS.last().map(|m| m.version).unwrap_or(0);
            if let Some(found) = applied.iter().map(|v| v.0).max().filter(|v| *v > known) {
                return Err(StoreError::SchemaTooNew { found, known });
            }
            for m in MIGRATIONS {
                if applied.iter().any(|v| v.0 == m.version) {
                    continue;
                }
                tracing::info!(version = m.version, name = m.name, "applying migration");
                let sql = if PG { m.postgres } else { m.sqlite };
                sqlx::raw_sql(sql).execute(&mut *c).await.map_err(|source| {
                    StoreError::Migration { version: m.version, name: m.name, source }
                })?;
                sqlx::query("INSERT INTO arrears_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
                    .bind(m.version)
                    .bind(m.name)
                    .bind(self.clock.now().to_rfc3339())
                    .execute(&mut *c)
                    .await?;
            }
            Ok::<(), StoreError>(())
        })?;
        tx.commit().await
    }

    /// Refreshes the planner's statistics, as after a bulk load (PostgreSQL's autovacuum does
    /// it eventually; SQLite only when asked).
    pub async fn analyze(&self) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        on!(&mut tx, c, DB, PG => {
            let sql = if PG { "ANALYZE" } else { "PRAGMA optimize" };
            sqlx::query(sql).execute(&mut *c).await.map(|_| ())
        })?;
        tx.commit().await
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut tx = self.read().await?;
        on!(&mut tx, c, DB, PG => {
            sqlx::query("SELECT 1").execute(&mut *c).await.map(|_| ())
        })?;
        tx.commit().await
    }

    /// Closes the pools, waiting for connections in use to come back.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite { write, read } => {
                read.close().await;
                write.close().await;
            }
            Backend::Postgres(pool) => pool.close().await,
        }
    }
}

/// A database URL with any password replaced, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_choose_the_backend_and_passwords_are_hidden() {
        assert_eq!(
            DatabaseUrl::parse("./arrears.db"),
            DatabaseUrl::Sqlite("./arrears.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///tmp/a.db"),
            DatabaseUrl::Sqlite("/tmp/a.db".into())
        );
        assert!(matches!(
            DatabaseUrl::parse("postgres://u@h/db"),
            DatabaseUrl::Postgres(_)
        ));
        assert_eq!(
            redact("postgres://me:secret@localhost/db"),
            "postgres://me:***@localhost/db"
        );
    }
}
