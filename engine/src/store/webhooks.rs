//! Outbound webhook subscriptions and their delivery log. A subscription is a URL, the
//! secret its deliveries are signed with and the event types it wants. The deliveries
//! themselves are outbox messages (channel `webhook`, recipient `subscription:<id>`) that a
//! database trigger writes in the transaction that records the event (migration 0008), so an
//! event is never announced without happening nor happens without being announced; the
//! dispatcher sends them with retries and records each attempt here. Signing and HTTP belong
//! to the connectors crate.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Rejection, Store, StoreError, Tx, on};
use crate::ledger::{Actor, FieldError, PathSegment};

/// An event type a subscription can ask for, and the case history entries that are it.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct EventType {
    pub name: &'static str,
    pub history_kinds: &'static [&'static str],
    pub description: &'static str,
}

/// Every event type, as migration 0008's `webhook_event_kinds` maps history entries to them.
pub const EVENT_TYPES: &[EventType] = &[
    EventType {
        name: "case.started",
        history_kinds: &["started"],
        description: "a collection case started",
    },
    EventType {
        name: "case.step",
        history_kinds: &["goto"],
        description: "a case moved to a step",
    },
    EventType {
        name: "case.paused",
        history_kinds: &["paused"],
        description: "a case was paused",
    },
    EventType {
        name: "case.closed",
        history_kinds: &["closed"],
        description: "a case closed (reason in data.detail.reason: paid, by hand, ...)",
    },
    EventType {
        name: "case.payment",
        history_kinds: &["payment"],
        description: "a payment reduced an open case's overdue balance without clearing it",
    },
    EventType {
        name: "case.promise",
        history_kinds: &["promise"],
        description: "a promise to pay was recorded",
    },
    EventType {
        name: "case.dispute",
        history_kinds: &["dispute"],
        description: "the debtor disputed the claim",
    },
    EventType {
        name: "case.proof_uploaded",
        history_kinds: &["proof_uploaded"],
        description: "the debtor uploaded a proof of payment",
    },
    EventType {
        name: "case.handed_over",
        history_kinds: &["handed_over"],
        description: "a case was handed over (legal, agency, court)",
    },
    EventType {
        name: "case.error",
        history_kinds: &["error"],
        description: "a scenario failed at run time and paused its case",
    },
    EventType {
        name: "task.created",
        history_kinds: &["task_created", "approval_requested"],
        description: "a task or an approval was opened",
    },
    EventType {
        name: "task.completed",
        history_kinds: &["task_completed"],
        description: "a task was completed with an outcome",
    },
    EventType {
        name: "task.escalated",
        history_kinds: &["task_escalated"],
        description: "an overdue task was escalated",
    },
    EventType {
        name: "document.issued",
        history_kinds: &["fee_charged", "interest_note_issued"],
        description: "a step issued a fee or an interest note",
    },
    EventType {
        name: "message.queued",
        history_kinds: &["queued"],
        description: "a letter, e-mail or SMS was queued for sending",
    },
    EventType {
        name: "message.sent",
        history_kinds: &["delivered"],
        description: "a letter, e-mail or SMS was sent",
    },
    EventType {
        name: "message.failed",
        history_kinds: &["dead_letter", "bounced"],
        description: "a message failed for good (dead-lettered, or bounced by the receiving side)",
    },
];

/// What the outbox's recipient of a subscription's delivery looks like.
pub const RECIPIENT_PREFIX: &str = "subscription:";

/// The subscription a webhook message is for, from its recipient.
pub fn subscription_of(recipient: Option<&str>) -> Option<i64> {
    recipient?.strip_prefix(RECIPIENT_PREFIX)?.parse().ok()
}

/// A new subscription, as an API client or the CLI asks for it.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionInput {
    /// Where deliveries are POSTed: an http(s) URL.
    pub url: String,
    /// Event types, e.g. `case.started`, `case.closed`, `task.created`.
    pub events: Vec<String>,
    /// The HMAC-SHA256 key (at least 16 characters); generated and shown once when absent.
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Whether events are delivered (default true).
    #[serde(default)]
    pub active: Option<bool>,
}

/// Changes to a subscription; what is absent stays.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionPatch {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub events: Option<Vec<String>>,
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub active: Option<bool>,
}

/// A subscription as shown: the secret only by its last characters.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Subscription {
    pub id: i64,
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
    pub active: bool,
    /// The secret's last four characters, to tell secrets apart; the secret is never shown.
    pub secret_hint: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A subscription just created; `secret` is set only when arrears generated it, the one time
/// it is shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedSubscription {
    #[serde(flatten)]
    pub subscription: Subscription,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// Where and how a subscription's deliveries go, for the channel that sends them.
#[derive(Clone)]
pub struct SubscriptionTarget {
    pub id: i64,
    pub url: String,
    pub secret: String,
    pub active: bool,
}

impl std::fmt::Debug for SubscriptionTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriptionTarget")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("secret", &"***")
            .field("active", &self.active)
            .finish()
    }
}

/// One attempt at delivering a webhook message.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct DeliveryAttempt {
    pub id: i64,
    /// The delivery's id (`X-Arrears-Delivery`), the same on every attempt.
    pub delivery: String,
    /// The event type (subscriptions) or the template (`call` steps).
    pub event_type: Option<String>,
    pub attempt: i64,
    pub attempted_at: DateTime<Utc>,
    /// The receiver's HTTP status, when it answered.
    pub status_code: Option<i64>,
    /// Why the attempt failed.
    pub error: Option<String>,
    pub duration_ms: i64,
    /// `delivered`, `retry` (another attempt follows at `next_attempt_at`) or `dead`.
    pub outcome: String,
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The delivery's status now: pending, sent, dead or cancelled.
    pub delivery_status: String,
}

/// An attempt the dispatcher records.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub outbox_id: i64,
    pub subscription_id: Option<i64>,
    pub attempt: i64,
    pub at: DateTime<Utc>,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: i64,
    pub outcome: &'static str,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct SubscriptionRow {
    id: i64,
    url: String,
    secret: String,
    description: Option<String>,
    active: bool,
    created_by: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl SubscriptionRow {
    fn into_subscription(self, events: Vec<String>) -> Subscription {
        let tail: String = {
            let chars: Vec<char> = self.secret.chars().collect();
            chars[chars.len().saturating_sub(4)..].iter().collect()
        };
        Subscription {
            id: self.id,
            url: self.url,
            events,
            description: self.description,
            active: self.active,
            secret_hint: format!("...{tail}"),
            created_by: self.created_by,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

const COLUMNS: &str = "id, url, secret, description, active, created_by, created_at, updated_at";

fn reject(errors: Vec<FieldError>) -> StoreError {
    StoreError::Rejected(
        errors
            .into_iter()
            .map(|error| Rejection { item: 0, error })
            .collect(),
    )
}

fn check_url(url: &str) -> Option<FieldError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
    if url.len() > 2000 {
        return Some(FieldError::new("url", "longer than 2000 characters"));
    }
    match host {
        Some(h) if !h.is_empty() && !url.chars().any(char::is_whitespace) => None,
        _ => Some(FieldError::new(
            "url",
            format!(
                "{url:?} is not an http(s) URL with a host, e.g. https://crm.example.com/hooks/arrears"
            ),
        )),
    }
}

fn check_events(events: &[String]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if events.is_empty() {
        errors.push(FieldError::new(
            "events",
            "name at least one event type, e.g. case.started",
        ));
    }
    for (i, e) in events.iter().enumerate() {
        if !EVENT_TYPES.iter().any(|t| t.name == e) {
            let hint = crate::suggest::did_you_mean(e, EVENT_TYPES.iter().map(|t| t.name))
                .map(|s| format!(" (did you mean {s}?)"))
                .unwrap_or_default();
            let known: Vec<&str> = EVENT_TYPES.iter().map(|t| t.name).collect();
            errors.push(FieldError {
                path: vec![PathSegment::Field("events"), PathSegment::Index(i)],
                message: format!(
                    "unknown event type {e:?}{hint}; known: {}",
                    known.join(", ")
                ),
            });
        }
    }
    errors
}

fn check_secret(secret: &str) -> Option<FieldError> {
    let n = secret.chars().count();
    if !(16..=200).contains(&n) || secret.chars().any(char::is_whitespace) {
        Some(FieldError::new(
            "secret",
            format!("{n} characters: a secret has 16 to 200 characters and no spaces"),
        ))
    } else {
        None
    }
}

fn check_description(d: Option<&str>) -> Option<FieldError> {
    d.filter(|d| d.chars().count() > 500)
        .map(|_| FieldError::new("description", "longer than 500 characters"))
}

/// The events, each once, in the order of `EVENT_TYPES`.
fn normalised(events: &[String]) -> Vec<String> {
    EVENT_TYPES
        .iter()
        .filter(|t| events.iter().any(|e| e == t.name))
        .map(|t| t.name.to_string())
        .collect()
}

fn generate_secret() -> String {
    let bytes: [u8; 24] = rand::random();
    format!(
        "whsec_{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

impl Store {
    /// Creates a subscription; refused with every bad field named.
    pub async fn create_subscription(
        &self,
        input: &SubscriptionInput,
        actor: &Actor,
    ) -> Result<CreatedSubscription, StoreError> {
        let url = input.url.trim();
        let mut errors: Vec<FieldError> = check_url(url).into_iter().collect();
        errors.extend(check_events(&input.events));
        if let Some(s) = &input.secret {
            errors.extend(check_secret(s));
        }
        errors.extend(check_description(input.description.as_deref()));
        if !errors.is_empty() {
            return Err(reject(errors));
        }
        let (secret, generated) = match &input.secret {
            Some(s) => (s.clone(), None),
            None => {
                let s = generate_secret();
                (s.clone(), Some(s))
            }
        };
        let events = normalised(&input.events);
        let now = self.clock.now();
        let mut tx = self.write().await?;
        let id: i64 = on!(&mut tx, c, DB, PG => {
            sqlx::query_scalar(
                "INSERT INTO webhook_subscriptions (url, secret, description, active, created_by, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
            )
            .bind(url)
            .bind(&secret)
            .bind(&input.description)
            .bind(input.active.unwrap_or(true))
            .bind(&actor.0)
            .bind(now)
            .fetch_one(&mut *c)
            .await
        })?;
        set_events(&mut tx, id, &events).await?;
        let subscription = load(&mut tx, id).await?;
        tx.commit().await?;
        tracing::info!(id, url, events = %events.join(","), actor = %actor.0, "webhook subscription created");
        Ok(CreatedSubscription {
            subscription,
            secret: generated,
        })
    }

    /// The subscriptions not removed, by id.
    pub async fn subscriptions(&self) -> Result<Vec<Subscription>, StoreError> {
        let mut tx = self.read().await?;
        let rows: Vec<SubscriptionRow> = on!(&mut tx, c, DB, PG => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM webhook_subscriptions WHERE removed_at IS NULL ORDER BY id"
            )))
            .fetch_all(&mut *c)
            .await
        })?;
        let events: Vec<(i64, String)> = on!(&mut tx, c, DB, PG => {
            sqlx::query_as("SELECT subscription_id, event_type FROM webhook_subscription_events")
                .fetch_all(&mut *c)
                .await
        })?;
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let mine: Vec<String> = events
                    .iter()
                    .filter(|(s, _)| *s == r.id)
                    .map(|(_, e)| e.clone())
                    .collect();
                r.into_subscription(normalised(&mine))
            })
            .collect())
    }

    /// One subscription (not removed).
    pub async fn subscription(&self, id: i64) -> Result<Subscription, StoreError> {
        let mut tx = self.read().await?;
        let s = load(&mut tx, id).await?;
        tx.commit().await?;
        Ok(s)
    }

    /// Changes a subscription. Deactivating it (or changing its events) does not withdraw
    /// deliveries already queued; removing it does.
    pub async fn update_subscription(
        &self,
        id: i64,
        patch: &SubscriptionPatch,
        actor: &Actor,
    ) -> Result<Subscription, StoreError> {
        let url = patch.url.as_deref().map(str::trim);
        let mut errors: Vec<FieldError> = url.and_then(check_url).into_iter().collect();
        if let Some(e) = &patch.events {
            errors.extend(check_events(e));
        }
        if let Some(s) = &patch.secret {
            errors.extend(check_secret(s));
        }
        errors.extend(check_description(patch.description.as_deref()));
        if !errors.is_empty() {
            return Err(reject(errors));
        }
        let now = self.clock.now();
        let mut tx = self.write().await?;
        load(&mut tx, id).await?;
        on!(&mut tx, c, DB, PG => {
            sqlx::query(
                "UPDATE webhook_subscriptions SET url = COALESCE($2, url), secret = COALESCE($3, secret), \
                 description = COALESCE($4, description), active = COALESCE($5, active), updated_at = $6 \
                 WHERE id = $1",
            )
            .bind(id)
            .bind(url)
            .bind(&patch.secret)
            .bind(&patch.description)
            .bind(patch.active)
            .bind(now)
            .execute(&mut *c)
            .await
            .map(|_| ())
        })?;
        if let Some(e) = &patch.events {
            set_events(&mut tx, id, &normalised(e)).await?;
        }
        let s = load(&mut tx, id).await?;
        tx.commit().await?;
        tracing::info!(id, actor = %actor.0, "webhook subscription changed");
        Ok(s)
    }

    /// Removes a subscription: no further events, and its deliveries not yet sent are
    /// cancelled (in the same transaction). Its delivery log stays readable. Returns how many
    /// deliveries were cancelled.
    pub async fn remove_subscription(&self, id: i64, actor: &Actor) -> Result<u64, StoreError> {
        let now = self.clock.now();
        let mut tx = self.write().await?;
        load(&mut tx, id).await?;
        let cancelled = on!(&mut tx, c, DB, PG => {
            sqlx::query("UPDATE webhook_subscriptions SET active = $2, removed_at = $3, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(false)
                .bind(now)
                .execute(&mut *c)
                .await?;
            sqlx::query("DELETE FROM webhook_subscription_events WHERE subscription_id = $1")
                .bind(id)
                .execute(&mut *c)
                .await?;
            sqlx::query(
                "UPDATE outbox SET status = 'cancelled', last_error = 'the subscription was removed' \
                 WHERE channel = 'webhook' AND recipient = $1 AND status = 'pending'",
            )
            .bind(format!("{RECIPIENT_PREFIX}{id}"))
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        tx.commit().await?;
        tracing::info!(
            id,
            cancelled,
            actor = %actor.0,
            "webhook subscription removed"
        );
        Ok(cancelled)
    }

    /// The delivery log of a subscription (removed ones too), newest attempt first.
    pub async fn subscription_deliveries(
        &self,
        id: i64,
        limit: u32,
    ) -> Result<Vec<DeliveryAttempt>, StoreError> {
        let mut tx = self.read().await?;
        let exists: Option<i64> = on!(&mut tx, c, DB, PG => {
            sqlx::query_scalar("SELECT id FROM webhook_subscriptions WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *c)
                .await
        })?;
        if exists.is_none() {
            return Err(StoreError::NotFound(format!("webhook subscription {id}")));
        }
        let rows: Vec<DeliveryAttempt> = on!(&mut tx, c, DB, PG => {
            sqlx::query_as(
                "SELECT a.id, o.idempotency_key AS delivery, o.template AS event_type, a.attempt, a.attempted_at, \
                 a.status_code, a.error, a.duration_ms, a.outcome, a.next_attempt_at, o.status AS delivery_status \
                 FROM webhook_attempts a JOIN outbox o ON o.id = a.outbox_id \
                 WHERE a.subscription_id = $1 ORDER BY a.id DESC LIMIT $2",
            )
            .bind(id)
            .bind(i64::from(limit))
            .fetch_all(&mut *c)
            .await
        })?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Where a subscription's deliveries go (removed ones too: `active` is then false).
    pub async fn subscription_target(
        &self,
        id: i64,
    ) -> Result<Option<SubscriptionTarget>, StoreError> {
        let mut tx = self.read().await?;
        let row: Option<(i64, String, String, bool)> = on!(&mut tx, c, DB, PG => {
            sqlx::query_as("SELECT id, url, secret, active FROM webhook_subscriptions WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *c)
                .await
        })?;
        tx.commit().await?;
        Ok(row.map(|(id, url, secret, active)| SubscriptionTarget {
            id,
            url,
            secret,
            active,
        }))
    }
}

async fn load(tx: &mut Tx, id: i64) -> Result<Subscription, StoreError> {
    let row: Option<SubscriptionRow> = on!(&mut *tx, c, DB, PG => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM webhook_subscriptions WHERE id = $1 AND removed_at IS NULL"
        )))
        .bind(id)
        .fetch_optional(&mut *c)
        .await
    })?;
    let row = row.ok_or_else(|| StoreError::NotFound(format!("webhook subscription {id}")))?;
    let events: Vec<String> = on!(&mut *tx, c, DB, PG => {
        sqlx::query_scalar("SELECT event_type FROM webhook_subscription_events WHERE subscription_id = $1")
            .bind(id)
            .fetch_all(&mut *c)
            .await
    })?;
    Ok(row.into_subscription(normalised(&events)))
}

async fn set_events(tx: &mut Tx, id: i64, events: &[String]) -> Result<(), StoreError> {
    on!(&mut *tx, c, DB, PG => {
        sqlx::query("DELETE FROM webhook_subscription_events WHERE subscription_id = $1")
            .bind(id)
            .execute(&mut *c)
            .await?;
        for e in events {
            sqlx::query("INSERT INTO webhook_subscription_events (subscription_id, event_type) VALUES ($1, $2)")
                .bind(id)
                .bind(e)
                .execute(&mut *c)
                .await?;
        }
        Ok::<(), sqlx::Error>(())
    })?;
    Ok(())
}

/// Appends attempts to the delivery log, inside the dispatcher's transaction.
pub(crate) async fn record_attempts(
    tx: &mut Tx,
    attempts: &[AttemptRecord],
) -> Result<(), StoreError> {
    for chunk in attempts.chunks(1000) {
        on!(&mut *tx, c, DB, PG => {
            let mut q = sqlx::QueryBuilder::<DB>::new(
                "INSERT INTO webhook_attempts (outbox_id, subscription_id, attempt, attempted_at, status_code, \
                 error, duration_ms, outcome, next_attempt_at) ",
            );
            q.push_values(chunk, |mut b, a| {
                b.push_bind(a.outbox_id)
                    .push_bind(a.subscription_id)
                    .push_bind(a.attempt)
                    .push_bind(a.at)
                    .push_bind(a.status_code.map(i64::from))
                    .push_bind(a.error.clone())
                    .push_bind(a.duration_ms)
                    .push_bind(a.outcome)
                    .push_bind(a.next_attempt_at);
            });
            q.build().execute(&mut *c).await.map(|_| ())
        })?;
    }
    Ok(())
}

/// The history kinds the database maps to each event type, for a check that the migration
/// and `EVENT_TYPES` agree.
pub async fn event_kinds_in_database(store: &Store) -> Result<Vec<(String, String)>, StoreError> {
    let mut tx = store.read().await?;
    let rows: Vec<(String, String)> = on!(&mut tx, c, DB, PG => {
        sqlx::query_as("SELECT history_kind, event_type FROM webhook_event_kinds ORDER BY history_kind")
            .fetch_all(&mut *c)
            .await
    })?;
    tx.commit().await?;
    Ok(rows)
}
