//! The figures of the dashboard and the scenario pages, each from one aggregate query: open
//! cases by scenario, version and step; the money overdue in them by scenario, step and
//! currency; the money recovered from cases in the clock's month; open and overdue tasks by
//! who holds them. Amounts stay per currency (never added across currencies) and exact
//! (integer minor units summed by the database). Drawing them is the web crate's job.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use super::reports::{CANDIDATES, OPEN_AS_OF};
use super::{Store, StoreError, on};
use crate::money::{Currency, Money};

/// Open cases of one step of one version of a scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct StepCases {
    pub scenario_id: String,
    pub version: i64,
    pub step: String,
    pub cases: i64,
}

/// Open cases of one step (all versions) and what is overdue in them, per currency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepLoad {
    pub scenario_id: String,
    pub step: String,
    pub cases: i64,
    /// Overdue receivables of the cases' subjects (the customer, or the invoice of a case
    /// per invoice), one entry per currency, in currency order.
    pub overdue: Vec<Money>,
}

/// Money recovered in one currency since the first of the month.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recovered {
    pub currency: Currency,
    pub total: Decimal,
    /// Per value date, only the days with money.
    pub days: Vec<(NaiveDate, Decimal)>,
}

/// Who holds open tasks: a user (`assignee`), or a role when nobody is assigned.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum Holder {
    User(String),
    Role(String),
    Nobody,
}

/// Open tasks of one holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskLoad {
    pub holder: Holder,
    pub open: i64,
    /// Of the open ones, those past their due time.
    pub overdue: i64,
    /// The due time of the oldest overdue task.
    pub oldest_overdue: Option<DateTime<Utc>>,
}

/// Everything the dashboard shows, as of the store's clock.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dashboard {
    pub today: NaiveDate,
    /// The first day of the month whose recoveries are summed.
    pub month_start: NaiveDate,
    /// Per scenario and step with open cases, in scenario and step order.
    pub steps: Vec<StepLoad>,
    /// Per currency with money recovered this month.
    pub recovered: Vec<Recovered>,
    /// Per holder of open tasks, most overdue first.
    pub tasks: Vec<TaskLoad>,
}

#[derive(sqlx::FromRow)]
struct OverdueRow {
    scenario_id: String,
    step: String,
    currency: String,
    overdue_minor: i64,
}

#[derive(sqlx::FromRow)]
struct RecoveredRow {
    currency: String,
    effective_date: NaiveDate,
    amount_minor: i64,
}

#[derive(sqlx::FromRow)]
struct TaskRow {
    assignee: Option<String>,
    role: Option<String>,
    open_tasks: i64,
    overdue: i64,
    oldest_overdue: Option<DateTime<Utc>>,
}

/// A currency code the database holds; it was checked when it was written.
fn currency(code: &str) -> Result<Currency, StoreError> {
    Currency::parse(code).map_err(|e| StoreError::Database(sqlx::Error::Decode(Box::new(e))))
}

impl Store {
    /// Open cases per scenario, version and step; of one scenario, or of all.
    pub async fn open_cases_by_step(
        &self,
        scenario: Option<&str>,
    ) -> Result<Vec<StepCases>, StoreError> {
        let mut tx = self.read().await?;
        let rows = on!(&mut tx, c, DB, PG => {
            sqlx::query_as(
                "SELECT k.scenario_id, v.version, k.step, COUNT(*) AS cases \
                 FROM cases k JOIN scenario_versions v ON v.id = k.scenario_version_id \
                 WHERE k.status <> 'closed' AND ($1 IS NULL OR k.scenario_id = $1) \
                 GROUP BY k.scenario_id, v.version, k.step ORDER BY k.scenario_id, v.version, k.step",
            )
            .bind(scenario)
            .fetch_all(&mut *c)
            .await
        })?;
        tx.commit().await?;
        Ok(rows)
    }

    /// The dashboard's figures as of the store's clock.
    pub async fn dashboard(&self) -> Result<Dashboard, StoreError> {
        let now = self.clock().now();
        let today = now.date_naive();
        let month_start = today.with_day(1).unwrap_or(today);
        let counts = self.open_cases_by_step(None).await?;
        let mut tx = self.read().await?;
        let (overdue, recovered, tasks): (Vec<OverdueRow>, Vec<RecoveredRow>, Vec<TaskRow>) = on!(&mut tx, c, DB, PG => {
            async {
                // The open amount of every overdue receivable of an open case's subject,
                // summed per scenario, step and currency. (`OFFSET 0`/`LIMIT -1` keep the
                // planners from computing each open amount twice, as in `reports`.)
                let no_flatten = if PG { "OFFSET 0" } else { "LIMIT -1" };
                let sql = format!(
                    "SELECT scenario_id, step, currency, CAST(SUM(open_minor) AS BIGINT) AS overdue_minor \
                     FROM (SELECT k.scenario_id, k.step, d.currency, {OPEN_AS_OF} AS open_minor \
                           FROM cases k JOIN {CANDIDATES} d ON d.customer_id = k.customer_id \
                           WHERE k.status <> 'closed' AND (k.invoice_id IS NULL OR d.id = k.invoice_id) \
                           AND d.kind IN ('invoice','debit_note','interest_note','fee') \
                           AND d.issue_date <= $1 AND d.due_date < $1 {no_flatten}) x \
                     WHERE open_minor > 0 \
                     GROUP BY scenario_id, step, currency ORDER BY scenario_id, step, currency"
                );
                let overdue = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(today)
                    .fetch_all(&mut *c)
                    .await?;
                // Payments allocated to a receivable of a case's subject while the case was
                // open, by value date; EXISTS counts money once however many cases it meets.
                let recovered = sqlx::query_as(
                    "SELECT t.currency, a.effective_date, CAST(SUM(a.amount_minor) AS BIGINT) AS amount_minor \
                     FROM allocations a JOIN documents s ON s.id = a.source_id JOIN documents t ON t.id = a.target_id \
                     WHERE s.kind = 'payment' AND a.effective_date >= $1 AND a.effective_date <= $2 \
                     AND EXISTS (SELECT 1 FROM cases k WHERE k.customer_id = t.customer_id \
                                 AND (k.invoice_id IS NULL OR k.invoice_id = t.id) \
                                 AND k.opened_at <= a.created_at \
                                 AND (k.closed_at IS NULL OR k.closed_at >= a.created_at)) \
                     GROUP BY t.currency, a.effective_date ORDER BY t.currency, a.effective_date",
                )
                .bind(month_start)
                .bind(today)
                .fetch_all(&mut *c)
                .await?;
                let tasks = sqlx::query_as(
                    "SELECT assignee, CASE WHEN assignee IS NULL THEN role END AS role, COUNT(*) AS open_tasks, \
                     CAST(SUM(CASE WHEN due_at < $1 THEN 1 ELSE 0 END) AS BIGINT) AS overdue, \
                     MIN(CASE WHEN due_at < $1 THEN due_at END) AS oldest_overdue \
                     FROM tasks WHERE status IN ('open', 'claimed') \
                     GROUP BY assignee, CASE WHEN assignee IS NULL THEN role END",
                )
                .bind(now)
                .fetch_all(&mut *c)
                .await?;
                Ok::<_, sqlx::Error>((overdue, recovered, tasks))
            }.await
        })?;
        tx.commit().await?;

        let mut steps: BTreeMap<(String, String), StepLoad> = BTreeMap::new();
        for c in counts {
            steps
                .entry((c.scenario_id.clone(), c.step.clone()))
                .or_insert_with(|| StepLoad {
                    scenario_id: c.scenario_id,
                    step: c.step,
                    cases: 0,
                    overdue: Vec::new(),
                })
                .cases += c.cases;
        }
        for r in overdue {
            let money = Money::from_minor(r.overdue_minor, currency(&r.currency)?);
            // A case closed between the two queries leaves its money without a count.
            if let Some(s) = steps.get_mut(&(r.scenario_id, r.step)) {
                s.overdue.push(money);
            }
        }

        let mut recovered_by: BTreeMap<Currency, Recovered> = BTreeMap::new();
        for r in recovered {
            let cur = currency(&r.currency)?;
            let amount = Money::from_minor(r.amount_minor, cur).amount;
            let entry = recovered_by.entry(cur).or_insert_with(|| Recovered {
                currency: cur,
                total: Decimal::ZERO,
                days: Vec::new(),
            });
            entry.total += amount;
            entry.days.push((r.effective_date, amount));
        }

        let mut tasks: Vec<TaskLoad> = tasks
            .into_iter()
            .map(|t| TaskLoad {
                holder: match (t.assignee, t.role) {
                    (Some(user), _) => Holder::User(user),
                    (None, Some(role)) => Holder::Role(role),
                    (None, None) => Holder::Nobody,
                },
                open: t.open_tasks,
                overdue: t.overdue,
                oldest_overdue: t.oldest_overdue,
            })
            .collect();
        tasks.sort_by(|a, b| {
            b.overdue
                .cmp(&a.overdue)
                .then(b.open.cmp(&a.open))
                .then(a.holder.cmp(&b.holder))
        });

        Ok(Dashboard {
            today,
            month_start,
            steps: steps.into_values().collect(),
            recovered: recovered_by.into_values().collect(),
            tasks,
        })
    }
}
