//! Deployed scenario versions. Deploying stores the file's text as a new version when it
//! changed; running cases keep the version they started on. Versions are compiled once per
//! process and cached.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::scenario::{Calendar, CheckOutcome, Sandbox, Scenario, check_source};
use crate::store::{Store, StoreError, on};

use super::RuntimeError;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Deployed {
    pub id: i64,
    pub scenario_id: String,
    pub version: i64,
    /// False when the same text was already the latest version.
    pub new: bool,
}

/// A deployed version as stored: its text, and who deployed it when.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct DeployedVersion {
    pub id: i64,
    pub scenario_id: String,
    pub version: i64,
    pub title: String,
    pub source_path: String,
    #[serde(skip)]
    pub source: String,
    pub deployed_at: DateTime<Utc>,
    pub deployed_by: String,
}

const VERSION_COLUMNS: &str =
    "id, scenario_id, version, title, source_path, source, deployed_at, deployed_by";

impl DeployedVersion {
    /// The directory of the file it was deployed from, where its templates and calendars are.
    fn dir(&self) -> PathBuf {
        Path::new(&self.source_path)
            .parent()
            .unwrap_or(Path::new("."))
            .to_path_buf()
    }

    /// `arrears scenario check` of the stored text against the templates and calendars
    /// beside the file it was deployed from, as they are now.
    pub fn check(&self) -> CheckOutcome {
        check_source(
            &self.source_path,
            &self.source,
            &self.dir(),
            &Sandbox::new(),
        )
    }
}

/// Every deployed version, by scenario and version.
pub async fn versions(store: &Store) -> Result<Vec<DeployedVersion>, StoreError> {
    let mut tx = store.read().await?;
    let rows = on!(&mut tx, c, DB, PG => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {VERSION_COLUMNS} FROM scenario_versions ORDER BY scenario_id, version"
        )))
        .fetch_all(&mut *c)
        .await
    })?;
    tx.commit().await?;
    Ok(rows)
}

/// A compiled version with its calendar.
#[derive(Debug)]
pub struct Version {
    pub id: i64,
    pub version: i64,
    pub scenario: Scenario,
    pub calendar: Calendar,
}

#[derive(Default)]
pub struct Registry {
    cache: RwLock<HashMap<i64, Arc<Version>>>,
}

impl Registry {
    /// Stores `scenario` (already checked) as a new version unless its text is unchanged.
    pub async fn deploy(
        &self,
        store: &Store,
        scenario: &Scenario,
        actor: &str,
    ) -> Result<Deployed, RuntimeError> {
        let checksum = hex(&Sha256::digest(scenario.source.as_bytes()));
        let now = store.clock().now();
        let mut tx = store.write().await?;
        let latest: Option<(i64, i64, String)> = on!(&mut tx, c, DB, PG => {
            sqlx::query_as(
                "SELECT id, version, checksum FROM scenario_versions WHERE scenario_id = $1 \
                 ORDER BY version DESC LIMIT 1",
            )
            .bind(&scenario.id)
            .fetch_optional(&mut *c)
            .await
        })
        .map_err(StoreError::from)?;
        if let Some((id, version, sum)) = &latest
            && *sum == checksum
        {
            tx.rollback().await?;
            return Ok(Deployed {
                id: *id,
                scenario_id: scenario.id.clone(),
                version: *version,
                new: false,
            });
        }
        let version = latest.map(|l| l.1).unwrap_or(0) + 1;
        let path = std::fs::canonicalize(&scenario.source_path)
            .unwrap_or_else(|_| scenario.source_path.clone());
        let id: i64 = on!(&mut tx, c, DB, PG => {
            sqlx::query_scalar(
                "INSERT INTO scenario_versions (scenario_id, version, title, source_path, source, checksum, deployed_at, deployed_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            )
            .bind(&scenario.id)
            .bind(version)
            .bind(&scenario.title)
            .bind(path.display().to_string())
            .bind(&scenario.source)
            .bind(&checksum)
            .bind(now)
            .bind(actor)
            .fetch_one(&mut *c)
            .await
        })
        .map_err(StoreError::from)?;
        tx.commit().await?;
        tracing::info!(scenario = %scenario.id, version, "deployed");
        Ok(Deployed {
            id,
            scenario_id: scenario.id.clone(),
            version,
            new: true,
        })
    }

    /// The latest version of every deployed scenario.
    pub async fn latest(&self, store: &Store) -> Result<Vec<Arc<Version>>, RuntimeError> {
        let mut tx = store.read().await?;
        let ids: Vec<i64> = on!(&mut tx, c, DB, PG => {
            sqlx::query_scalar(
                "SELECT v.id FROM scenario_versions v WHERE v.version = \
                 (SELECT MAX(w.version) FROM scenario_versions w WHERE w.scenario_id = v.scenario_id) \
                 ORDER BY v.scenario_id",
            )
            .fetch_all(&mut *c)
            .await
        })
        .map_err(StoreError::from)?;
        tx.commit().await?;
        let mut out = Vec::new();
        for id in ids {
            out.push(self.get(store, id).await?);
        }
        Ok(out)
    }

    /// A version by id, compiled on first use.
    pub async fn get(&self, store: &Store, id: i64) -> Result<Arc<Version>, RuntimeError> {
        if let Some(v) = self.cache.read().ok().and_then(|c| c.get(&id).cloned()) {
            return Ok(v);
        }
        let mut tx = store.read().await?;
        let row: Option<DeployedVersion> = on!(&mut tx, c, DB, PG => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {VERSION_COLUMNS} FROM scenario_versions WHERE id = $1"
            )))
            .bind(id)
            .fetch_optional(&mut *c)
            .await
        })
        .map_err(StoreError::from)?;
        tx.commit().await?;
        let row = row.ok_or_else(|| RuntimeError::NotFound(format!("scenario version {id}")))?;
        let path = PathBuf::from(&row.source_path);
        let dir = row.dir();
        let outcome = row.check();
        let mut scenario = outcome.scenario.ok_or_else(|| {
            RuntimeError::Scenario(format!(
                "{} version {} no longer checks (its templates or calendar changed?):\n{}",
                row.scenario_id,
                row.version,
                outcome
                    .diagnostics
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            ))
        })?;
        scenario.source_path = path;
        let calendar = Calendar::load(
            &dir.join("calendars")
                .join(format!("{}.yaml", scenario.calendar)),
        )
        .unwrap_or_else(|_| Calendar::generic());
        let v = Arc::new(Version {
            id: row.id,
            version: row.version,
            scenario,
            calendar,
        });
        if let Ok(mut c) = self.cache.write() {
            c.insert(id, v.clone());
        }
        Ok(v)
    }
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
