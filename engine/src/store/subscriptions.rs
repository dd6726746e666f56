//! Outbound webhook subscriptions in the store: who wants which case events at which URL,
//! and the relay that turns new case history into outbox messages for them. The outbox's
//! dispatcher sends them (retries with backoff, dead letter after its limit), so its rows are
//! the delivery log; the HTTP channel that signs and POSTs lives in the connectors crate.
//! Subscription messages carry no case id in the outbox, so their own delivery results never
//! become case history (which would be relayed again).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Rejection, Store, StoreError, on};

/// The outbox channel of subscription messages.
pub const CHANNEL: &str = "subscription";

/// Case history kinds a subscription can ask for, as `case.<kind>`.
pub const EVENTS: &[&str] = &[
    "started",
    "closed",
    "queued",
    "delivered",
    "not_sent",
    "payment",
    "promise",
    "dispute",
    "proof_uploaded",
    "paused",
    "waiting",
    "goto",
    "call",
    "task_created",
    "task_completed",
    "task_escalated",
    "handed_over",
    "fee_charged",
    "interest_note_issued",
    "migrated",
    "delivery_failed",
    "dead_letter",
    "error",
];

/// History rows relayed per subscription and round.
const RELAY_BATCH: i64 = 1000;

/// A new subscription.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionInput {
    /// Where events are POSTed (http or https).
    pub url: String,
    /// Event types: `case.started`, `case.closed`, `case.delivered`, ... or `case.*`.
    pub events: Vec<String>,
    /// The HMAC-SHA256 key of `X-Arrears-Signature` (at least 16 characters); never shown again.
    pub secret: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Subscription {
    pub id: i64,
    pub url: String,
    pub events: Vec<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// Where and with which key a subscription's messages go (for the channel only).
#[derive(Clone)]
pub struct SubscriptionTarget {
    pub url: String,
    pub secret: String,
    pub active: bool,
}

impl std::fmt::Debug for SubscriptionTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SubscriptionTarget({}, secret ***)", self.url)
    }
}

/// One event sent (or being sent) to a subscription: an outbox row.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct SubscriptionDelivery {
    /// The outbox message.
    pub id: i64,
    /// Sent as `X-Arrears-Delivery` and `Idempotency-Key`.
    pub idempotency_key: String,
    /// `pending`, `sent`, `dead` (gave up after the last attempt) or `cancelled`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    /// What the receiver answered (JSON).
    pub receipt: Option<String>,
    /// The event as sent (JSON).
    pub payload: String,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct SubRow {
    id: i64,
    url: String,
    events: String,
    secret: String,
    active: bool,
    last_history_id: i64,
    created_at: DateTime<Utc>,
    created_by: String,
}

impl SubRow {
    fn public(&self) -> Subscription {
        Subscription {
            id: self.id,
            url: self.url.clone(),
            events: self.event_list(),
            active: self.active,
            created_at: self.created_at,
            created_by: self.created_by.clone(),
        }
    }

    fn event_list(&self) -> Vec<String> {
        self.events
            .split(',')
            .filter(|e| !e.is_empty())
            .map(str::to_string)
            .collect()
    }

    fn wants(&self, kind: &str) -> bool {
        self.event_list()
            .iter()
            .any(|e| e == "case.*" || e.strip_prefix("case.") == Some(kind))
    }
}

#[derive(sqlx::FromRow)]
struct HistoryRow {
    id: i64,
    case_id: i64,
    at: DateTime<Utc>,
    actor: String,
    kind: String,
    step: Option<String>,
    message: String,
    detail: String,
}

const SUB_COLUMNS: &str =
    "id, url, events, secret, active, last_history_id, created_at, created_by";

fn check(input: &SubscriptionInput) -> Result<(), StoreError> {
    let mut r = Vec::new();
    let url = input.url.trim();
    if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 10 {
        r.push(Rejection::new(
            0,
            "url",
            "expected an http:// or https:// URL",
        ));
    }
    if input.secret.trim().len() < 16 {
        r.push(Rejection::new(0, "secret", "at least 16 characters"));
    }
    if input.events.is_empty() {
        r.push(Rejection::new(
            0,
            "events",
            "name at least one event, e.g. case.closed, or case.* for all",
        ));
    }
    for (i, e) in input.events.iter().enumerate() {
        let known = e == "case.*" || e.strip_prefix("case.").is_some_and(|k| EVENTS.contains(&k));
        if !known {
            let mut rej = Rejection::new(
                0,
                "events",
                format!(
                    "unknown event {e:?}; expected case.* or one of {}",
                    EVENTS
                        .iter()
                        .map(|k| format!("case.{k}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            rej.error.path.push(crate::ledger::PathSegment::Index(i));
            r.push(rej);
        }
    }
    if r.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Rejected(r))
    }
}

impl Store {
    /// Creates a subscription; it receives the events recorded from now on.
    pub async fn create_subscription(
        &self,
        input: &SubscriptionInput,
        actor: &str,
    ) -> Result<Subscription, StoreError> {
        check(input)?;
        let now = self.clock.now();
        let mut tx = self.write().await?;
        let row: SubRow = on!(&mut tx, c, DB, PG => {
            let sql = format!(
                "INSERT INTO webhook_subscriptions (url, events, secret, active, last_history_id, created_at, created_by) \
                 VALUES ($1, $2, $3, TRUE, (SELECT COALESCE(MAX(id), 0) FROM case_history), $4, $5) RETURNING {SUB_COLUMNS}"
            );
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(input.url.trim())
                .bind(input.events.join(","))
                .bind(input.secret.trim())
                .bind(now)
                .bind(actor)
                .fetch_one(&mut *c)
                .await
        })?;
        tx.commit().await?;
        Ok(row.public())
    }

    pub async fn subscriptions(&self) -> Result<Vec<Subscription>, StoreError> {
        let mut tx = self.read().await?;
        let rows: Vec<SubRow> = on!(&mut tx, c, DB, PG => {
            let sql = format!("SELECT {SUB_COLUMNS} FROM webhook_subscriptions ORDER BY id");
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(&mut *c).await
        })?;
        tx.commit().await?;
        Ok(rows.iter().map(SubRow::public).collect())
    }

    async fn subscription_row(&self, id: i64) -> Result<SubRow, StoreError> {
        let mut tx = self.read().await?;
        let row: Option<SubRow> = on!(&mut tx, c, DB, PG => {
            let sql = format!("SELECT {SUB_COLUMNS} FROM webhook_subscriptions WHERE id = $1");
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&mut *c).await
        })?;
        tx.commit().await?;
        row.ok_or_else(|| StoreError::NotFound(format!("webhook subscription {id}")))
    }

    pub async fn subscription(&self, id: i64) -> Result<Subscription, StoreError> {
        Ok(self.subscription_row(id).await?.public())
    }

    /// The URL and key of a subscription, for the channel that sends its messages.
    pub async fn subscription_target(&self, id: i64) -> Result<SubscriptionTarget, StoreError> {
        let row = self.subscription_row(id).await?;
        Ok(SubscriptionTarget {
            url: row.url,
            secret: row.secret,
            active: row.active,
        })
    }

    /// Ends a subscription: no new events, and its messages not yet sent are cancelled. The
    /// row and its delivery log stay.
    pub async fn deactivate_subscription(&self, id: i64) -> Result<Subscription, StoreError> {
        self.subscription_row(id).await?;
        let mut tx = self.write().await?;
        on!(&mut tx, c, DB, PG => {
            sqlx::query("UPDATE webhook_subscriptions SET active = FALSE WHERE id = $1")
                .bind(id)
                .execute(&mut *c)
                .await?;
            sqlx::query(
                "UPDATE outbox SET status = 'cancelled' WHERE channel = $1 AND recipient = $2 AND status = 'pending'",
            )
            .bind(CHANNEL)
            .bind(id.to_string())
            .execute(&mut *c)
            .await
            .map(|_| ())
        })?;
        tx.commit().await?;
        self.subscription(id).await
    }

    /// A subscription's deliveries, newest first.
    pub async fn subscription_deliveries(
        &self,
        id: i64,
        limit: u32,
    ) -> Result<Vec<SubscriptionDelivery>, StoreError> {
        self.subscription_row(id).await?;
        let mut tx = self.read().await?;
        let rows: Vec<SubscriptionDelivery> = on!(&mut tx, c, DB, PG => {
            sqlx::query_as(
                "SELECT id, idempotency_key, status, attempts, next_attempt_at, last_error, sent_at, receipt, payload, created_at \
                 FROM outbox WHERE channel = $1 AND recipient = $2 ORDER BY id DESC LIMIT $3",
            )
            .bind(CHANNEL)
            .bind(id.to_string())
            .bind(i64::from(limit))
            .fetch_all(&mut *c)
            .await
        })?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Puts the case history recorded since each active subscription last looked into the
    /// outbox as that subscription's messages, in one transaction. Returns how many.
    pub async fn relay_subscription_events(&self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let mut tx = self.write().await?;
        let subs: Vec<SubRow> = on!(&mut tx, c, DB, PG => {
            let sql = format!("SELECT {SUB_COLUMNS} FROM webhook_subscriptions WHERE active ORDER BY id");
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(&mut *c).await
        })?;
        let mut queued = 0;
        for sub in &subs {
            let rows: Vec<HistoryRow> = on!(&mut tx, c, DB, PG => {
                sqlx::query_as(
                    "SELECT id, case_id, at, actor, kind, step, message, detail FROM case_history \
                     WHERE id > $1 ORDER BY id LIMIT $2",
                )
                .bind(sub.last_history_id)
                .bind(RELAY_BATCH)
                .fetch_all(&mut *c)
                .await
            })?;
            let Some(last) = rows.last().map(|r| r.id) else {
                continue;
            };
            for h in rows.iter().filter(|h| sub.wants(&h.kind)) {
                let detail: serde_json::Value =
                    serde_json::from_str(&h.detail).unwrap_or(serde_json::Value::Null);
                let key = format!("subscription/{}/history/{}", sub.id, h.id);
                let payload = serde_json::json!({
                    "id": key,
                    "event": format!("case.{}", h.kind),
                    "case_id": h.case_id,
                    "at": h.at,
                    "actor": h.actor,
                    "step": h.step,
                    "message": h.message,
                    "detail": detail,
                });
                on!(&mut tx, c, DB, PG => {
                    sqlx::query(
                        "INSERT INTO outbox (case_id, idempotency_key, channel, recipient, payload, status, next_attempt_at, created_at) \
                         VALUES (NULL, $1, $2, $3, $4, 'pending', $5, $5) ON CONFLICT (idempotency_key) DO NOTHING",
                    )
                    .bind(&key)
                    .bind(CHANNEL)
                    .bind(sub.id.to_string())
                    .bind(payload.to_string())
                    .bind(now)
                    .execute(&mut *c)
                    .await
                    .map(|_| ())
                })?;
                queued += 1;
            }
            on!(&mut tx, c, DB, PG => {
                sqlx::query("UPDATE webhook_subscriptions SET last_history_id = $1 WHERE id = $2")
                    .bind(last)
                    .bind(sub.id)
                    .execute(&mut *c)
                    .await
                    .map(|_| ())
            })?;
        }
        tx.commit().await?;
        Ok(queued)
    }
}
