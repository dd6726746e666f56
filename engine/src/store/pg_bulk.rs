//! Bulk inserts on PostgreSQL: one parameter per column (an array) instead of one per value,
//! unpacked by `UNNEST`. A multi-row VALUES statement with thousands of parameters costs
//! PostgreSQL more to parse and bind than the insert itself.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;

use super::StoreError;

/// The columns of `documents` rows to insert, column by column.
#[derive(Default)]
pub(super) struct DocumentColumns {
    pub id: Vec<i64>,
    pub kind: Vec<String>,
    pub number: Vec<String>,
    pub external_id: Vec<Option<String>>,
    pub customer_id: Vec<i64>,
    pub buyer_name: Vec<String>,
    pub currency: Vec<String>,
    pub net_minor: Vec<i64>,
    pub tax_minor: Vec<i64>,
    pub gross_minor: Vec<i64>,
    pub issue_date: Vec<NaiveDate>,
    pub due_date: Vec<Option<NaiveDate>>,
    pub corrects_id: Vec<Option<i64>>,
    pub reference: Vec<Option<String>>,
    pub payer_iban: Vec<Option<String>>,
    pub memo: Vec<Option<String>>,
}

pub(super) async fn insert_documents(
    c: &mut PgConnection,
    cols: DocumentColumns,
    now: DateTime<Utc>,
    actor: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO documents (id, kind, number, external_id, customer_id, buyer_name, currency, net_minor, \
         tax_minor, gross_minor, issue_date, due_date, corrects_id, reference, payer_iban, memo, created_at, created_by) \
         SELECT u.*, $17, $18 FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], \
         $7::text[], $8::bigint[], $9::bigint[], $10::bigint[], $11::date[], $12::date[], $13::bigint[], $14::text[], \
         $15::text[], $16::text[]) AS u",
    )
    .bind(cols.id)
    .bind(cols.kind)
    .bind(cols.number)
    .bind(cols.external_id)
    .bind(cols.customer_id)
    .bind(cols.buyer_name)
    .bind(cols.currency)
    .bind(cols.net_minor)
    .bind(cols.tax_minor)
    .bind(cols.gross_minor)
    .bind(cols.issue_date)
    .bind(cols.due_date)
    .bind(cols.corrects_id)
    .bind(cols.reference)
    .bind(cols.payer_iban)
    .bind(cols.memo)
    .bind(now)
    .bind(actor.to_string())
    .execute(c)
    .await?;
    Ok(())
}

#[derive(Default)]
pub(super) struct LineColumns {
    pub document_id: Vec<i64>,
    pub line_no: Vec<i64>,
    pub description: Vec<String>,
    pub quantity: Vec<String>,
    pub unit_price: Vec<String>,
    pub tax_rate: Vec<String>,
    pub net_minor: Vec<i64>,
    pub tax_minor: Vec<i64>,
    pub gross_minor: Vec<i64>,
}

pub(super) async fn insert_lines(
    c: &mut PgConnection,
    cols: LineColumns,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO document_lines (document_id, line_no, description, quantity, unit_price, tax_rate, net_minor, \
         tax_minor, gross_minor) SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], \
         $6::text[], $7::bigint[], $8::bigint[], $9::bigint[])",
    )
    .bind(cols.document_id)
    .bind(cols.line_no)
    .bind(cols.description)
    .bind(cols.quantity)
    .bind(cols.unit_price)
    .bind(cols.tax_rate)
    .bind(cols.net_minor)
    .bind(cols.tax_minor)
    .bind(cols.gross_minor)
    .execute(c)
    .await?;
    Ok(())
}

#[derive(Default)]
pub(super) struct AllocationColumns {
    pub id: Vec<i64>,
    pub source_id: Vec<i64>,
    pub target_id: Vec<i64>,
    pub customer_id: Vec<i64>,
    pub amount_minor: Vec<i64>,
    pub effective_date: Vec<NaiveDate>,
}

pub(super) async fn insert_allocations(
    c: &mut PgConnection,
    cols: AllocationColumns,
    now: DateTime<Utc>,
    actor: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO allocations (id, source_id, target_id, customer_id, amount_minor, effective_date, created_at, created_by) \
         SELECT u.*, $7, $8 FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::date[]) AS u",
    )
    .bind(cols.id)
    .bind(cols.source_id)
    .bind(cols.target_id)
    .bind(cols.customer_id)
    .bind(cols.amount_minor)
    .bind(cols.effective_date)
    .bind(now)
    .bind(actor.to_string())
    .execute(c)
    .await?;
    Ok(())
}

#[derive(Default)]
pub(super) struct OpenColumns {
    pub document_id: Vec<i64>,
    pub customer_id: Vec<i64>,
    pub kind: Vec<String>,
    pub currency: Vec<String>,
    pub issue_date: Vec<NaiveDate>,
    pub due_date: Vec<Option<NaiveDate>>,
    pub gross_minor: Vec<i64>,
}

pub(super) async fn insert_open(c: &mut PgConnection, cols: OpenColumns) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO open_documents (document_id, customer_id, kind, currency, issue_date, due_date, gross_minor) \
         SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::date[], $6::date[], $7::bigint[])",
    )
    .bind(cols.document_id)
    .bind(cols.customer_id)
    .bind(cols.kind)
    .bind(cols.currency)
    .bind(cols.issue_date)
    .bind(cols.due_date)
    .bind(cols.gross_minor)
    .execute(c)
    .await?;
    Ok(())
}

pub(super) async fn insert_clearings(
    c: &mut PgConnection,
    ids: Vec<i64>,
    dates: Vec<NaiveDate>,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO document_clearings (document_id, cleared_on) SELECT * FROM UNNEST($1::bigint[], $2::date[])")
        .bind(ids)
        .bind(dates)
        .execute(c)
        .await?;
    Ok(())
}

/// The columns of `bank_entries` rows to insert (all but `imported_at` and `imported_by`,
/// which are the same for every row of an import).
#[derive(Default)]
pub(super) struct BankEntryColumns {
    pub identity: Vec<String>,
    pub account: Vec<String>,
    pub statement_id: Vec<String>,
    pub currency: Vec<String>,
    pub booking_date: Vec<NaiveDate>,
    pub amount_minor: Vec<i64>,
    pub side: Vec<&'static str>,
    pub is_reversal: Vec<bool>,
    pub bank_reference: Vec<Option<String>>,
    pub end_to_end_id: Vec<Option<String>>,
    pub structured_reference: Vec<Option<String>>,
    pub counterparty_name: Vec<Option<String>>,
    pub counterparty_account: Vec<Option<String>>,
    pub remittance: Vec<String>,
    pub status: Vec<&'static str>,
    pub payment_id: Vec<Option<i64>>,
    pub suggested_customer_id: Vec<Option<i64>>,
    pub confidence: Vec<i64>,
    pub reason: Vec<String>,
    pub explanation: Vec<String>,
    pub suggestion: Vec<String>,
}

pub(super) async fn insert_bank_entries(
    c: &mut PgConnection,
    cols: BankEntryColumns,
    now: DateTime<Utc>,
    actor: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO bank_entries (identity, account, statement_id, currency, booking_date, amount_minor, side, \
         is_reversal, bank_reference, end_to_end_id, structured_reference, counterparty_name, counterparty_account, \
         remittance, status, payment_id, suggested_customer_id, confidence, reason, explanation, suggestion, \
         imported_at, imported_by) \
         SELECT u.*, $22, $23 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::date[], $6::bigint[], \
         $7::text[], $8::boolean[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], \
         $15::text[], $16::bigint[], $17::bigint[], $18::bigint[], $19::text[], $20::text[], $21::text[]) AS u",
    )
    .bind(cols.identity)
    .bind(cols.account)
    .bind(cols.statement_id)
    .bind(cols.currency)
    .bind(cols.booking_date)
    .bind(cols.amount_minor)
    .bind(cols.side)
    .bind(cols.is_reversal)
    .bind(cols.bank_reference)
    .bind(cols.end_to_end_id)
    .bind(cols.structured_reference)
    .bind(cols.counterparty_name)
    .bind(cols.counterparty_account)
    .bind(cols.remittance)
    .bind(cols.status)
    .bind(cols.payment_id)
    .bind(cols.suggested_customer_id)
    .bind(cols.confidence)
    .bind(cols.reason)
    .bind(cols.explanation)
    .bind(cols.suggestion)
    .bind(now)
    .bind(actor.to_string())
    .execute(c)
    .await?;
    Ok(())
}
