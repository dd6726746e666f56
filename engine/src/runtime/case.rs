//! A case as stored, the condition context built for it from the ledger, and the
//! append-only history. Everything here runs inside the caller's transaction.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use crate::aging::{AgingRow, Buckets};
use crate::ids::{CaseId, CustomerId};
use crate::ledger::customer::Customer;
use crate::scenario::rhai_env::{
    BalanceFacts, CaseFacts, CurrencyBalance, CustomerFacts, InvoiceFacts, PromiseFacts,
};
use crate::scenario::{ConditionContext, Value};
use crate::store::reports::{Scope, aging_in, aging_scoped};
use crate::store::{AgingQuery, StoreError, Tx, on};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    /// Has a step to execute now.
    Active,
    /// Waits for a timer, a task or an approval.
    Waiting,
    /// Paused by a person or a dispute.
    Paused,
    Closed,
}

impl CaseStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            CaseStatus::Active => "active",
            CaseStatus::Waiting => "waiting",
            CaseStatus::Paused => "paused",
            CaseStatus::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> CaseStatus {
        match s {
            "active" => CaseStatus::Active,
            "waiting" => CaseStatus::Waiting,
            "paused" => CaseStatus::Paused,
            _ => CaseStatus::Closed,
        }
    }
}

/// A promise to pay: the date and the amount.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Promise {
    pub date: NaiveDate,
    pub amount: Decimal,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CaseRow {
    pub id: i64,
    pub scenario_version_id: i64,
    pub scenario_id: String,
    pub customer_id: i64,
    pub invoice_id: Option<i64>,
    pub subject: String,
    pub status: String,
    pub step: String,
    pub step_entered_at: DateTime<Utc>,
    pub visit: i64,
    pub vars: String,
    pub deadline: Option<DateTime<Utc>>,
    pub last_outcome: Option<String>,
    pub promise: Option<String>,
    pub close_reason: Option<String>,
    pub opened_at: DateTime<Utc>,
}

pub const CASE_COLUMNS: &str = "id, scenario_version_id, scenario_id, customer_id, invoice_id, subject, status, step, \
    step_entered_at, visit, vars, deadline, last_outcome, promise, close_reason, opened_at";

impl CaseRow {
    pub fn case_id(&self) -> CaseId {
        CaseId(self.id)
    }

    pub fn status(&self) -> CaseStatus {
        CaseStatus::parse(&self.status)
    }

    pub fn vars(&self) -> BTreeMap<String, Value> {
        serde_json::from_str(&self.vars).unwrap_or_default()
    }

    pub fn promise(&self) -> Option<Promise> {
        self.promise
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok())
    }
}

/// Loads a case for update (PostgreSQL locks the row; SQLite holds the only writer).
pub async fn load_case(tx: &mut Tx, id: CaseId) -> Result<CaseRow, StoreError> {
    let row: Option<CaseRow> = on!(tx, c, DB, PG => {
        let lock = if PG { " FOR UPDATE" } else { "" };
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {CASE_COLUMNS} FROM cases WHERE id = $1{lock}"
        )))
        .bind(id.0)
        .fetch_optional(&mut *c)
        .await
    })?;
    row.ok_or_else(|| StoreError::NotFound(format!("case {id}")))
}

/// Writes a case's moving parts back.
pub async fn save_case(tx: &mut Tx, case: &CaseRow, now: DateTime<Utc>) -> Result<(), StoreError> {
    on!(tx, c, DB, PG => {
        sqlx::query(
            "UPDATE cases SET status = $2, step = $3, step_entered_at = $4, visit = $5, vars = $6, \
             deadline = $7, last_outcome = $8, promise = $9, close_reason = $10, updated_at = $11, \
             closed_at = CASE WHEN $2 = 'closed' THEN $11 ELSE closed_at END WHERE id = $1",
        )
        .bind(case.id)
        .bind(&case.status)
        .bind(&case.step)
        .bind(case.step_entered_at)
        .bind(case.visit)
        .bind(&case.vars)
        .bind(case.deadline)
        .bind(&case.last_outcome)
        .bind(&case.promise)
        .bind(&case.close_reason)
        .bind(now)
        .execute(&mut *c)
        .await.map(|_| ())
    })?;
    Ok(())
}

/// Appends one history entry: who, when, what, and the values that decided it.
#[allow(clippy::too_many_arguments)]
pub async fn history(
    tx: &mut Tx,
    case: CaseId,
    at: DateTime<Utc>,
    actor: &str,
    kind: &str,
    step: Option<&str>,
    message: &str,
    detail: serde_json::Value,
) -> Result<(), StoreError> {
    if let Some(b) = tx.buffer() {
        b.history.push(crate::store::HistoryInsert {
            case_id: case.0,
            at,
            actor: actor.to_string(),
            kind: kind.to_string(),
            step: step.map(str::to_string),
            message: message.to_string(),
            detail: detail.to_string(),
        });
        return Ok(());
    }
    on!(tx, c, DB, PG => {
        sqlx::query(
            "INSERT INTO case_history (case_id, at, actor, kind, step, message, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(case.0)
        .bind(at)
        .bind(actor)
        .bind(kind)
        .bind(step)
        .bind(message)
        .bind(detail.to_string())
        .execute(&mut *c)
        .await.map(|_| ())
    })?;
    Ok(())
}

/// What the ledger says about a customer (or one of its invoices) today.
#[derive(Debug, Clone)]
pub struct LedgerFacts {
    pub customer: Customer,
    pub rows: Vec<AgingRow>,
}

pub async fn ledger_facts(
    tx: &mut Tx,
    customer_id: CustomerId,
    today: NaiveDate,
) -> Result<LedgerFacts, StoreError> {
    let customer = crate::store::customers::customer_in(tx, customer_id).await?;
    let report = aging_in(
        tx,
        &AgingQuery {
            as_of: today,
            buckets: Buckets::default(),
            customer_id: Some(customer_id),
            detail: true,
        },
    )
    .await?;
    Ok(LedgerFacts {
        customer,
        rows: report.rows,
    })
}

/// The ledger facts of several customers at once (one batch of transitions).
pub async fn ledger_facts_many(
    tx: &mut Tx,
    customer_ids: &[i64],
    today: NaiveDate,
) -> Result<std::collections::HashMap<i64, LedgerFacts>, StoreError> {
    let mut ids = customer_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let customers = crate::store::customers::customers_in(tx, &ids).await?;
    let report = aging_scoped(
        tx,
        &AgingQuery {
            as_of: today,
            buckets: Buckets::default(),
            customer_id: None,
            detail: true,
        },
        &Scope::Many(ids),
    )
    .await?;
    let mut rows: std::collections::HashMap<i64, Vec<AgingRow>> = Default::default();
    for row in report.rows {
        rows.entry(row.customer_id.0).or_default().push(row);
    }
    Ok(customers
        .into_iter()
        .map(|customer| {
            let id = customer.id.0;
            let rows = rows.remove(&id).unwrap_or_default();
            (id, LedgerFacts { customer, rows })
        })
        .collect())
}

/// Loads cases for update, in id order (so that two workers lock in the same order).
pub async fn load_cases(
    tx: &mut Tx,
    ids: &[i64],
) -> Result<std::collections::HashMap<i64, CaseRow>, StoreError> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    let rows: Vec<CaseRow> = on!(tx, c, DB, PG => {
        let lock = if PG { " FOR UPDATE" } else { "" };
        let sql = format!(
            "SELECT {CASE_COLUMNS} FROM cases WHERE {} ORDER BY id{lock}",
            crate::store::Ids::sql_in(PG, "id", 1)
        );
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(crate::store::List(ids.to_vec()))
            .fetch_all(&mut *c)
            .await
    })?;
    Ok(rows.into_iter().map(|c| (c.id, c)).collect())
}

/// Writes the moving parts of several cases back in one statement per thousand.
pub async fn save_cases(
    tx: &mut Tx,
    cases: &[&CaseRow],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if cases.is_empty() {
        return Ok(());
    }
    if let crate::store::Conn::Postgres(t) = &mut tx.conn {
        // One statement, each column an array (see store::buffer).
        sqlx::query(
            "UPDATE cases SET status = v.status, step = v.step, step_entered_at = v.entered, visit = v.visit, \
             vars = v.vars, deadline = v.deadline, last_outcome = v.outcome, promise = v.promise, \
             close_reason = v.reason, updated_at = $11, \
             closed_at = CASE WHEN v.status = 'closed' THEN $11 ELSE cases.closed_at END \
             FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::timestamptz[], $5::bigint[], $6::text[], \
             $7::timestamptz[], $8::text[], $9::text[], $10::text[]) \
             AS v (id, status, step, entered, visit, vars, deadline, outcome, promise, reason) WHERE cases.id = v.id",
        )
        .bind(cases.iter().map(|k| k.id).collect::<Vec<_>>())
        .bind(cases.iter().map(|k| k.status.clone()).collect::<Vec<_>>())
        .bind(cases.iter().map(|k| k.step.clone()).collect::<Vec<_>>())
        .bind(cases.iter().map(|k| k.step_entered_at).collect::<Vec<_>>())
        .bind(cases.iter().map(|k| k.visit).collect::<Vec<_>>())
        .bind(cases.iter().map(|k| k.vars.clone()).collect::<Vec<_>>())
        .bind(cases.iter().map(|k| k.deadline).collect::<Vec<_>>())
        .bind(cases.iter().map(|k| k.last_outcome.clone()).collect::<Vec<_>>())
        .bind(cases.iter().map(|k| k.promise.clone()).collect::<Vec<_>>())
        .bind(cases.iter().map(|k| k.close_reason.clone()).collect::<Vec<_>>())
        .bind(now)
        .execute(&mut **t)
        .await?;
        return Ok(());
    }
    for chunk in cases.chunks(1000) {
        on!(&mut *tx, c, DB, PG => {
            let mut q = sqlx::QueryBuilder::<DB>::new(
                "WITH v (id, status, step, step_entered_at, visit, vars, deadline, last_outcome, promise, close_reason) AS (",
            );
            q.push_values(chunk, |mut b, k| {
                b.push_bind(k.id)
                    .push_bind(k.status.clone())
                    .push_bind(k.step.clone())
                    .push_bind(k.step_entered_at)
                    .push_bind(k.visit)
                    .push_bind(k.vars.clone())
                    .push_bind(k.deadline)
                    .push_bind(k.last_outcome.clone())
                    .push_bind(k.promise.clone())
                    .push_bind(k.close_reason.clone());
            });
            q.push(
                ") UPDATE cases SET status = v.status, step = v.step, step_entered_at = v.step_entered_at, \
                 visit = v.visit, vars = v.vars, deadline = v.deadline, last_outcome = v.last_outcome, \
                 promise = v.promise, close_reason = v.close_reason, updated_at = ",
            );
            q.push_bind(now);
            q.push(", closed_at = CASE WHEN v.status = 'closed' THEN ");
            q.push_bind(now);
            q.push(" ELSE cases.closed_at END FROM v WHERE cases.id = v.id");
            q.build().execute(&mut *c).await.map(|_| ())
        })?;
    }
    Ok(())
}

impl LedgerFacts {
    /// The condition context, for the whole customer or for one invoice.
    pub fn context(
        &self,
        today: NaiveDate,
        invoice: Option<i64>,
        case: Option<&CaseRow>,
        vars: BTreeMap<String, Value>,
    ) -> ConditionContext {
        let c = &self.customer;
        let mut ctx = ConditionContext {
            customer: CustomerFacts {
                id: c.id.to_string(),
                external_id: c.external_id.clone(),
                name: c.name.clone(),
                category: c.category.clone(),
                language: c.language.clone(),
                country: c
                    .ibans
                    .first()
                    .map(|i| i.as_str().chars().take(2).collect())
                    .unwrap_or_default(),
                collector: c.collector.clone(),
                fields: c
                    .custom_fields
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            },
            now: Some(today),
            vars,
            ..Default::default()
        };
        let mut main: Option<(Decimal, String)> = None;
        for row in &self.rows {
            let items: Vec<_> = row
                .items
                .iter()
                .flatten()
                .filter(|i| invoice.is_none_or(|id| i.document_id.0 == id))
                .collect();
            let (total, overdue) = if invoice.is_some() {
                let total: Decimal = items.iter().map(|i| i.open).sum();
                let overdue: Decimal = items
                    .iter()
                    .filter(|i| i.days_overdue > 0)
                    .map(|i| i.open)
                    .sum();
                (total, overdue)
            } else {
                (row.balance, row.overdue)
            };
            let cur = row.currency.to_string();
            for i in &items {
                ctx.invoices.push(InvoiceFacts {
                    number: i.number.clone(),
                    currency: cur.clone(),
                    gross: i.gross,
                    open: i.open,
                    due: Some(i.due_date),
                    days_overdue: i.days_overdue,
                });
                if i.open > Decimal::ZERO {
                    if i.days_overdue > 0 {
                        ctx.days_overdue = ctx.days_overdue.max(i.days_overdue);
                    } else {
                        let to_due = (i.due_date - today).num_days();
                        ctx.days_to_due = Some(ctx.days_to_due.map_or(to_due, |d| d.min(to_due)));
                    }
                }
            }
            ctx.balance
                .by_currency
                .insert(cur.clone(), CurrencyBalance { total, overdue });
            if main.as_ref().is_none_or(|(o, _)| overdue > *o) {
                main = Some((overdue, cur.clone()));
                ctx.balance = BalanceFacts {
                    total,
                    overdue,
                    currency: cur,
                    by_currency: std::mem::take(&mut ctx.balance.by_currency),
                };
            }
        }
        if let Some(case) = case {
            ctx.case = Some(CaseFacts {
                id: case.id.to_string(),
                scenario: case.scenario_id.clone(),
                version: case.scenario_version_id,
                step: case.step.clone(),
                started: Some(case.opened_at.date_naive()),
                days_open: (today - case.opened_at.date_naive()).num_days(),
            });
            ctx.outcome = case.last_outcome.clone();
            ctx.promise = case.promise().map(|p| PromiseFacts {
                date: Some(p.date),
                amount: p.amount,
            });
        }
        ctx
    }

    /// Overdue amount in every currency, for "did this payment clear the case?".
    pub fn overdue_total(&self, invoice: Option<i64>) -> Decimal {
        self.rows
            .iter()
            .flat_map(|r| r.items.iter().flatten())
            .filter(|i| invoice.is_none_or(|id| i.document_id.0 == id) && i.days_overdue > 0)
            .map(|i| i.open)
            .sum()
    }
}
