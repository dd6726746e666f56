//! Per-case secret links to the debtor page, and what debtors send through them.
//!
//! A link's token is shown once, when the link is made, and stored only as its SHA-256
//! hash: a copy of the database opens no debtor page. A link works until it expires (by the
//! injected clock), is revoked, or its case closes; every one of those refusals, and an
//! unknown token, is the same `None`, so a caller cannot tell which links exist. Each link
//! also carries a random form nonce that the page's forms must send back (CSRF).
//!
//! What a debtor sends becomes a case event, stored first and applied by the runtime like
//! any other: an upload is a `ProofUploaded` (a verification task for the collectors) stored
//! in the same transaction as the file, a promise a `PromiseToPay`. This module does not
//! decide what a good upload or promise is; the debtor page checks input at the edge.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sha2::Digest;

use crate::correspondence::render::{BalanceView, OpenItemView};
use crate::ids::{CaseId, CustomerId, PayLinkId, UploadId};
use crate::runtime::Event;
use crate::runtime::events::store_event;
use crate::runtime::registry::hex;

use super::{Store, StoreError, Tx, on};

/// The SHA-256 (lower-case hex) under which a token is stored.
pub fn token_hash(token: &str) -> String {
    hex(&sha2::Sha256::digest(token.as_bytes()))
}

fn random_hex<const N: usize>() -> String {
    hex(&rand::random::<[u8; N]>())
}

/// A link as collectors see it (never its token).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PayLink {
    pub id: PayLinkId,
    pub case_id: CaseId,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// `active`, `expired` or `revoked`, by the clock when read.
    pub status: String,
}

/// A link just made, with its token: the only time the token exists outside the debtor's
/// hands.
#[derive(Debug, Clone)]
pub struct NewPayLink {
    pub link: PayLink,
    pub token: String,
}

/// A link that opened: what the debtor page may act on.
#[derive(Debug, Clone)]
pub struct DebtorLink {
    pub id: PayLinkId,
    pub case_id: CaseId,
    pub customer_id: CustomerId,
    /// The value the page's forms must send back.
    pub form_nonce: String,
}

/// Everything the debtor page shows: who is asked, what is open, what it adds up to.
#[derive(Debug, Clone)]
pub struct DebtorStatement {
    pub customer_name: String,
    pub language: String,
    pub balance: BalanceView,
    pub open_items: Vec<OpenItemView>,
    pub today: NaiveDate,
}

/// A proof of payment whose type the caller decided from its content.
#[derive(Debug, Clone)]
pub struct ProofFile {
    pub file_name: String,
    pub content_type: &'static str,
    pub content: Vec<u8>,
}

/// An upload as collectors see it (the content comes separately).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Upload {
    pub id: UploadId,
    pub case_id: CaseId,
    pub pay_link_id: PayLinkId,
    pub file_name: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub uploaded_at: DateTime<Utc>,
}

type LinkRow = (
    i64,
    i64,
    String,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

fn link_of(r: LinkRow, now: DateTime<Utc>) -> PayLink {
    let status = if r.5.is_some() {
        "revoked"
    } else if r.4 <= now {
        "expired"
    } else {
        "active"
    };
    PayLink {
        id: PayLinkId(r.0),
        case_id: CaseId(r.1),
        created_by: r.2,
        created_at: r.3,
        expires_at: r.4,
        revoked_at: r.5,
        status: status.into(),
    }
}

const LINK_COLUMNS: &str = "id, case_id, created_by, created_at, expires_at, revoked_at";

type UploadRow = (i64, i64, i64, String, String, i64, String, DateTime<Utc>);

fn upload_of(r: UploadRow) -> Upload {
    Upload {
        id: UploadId(r.0),
        case_id: CaseId(r.1),
        pay_link_id: PayLinkId(r.2),
        file_name: r.3,
        content_type: r.4,
        size: r.5,
        sha256: r.6,
        uploaded_at: r.7,
    }
}

type UploadContentRow = (
    i64,
    i64,
    i64,
    String,
    String,
    i64,
    String,
    DateTime<Utc>,
    Vec<u8>,
);

/// A link by its token's hash: id, case, expiry, revocation, form nonce, and its case's
/// customer and status.
type ResolvedRow = (
    i64,
    i64,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<String>,
    i64,
    String,
);

const UPLOAD_COLUMNS: &str =
    "id, case_id, pay_link_id, file_name, content_type, size, sha256, uploaded_at";

/// Stores a link by its token's hash, with a fresh form nonce; used by `Store` and by the
/// correspondence that puts a case's link into its letters.
pub(crate) async fn insert_link_in(
    tx: &mut Tx,
    case: CaseId,
    hash: &str,
    created_by: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<PayLinkId, StoreError> {
    let nonce = random_hex::<16>();
    let id: i64 = on!(tx, c, DB, PG => {
        sqlx::query_scalar(
            "INSERT INTO pay_links (case_id, token_hash, created_by, created_at, expires_at, form_nonce) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(case.0)
        .bind(hash)
        .bind(created_by)
        .bind(now)
        .bind(expires_at)
        .bind(&nonce)
        .fetch_one(&mut *c)
        .await
    })?;
    Ok(PayLinkId(id))
}

async fn case_status(tx: &mut Tx, case: CaseId) -> Result<Option<(i64, String)>, StoreError> {
    Ok(on!(tx, c, DB, PG => {
        sqlx::query_as("SELECT customer_id, status FROM cases WHERE id = $1")
            .bind(case.0)
            .fetch_optional(&mut *c)
            .await
    })?)
}

impl Store {
    /// A new link to the debtor page of an open case, valid for `valid_for`.
    pub async fn create_pay_link(
        &self,
        case: CaseId,
        valid_for: Duration,
        created_by: &str,
    ) -> Result<NewPayLink, StoreError> {
        let now = self.clock().now();
        let mut tx = self.write().await?;
        match case_status(&mut tx, case).await? {
            None => return Err(StoreError::NotFound(format!("case {case}"))),
            Some((_, s)) if s == "closed" => {
                return Err(StoreError::Conflict(format!(
                    "case {case} is closed: its debtor has nothing to pay"
                )));
            }
            Some(_) => {}
        }
        let token = random_hex::<24>();
        let expires_at = now + valid_for;
        let id = insert_link_in(
            &mut tx,
            case,
            &token_hash(&token),
            created_by,
            now,
            expires_at,
        )
        .await?;
        tx.commit().await?;
        tracing::info!(case = case.0, link = id.0, %created_by, "debtor link created");
        Ok(NewPayLink {
            link: PayLink {
                id,
                case_id: case,
                created_by: created_by.into(),
                created_at: now,
                expires_at,
                revoked_at: None,
                status: "active".into(),
            },
            token,
        })
    }

    /// A case's links, newest first.
    pub async fn pay_links(&self, case: CaseId) -> Result<Vec<PayLink>, StoreError> {
        let now = self.clock().now();
        let mut tx = self.read().await?;
        if case_status(&mut tx, case).await?.is_none() {
            return Err(StoreError::NotFound(format!("case {case}")));
        }
        let rows: Vec<LinkRow> = on!(&mut tx, c, DB, PG => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {LINK_COLUMNS} FROM pay_links WHERE case_id = $1 ORDER BY id DESC"
            )))
            .bind(case.0)
            .fetch_all(&mut *c)
            .await
        })?;
        tx.commit().await?;
        Ok(rows.into_iter().map(|r| link_of(r, now)).collect())
    }

    /// Revokes a link at once; revoking a revoked link changes nothing.
    pub async fn revoke_pay_link(&self, id: PayLinkId, by: &str) -> Result<PayLink, StoreError> {
        let now = self.clock().now();
        let mut tx = self.write().await?;
        on!(&mut tx, c, DB, PG => {
            sqlx::query("UPDATE pay_links SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id.0)
                .bind(now)
                .execute(&mut *c)
                .await
                .map(|_| ())
        })?;
        let row: Option<LinkRow> = on!(&mut tx, c, DB, PG => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {LINK_COLUMNS} FROM pay_links WHERE id = $1"
            )))
            .bind(id.0)
            .fetch_optional(&mut *c)
            .await
        })?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Err(StoreError::NotFound(format!("debtor link {id}")));
        };
        tx.commit().await?;
        tracing::info!(link = id.0, %by, "debtor link revoked");
        Ok(link_of(row, now))
    }

    /// The link a token opens; `None` for an unknown, expired or revoked token and for a
    /// closed case alike.
    pub async fn resolve_pay_link(&self, token: &str) -> Result<Option<DebtorLink>, StoreError> {
        let now = self.clock().now();
        let mut tx = self.read().await?;
        let row: Option<ResolvedRow> = on!(&mut tx, c, DB, PG => {
            sqlx::query_as(
                "SELECT l.id, l.case_id, l.expires_at, l.revoked_at, l.form_nonce, c.customer_id, c.status \
                 FROM pay_links l JOIN cases c ON c.id = l.case_id WHERE l.token_hash = $1",
            )
            .bind(token_hash(token))
            .fetch_optional(&mut *c)
            .await
        })?;
        tx.commit().await?;
        Ok(
            row.and_then(|(id, case, expires, revoked, nonce, customer, status)| {
                let nonce = nonce.filter(|n| !n.is_empty())?;
                (expires > now && revoked.is_none() && status != "closed").then_some(DebtorLink {
                    id: PayLinkId(id),
                    case_id: CaseId(case),
                    customer_id: CustomerId(customer),
                    form_nonce: nonce,
                })
            }),
        )
    }

    /// The customer's name and language, balance and open items as of the clock's today.
    pub async fn debtor_statement(&self, link: &DebtorLink) -> Result<DebtorStatement, StoreError> {
        self.customer_statement(link.customer_id).await
    }

    /// A customer's name and language, balance and open items as of the clock's today.
    pub async fn customer_statement(
        &self,
        customer: CustomerId,
    ) -> Result<DebtorStatement, StoreError> {
        let today = self.clock().today();
        let mut tx = self.read().await?;
        let facts = crate::runtime::case::ledger_facts(&mut tx, customer, today).await?;
        tx.commit().await?;
        let (balance, open_items) = crate::correspondence::documents::statement(&facts, today);
        Ok(DebtorStatement {
            customer_name: facts.customer.name,
            language: facts.customer.language,
            balance,
            open_items,
            today,
        })
    }

    /// Stores a proof of payment and its `ProofUploaded` event in one transaction; the
    /// runtime applies the event (a verification task) after.
    pub async fn record_proof(
        &self,
        link: &DebtorLink,
        file: &ProofFile,
    ) -> Result<UploadId, StoreError> {
        let now = self.clock().now();
        let sha = hex(&sha2::Sha256::digest(&file.content));
        let size = i64::try_from(file.content.len()).unwrap_or(i64::MAX);
        let mut tx = self.write().await?;
        let id: i64 = on!(&mut tx, c, DB, PG => {
            sqlx::query_scalar(
                "INSERT INTO pay_uploads (pay_link_id, case_id, content_type, file_name, size, sha256, content, uploaded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            )
            .bind(link.id.0)
            .bind(link.case_id.0)
            .bind(file.content_type)
            .bind(&file.file_name)
            .bind(size)
            .bind(&sha)
            .bind(&file.content)
            .bind(now)
            .fetch_one(&mut *c)
            .await
        })?;
        let note = format!(
            "upload {id}: {} ({}, {size} bytes) through the debtor page",
            file.file_name, file.content_type
        );
        store_event(
            &mut tx,
            None,
            Some(link.case_id),
            &Event::ProofUploaded { note },
            "debtor",
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(UploadId(id))
    }

    /// Stores the debtor's promise to pay as the case's `PromiseToPay` event.
    pub async fn record_promise(
        &self,
        link: &DebtorLink,
        date: NaiveDate,
        amount: Decimal,
    ) -> Result<i64, StoreError> {
        let now = self.clock().now();
        let mut tx = self.write().await?;
        let id = store_event(
            &mut tx,
            None,
            Some(link.case_id),
            &Event::PromiseToPay { date, amount },
            "debtor",
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// What debtors uploaded for a case, newest first.
    pub async fn pay_uploads(&self, case: CaseId) -> Result<Vec<Upload>, StoreError> {
        let mut tx = self.read().await?;
        if case_status(&mut tx, case).await?.is_none() {
            return Err(StoreError::NotFound(format!("case {case}")));
        }
        let rows: Vec<UploadRow> = on!(&mut tx, c, DB, PG => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {UPLOAD_COLUMNS} FROM pay_uploads WHERE case_id = $1 ORDER BY id DESC"
            )))
            .bind(case.0)
            .fetch_all(&mut *c)
            .await
        })?;
        tx.commit().await?;
        Ok(rows.into_iter().map(upload_of).collect())
    }

    /// One upload with its content.
    pub async fn pay_upload(&self, id: UploadId) -> Result<(Upload, Vec<u8>), StoreError> {
        let mut tx = self.read().await?;
        let row: Option<(UploadRow, Vec<u8>)> = on!(&mut tx, c, DB, PG => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {UPLOAD_COLUMNS}, content FROM pay_uploads WHERE id = $1"
            )))
            .bind(id.0)
            .fetch_optional(&mut *c)
            .await
            .map(|r: Option<UploadContentRow>| {
                r.map(|r| ((r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7), r.8))
            })
        })?;
        tx.commit().await?;
        let r = row.ok_or_else(|| StoreError::NotFound(format!("upload {id}")))?;
        Ok((upload_of(r.0), r.1))
    }
}
