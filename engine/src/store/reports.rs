//! Balances and the aging report, derived from documents and allocations as of any date: a
//! receivable counts if issued by then, an allocation if effective by then. Sums are computed
//! by the database; the documents behind them can be listed with the same rules.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;

use super::{Ids, List, Store, StoreError, Tx, on};
use crate::aging::{AgingItem, AgingReport, AgingRow, AgingTotal, Buckets};
use crate::ids::{CustomerId, DocumentId};
use crate::ledger::DocumentKind;
use crate::money::{Currency, Money};

/// What to age.
#[derive(Debug, Clone)]
pub struct AgingQuery {
    pub as_of: NaiveDate,
    pub buckets: Buckets,
    /// Only this customer.
    pub customer_id: Option<CustomerId>,
    /// List the documents behind each row.
    pub detail: bool,
}

/// A customer's balance in one currency.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct BalanceRow {
    pub customer_id: CustomerId,
    pub currency: Currency,
    pub as_of: NaiveDate,
    /// All open receivables.
    #[schema(value_type = String)]
    pub open: Decimal,
    /// Open receivables past their due date.
    #[schema(value_type = String)]
    pub overdue: Decimal,
    /// Money received and not allocated.
    #[schema(value_type = String)]
    pub unapplied_credit: Decimal,
    /// open - unapplied_credit: what the customer owes, net.
    #[schema(value_type = String)]
    pub balance: Decimal,
    /// Days past due of the oldest overdue receivable; 0 when none is overdue.
    pub days_overdue: i64,
}

/// Documents that may have money open (or unallocated) as of `$1`: those in the open-items
/// index, and those cleared after that date. Columns named as in `documents`. (CROSS JOIN makes
/// SQLite start from the few recent clearings rather than from every document.)
pub(super) const CANDIDATES: &str = "(SELECT document_id AS id, customer_id, kind, currency, issue_date, due_date, gross_minor \
      FROM open_documents \
      UNION ALL SELECT d.id, d.customer_id, d.kind, d.currency, d.issue_date, d.due_date, d.gross_minor \
      FROM document_clearings k CROSS JOIN documents d WHERE d.id = k.document_id AND k.cleared_on > $1)";

/// Open amount of receivable `d` as of `$1`.
pub(super) const OPEN_AS_OF: &str = "d.gross_minor - COALESCE((SELECT CAST(SUM(a.amount_minor) AS BIGINT) FROM allocations a \
     WHERE a.target_id = d.id AND a.effective_date <= $1), 0)";

/// Unallocated amount of reducing document `d` as of `$1`.
const CREDIT_AS_OF: &str = "d.gross_minor \
     - COALESCE((SELECT CAST(SUM(a.amount_minor) AS BIGINT) FROM allocations a WHERE a.source_id = d.id AND a.effective_date <= $1), 0) \
     - COALESCE((SELECT CAST(SUM(o.amount_minor) AS BIGINT) FROM credit_operations o WHERE o.source_id = d.id AND o.effective_date <= $1), 0)";

#[derive(sqlx::FromRow)]
struct ItemRow {
    id: i64,
    kind: String,
    number: String,
    customer_id: i64,
    currency: String,
    issue_date: NaiveDate,
    due_date: NaiveDate,
    gross_minor: i64,
    open_minor: i64,
}

#[derive(sqlx::FromRow)]
struct CustomerInfo {
    id: i64,
    external_id: String,
    name: String,
    category: String,
}

/// Per (customer, currency): sums per bucket, and the oldest overdue due date.
#[derive(Default)]
struct Acc {
    amounts: Vec<i64>,
    credit: i64,
    oldest_due: Option<NaiveDate>,
    documents: usize,
    items: Vec<AgingItem>,
}

impl Store {
    /// The aging report as of a date.
    pub async fn aging(&self, q: &AgingQuery) -> Result<AgingReport, StoreError> {
        let mut tx = self.read().await?;
        aging_in(&mut tx, q).await
    }

    /// Balances of one customer (or all) per currency as of a date.
    pub async fn balances(
        &self,
        customer_id: Option<CustomerId>,
        as_of: NaiveDate,
    ) -> Result<Vec<BalanceRow>, StoreError> {
        self.balances_in(&Scope::of(customer_id), as_of).await
    }

    /// Balances of the given customers per currency as of a date, in one query.
    pub async fn balances_of(
        &self,
        customers: &[CustomerId],
        as_of: NaiveDate,
    ) -> Result<Vec<BalanceRow>, StoreError> {
        let mut ids: Vec<i64> = customers.iter().map(|c| c.0).collect();
        ids.sort_unstable();
        ids.dedup();
        self.balances_in(&Scope::Many(ids), as_of).await
    }

    async fn balances_in(
        &self,
        scope: &Scope,
        as_of: NaiveDate,
    ) -> Result<Vec<BalanceRow>, StoreError> {
        let mut tx = self.read().await?;
        let report = aging_scoped(
            &mut tx,
            &AgingQuery {
                as_of,
                buckets: Buckets::default(),
                customer_id: None,
                detail: false,
            },
            scope,
        )
        .await?;
        Ok(report
            .rows
            .into_iter()
            .map(|r| BalanceRow {
                customer_id: r.customer_id,
                currency: r.currency,
                as_of,
                open: r.open,
                overdue: r.overdue,
                unapplied_credit: r.unapplied_credit,
                balance: r.balance,
                days_overdue: r.days_overdue,
            })
            .collect())
    }

    /// A customer's open receivables as of a date, oldest due first.
    pub async fn open_items(
        &self,
        customer_id: CustomerId,
        as_of: NaiveDate,
    ) -> Result<Vec<AgingItem>, StoreError> {
        let buckets = Buckets::default();
        let mut tx = self.read().await?;
        let rows = open_item_rows(&mut tx, as_of, &Scope::One(customer_id.0)).await?;
        Ok(rows
            .into_iter()
            .map(|r| item_of(r, as_of, &buckets).1)
            .collect())
    }
}

fn item_of(r: ItemRow, as_of: NaiveDate, buckets: &Buckets) -> ((i64, Currency), AgingItem) {
    let currency = Currency::parse(&r.currency).unwrap_or(Currency::PLN);
    let days = (as_of - r.due_date).num_days();
    (
        (r.customer_id, currency),
        AgingItem {
            document_id: DocumentId(r.id),
            kind: DocumentKind::parse(&r.kind).unwrap_or(DocumentKind::Invoice),
            number: r.number,
            issue_date: r.issue_date,
            due_date: r.due_date,
            days_overdue: days.max(0),
            bucket: buckets.index_for(days),
            gross: Money::from_minor(r.gross_minor, currency).amount,
            open: Money::from_minor(r.open_minor, currency).amount,
        },
    )
}

/// Which customers a query covers.
#[derive(Debug, Clone)]
pub(crate) enum Scope {
    All,
    One(i64),
    Many(Vec<i64>),
    /// Every customer without a case per customer open at this instant or closed since.
    WithoutCustomerCaseSince(DateTime<Utc>),
}

impl Scope {
    fn of(customer_id: Option<CustomerId>) -> Scope {
        customer_id.map_or(Scope::All, |c| Scope::One(c.0))
    }

    /// The customer condition on `d.customer_id`, bound at `$2`: a plain equality when there
    /// is one customer, so the planner can use the customer index (`$2 IS NULL OR ...` would
    /// make it scan every open document).
    fn filter(&self, pg: bool) -> String {
        match self {
            Scope::All => "AND $2 IS NULL".into(),
            Scope::One(_) => "AND d.customer_id = $2".into(),
            Scope::Many(_) => format!("AND {}", Ids::sql_in(pg, "d.customer_id", 2)),
            Scope::WithoutCustomerCaseSince(_) => "AND NOT EXISTS (SELECT 1 FROM cases k \
                 WHERE k.customer_id = d.customer_id AND k.subject LIKE 'customer:%' \
                 AND (k.status <> 'closed' OR k.closed_at >= $2))"
                .into(),
        }
    }
}

/// Binds a scope as `$2`.
macro_rules! bind_scope {
    ($q:expr, $scope:expr) => {
        match $scope {
            Scope::All => $q.bind(None::<i64>),
            Scope::One(id) => $q.bind(Some(*id)),
            Scope::Many(ids) => $q.bind(List(ids.clone())),
            Scope::WithoutCustomerCaseSince(at) => $q.bind(*at),
        }
    };
}

async fn open_item_rows(
    tx: &mut Tx,
    as_of: NaiveDate,
    scope: &Scope,
) -> Result<Vec<ItemRow>, StoreError> {
    let rows: Vec<ItemRow> = on!(tx, c, DB, PG => {
        let one = scope.filter(PG);
        let sql = format!(
            "SELECT x.id, x.kind, n.number, x.customer_id, x.currency, x.issue_date, x.due_date, x.gross_minor, x.open_minor \
             FROM (SELECT d.id, d.kind, d.customer_id, d.currency, d.issue_date, d.due_date, d.gross_minor, \
                   {OPEN_AS_OF} AS open_minor FROM {CANDIDATES} d \
                   WHERE d.kind IN ('invoice','debit_note','interest_note','fee') AND d.issue_date <= $1 \
                   {one}) x \
             JOIN documents n ON n.id = x.id \
             WHERE x.open_minor > 0 ORDER BY x.customer_id, x.due_date, x.id"
        );
        bind_scope!(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(as_of), scope)
            .fetch_all(&mut *c)
            .await
    })?;
    Ok(rows)
}

/// One open receivable, reduced to what the sums need.
#[derive(sqlx::FromRow)]
struct DueRow {
    customer_id: i64,
    currency: String,
    /// Days from the due date to the as-of date (negative: not yet due).
    days: i64,
    open_minor: i64,
}

/// Open receivables as rows summed here rather than by SQL: on SQLite a GROUP BY over the
/// computed open amount costs more than reading the rows.
async fn due_rows(tx: &mut Tx, q: &AgingQuery, scope: &Scope) -> Result<Vec<DueRow>, StoreError> {
    let rows = on!(tx, c, DB, PG => {
        let one = scope.filter(PG);
        // `LIMIT -1` (SQLite) and `OFFSET 0` (PostgreSQL) keep the planner from flattening
        // the subquery and computing each open amount twice (for the filter and the result).
        let (no_flatten, days) = if PG {
            ("OFFSET 0", "CAST($1::date - due_date AS BIGINT)")
        } else {
            ("LIMIT -1", "CAST(julianday($1) - julianday(due_date) AS INTEGER)")
        };
        let sql = format!(
            "SELECT customer_id, currency, {days} AS days, open_minor \
             FROM (SELECT d.customer_id, d.currency, d.due_date, {OPEN_AS_OF} AS open_minor FROM {CANDIDATES} d \
                   WHERE d.kind IN ('invoice','debit_note','interest_note','fee') AND d.issue_date <= $1 \
                   {one} {no_flatten}) x \
             WHERE open_minor > 0"
        );
        bind_scope!(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(q.as_of), scope)
            .fetch_all(&mut *c)
            .await
    })?;
    Ok(rows)
}

async fn credit_rows(
    tx: &mut Tx,
    q: &AgingQuery,
    scope: &Scope,
) -> Result<Vec<(i64, String, i64)>, StoreError> {
    let rows = on!(tx, c, DB, PG => {
        let one = scope.filter(PG);
        let sql = format!(
            "SELECT customer_id, currency, CAST(SUM(credit_minor) AS BIGINT) FROM \
             (SELECT d.customer_id, d.currency, {CREDIT_AS_OF} AS credit_minor FROM {CANDIDATES} d \
              WHERE d.kind IN ('payment','credit_note','credit_transfer') AND d.issue_date <= $1 \
              {one}) x \
             WHERE credit_minor > 0 GROUP BY customer_id, currency"
        );
        bind_scope!(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(q.as_of), scope)
            .fetch_all(&mut *c)
            .await
    })?;
    Ok(rows)
}

pub(crate) async fn aging_in(tx: &mut Tx, q: &AgingQuery) -> Result<AgingReport, StoreError> {
    aging_scoped(tx, q, &Scope::of(q.customer_id)).await
}

/// The aging report of the customers `scope` names (`q.customer_id` is not read).
pub(crate) async fn aging_scoped(
    tx: &mut Tx,
    q: &AgingQuery,
    scope: &Scope,
) -> Result<AgingReport, StoreError> {
    let n = q.buckets.len();
    let mut acc: BTreeMap<(i64, Currency), Acc> = BTreeMap::new();
    let new_acc = || Acc {
        amounts: vec![0; n],
        ..Default::default()
    };

    enum Open {
        Items(Vec<ItemRow>),
        Sums(Vec<DueRow>),
    }
    let open = if q.detail {
        Open::Items(open_item_rows(&mut *tx, q.as_of, scope).await?)
    } else {
        Open::Sums(due_rows(&mut *tx, q, scope).await?)
    };
    let credits = credit_rows(&mut *tx, q, scope).await?;

    match open {
        Open::Items(items) => {
            for r in items {
                let open = r.open_minor;
                let (key, item) = item_of(r, q.as_of, &q.buckets);
                let a = acc.entry(key).or_insert_with(new_acc);
                a.amounts[item.bucket] += open;
                a.documents += 1;
                if item.days_overdue > 0 {
                    a.oldest_due =
                        Some(a.oldest_due.map_or(item.due_date, |d| d.min(item.due_date)));
                }
                a.items.push(item);
            }
        }
        Open::Sums(rows) => {
            for r in rows {
                let currency = Currency::parse(&r.currency).unwrap_or(Currency::PLN);
                let a = acc.entry((r.customer_id, currency)).or_insert_with(new_acc);
                a.amounts[q.buckets.index_for(r.days)] += r.open_minor;
                a.documents += 1;
                if r.days > 0 {
                    let due = q.as_of - chrono::Duration::days(r.days);
                    a.oldest_due = Some(a.oldest_due.map_or(due, |d| d.min(due)));
                }
            }
        }
    }
    for (customer, currency, credit) in credits {
        let currency = Currency::parse(&currency).unwrap_or(Currency::PLN);
        acc.entry((customer, currency))
            .or_insert_with(new_acc)
            .credit += credit;
    }

    let ids: Vec<i64> = acc.keys().map(|(c, _)| *c).collect();
    let infos: Vec<CustomerInfo> = on!(&mut *tx, c, DB, PG => {
        let sql = format!(
            "SELECT id, external_id, name, category FROM customers WHERE {}",
            Ids::sql_in(PG, "id", 1)
        );
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(List(ids))
            .fetch_all(&mut *c)
            .await
    })?;
    let infos: HashMap<i64, CustomerInfo> = infos.into_iter().map(|i| (i.id, i)).collect();

    let mut rows = Vec::with_capacity(acc.len());
    let mut totals: BTreeMap<Currency, (Acc, usize)> = BTreeMap::new();
    for ((customer, currency), a) in acc {
        let Some(info) = infos.get(&customer) else {
            continue;
        };
        let m = |v: i64| Money::from_minor(v, currency).amount;
        let open: i64 = a.amounts.iter().sum();
        let overdue: i64 = a.amounts.iter().skip(1).sum();
        let t = totals.entry(currency).or_insert_with(|| (new_acc(), 0));
        for (slot, v) in t.0.amounts.iter_mut().zip(&a.amounts) {
            *slot += v;
        }
        t.0.credit += a.credit;
        t.0.documents += a.documents;
        t.1 += 1;
        rows.push(AgingRow {
            customer_id: CustomerId(customer),
            external_id: info.external_id.clone(),
            name: info.name.clone(),
            category: info.category.clone(),
            currency,
            amounts: a.amounts.iter().map(|v| m(*v)).collect(),
            open: m(open),
            overdue: m(overdue),
            unapplied_credit: m(a.credit),
            balance: m(open - a.credit),
            days_overdue: a
                .oldest_due
                .map(|d| (q.as_of - d).num_days().max(0))
                .unwrap_or(0),
            items: q.detail.then_some(a.items),
        });
    }
    rows.sort_by(|a, b| {
        (a.external_id.as_str(), a.currency).cmp(&(b.external_id.as_str(), b.currency))
    });
    let totals = totals
        .into_iter()
        .map(|(currency, (a, customers))| {
            let m = |v: i64| Money::from_minor(v, currency).amount;
            let open: i64 = a.amounts.iter().sum();
            AgingTotal {
                currency,
                amounts: a.amounts.iter().map(|v| m(*v)).collect(),
                open: m(open),
                overdue: m(a.amounts.iter().skip(1).sum()),
                unapplied_credit: m(a.credit),
                balance: m(open - a.credit),
                customers,
                documents: a.documents,
            }
        })
        .collect();
    Ok(AgingReport {
        as_of: q.as_of,
        buckets: q.buckets.labels(),
        rows,
        totals,
    })
}
