//! Deliveries of inbound webhooks in the store: each delivery a source sends is recorded by
//! (source, delivery id) in the same transaction as what it books, so a replayed delivery is
//! recognised and refused, and a delivery that fails books nothing and is not recorded (the
//! sender may fix it and send it again under the same id). Signatures, the replay window and
//! the HTTP shapes belong to the web and connectors crates; this module only books.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::customers::{parse_customers, save_in};
use super::ledger::{CHANGED_ISSUED, book_in, prepare_all};
use super::{BookingOutcome, CustomerSaveOutcome, Rejection, Store, StoreError, Tx, on};
use crate::ledger::{Actor, CustomerInput, DocumentInput};

/// One delivery of a webhook, as its sender named it.
#[derive(Debug, Clone)]
pub struct InboundDelivery {
    /// The configured source (billing system) that signed it.
    pub source: String,
    /// The sender's id of this delivery (`X-Arrears-Delivery`).
    pub id: String,
    /// What it carries: `customers`, `invoices`, `credit-notes` or `payments`.
    pub resource: String,
    /// Items in the delivery.
    pub items: usize,
    /// SHA-256 of the body, hex, to tell a replay from an id used twice for different bodies.
    pub body_sha256: String,
}

/// A delivery recorded earlier.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InboundDeliveryRecord {
    pub source: String,
    pub delivery_id: String,
    pub resource: String,
    pub items: i64,
    pub body_sha256: String,
    pub received_at: DateTime<Utc>,
}

/// Why a delivery booked nothing.
#[derive(Debug, thiserror::Error)]
pub enum InboundError {
    /// The delivery id was received before: nothing is booked again.
    #[error(
        "delivery {:?} from {:?} was already received at {} ({}); a replay books nothing",
        .0.delivery_id, .0.source, .0.received_at.to_rfc3339(),
        if *.1 { "same body" } else { "with a different body: a new delivery needs a new id" }
    )]
    Replay(InboundDeliveryRecord, bool),
    /// Items name documents issued before with other content: a correction must come as a
    /// credit (or debit) note.
    #[error("{}", super::StoreError::Rejected(.0.clone()))]
    Changed(Vec<Rejection>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    source: String,
    delivery_id: String,
    resource: String,
    items: i64,
    body_sha256: String,
    received_at: DateTime<Utc>,
}

impl From<DeliveryRow> for InboundDeliveryRecord {
    fn from(r: DeliveryRow) -> Self {
        InboundDeliveryRecord {
            source: r.source,
            delivery_id: r.delivery_id,
            resource: r.resource,
            items: r.items,
            body_sha256: r.body_sha256,
            received_at: r.received_at,
        }
    }
}

impl Store {
    /// Books the documents of one delivery, all or none, and records the delivery in the same
    /// transaction. A document sent before with the same content is reported unchanged.
    pub async fn receive_documents(
        &self,
        delivery: &InboundDelivery,
        inputs: &[DocumentInput],
        actor: &Actor,
    ) -> Result<BookingOutcome, InboundError> {
        let prepared = prepare_all(inputs)?;
        let now = self.clock.now();
        let mut tx = self.write().await?;
        refuse_replay(&mut tx, delivery).await?;
        let outcome = match book_in(&mut tx, &prepared, actor, now).await {
            Ok(o) => o,
            Err(StoreError::Rejected(r))
                if !r.is_empty() && r.iter().all(|x| x.error.message.contains(CHANGED_ISSUED)) =>
            {
                return Err(InboundError::Changed(r));
            }
            Err(e) => return Err(e.into()),
        };
        record(&mut tx, delivery, now).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Creates or updates the customers of one delivery by external id, all or none, and
    /// records the delivery in the same transaction.
    pub async fn receive_customers(
        &self,
        delivery: &InboundDelivery,
        inputs: &[CustomerInput],
    ) -> Result<CustomerSaveOutcome, InboundError> {
        let parsed = parse_customers(inputs)?;
        let now = self.clock.now();
        let mut tx = self.write().await?;
        refuse_replay(&mut tx, delivery).await?;
        let outcome = save_in(&mut tx, &parsed, now).await?;
        record(&mut tx, delivery, now).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// The deliveries received from a source, newest first.
    pub async fn inbound_deliveries(
        &self,
        source: Option<&str>,
        limit: u32,
    ) -> Result<Vec<InboundDeliveryRecord>, StoreError> {
        let mut tx = self.read().await?;
        let rows: Vec<DeliveryRow> = on!(&mut tx, c, DB, PG => {
            sqlx::query_as(
                "SELECT source, delivery_id, resource, items, body_sha256, received_at \
                 FROM inbound_deliveries WHERE ($1 IS NULL OR source = $1) \
                 ORDER BY received_at DESC, delivery_id LIMIT $2",
            )
            .bind(source)
            .bind(i64::from(limit))
            .fetch_all(&mut *c)
            .await
        })?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}

async fn refuse_replay(tx: &mut Tx, d: &InboundDelivery) -> Result<(), InboundError> {
    let row: Option<DeliveryRow> = on!(&mut *tx, c, DB, PG => {
        sqlx::query_as(
            "SELECT source, delivery_id, resource, items, body_sha256, received_at \
             FROM inbound_deliveries WHERE source = $1 AND delivery_id = $2",
        )
        .bind(&d.source)
        .bind(&d.id)
        .fetch_optional(&mut *c)
        .await
    })
    .map_err(StoreError::from)?;
    match row {
        Some(r) => {
            let same = r.body_sha256 == d.body_sha256;
            Err(InboundError::Replay(r.into(), same))
        }
        None => Ok(()),
    }
}

async fn record(tx: &mut Tx, d: &InboundDelivery, now: DateTime<Utc>) -> Result<(), StoreError> {
    let items = i64::try_from(d.items).unwrap_or(i64::MAX);
    on!(&mut *tx, c, DB, PG => {
        sqlx::query(
            "INSERT INTO inbound_deliveries (source, delivery_id, resource, items, body_sha256, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&d.source)
        .bind(&d.id)
        .bind(&d.resource)
        .bind(items)
        .bind(&d.body_sha256)
        .bind(now)
        .execute(&mut *c)
        .await
        .map(|_| ())
    })?;
    Ok(())
}
