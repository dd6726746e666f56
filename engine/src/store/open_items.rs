//! The open-items index: which documents still have money open (receivables) or unallocated
//! (payments, credit notes, credit transfers), and when the others were cleared. It is derived
//! from documents, allocations and credit operations, changed only in the transaction that
//! changes them, and checked against them by `Store::verify_open_items`. Amounts are never
//! read from it: reports compute them from allocations; the index only says which documents
//! are worth looking at.

use std::collections::HashMap;

use chrono::NaiveDate;

use super::{Conn, Ids, List, Store, StoreError, Tx, on};

/// A document entering the index.
#[derive(Debug, Clone)]
pub(super) struct OpenRow {
    pub document_id: i64,
    pub customer_id: i64,
    pub kind: &'static str,
    pub currency: String,
    pub issue_date: NaiveDate,
    pub due_date: Option<NaiveDate>,
    pub gross_minor: i64,
}

pub(super) async fn insert_open(tx: &mut Tx, rows: &[OpenRow]) -> Result<(), StoreError> {
    if let Conn::Postgres(t) = &mut tx.conn {
        if rows.is_empty() {
            return Ok(());
        }
        let mut cols = super::pg_bulk::OpenColumns::default();
        for r in rows {
            cols.document_id.push(r.document_id);
            cols.customer_id.push(r.customer_id);
            cols.kind.push(r.kind.to_string());
            cols.currency.push(r.currency.clone());
            cols.issue_date.push(r.issue_date);
            cols.due_date.push(r.due_date);
            cols.gross_minor.push(r.gross_minor);
        }
        return super::pg_bulk::insert_open(t, cols).await;
    }
    for chunk in rows.chunks(1000) {
        on!(&mut *tx, c, DB, PG => {
            let mut qb = sqlx::QueryBuilder::<DB>::new(
                "INSERT INTO open_documents (document_id, customer_id, kind, currency, issue_date, due_date, gross_minor) ",
            );
            qb.push_values(chunk, |mut b, r| {
                b.push_bind(r.document_id)
                    .push_bind(r.customer_id)
                    .push_bind(r.kind)
                    .push_bind(r.currency.clone())
                    .push_bind(r.issue_date)
                    .push_bind(r.due_date)
                    .push_bind(r.gross_minor);
            });
            qb.build().execute(&mut *c).await.map(|_| ())
        })?;
    }
    Ok(())
}

/// Records that documents were cleared on the given dates, and takes those that were
/// `listed` out of the index (documents settled in the batch that booked them never were).
pub(super) async fn clear(
    tx: &mut Tx,
    cleared: &[(i64, NaiveDate)],
    listed: bool,
) -> Result<(), StoreError> {
    if let Conn::Postgres(t) = &mut tx.conn {
        if cleared.is_empty() {
            return Ok(());
        }
        let (ids, dates): (Vec<i64>, Vec<NaiveDate>) = cleared.iter().copied().unzip();
        if listed {
            sqlx::query("DELETE FROM open_documents WHERE document_id = ANY($1)")
                .bind(ids.clone())
                .execute(&mut **t)
                .await?;
        }
        return super::pg_bulk::insert_clearings(t, ids, dates).await;
    }
    for chunk in cleared.chunks(1000) {
        let ids: Vec<i64> = chunk.iter().map(|(id, _)| *id).collect();
        on!(&mut *tx, c, DB, PG => {
            if listed {
                let sql = format!("DELETE FROM open_documents WHERE {}", Ids::sql_in(PG, "document_id", 1));
                sqlx::query(sqlx::AssertSqlSafe(sql)).bind(List(ids)).execute(&mut *c).await?;
            }
            let mut qb = sqlx::QueryBuilder::<DB>::new("INSERT INTO document_clearings (document_id, cleared_on) ");
            qb.push_values(chunk, |mut b, (id, on)| {
                b.push_bind(*id).push_bind(*on);
            });
            qb.build().execute(&mut *c).await.map(|_| ())
        })?;
    }
    Ok(())
}

/// The latest effective date of the allocations and credit operations touching each document.
pub(super) async fn last_effective(
    tx: &mut Tx,
    ids: &[i64],
) -> Result<HashMap<i64, NaiveDate>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(i64, Option<NaiveDate>)> = on!(tx, c, DB, PG => {
        let sql = format!(
            "SELECT d.id, (SELECT MAX(e) FROM ( \
                SELECT MAX(a.effective_date) AS e FROM allocations a WHERE a.target_id = d.id \
                UNION ALL SELECT MAX(a.effective_date) FROM allocations a WHERE a.source_id = d.id \
                UNION ALL SELECT MAX(o.effective_date) FROM credit_operations o WHERE o.source_id = d.id) m) \
             FROM documents d WHERE {}",
            Ids::sql_in(PG, "d.id", 1)
        );
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(List(ids.to_vec())).fetch_all(&mut *c).await
    })?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, d)| Some((id, d?)))
        .collect())
}

#[derive(sqlx::FromRow)]
struct StateRow {
    id: i64,
    customer_id: i64,
    kind: String,
    currency: String,
    issue_date: NaiveDate,
    due_date: Option<NaiveDate>,
    gross_minor: i64,
    remaining_minor: i64,
    is_open: bool,
    is_cleared: bool,
}

/// Brings the index up to date for `ids` after their allocations or credit operations
/// changed, reading their state from the ledger.
pub(super) async fn refresh(tx: &mut Tx, ids: &[i64]) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    let rows: Vec<StateRow> = on!(&mut *tx, c, DB, PG => {
        let sql = format!(
            "SELECT d.id, d.customer_id, d.kind, d.currency, d.issue_date, d.due_date, d.gross_minor, \
             {} AS remaining_minor, \
             EXISTS (SELECT 1 FROM open_documents o WHERE o.document_id = d.id) AS is_open, \
             EXISTS (SELECT 1 FROM document_clearings k WHERE k.document_id = d.id) AS is_cleared \
             FROM documents d WHERE {}",
            super::ledger::REMAINING_SQL,
            Ids::sql_in(PG, "d.id", 1)
        );
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(List(ids.to_vec())).fetch_all(&mut *c).await
    })?;
    let mut opens = Vec::new();
    let mut to_clear = Vec::new();
    let mut listed = std::collections::HashSet::new();
    for r in rows {
        if r.is_open {
            listed.insert(r.id);
        }
        if r.remaining_minor > 0 && !r.is_open && !r.is_cleared {
            opens.push(OpenRow {
                document_id: r.id,
                customer_id: r.customer_id,
                kind: kind_str(&r.kind),
                currency: r.currency,
                issue_date: r.issue_date,
                due_date: r.due_date,
                gross_minor: r.gross_minor,
            });
        } else if r.remaining_minor == 0 && !r.is_cleared {
            to_clear.push(r.id);
        }
    }
    insert_open(tx, &opens).await?;
    let dates = last_effective(tx, &to_clear).await?;
    type Cleared = Vec<(i64, NaiveDate)>;
    let (was_listed, new): (Cleared, Cleared) = to_clear
        .into_iter()
        .filter_map(|id| Some((id, *dates.get(&id)?)))
        .partition(|(id, _)| listed.contains(id));
    clear(tx, &was_listed, true).await?;
    clear(tx, &new, false).await
}

fn kind_str(kind: &str) -> &'static str {
    crate::ledger::DocumentKind::parse(kind)
        .map(|k| k.as_str())
        .unwrap_or("invoice")
}

impl Store {
    /// Compares the open-items index with the ledger it is derived from. Returns the
    /// disagreements (none when the index is right).
    pub async fn verify_open_items(&self) -> Result<Vec<String>, StoreError> {
        let mut tx = self.read().await?;
        /// id, number, remaining, listed as open, cleared on, last effective date
        type Row = (i64, String, i64, bool, Option<NaiveDate>, Option<NaiveDate>);
        let rows: Vec<Row> = on!(&mut tx, c, DB, PG => {
            let sql = format!(
                "SELECT d.id, d.number, {} AS remaining_minor, \
                 EXISTS (SELECT 1 FROM open_documents o WHERE o.document_id = d.id), \
                 (SELECT k.cleared_on FROM document_clearings k WHERE k.document_id = d.id), \
                 (SELECT MAX(e) FROM ( \
                    SELECT MAX(a.effective_date) AS e FROM allocations a WHERE a.target_id = d.id \
                    UNION ALL SELECT MAX(a.effective_date) FROM allocations a WHERE a.source_id = d.id \
                    UNION ALL SELECT MAX(o.effective_date) FROM credit_operations o WHERE o.source_id = d.id) m) \
                 FROM documents d ORDER BY d.id",
                super::ledger::REMAINING_SQL
            );
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(&mut *c).await
        })?;
        let mut problems = Vec::new();
        for (id, number, remaining, is_open, cleared_on, last) in rows {
            match (remaining > 0, is_open, cleared_on) {
                (true, true, None) => {}
                (false, false, Some(on)) if Some(on) == last => {}
                (open, listed, cleared) => problems.push(format!(
                    "document {id} ({number}): remaining {remaining}, listed open {listed}, cleared on {cleared:?}, last effective {last:?}{}",
                    if open { "" } else { " (should be cleared)" }
                )),
            }
        }
        Ok(problems)
    }
}
