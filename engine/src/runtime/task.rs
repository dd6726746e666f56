//! Human tasks: created by task steps (and approvals, handover stages, disputes and proof
//! verifications), claimed, completed with an outcome and form data, forwarded, snoozed to
//! a next-contact date, escalated when overdue. Completing a task is an event for its case.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::json;

use crate::ids::{CustomerId, TaskId};
use crate::scenario::{Stage, Value};
use crate::store::{StoreError, Tx, on};

use super::case::{CaseRow, history};
use super::exec::{Ctx, add_timer, start_of};

pub struct NewTask {
    pub kind: &'static str,
    pub title: String,
    pub role: Option<String>,
    pub assignee: Option<String>,
    pub outcomes: Vec<String>,
    pub form: serde_json::Value,
    pub due_at: Option<DateTime<Utc>>,
    pub escalate_to: Option<String>,
}

pub async fn create(
    tx: &mut Tx,
    case: &CaseRow,
    now: DateTime<Utc>,
    t: NewTask,
) -> Result<i64, StoreError> {
    let id = insert(tx, Some(case), CustomerId(case.customer_id), now, t).await?;
    if let Some(b) = tx.buffer() {
        b.known.tasks.insert(case.id);
    }
    Ok(id)
}

/// A task about a customer with no case yet: an intranet request waiting for the
/// collections lead, whose decision may start one.
pub async fn create_for_customer(
    tx: &mut Tx,
    customer: CustomerId,
    now: DateTime<Utc>,
    t: NewTask,
) -> Result<i64, StoreError> {
    insert(tx, None, customer, now, t).await
}

async fn insert(
    tx: &mut Tx,
    case: Option<&CaseRow>,
    customer: CustomerId,
    now: DateTime<Utc>,
    t: NewTask,
) -> Result<i64, StoreError> {
    let id: i64 = on!(tx, c, DB, PG => {
        sqlx::query_scalar(
            "INSERT INTO tasks (case_id, customer_id, step, visit, kind, title, role, assignee, status, outcomes, form, due_at, escalate_to, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9, $10, $11, $12, $13) RETURNING id",
        )
        .bind(case.map(|c| c.id))
        .bind(customer.0)
        .bind(case.map(|c| c.step.as_str()))
        .bind(case.map(|c| c.visit))
        .bind(t.kind)
        .bind(&t.title)
        .bind(&t.role)
        .bind(&t.assignee)
        .bind(serde_json::to_string(&t.outcomes).unwrap_or_default())
        .bind(t.form.to_string())
        .bind(t.due_at)
        .bind(&t.escalate_to)
        .bind(now)
        .fetch_one(&mut *c)
        .await
    })?;
    Ok(id)
}

/// The task for stage `index` of a handover.
pub async fn create_stage(
    tx: &mut Tx,
    cx: &Ctx<'_>,
    case: &CaseRow,
    role: &str,
    index: usize,
    stage: &Stage,
) -> Result<i64, StoreError> {
    create(
        tx,
        case,
        cx.now,
        NewTask {
            kind: "stage",
            title: format!("{} — {}", stage.title, cx.facts.customer.name),
            role: Some(role.to_string()),
            assignee: None,
            outcomes: vec!["done".into()],
            form: json!({ "stage": index, "stage_id": stage.id }),
            due_at: stage.due.map(|d| d.after(cx.now, &cx.version.calendar)),
            escalate_to: None,
        },
    )
    .await
}

pub async fn cancel_open(
    tx: &mut Tx,
    case: &CaseRow,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if tx.buffer().is_some_and(|b| !b.may_have_tasks(case.id)) {
        return Ok(());
    }
    on!(tx, c, DB, PG => {
        sqlx::query(
            "UPDATE tasks SET status = 'cancelled', completed_at = $2 \
             WHERE case_id = $1 AND status IN ('open', 'claimed', 'snoozed')",
        )
        .bind(case.id)
        .bind(now)
        .execute(&mut *c)
        .await.map(|_| ())
    })?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct TaskRow {
    pub id: i64,
    pub case_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub step: Option<String>,
    pub visit: Option<i64>,
    pub kind: String,
    pub title: String,
    pub role: Option<String>,
    pub assignee: Option<String>,
    pub status: String,
    pub outcomes: String,
    pub form: String,
    pub due_at: Option<DateTime<Utc>>,
    pub escalate_to: Option<String>,
    pub next_contact_at: Option<DateTime<Utc>>,
    pub outcome: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub const TASK_COLUMNS: &str = "id, case_id, customer_id, step, visit, kind, title, role, assignee, status, outcomes, form, \
    due_at, escalate_to, next_contact_at, outcome, created_at";

impl TaskRow {
    pub fn task_id(&self) -> TaskId {
        TaskId(self.id)
    }

    pub fn outcomes(&self) -> Vec<String> {
        serde_json::from_str(&self.outcomes).unwrap_or_default()
    }
}

pub async fn load(tx: &mut Tx, id: TaskId) -> Result<TaskRow, StoreError> {
    let row: Option<TaskRow> = on!(tx, c, DB, PG => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1")))
            .bind(id.0)
            .fetch_optional(&mut *c)
            .await
    })?;
    row.ok_or_else(|| StoreError::NotFound(format!("task {id}")))
}

pub async fn set_status(
    tx: &mut Tx,
    id: i64,
    status: &str,
    outcome: Option<&str>,
    data: Option<&serde_json::Value>,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    on!(tx, c, DB, PG => {
        sqlx::query(
            "UPDATE tasks SET status = $2, outcome = $3, data = $4, completed_by = $5, completed_at = $6 WHERE id = $1",
        )
        .bind(id)
        .bind(status)
        .bind(outcome)
        .bind(data.map(|d| d.to_string()))
        .bind(actor)
        .bind(now)
        .execute(&mut *c)
        .await.map(|_| ())
    })?;
    Ok(())
}

pub async fn note(
    tx: &mut Tx,
    task: i64,
    at: DateTime<Utc>,
    actor: &str,
    kind: &str,
    text: &str,
) -> Result<(), StoreError> {
    on!(tx, c, DB, PG => {
        sqlx::query("INSERT INTO task_notes (task_id, at, actor, kind, text) VALUES ($1, $2, $3, $4, $5)")
            .bind(task)
            .bind(at)
            .bind(actor)
            .bind(kind)
            .bind(text)
            .execute(&mut *c)
            .await.map(|_| ())
    })?;
    Ok(())
}

/// Claims a task for a user.
pub async fn claim(
    tx: &mut Tx,
    t: &TaskRow,
    user: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if !matches!(t.status.as_str(), "open" | "snoozed") {
        return Err(StoreError::Conflict(format!(
            "task {} is {}, it cannot be claimed",
            t.id, t.status
        )));
    }
    on!(tx, c, DB, PG => {
        sqlx::query("UPDATE tasks SET status = 'claimed', assignee = $2, claimed_by = $2 WHERE id = $1")
            .bind(t.id)
            .bind(user)
            .execute(&mut *c)
            .await.map(|_| ())
    })?;
    note(tx, t.id, now, user, "claimed", "claimed").await
}

/// Forwards a task to another user with a comment.
pub async fn forward(
    tx: &mut Tx,
    t: &TaskRow,
    to: &str,
    comment: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    open_or_conflict(t)?;
    on!(tx, c, DB, PG => {
        sqlx::query("UPDATE tasks SET status = 'open', assignee = $2 WHERE id = $1")
            .bind(t.id)
            .bind(to)
            .execute(&mut *c)
            .await.map(|_| ())
    })?;
    note(
        tx,
        t.id,
        now,
        actor,
        "forwarded",
        &format!("to {to}: {comment}"),
    )
    .await
}

/// Puts a task aside until a next-contact date; it re-opens then.
pub async fn snooze(
    tx: &mut Tx,
    case: &CaseRow,
    t: &TaskRow,
    until: NaiveDate,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    open_or_conflict(t)?;
    let at = start_of(until);
    on!(tx, c, DB, PG => {
        sqlx::query("UPDATE tasks SET status = 'snoozed', next_contact_at = $2 WHERE id = $1")
            .bind(t.id)
            .bind(at)
            .execute(&mut *c)
            .await.map(|_| ())
    })?;
    add_timer(tx, case, "reopen", at, Some(t.id)).await?;
    note(
        tx,
        t.id,
        now,
        actor,
        "snoozed",
        &format!("next contact on {until}"),
    )
    .await?;
    history(
        tx,
        case.case_id(),
        now,
        actor,
        "task_snoozed",
        case.step.as_str().into(),
        &format!("task `{}` snoozed until {until}", t.title),
        json!({ "task": t.id }),
    )
    .await
}

pub fn open_or_conflict(t: &TaskRow) -> Result<(), StoreError> {
    if matches!(t.status.as_str(), "open" | "claimed" | "snoozed") {
        Ok(())
    } else {
        Err(StoreError::Conflict(format!(
            "task {} is already {}",
            t.id, t.status
        )))
    }
}

/// Form data as scenario variables, typed by the task's fields.
pub fn form_vars(form: &str, data: &serde_json::Value) -> Result<Vec<(String, Value)>, String> {
    let fields: Vec<serde_json::Value> = serde_json::from_str(form).unwrap_or_default();
    let mut out = Vec::new();
    for f in fields {
        let Some(name) = f.get("name").and_then(|n| n.as_str()) else {
            continue;
        };
        let kind = f.get("kind").and_then(|k| k.as_str()).unwrap_or("text");
        let required = f.get("required").and_then(|r| r.as_bool()).unwrap_or(false);
        match data.get(name) {
            None | Some(serde_json::Value::Null) => {
                if required {
                    return Err(format!("/data/{name}: required"));
                }
            }
            Some(v) => {
                let text = v
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string());
                let value = match kind {
                    "amount" => text
                        .parse()
                        .map(|decimal| {
                            Value::Decimal(crate::scenario::rhai_env::DecimalValue { decimal })
                        })
                        .map_err(|_| {
                            format!("/data/{name}: `{text}` is not an amount like 120.50")
                        })?,
                    "number" => text
                        .parse()
                        .map(Value::Int)
                        .map_err(|_| format!("/data/{name}: `{text}` is not a whole number"))?,
                    "bool" => text
                        .parse()
                        .map(Value::Bool)
                        .map_err(|_| format!("/data/{name}: expected true or false"))?,
                    "date" => {
                        NaiveDate::parse_from_str(&text, "%Y-%m-%d").map_err(|_| {
                            format!("/data/{name}: `{text}` is not a date like 2026-12-31")
                        })?;
                        Value::Text(text)
                    }
                    _ => Value::Text(text),
                };
                out.push((name.to_string(), value));
            }
        }
    }
    Ok(out)
}
