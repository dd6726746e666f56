//! The debtor's side of a case: secret links to the public payment page (stored as the
//! SHA-256 of the token, with an expiry and a revocation), and the proofs of payment
//! uploaded through them. An upload is stored with its `proof_uploaded` event in one
//! transaction, so the case's verification task follows from the ordinary event path.
//! Checking the file (size, type from its content) is the web layer's job; this module
//! trusts what it is given.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::ids::CaseId;
use crate::store::{Store, StoreError, on};

use super::events::{Event, store_event};

/// A debtor link as stored (the token itself is never stored).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PayLink {
    pub id: i64,
    pub case_id: i64,
    pub customer_id: i64,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Why a link opens nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    Live,
    Expired,
    Revoked,
}

impl PayLink {
    pub fn state(&self, now: DateTime<Utc>) -> LinkState {
        if self.revoked_at.is_some() {
            LinkState::Revoked
        } else if self.expires_at <= now {
            LinkState::Expired
        } else {
            LinkState::Live
        }
    }
}

/// A proof of payment as uploaded.
#[derive(Debug, Clone)]
pub struct NewUpload {
    pub content_type: &'static str,
    pub file_name: String,
    pub sha256: String,
    pub content: Vec<u8>,
}

/// An upload listed on the case page (without its content).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct UploadLine {
    pub id: i64,
    pub content_type: String,
    pub file_name: String,
    pub size: i64,
    pub sha256: String,
    pub uploaded_at: DateTime<Utc>,
}

const LINK_COLUMNS: &str =
    "l.id, l.case_id, k.customer_id, l.created_by, l.created_at, l.expires_at, l.revoked_at";

/// Records a link for a case whose token hashes to `token_hash`.
pub async fn create_link(
    store: &Store,
    case: CaseId,
    token_hash: &str,
    expires_at: DateTime<Utc>,
    actor: &str,
) -> Result<PayLink, StoreError> {
    let now = store.clock().now();
    let mut tx = store.write().await?;
    let exists: Option<i64> = on!(&mut tx, c, DB, PG => {
        sqlx::query_scalar("SELECT id FROM cases WHERE id = $1").bind(case.0).fetch_optional(&mut *c).await
    })?;
    if exists.is_none() {
        return Err(StoreError::NotFound(format!("case {case}")));
    }
    let id: i64 = on!(&mut tx, c, DB, PG => {
        sqlx::query_scalar(
            "INSERT INTO pay_links (case_id, token_hash, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(case.0)
        .bind(token_hash)
        .bind(actor)
        .bind(now)
        .bind(expires_at)
        .fetch_one(&mut *c)
        .await
    })?;
    let link: PayLink = on!(&mut tx, c, DB, PG => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {LINK_COLUMNS} FROM pay_links l JOIN cases k ON k.id = l.case_id WHERE l.id = $1"
        )))
        .bind(id)
        .fetch_one(&mut *c)
        .await
    })?;
    tx.commit().await?;
    Ok(link)
}

/// The link whose token hashes to `token_hash`, whatever its state.
pub async fn link_by_hash(store: &Store, token_hash: &str) -> Result<Option<PayLink>, StoreError> {
    let mut tx = store.read().await?;
    let link = on!(&mut tx, c, DB, PG => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {LINK_COLUMNS} FROM pay_links l JOIN cases k ON k.id = l.case_id WHERE l.token_hash = $1"
        )))
        .bind(token_hash)
        .fetch_optional(&mut *c)
        .await
    })?;
    tx.commit().await?;
    Ok(link)
}

/// The links of a case, newest first.
pub async fn links_of_case(store: &Store, case: CaseId) -> Result<Vec<PayLink>, StoreError> {
    let mut tx = store.read().await?;
    let links = on!(&mut tx, c, DB, PG => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {LINK_COLUMNS} FROM pay_links l JOIN cases k ON k.id = l.case_id WHERE l.case_id = $1 ORDER BY l.id DESC"
        )))
        .bind(case.0)
        .fetch_all(&mut *c)
        .await
    })?;
    tx.commit().await?;
    Ok(links)
}

/// Revokes a link; NotFound when there is no live link with that id.
pub async fn revoke_link(store: &Store, id: i64) -> Result<(), StoreError> {
    let now = store.clock().now();
    let mut tx = store.write().await?;
    let n = on!(&mut tx, c, DB, PG => {
        sqlx::query("UPDATE pay_links SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
    })?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("live debtor link {id}")));
    }
    tx.commit().await
}

/// Stores a proof of payment and its `proof_uploaded` event for the link's case, in one
/// transaction. Returns the upload's id.
pub async fn upload_proof(
    store: &Store,
    link: &PayLink,
    upload: NewUpload,
    actor: &str,
) -> Result<i64, StoreError> {
    let now = store.clock().now();
    let mut tx = store.write().await?;
    let size = i64::try_from(upload.content.len()).unwrap_or(i64::MAX);
    let id: i64 = on!(&mut tx, c, DB, PG => {
        sqlx::query_scalar(
            "INSERT INTO pay_uploads (pay_link_id, case_id, content_type, file_name, size, sha256, content, uploaded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(link.id)
        .bind(link.case_id)
        .bind(upload.content_type)
        .bind(&upload.file_name)
        .bind(size)
        .bind(&upload.sha256)
        .bind(&upload.content)
        .bind(now)
        .fetch_one(&mut *c)
        .await
    })?;
    let note = format!(
        "proof of payment uploaded on the debtor page: {} ({}, {} bytes, upload {id})",
        upload.file_name, upload.content_type, size
    );
    store_event(
        &mut tx,
        None,
        Some(CaseId(link.case_id)),
        &Event::ProofUploaded { note },
        actor,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// The uploads of a case, newest first.
pub async fn uploads_of_case(store: &Store, case: CaseId) -> Result<Vec<UploadLine>, StoreError> {
    let mut tx = store.read().await?;
    let rows = on!(&mut tx, c, DB, PG => {
        sqlx::query_as(
            "SELECT id, content_type, file_name, size, sha256, uploaded_at FROM pay_uploads WHERE case_id = $1 ORDER BY id DESC",
        )
        .bind(case.0)
        .fetch_all(&mut *c)
        .await
    })?;
    tx.commit().await?;
    Ok(rows)
}

/// One upload's type, name and content, for download by staff.
pub async fn upload_content(
    store: &Store,
    id: i64,
) -> Result<Option<(String, String, Vec<u8>)>, StoreError> {
    let mut tx = store.read().await?;
    let row = on!(&mut tx, c, DB, PG => {
        sqlx::query_as("SELECT content_type, file_name, content FROM pay_uploads WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *c)
            .await
    })?;
    tx.commit().await?;
    Ok(row)
}
