//! Bank statement entries in the store: which entries were imported (so that a file imported
//! twice books nothing twice), the payments booked for them, and the queue of credits waiting
//! for a person to match them. Parsing and matching happen outside (connectors::bank); this
//! module only records their outcome, in the same transaction as the payments it books.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;

use super::ledger::book_in;
use super::{Conn, List, Rejection, Store, StoreError, Tx, on, pg_bulk};
use crate::ids::{CustomerId, DocumentId};
use crate::ledger::document::{CustomerRef, DocRef};
use crate::ledger::{Actor, DocumentInput, DocumentKind, Iban, PreparedDocument, prepare_document};
use crate::money::{Currency, Money};

use super::BookingOutcome;

/// Rows per multi-row INSERT of bank entries on SQLite (23 columns: under its bind limit).
const CHUNK: usize = 500;

/// What became of an imported entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BankEntryStatus {
    /// A payment was booked for it at import.
    Booked,
    /// Waiting for a person to name the customer (and invoices).
    Queued,
    /// Matched by hand from the queue; a payment was booked.
    Resolved,
    /// A credit the bank reversed in the same file: no payment booked.
    Reversed,
    /// A reversal of a credit booked earlier: the payment needs handling by a person.
    Reversal,
    /// A debit or an entry not booked by the bank: nothing to book.
    NotPayment,
}

impl BankEntryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BankEntryStatus::Booked => "booked",
            BankEntryStatus::Queued => "queued",
            BankEntryStatus::Resolved => "resolved",
            BankEntryStatus::Reversed => "reversed",
            BankEntryStatus::Reversal => "reversal",
            BankEntryStatus::NotPayment => "not_payment",
        }
    }
}

/// One entry to record at import.
#[derive(Debug, Clone)]
pub struct NewBankEntry {
    /// Stable hash of the entry (see the migration).
    pub identity: String,
    pub account: String,
    pub statement_id: String,
    pub currency: Currency,
    pub booking_date: NaiveDate,
    pub amount: Decimal,
    pub credit: bool,
    pub is_reversal: bool,
    pub bank_reference: Option<String>,
    pub end_to_end_id: Option<String>,
    pub structured_reference: Option<String>,
    pub counterparty_name: Option<String>,
    pub counterparty_account: Option<String>,
    pub remittance: String,
    pub status: BankEntryStatus,
    /// Index of the payment booked for it in the batch given with it.
    pub payment: Option<usize>,
    pub suggested_customer: Option<CustomerId>,
    pub confidence: u8,
    pub reason: String,
    pub explanation: String,
    /// The allocations matching proposed (JSON).
    pub suggestion: serde_json::Value,
}

/// A receivable with money open, as payment matching needs it.
#[derive(Debug, Clone)]
pub struct OpenReceivable {
    pub document: DocumentId,
    pub number: String,
    pub customer: CustomerId,
    /// The creditor reference printed on the document, if any.
    pub reference: Option<String>,
    pub open: Decimal,
    pub currency: Currency,
    pub due_date: NaiveDate,
}

/// A credit waiting in the manual-matching queue.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct BankQueueItem {
    pub id: i64,
    pub account: String,
    pub statement_id: String,
    pub currency: Currency,
    pub booking_date: NaiveDate,
    #[schema(value_type = String)]
    pub amount: Decimal,
    pub bank_reference: Option<String>,
    pub end_to_end_id: Option<String>,
    pub structured_reference: Option<String>,
    pub counterparty_name: Option<String>,
    pub counterparty_account: Option<String>,
    pub remittance: String,
    /// The customer matching guessed, if any.
    pub suggested_customer_id: Option<CustomerId>,
    pub confidence: u8,
    pub reason: String,
    pub explanation: String,
    /// Allocations matching proposed: `[{"document": id, "number": "...", "amount": "..."}]`.
    #[schema(value_type = Object)]
    pub suggestion: serde_json::Value,
    pub imported_at: DateTime<Utc>,
}

/// Where the money of a credit matched by hand goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchTo {
    /// These receivables, in this order; none named: the customer's oldest due first.
    Invoices(Vec<DocRef>),
    /// The customer's account, unallocated: an overpayment to allocate, refund or transfer
    /// later.
    Unallocated,
}

/// A credit booked earlier, found again by a reversal.
#[derive(Debug, Clone)]
pub struct BookedCredit {
    pub entry_id: i64,
    pub amount: Decimal,
    pub payment_number: Option<String>,
}

#[derive(sqlx::FromRow)]
struct QueueRow {
    id: i64,
    identity: String,
    account: String,
    statement_id: String,
    currency: String,
    booking_date: NaiveDate,
    amount_minor: i64,
    bank_reference: Option<String>,
    end_to_end_id: Option<String>,
    structured_reference: Option<String>,
    counterparty_name: Option<String>,
    counterparty_account: Option<String>,
    remittance: String,
    suggested_customer_id: Option<i64>,
    confidence: i64,
    reason: String,
    explanation: String,
    suggestion: String,
    imported_at: DateTime<Utc>,
    status: String,
}

const QUEUE_COLUMNS: &str = "id, identity, account, statement_id, currency, booking_date, amount_minor, bank_reference, \
    end_to_end_id, structured_reference, counterparty_name, counterparty_account, remittance, \
    suggested_customer_id, confidence, reason, explanation, suggestion, imported_at, status";

impl QueueRow {
    fn into_item(self) -> BankQueueItem {
        let currency = Currency::parse(&self.currency).unwrap_or(Currency::PLN);
        BankQueueItem {
            id: self.id,
            account: self.account,
            statement_id: self.statement_id,
            currency,
            booking_date: self.booking_date,
            amount: Money::from_minor(self.amount_minor, currency).amount,
            bank_reference: self.bank_reference,
            end_to_end_id: self.end_to_end_id,
            structured_reference: self.structured_reference,
            counterparty_name: self.counterparty_name,
            counterparty_account: self.counterparty_account,
            remittance: self.remittance,
            suggested_customer_id: self.suggested_customer_id.map(CustomerId),
            confidence: u8::try_from(self.confidence).unwrap_or(0),
            reason: self.reason,
            explanation: self.explanation,
            suggestion: serde_json::from_str(&self.suggestion).unwrap_or(serde_json::Value::Null),
            imported_at: self.imported_at,
        }
    }
}

/// The number of the payment booked for a bank entry: stable, so that the ledger's own
/// uniqueness of (kind, number) is a second guard against booking an entry twice.
pub fn payment_number(identity: &str) -> String {
    format!("BANK/{}", &identity[..identity.len().min(20)])
}

/// A payment document for a bank credit.
#[allow(clippy::too_many_arguments)]
pub fn payment_input(
    identity: &str,
    customer: CustomerRef,
    currency: Currency,
    booking_date: NaiveDate,
    amount: Decimal,
    remittance: &str,
    counterparty_account: Option<&str>,
    allocate_to: Vec<DocRef>,
    auto_allocate: bool,
) -> DocumentInput {
    let mut input = DocumentInput::new(
        DocumentKind::Payment,
        payment_number(identity),
        customer,
        currency,
        booking_date,
    );
    input.amount = Some(amount);
    let text: String = remittance.chars().take(500).collect();
    input.reference = (!text.trim().is_empty()).then_some(text);
    input.payer_iban = counterparty_account
        .and_then(|a| Iban::parse(a).ok())
        .map(|i| i.as_str().to_string());
    input.allocate_to = allocate_to;
    input.auto_allocate = auto_allocate;
    input
}

async fn known_in(tx: &mut Tx, identities: &[String]) -> Result<HashSet<String>, StoreError> {
    let mut known = HashSet::new();
    for chunk in identities.chunks(10_000) {
        let rows: Vec<String> = on!(&mut *tx, c, DB, PG => {
            let sql = format!("SELECT identity FROM bank_entries WHERE {}", List::<String>::sql_in(PG, "identity", 1));
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(List(chunk.to_vec()))
                .fetch_all(&mut *c)
                .await
        })?;
        known.extend(rows);
    }
    Ok(known)
}

impl Store {
    /// Which of these entry identities were imported before.
    pub async fn bank_known(&self, identities: &[String]) -> Result<HashSet<String>, StoreError> {
        let mut tx = self.read().await?;
        known_in(&mut tx, identities).await
    }

    /// Every receivable with money open, and the accounts customers pay from.
    pub async fn bank_snapshot(
        &self,
    ) -> Result<(Vec<OpenReceivable>, Vec<(CustomerId, String)>), StoreError> {
        let mut tx = self.read().await?;
        type Row = (i64, String, i64, Option<String>, i64, String, NaiveDate);
        let (rows, ibans): (Vec<Row>, Vec<(i64, String)>) = on!(&mut tx, c, DB, PG => {
            let rows = sqlx::query_as(
                "SELECT d.id, d.number, d.customer_id, d.reference, \
                 d.gross_minor - COALESCE((SELECT CAST(SUM(a.amount_minor) AS BIGINT) FROM allocations a WHERE a.target_id = d.id), 0) AS open_minor, \
                 d.currency, COALESCE(d.due_date, d.issue_date) AS due \
                 FROM open_documents o CROSS JOIN documents d \
                 WHERE d.id = o.document_id AND d.kind IN ('invoice','debit_note','interest_note','fee')",
            )
            .fetch_all(&mut *c)
            .await?;
            let ibans = sqlx::query_as("SELECT customer_id, iban FROM customer_ibans")
                .fetch_all(&mut *c)
                .await?;
            Ok::<_, sqlx::Error>((rows, ibans))
        })?;
        let items = rows
            .into_iter()
            .filter(|r| r.4 > 0)
            .map(|(id, number, customer, reference, open, currency, due)| {
                let currency = Currency::parse(&currency).unwrap_or(Currency::PLN);
                OpenReceivable {
                    document: DocumentId(id),
                    number,
                    customer: CustomerId(customer),
                    reference,
                    open: Money::from_minor(open, currency).amount,
                    currency,
                    due_date: due,
                }
            })
            .collect();
        Ok((
            items,
            ibans.into_iter().map(|(c, i)| (CustomerId(c), i)).collect(),
        ))
    }

    /// A credit imported earlier on `account` with this end-to-end id or bank reference, for a
    /// reversal to find what it reverses.
    pub async fn bank_booked_credit(
        &self,
        account: &str,
        reference: &str,
    ) -> Result<Option<BookedCredit>, StoreError> {
        let mut tx = self.read().await?;
        let row: Option<(i64, i64, String, Option<String>)> = on!(&mut tx, c, DB, PG => {
            sqlx::query_as(
                "SELECT b.id, b.amount_minor, b.currency, d.number FROM bank_entries b \
                 LEFT JOIN documents d ON d.id = b.payment_id \
                 WHERE b.account = $1 AND b.side = 'credit' AND (b.end_to_end_id = $2 OR b.bank_reference = $2) \
                 ORDER BY b.id DESC LIMIT 1",
            )
            .bind(account.to_string())
            .bind(reference.to_string())
            .fetch_optional(&mut *c)
            .await
        })?;
        Ok(row.map(|(id, minor, cur, number)| BookedCredit {
            entry_id: id,
            amount: Money::from_minor(minor, Currency::parse(&cur).unwrap_or(Currency::PLN)).amount,
            payment_number: number,
        }))
    }

    /// Books the payments and records the entries, in one transaction; with `dry_run`, does
    /// all of it and rolls back. Refuses when another import recorded any of the entries
    /// meanwhile.
    pub async fn import_bank(
        &self,
        entries: &[NewBankEntry],
        payments: Vec<PreparedDocument>,
        dry_run: bool,
        actor: &Actor,
    ) -> Result<BookingOutcome, StoreError> {
        let mut tx = self.write().await?;
        let now = self.clock.now();
        let ids: Vec<String> = entries.iter().map(|e| e.identity.clone()).collect();
        if !known_in(&mut tx, &ids).await?.is_empty() {
            return Err(StoreError::Conflict(
                "another import recorded some of these bank entries meanwhile; import the file again".into(),
            ));
        }
        let outcome = book_in(&mut tx, &payments, actor, now).await?;
        let mut payment_ids = vec![None; payments.len()];
        for b in outcome.booked.iter().chain(&outcome.unchanged) {
            if let Some(slot) = payment_ids.get_mut(b.item) {
                *slot = Some(b.id.0);
            }
        }
        insert_entries(&mut tx, entries, &payment_ids, now, actor).await?;
        if dry_run {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
        }
        Ok(outcome)
    }

    /// The credits waiting for manual matching, oldest first.
    pub async fn bank_queue(&self) -> Result<Vec<BankQueueItem>, StoreError> {
        let mut tx = self.read().await?;
        let rows: Vec<QueueRow> = on!(&mut tx, c, DB, PG => {
            let sql = format!("SELECT {QUEUE_COLUMNS} FROM bank_entries WHERE status = 'queued' ORDER BY id");
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(&mut *c).await
        })?;
        Ok(rows.into_iter().map(QueueRow::into_item).collect())
    }

    /// Resolves a queued credit: books its payment for `customer` and applies it as `to`
    /// says (named invoices in that order, the oldest due first, or none: unallocated).
    pub async fn resolve_bank_item(
        &self,
        id: i64,
        customer: CustomerRef,
        to: MatchTo,
        actor: &Actor,
    ) -> Result<BookingOutcome, StoreError> {
        let mut tx = self.write().await?;
        let now = self.clock.now();
        let row: Option<QueueRow> = on!(&mut tx, c, DB, PG => {
            let sql = format!("SELECT {QUEUE_COLUMNS} FROM bank_entries WHERE id = $1");
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&mut *c).await
        })?;
        let Some(row) = row else {
            return Err(StoreError::NotFound(format!("bank queue item {id}")));
        };
        if row.status != "queued" {
            return Err(StoreError::Rejected(vec![Rejection::new(
                0,
                "item",
                format!(
                    "bank entry {id} is not waiting in the queue (it is {})",
                    row.status
                ),
            )]));
        }
        let identity = row.identity.clone();
        let item = row.into_item();
        let (invoices, auto) = match to {
            MatchTo::Invoices(invoices) => {
                let auto = invoices.is_empty();
                (invoices, auto)
            }
            MatchTo::Unallocated => (Vec::new(), false),
        };
        let input = payment_input(
            &identity,
            customer,
            item.currency,
            item.booking_date,
            item.amount,
            &item.remittance,
            item.counterparty_account.as_deref(),
            invoices,
            auto,
        );
        let prepared = prepare_document(&input).map_err(|errors| {
            StoreError::Rejected(
                errors
                    .into_iter()
                    .map(|error| Rejection { item: 0, error })
                    .collect(),
            )
        })?;
        let outcome = book_in(&mut tx, &[prepared], actor, now).await?;
        let payment = outcome
            .booked
            .first()
            .or(outcome.unchanged.first())
            .map(|b| b.id.0);
        on!(&mut tx, c, DB, PG => {
            sqlx::query("UPDATE bank_entries SET status = 'resolved', payment_id = $1 WHERE id = $2")
                .bind(payment)
                .bind(id)
                .execute(&mut *c)
                .await
                .map(|_| ())
        })?;
        tx.commit().await?;
        Ok(outcome)
    }
}

async fn insert_entries(
    tx: &mut Tx,
    entries: &[NewBankEntry],
    payment_ids: &[Option<i64>],
    now: DateTime<Utc>,
    actor: &Actor,
) -> Result<(), StoreError> {
    let minor = |e: &NewBankEntry| {
        Money::new(e.amount, e.currency)
            .and_then(|m| m.to_minor())
            .unwrap_or(0)
    };
    let payment = |e: &NewBankEntry| {
        e.payment
            .and_then(|p| payment_ids.get(p).copied().flatten())
    };
    let side = |e: &NewBankEntry| if e.credit { "credit" } else { "debit" };
    if let Conn::Postgres(t) = &mut tx.conn {
        if entries.is_empty() {
            return Ok(());
        }
        let mut cols = pg_bulk::BankEntryColumns::default();
        for e in entries {
            cols.identity.push(e.identity.clone());
            cols.account.push(e.account.clone());
            cols.statement_id.push(e.statement_id.clone());
            cols.currency.push(e.currency.code().to_string());
            cols.booking_date.push(e.booking_date);
            cols.amount_minor.push(minor(e));
            cols.side.push(side(e));
            cols.is_reversal.push(e.is_reversal);
            cols.bank_reference.push(e.bank_reference.clone());
            cols.end_to_end_id.push(e.end_to_end_id.clone());
            cols.structured_reference
                .push(e.structured_reference.clone());
            cols.counterparty_name.push(e.counterparty_name.clone());
            cols.counterparty_account
                .push(e.counterparty_account.clone());
            cols.remittance.push(e.remittance.clone());
            cols.status.push(e.status.as_str());
            cols.payment_id.push(payment(e));
            cols.suggested_customer_id
                .push(e.suggested_customer.map(|c| c.0));
            cols.confidence.push(i64::from(e.confidence));
            cols.reason.push(e.reason.clone());
            cols.explanation.push(e.explanation.clone());
            cols.suggestion.push(e.suggestion.to_string());
        }
        return pg_bulk::insert_bank_entries(t, cols, now, actor.as_str()).await;
    }
    for chunk in entries.chunks(CHUNK) {
        on!(&mut *tx, c, DB, PG => {
            let mut qb = sqlx::QueryBuilder::<DB>::new(
                "INSERT INTO bank_entries (identity, account, statement_id, currency, booking_date, amount_minor, side, \
                 is_reversal, bank_reference, end_to_end_id, structured_reference, counterparty_name, counterparty_account, \
                 remittance, status, payment_id, suggested_customer_id, confidence, reason, explanation, suggestion, \
                 imported_at, imported_by) ",
            );
            qb.push_values(chunk, |mut b, e| {
                b.push_bind(e.identity.clone())
                    .push_bind(e.account.clone())
                    .push_bind(e.statement_id.clone())
                    .push_bind(e.currency.code().to_string())
                    .push_bind(e.booking_date)
                    .push_bind(minor(e))
                    .push_bind(side(e))
                    .push_bind(e.is_reversal)
                    .push_bind(e.bank_reference.clone())
                    .push_bind(e.end_to_end_id.clone())
                    .push_bind(e.structured_reference.clone())
                    .push_bind(e.counterparty_name.clone())
                    .push_bind(e.counterparty_account.clone())
                    .push_bind(e.remittance.clone())
                    .push_bind(e.status.as_str())
                    .push_bind(payment(e))
                    .push_bind(e.suggested_customer.map(|c| c.0))
                    .push_bind(i64::from(e.confidence))
                    .push_bind(e.reason.clone())
                    .push_bind(e.explanation.clone())
                    .push_bind(e.suggestion.to_string())
                    .push_bind(now)
                    .push_bind(actor.as_str().to_string());
            });
            qb.build().execute(&mut *c).await.map(|_| ())
        })?;
    }
    Ok(())
}
