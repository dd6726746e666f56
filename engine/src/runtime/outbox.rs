//! The outbox: messages written in the transaction that decided them and sent after commit
//! by a dispatcher, with an idempotency key, retries with backoff and a dead-letter state.
//! The delivery result goes into the case history. Channels plug in through `Deliver`.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crate::ids::CaseId;
use crate::store::webhooks::{AttemptRecord, record_attempts, subscription_of};
use crate::store::{Store, StoreError, Tx, on};

use super::case::{CaseRow, history};

/// Deliveries a dispatcher runs at once.
const IN_FLIGHT: usize = 16;

/// The channel of outbound webhooks (subscriptions' and `call` steps'): its attempts go into
/// the delivery log.
pub const WEBHOOK_CHANNEL: &str = "webhook";

/// Attempts before a message is dead-lettered.
pub const MAX_ATTEMPTS: i64 = 8;

/// The same decision always makes the same key: scenario, customer, case start, step,
/// visit of the step, channel. Two runs of the same portfolio produce the same keys, and a
/// retry of a crashed send reuses its key.
pub fn key(case: &CaseRow, customer_external_id: &str, channel: &str) -> String {
    format!(
        "{}/{}/{}/{}/{}#{}/{}",
        case.scenario_id,
        customer_external_id,
        case.subject,
        case.opened_at.format("%Y%m%d"),
        case.step,
        case.visit,
        channel
    )
}

#[allow(clippy::too_many_arguments)]
pub async fn enqueue(
    tx: &mut Tx,
    case: &CaseRow,
    key: &str,
    channel: &str,
    template: Option<&str>,
    language: Option<&str>,
    recipient: Option<&str>,
    payload: serde_json::Value,
    now: DateTime<Utc>,
    held: bool,
) -> Result<(), StoreError> {
    let status = if held { "held" } else { "pending" };
    if let Some(b) = tx.buffer() {
        b.outbox.push(crate::store::OutboxInsert {
            case_id: case.id,
            key: key.to_string(),
            channel: channel.to_string(),
            template: template.map(str::to_string),
            language: language.map(str::to_string),
            recipient: recipient.map(str::to_string),
            payload: payload.to_string(),
            status,
            at: now,
        });
        return Ok(());
    }
    on!(tx, c, DB, PG => {
        sqlx::query(
            "INSERT INTO outbox (case_id, idempotency_key, channel, template, language, recipient, payload, status, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $9, $8, $8) ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(case.id)
        .bind(key)
        .bind(channel)
        .bind(template)
        .bind(language)
        .bind(recipient)
        .bind(payload.to_string())
        .bind(now)
        .bind(status)
        .execute(&mut *c)
        .await.map(|_| ())
    })?;
    Ok(())
}

/// Withdraws a closed case's messages that have not gone out, and cancels their documents.
/// Messages decided in the same transaction (a letter sent by the step just before a `close` step) are not withdrawn:
/// they are part of the decision that closed the case.
pub async fn withdraw(tx: &mut Tx, case_id: i64) -> Result<(), StoreError> {
    if tx.buffer().is_some_and(|b| !b.may_have_outbox(case_id)) {
        return Ok(());
    }
    on!(tx, c, DB, PG => {
        sqlx::query("UPDATE outbox SET status = 'cancelled' WHERE case_id = $1 AND status IN ('pending', 'held')")
            .bind(case_id)
            .execute(&mut *c)
            .await.map(|_| ())
    })?;
    crate::correspondence::documents::cancel_unsent(tx, case_id).await
}

/// One message handed to a channel.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Message {
    pub id: i64,
    pub case_id: Option<i64>,
    pub idempotency_key: String,
    pub channel: String,
    pub template: Option<String>,
    pub language: Option<String>,
    pub recipient: Option<String>,
    pub payload: String,
    pub attempts: i64,
    /// The rendered document (text, PDF) of a templated message.
    #[sqlx(skip)]
    #[serde(skip)]
    pub document: Option<Arc<crate::correspondence::Attached>>,
}

/// Why a delivery failed. A transient failure is retried with backoff; a permanent one (a
/// mailbox that does not exist, a number the gateway refuses) bounces the message at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct DeliveryError {
    pub reason: String,
    pub permanent: bool,
}

impl DeliveryError {
    pub fn permanent(reason: impl Into<String>) -> DeliveryError {
        DeliveryError {
            reason: reason.into(),
            permanent: true,
        }
    }
}

impl From<String> for DeliveryError {
    fn from(reason: String) -> DeliveryError {
        DeliveryError {
            reason,
            permanent: false,
        }
    }
}

pub type DeliveryFuture<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<serde_json::Value, DeliveryError>> + Send + 'a>,
>;

/// What one attempt at a delivery came to: the channel's receipt or reason, and the HTTP
/// status the receiver answered with, where there is one (for the webhook delivery log).
#[derive(Debug, Clone)]
pub struct Attempt {
    pub result: Result<serde_json::Value, DeliveryError>,
    pub status_code: Option<u16>,
}

pub type AttemptFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Attempt> + Send + 'a>>;

/// A delivery channel. `Ok` carries a receipt (its `id`, when there is one, is kept as the
/// document's provider id for delivery reports); `Err` a reason, retried with backoff unless
/// permanent. Channels must accept the idempotency key, so a resend after a crash is
/// recognised.
pub trait Deliver: Send + Sync {
    fn deliver<'a>(&'a self, msg: &'a Message) -> DeliveryFuture<'a>;

    /// `deliver`, with the receiver's HTTP status where the channel knows it.
    fn attempt<'a>(&'a self, msg: &'a Message) -> AttemptFuture<'a> {
        Box::pin(async move {
            Attempt {
                result: self.deliver(msg).await,
                status_code: None,
            }
        })
    }
}

/// Writes the message to the log and reports it delivered: the default channel, and the
/// one simulations use.
#[derive(Debug, Default)]
pub struct LogChannel;

impl Deliver for LogChannel {
    fn deliver<'a>(&'a self, msg: &'a Message) -> DeliveryFuture<'a> {
        Box::pin(async move {
            tracing::info!(
                key = %msg.idempotency_key,
                channel = %msg.channel,
                recipient = msg.recipient.as_deref().unwrap_or("-"),
                template = msg.template.as_deref().unwrap_or("-"),
                "message delivered to the log channel"
            );
            Ok(json!({ "channel": "log" }))
        })
    }
}

/// The channels by name; a channel without its own entry uses the fallback.
#[derive(Clone)]
pub struct Channels {
    by_name: HashMap<String, Arc<dyn Deliver>>,
    fallback: Arc<dyn Deliver>,
}

impl Default for Channels {
    fn default() -> Self {
        Channels {
            by_name: HashMap::new(),
            fallback: Arc::new(LogChannel),
        }
    }
}

impl Channels {
    pub fn with(mut self, name: &str, channel: Arc<dyn Deliver>) -> Channels {
        self.by_name.insert(name.to_string(), channel);
        self
    }

    fn get(&self, name: &str) -> &Arc<dyn Deliver> {
        self.by_name.get(name).unwrap_or(&self.fallback)
    }
}

#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct DispatchReport {
    pub sent: usize,
    pub retried: usize,
    pub dead: usize,
}

/// Backoff after `n` attempts, before attempt `n + 1`: 2, 4, 8 ... minutes after attempts 1,
/// 2, 3, at most 4 hours.
pub fn backoff(attempts: i64) -> Duration {
    Duration::minutes(1i64 << attempts.clamp(0, 8)).min(Duration::hours(4))
}

/// Claims due messages, sends them outside any transaction, records the result.
pub async fn dispatch(
    store: &Store,
    channels: &Channels,
    worker: &str,
    batch: i64,
    wall_now: DateTime<Utc>,
    lease: Duration,
    documents: bool,
) -> Result<DispatchReport, StoreError> {
    let now = store.clock().now();
    // With correspondence on, a templated message goes out only with its document.
    let ready = if documents {
        " AND (template IS NULL OR EXISTS (SELECT 1 FROM correspondence d WHERE d.outbox_id = outbox.id))"
    } else {
        ""
    };
    let mut tx = store.write().await?;
    let claimed: Vec<Message> = on!(&mut tx, c, DB, PG => {
        let lock = if PG { " FOR UPDATE SKIP LOCKED" } else { "" };
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE outbox SET lease_owner = $1, lease_until = $2 WHERE id IN (                SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $3                AND (lease_until IS NULL OR lease_until < $5){ready} ORDER BY next_attempt_at, id LIMIT $4{lock})              RETURNING id, case_id, idempotency_key, channel, template, language, recipient, payload, attempts"
        )))
        .bind(worker)
        .bind(wall_now + lease)
        .bind(now)
        .bind(batch)
        .bind(wall_now)
        .fetch_all(&mut *c)
        .await
    })?;
    let mut claimed = claimed;
    if documents && !claimed.is_empty() {
        let ids: Vec<i64> = claimed.iter().map(|m| m.id).collect();
        let docs = crate::correspondence::documents::attached(&mut tx, &ids).await?;
        for m in &mut claimed {
            m.document = docs.get(&m.id).cloned();
        }
    }
    tx.commit().await?;
    // Deliveries run outside any transaction, a few at a time; their results are recorded
    // together in one transaction.
    use futures_util::StreamExt;
    let results: Vec<(Message, Attempt, i64)> = futures_util::stream::iter(claimed)
        .map(|msg| async move {
            // How long the attempt took is wall time, for the delivery log only.
            let started = std::time::Instant::now();
            let a = channels.get(&msg.channel).attempt(&msg).await;
            let ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
            (msg, a, ms)
        })
        .buffered(IN_FLIGHT)
        .collect()
        .await;
    let mut report = DispatchReport::default();
    if results.is_empty() {
        return Ok(report);
    }
    let now = store.clock().now();
    let mut tx = store.write().await?;
    tx.start_buffering();
    let mut sent: Vec<(i64, String)> = Vec::new();
    let mut log: Vec<AttemptRecord> = Vec::new();
    let mut sent_docs: Vec<(i64, Option<String>)> = Vec::new();
    for (msg, attempt, duration_ms) in results {
        let case = msg.case_id.map(CaseId);
        if msg.channel == WEBHOOK_CHANNEL {
            let n = msg.attempts + 1;
            let dead = attempt
                .result
                .as_ref()
                .is_err_and(|e| e.permanent || n >= MAX_ATTEMPTS);
            log.push(AttemptRecord {
                outbox_id: msg.id,
                subscription_id: subscription_of(msg.recipient.as_deref()),
                attempt: n,
                at: now,
                status_code: attempt.status_code,
                error: attempt.result.as_ref().err().map(|e| e.reason.clone()),
                duration_ms,
                outcome: match (&attempt.result, dead) {
                    (Ok(_), _) => "delivered",
                    (Err(_), true) => "dead",
                    (Err(_), false) => "retry",
                },
                next_attempt_at: (attempt.result.is_err() && !dead).then(|| now + backoff(n)),
            });
        }
        match attempt.result {
            Ok(receipt) => {
                sent.push((msg.id, receipt.to_string()));
                if msg.document.is_some() {
                    let provider = match &receipt["id"] {
                        serde_json::Value::String(s) => Some(s.clone()),
                        serde_json::Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    };
                    sent_docs.push((msg.id, provider));
                }
                if let Some(case) = case {
                    history(
                        &mut tx,
                        case,
                        now,
                        "system",
                        "delivered",
                        None,
                        &format!(
                            "{} sent by {}",
                            msg.template.as_deref().unwrap_or("message"),
                            msg.channel
                        ),
                        json!({ "idempotency_key": msg.idempotency_key, "receipt": receipt }),
                    )
                    .await?;
                }
                report.sent += 1;
            }
            Err(DeliveryError {
                reason: error,
                permanent,
            }) => {
                let attempts = msg.attempts + 1;
                let dead = permanent || attempts >= MAX_ATTEMPTS;
                on!(&mut tx, c, DB, PG => {
                    sqlx::query(
                        "UPDATE outbox SET status = $2, attempts = $3, next_attempt_at = $4, last_error = $5, \
                         lease_owner = NULL, lease_until = NULL WHERE id = $1 AND status = 'pending'",
                    )
                    .bind(msg.id)
                    .bind(if dead { "dead" } else { "pending" })
                    .bind(attempts)
                    .bind(now + backoff(attempts))
                    .bind(&error)
                    .execute(&mut *c)
                    .await.map(|_| ())
                })?;
                if dead && msg.document.is_some() {
                    let why = if permanent {
                        error.clone()
                    } else {
                        format!("given up after {attempts} attempts: {error}")
                    };
                    crate::correspondence::documents::mark_bounced(&mut tx, msg.id, &why, now)
                        .await?;
                }
                if let Some(case) = case {
                    let kind = if permanent {
                        "bounced"
                    } else if dead {
                        "dead_letter"
                    } else {
                        "delivery_failed"
                    };
                    history(
                        &mut tx,
                        case,
                        now,
                        "system",
                        kind,
                        None,
                        &if permanent {
                            format!(
                                "{} by {} bounced: {error}",
                                msg.template.as_deref().unwrap_or("message"),
                                msg.channel
                            )
                        } else {
                            format!(
                                "{} by {} failed (attempt {attempts} of {MAX_ATTEMPTS}): {error}",
                                msg.template.as_deref().unwrap_or("message"),
                                msg.channel
                            )
                        },
                        json!({ "idempotency_key": msg.idempotency_key }),
                    )
                    .await?;
                }
                if dead {
                    report.dead += 1
                } else {
                    report.retried += 1
                }
            }
        }
    }
    for chunk in sent.chunks(1000) {
        on!(&mut tx, c, DB, PG => {
            let mut q = sqlx::QueryBuilder::<DB>::new("WITH v (id, receipt) AS (");
            q.push_values(chunk, |mut b, (id, receipt)| {
                b.push_bind(*id).push_bind(receipt.clone());
            });
            q.push(
                ") UPDATE outbox SET status = 'sent', attempts = attempts + 1, receipt = v.receipt, \
                 lease_owner = NULL, lease_until = NULL, sent_at = ",
            );
            q.push_bind(now);
            q.push(" FROM v WHERE outbox.id = v.id AND outbox.status = 'pending'");
            q.build().execute(&mut *c).await.map(|_| ())
        })?;
    }
    record_attempts(&mut tx, &log).await?;
    crate::correspondence::documents::mark_sent(&mut tx, &sent_docs, now).await?;
    tx.commit().await?;
    Ok(report)
}
