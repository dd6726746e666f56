//! Fresh databases for tests: a temporary SQLite file, and a new PostgreSQL database when one
//! is reachable. In CI (`CI=true`) PostgreSQL is required: its absence fails the test instead
//! of skipping it. Set `ARREARS_TEST_POSTGRES_URL` to the server's admin URL
//! (default `postgres://postgres@127.0.0.1:5432/postgres`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;

use crate::clock::Clock;
use crate::store::{Store, StoreError};

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// One database for one test; dropped (PostgreSQL) or deleted (SQLite) by `cleanup`.
pub struct TestDb {
    pub url: String,
    pub backend: &'static str,
    admin_url: Option<String>,
    name: String,
    _dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TestDb({})", self.backend)
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Whether this runs in CI (`CI` set to anything but empty, `false` or `0`), where a missing
/// service or tool fails a test instead of skipping it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// The admin URL of the test PostgreSQL server.
pub fn postgres_admin_url() -> String {
    std::env::var("ARREARS_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_string())
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("cannot create a temporary directory: {e}"),
        };
        let url = dir.path().join("arrears.db").display().to_string();
        TestDb {
            url,
            backend: "sqlite",
            admin_url: None,
            name: String::new(),
            _dir: Some(dir),
        }
    }

    /// A new, empty PostgreSQL database; `None` when the server is unreachable outside CI.
    pub async fn postgres() -> Option<TestDb> {
        TestDb::postgres_from(None).await
    }

    /// A new PostgreSQL database holding a copy of `self` (which nobody may be connected
    /// to), made by `CREATE DATABASE ... TEMPLATE`. `None` for SQLite.
    pub async fn postgres_copy(&self) -> Option<TestDb> {
        if self.backend != "postgres" {
            return None;
        }
        TestDb::postgres_from(Some(&self.name)).await
    }

    async fn postgres_from(template: Option<&str>) -> Option<TestDb> {
        let admin = postgres_admin_url();
        let mut conn = match sqlx::PgConnection::connect(&admin).await {
            Ok(c) => c,
            Err(e) if in_ci() => {
                panic!("CI needs PostgreSQL for the storage tests, but {admin} is unreachable: {e}")
            }
            Err(e) => {
                eprintln!(
                    "WARNING: PostgreSQL at {admin} is unreachable ({e}); this test ran on SQLite only"
                );
                return None;
            }
        };
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!("arrears_test_{}_{n}_{nanos}", std::process::id());
        let from = template
            .map(|t| format!(" TEMPLATE {t}"))
            .unwrap_or_default();
        if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}{from}")))
            .execute(&mut conn)
            .await
        {
            panic!("cannot create the test database {name}: {e}");
        }
        let _ = conn.close().await;
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        let (base, query) = match admin.rsplit_once('/').map(|(_, db)| db.split_once('?')) {
            Some(Some((_, q))) => (base, format!("?{q}")),
            _ => (base, String::new()),
        };
        Some(TestDb {
            url: format!("{base}/{name}{query}"),
            backend: "postgres",
            admin_url: Some(admin),
            name,
            _dir: None,
        })
    }

    /// SQLite, and PostgreSQL when available (always in CI).
    pub async fn all() -> Vec<TestDb> {
        let mut out = vec![TestDb::sqlite().await];
        if let Some(pg) = TestDb::postgres().await {
            out.push(pg);
        }
        out
    }

    pub async fn open(&self, clock: Arc<dyn Clock>) -> Result<Store, StoreError> {
        Store::open(&self.url, clock).await
    }

    /// Drops the PostgreSQL database (the SQLite directory goes with `self`).
    pub async fn cleanup(self) {
        if let Some(admin) = &self.admin_url
            && let Ok(mut conn) = sqlx::PgConnection::connect(admin).await
        {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .execute(&mut conn)
            .await;
        }
    }
}

impl Store {
    /// Runs raw SQL, bypassing the ledger's API: for tests that prove the database itself
    /// refuses what the API never offers.
    pub async fn execute_raw(&self, sql: &str) -> Result<u64, StoreError> {
        let mut tx = self.write().await?;
        let n = crate::store::on!(&mut tx, c, DB, PG => {
            sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).execute(&mut *c).await.map(|r| r.rows_affected())
        })?;
        tx.commit().await?;
        Ok(n)
    }
}

/// The scenarios shipped with arrears (`scenarios/` at the top of the repository).
pub fn shipped_scenarios() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

/// A scenarios directory for one test: `scenario.yaml` with this text, beside links to the
/// shipped templates and calendars.
pub fn scenario_dir(yaml: &str) -> tempfile::TempDir {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("cannot create a temporary directory: {e}"),
    };
    let shipped = shipped_scenarios();
    for sub in ["templates", "calendars", "rates"] {
        if let Err(e) = std::os::unix::fs::symlink(shipped.join(sub), dir.path().join(sub)) {
            panic!("cannot link {sub}: {e}");
        }
    }
    if let Err(e) = std::fs::write(dir.path().join("scenario.yaml"), yaml) {
        panic!("cannot write the scenario: {e}");
    }
    dir
}

/// The text of a PDF as `pdftotext -layout` extracts it. pdftotext (poppler-utils) must be
/// installed: `.ci/run` installs it, and a test without it fails rather than skips.
pub fn pdf_text(pdf: &[u8]) -> String {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("cannot create a temporary directory: {e}"),
    };
    let path = dir.path().join("doc.pdf");
    if let Err(e) = std::fs::write(&path, pdf) {
        panic!("cannot write the PDF: {e}");
    }
    let out = match std::process::Command::new("pdftotext")
        .arg("-layout")
        .arg("-enc")
        .arg("UTF-8")
        .arg(&path)
        .arg("-")
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            panic!("pdftotext is needed by the PDF tests (apt-get install poppler-utils): {e}")
        }
    };
    assert!(
        out.status.success(),
        "pdftotext failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}
