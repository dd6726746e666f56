//! Read models of the runtime: cases, their history, the outbox and the task inbox, for the
//! API, the exports (`arrears export cases|history|outbox`) and the metrics. Exports are in
//! a stable order and carry no database ids that differ between runs, so two runs of the
//! same seed on the virtual clock export the same lines.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::store::{Store, StoreError, on};

use super::task::{TASK_COLUMNS, TaskRow};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct CaseLine {
    pub scenario_id: String,
    pub version: i64,
    pub subject: String,
    pub customer: String,
    pub status: String,
    pub step: String,
    pub visit: i64,
    pub vars: String,
    pub close_reason: Option<String>,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct HistoryLine {
    pub scenario_id: String,
    pub subject: String,
    pub opened_at: DateTime<Utc>,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub kind: String,
    pub step: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct OutboxLine {
    pub idempotency_key: String,
    pub channel: String,
    pub template: Option<String>,
    pub language: Option<String>,
    pub recipient: Option<String>,
    pub status: String,
    pub attempts: i64,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub payload: String,
}

pub async fn cases(store: &Store) -> Result<Vec<CaseLine>, StoreError> {
    let mut tx = store.read().await?;
    let rows = on!(&mut tx, c, DB, PG => {
        sqlx::query_as(
            "SELECT k.scenario_id, v.version, k.subject, u.external_id AS customer, k.status, k.step, k.visit, k.vars, \
             k.close_reason, k.opened_at, k.closed_at \
             FROM cases k JOIN scenario_versions v ON v.id = k.scenario_version_id JOIN customers u ON u.id = k.customer_id \
             ORDER BY k.scenario_id, k.subject, k.opened_at",
        )
        .fetch_all(&mut *c)
        .await
    })?;
    tx.commit().await?;
    Ok(rows)
}

pub async fn history(store: &Store) -> Result<Vec<HistoryLine>, StoreError> {
    let mut tx = store.read().await?;
    let rows = on!(&mut tx, c, DB, PG => {
        sqlx::query_as(
            "SELECT k.scenario_id, k.subject, k.opened_at, h.at, h.actor, h.kind, h.step, h.message \
             FROM case_history h JOIN cases k ON k.id = h.case_id \
             ORDER BY k.scenario_id, k.subject, k.opened_at, h.id",
        )
        .fetch_all(&mut *c)
        .await
    })?;
    tx.commit().await?;
    Ok(rows)
}

/// The history of one case, oldest first.
pub async fn case_history(store: &Store, case: i64) -> Result<Vec<HistoryLine>, StoreError> {
    let mut tx = store.read().await?;
    let rows = on!(&mut tx, c, DB, PG => {
        sqlx::query_as(
            "SELECT k.scenario_id, k.subject, k.opened_at, h.at, h.actor, h.kind, h.step, h.message \
             FROM case_history h JOIN cases k ON k.id = h.case_id WHERE k.id = $1 ORDER BY h.id",
        )
        .bind(case)
        .fetch_all(&mut *c)
        .await
    })?;
    tx.commit().await?;
    Ok(rows)
}

pub async fn outbox(store: &Store) -> Result<Vec<OutboxLine>, StoreError> {
    let mut tx = store.read().await?;
    let rows = on!(&mut tx, c, DB, PG => {
        sqlx::query_as(
            "SELECT idempotency_key, channel, template, language, recipient, status, attempts, created_at, sent_at, payload \
             FROM outbox ORDER BY idempotency_key",
        )
        .fetch_all(&mut *c)
        .await
    })?;
    tx.commit().await?;
    Ok(rows)
}

/// One case as it is now (no lock), or `None`.
pub async fn case(store: &Store, id: i64) -> Result<Option<super::case::CaseRow>, StoreError> {
    let mut tx = store.read().await?;
    let row = on!(&mut tx, c, DB, PG => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM cases WHERE id = $1",
            super::case::CASE_COLUMNS
        )))
        .bind(id)
        .fetch_optional(&mut *c)
        .await
    })?;
    tx.commit().await?;
    Ok(row)
}

/// A case's tasks, open ones first, then the rest newest first.
pub async fn case_tasks(store: &Store, case: i64) -> Result<Vec<TaskRow>, StoreError> {
    let mut tx = store.read().await?;
    let rows = on!(&mut tx, c, DB, PG => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE case_id = $1 \
             ORDER BY CASE WHEN status IN ('open', 'claimed', 'snoozed') THEN 0 ELSE 1 END, id DESC"
        )))
        .bind(case)
        .fetch_all(&mut *c)
        .await
    })?;
    tx.commit().await?;
    Ok(rows)
}

/// Open tasks for some users (assigned to one of them, or unassigned for one of `roles`),
/// or for everyone (`None`).
pub async fn inbox(
    store: &Store,
    users: Option<&[String]>,
    roles: &[String],
) -> Result<Vec<TaskRow>, StoreError> {
    let mut tx = store.read().await?;
    let rows: Vec<TaskRow> = on!(&mut tx, c, DB, PG => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE status IN ('open', 'claimed') ORDER BY due_at, id"
        )))
        .fetch_all(&mut *c)
        .await
    })?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .filter(|t| match users {
            None => true,
            Some(users) => match t.assignee.as_deref() {
                Some(a) => users.iter().any(|u| same_user(a, u)),
                None => t.role.as_ref().is_some_and(|r| roles.contains(r)),
            },
        })
        .collect())
}

/// Whether two names of a user are the same user: the engine assigns a customer's collector
/// by the bare user name (`cora`), a forward or a claim by the actor (`user:cora`).
fn same_user(a: &str, b: &str) -> bool {
    a.strip_prefix("user:").unwrap_or(a) == b.strip_prefix("user:").unwrap_or(b)
}

/// Counts for /metrics.
#[derive(Debug, Default, Serialize)]
pub struct Gauges {
    /// (scenario, step, status, cases)
    pub cases: Vec<(String, String, String, i64)>,
    /// (status, messages)
    pub outbox: Vec<(String, i64)>,
    /// (status, tasks)
    pub tasks: Vec<(String, i64)>,
    pub timers_due: i64,
    pub oldest_due_timer: Option<DateTime<Utc>>,
}

pub async fn gauges(store: &Store) -> Result<Gauges, StoreError> {
    let now = store.clock().now();
    let mut tx = store.read().await?;
    let g = on!(&mut tx, c, DB, PG => {
        async {
            let cases = sqlx::query_as(
                "SELECT scenario_id, step, status, COUNT(*) FROM cases WHERE status <> 'closed' GROUP BY scenario_id, step, status ORDER BY 1, 2, 3",
            ).fetch_all(&mut *c).await?;
            let outbox = sqlx::query_as("SELECT status, COUNT(*) FROM outbox GROUP BY status ORDER BY 1").fetch_all(&mut *c).await?;
            let tasks = sqlx::query_as("SELECT status, COUNT(*) FROM tasks GROUP BY status ORDER BY 1").fetch_all(&mut *c).await?;
            let (timers_due, oldest_due_timer): (i64, Option<DateTime<Utc>>) = sqlx::query_as(
                "SELECT COUNT(*), MIN(due_at) FROM timers WHERE fired_at IS NULL AND due_at <= $1",
            ).bind(now).fetch_one(&mut *c).await?;
            Ok::<Gauges, sqlx::Error>(Gauges { cases, outbox, tasks, timers_due, oldest_due_timer })
        }.await
    })?;
    tx.commit().await?;
    Ok(g)
}
