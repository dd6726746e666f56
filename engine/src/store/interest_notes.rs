//! Interest notes, per-step fees and recovery compensation in the ledger. Each is booked as a
//! receivable document (kinds `interest_note` and `fee`), so balances, aging, allocation and
//! settlement treat it like any invoice; the tables of migration 0003 record what each one
//! charged so that nothing is charged twice: an invoice's interest up to a day
//! (`interest_note_items`), a fee per (case, step) (`case_fees`), a compensation per invoice
//! (`recovery_compensations`). The arithmetic is `crate::interest`'s; this module reads the
//! ledger, books the documents and keeps those records.
//!
//! The `*_in` functions work inside a transaction the caller holds (the runtime's step
//! transaction); the `Store` methods open and commit their own.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Days, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::customers::customer_in;
use super::ledger::book_in;
use super::{Ids, List, Rejection, Store, StoreError, Tx, on};
use crate::ids::{CaseId, CustomerId, DocumentId, InterestNoteId};
use crate::interest::{
    CompensationRule, DayCount, FxTable, InterestQuery, Payment, RateTable, Segment, compute,
    recovery_compensation,
};
use crate::ledger::document::CustomerRef;
use crate::ledger::{Actor, Customer, DocumentInput, DocumentKind, LineInput, prepare_document};
use crate::money::{Currency, Money};

/// Customer custom field with a contractual annual rate in percent (e.g. `"12.5"`), which
/// replaces the rate table for that customer.
pub const CONTRACT_RATE_FIELD: &str = "interest_rate_percent";
/// Customer custom field naming a shipped rate table for that customer.
pub const RATE_TABLE_FIELD: &str = "interest_rate_table";

/// How interest notes are computed.
#[derive(Debug, Clone)]
pub struct NoteSettings {
    /// The table for customers without a contractual rate.
    pub rate_table: RateTable,
    pub basis: DayCount,
    /// A note below this total is not issued; its interest waits for a later note.
    pub minimum: Decimal,
    /// Days from the note's issue date to its due date.
    pub payment_days: u32,
}

impl NoteSettings {
    pub fn new(rate_table: RateTable) -> NoteSettings {
        NoteSettings {
            rate_table,
            basis: DayCount::Act365,
            minimum: Decimal::ZERO,
            payment_days: 14,
        }
    }
}

/// The rate table for `customer`: a contractual rate (custom field `interest_rate_percent`),
/// else a shipped table it names (`interest_rate_table`), else `default`.
pub fn rate_table_for(customer: &Customer, default: &RateTable) -> Result<RateTable, String> {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => Some(s.trim().to_string()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    if let Some(v) = customer.custom_fields.get(CONTRACT_RATE_FIELD) {
        let rate = text(v)
            .and_then(|t| crate::money::parse_amount(&t).ok())
            .filter(|r| *r >= Decimal::ZERO && *r <= Decimal::ONE_HUNDRED)
            .ok_or_else(|| {
                format!(
                    "customer {}: custom field {CONTRACT_RATE_FIELD} must be an annual rate in percent from 0 to 100, such as \"12.5\"; got {v}",
                    customer.external_id
                )
            })?;
        return Ok(RateTable::fixed(
            format!("contract {}%", rate.normalize()),
            rate,
        ));
    }
    if let Some(v) = customer.custom_fields.get(RATE_TABLE_FIELD) {
        let name = text(v).unwrap_or_default();
        return RateTable::shipped(&name).ok_or_else(|| {
            format!(
                "customer {}: custom field {RATE_TABLE_FIELD} names no shipped rate table ({v}); expected one of {}",
                customer.external_id,
                RateTable::shipped_names().join(", ")
            )
        });
    }
    Ok(default.clone())
}

/// One invoice's interest on a note.
#[derive(Debug, Clone, Serialize)]
pub struct NoteLine {
    pub invoice_id: DocumentId,
    pub invoice_number: String,
    /// First and last day charged.
    pub period_from: NaiveDate,
    pub period_to: NaiveDate,
    pub amount: Decimal,
    pub segments: Vec<Segment>,
}

/// A note issued (or, in a dry run, that would be issued).
#[derive(Debug, Clone, Serialize)]
pub struct IssuedNote {
    pub id: InterestNoteId,
    pub document_id: DocumentId,
    pub number: String,
    pub customer_id: CustomerId,
    pub currency: Currency,
    pub total: Decimal,
    pub rate_table: String,
    pub basis: DayCount,
    pub lines: Vec<NoteLine>,
}

#[derive(sqlx::FromRow)]
struct InvoiceRow {
    id: i64,
    number: String,
    currency: String,
    gross_minor: i64,
    due_date: NaiveDate,
}

fn rejected(field: &'static str, message: impl Into<String>) -> StoreError {
    StoreError::Rejected(vec![Rejection::new(0, field, message)])
}

/// Issues the interest notes of one customer as of `as_of`, inside the caller's transaction:
/// one note per currency, covering every invoice and debit note (never interest notes or
/// fees: no interest on interest) that was paid late or is still overdue, for the days no
/// earlier note charged. Returns the notes booked (none when nothing is due or the total is
/// below `settings.minimum`).
pub async fn issue_interest_note_in(
    tx: &mut Tx,
    customer: CustomerId,
    as_of: NaiveDate,
    settings: &NoteSettings,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Vec<IssuedNote>, StoreError> {
    let cust = customer_in(tx, customer).await?;
    let table =
        rate_table_for(&cust, &settings.rate_table).map_err(|m| rejected("custom_fields", m))?;
    let invoices: Vec<InvoiceRow> = on!(&mut *tx, c, DB, PG => {
        sqlx::query_as(
            "SELECT id, number, currency, gross_minor, due_date FROM documents \
             WHERE customer_id = $1 AND kind IN ('invoice', 'debit_note') AND due_date < $2 \
             ORDER BY due_date, id",
        )
        .bind(customer.0)
        .bind(as_of)
        .fetch_all(&mut *c)
        .await
    })?;
    if invoices.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = invoices.iter().map(|i| i.id).collect();
    type Allocs = Vec<(i64, NaiveDate, i64)>;
    type Covered = Vec<(i64, NaiveDate)>;
    let (allocs, covered): (Allocs, Covered) = on!(&mut *tx, c, DB, PG => {
        let allocs = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT target_id, effective_date, amount_minor FROM allocations \
             WHERE {} AND effective_date <= $2 ORDER BY effective_date, id",
            Ids::sql_in(PG, "target_id", 1)
        )))
        .bind(List(ids.clone()))
        .bind(as_of)
        .fetch_all(&mut *c)
        .await?;
        let covered = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT invoice_id, MAX(period_to) FROM interest_note_items WHERE {} GROUP BY invoice_id",
            Ids::sql_in(PG, "invoice_id", 1)
        )))
        .bind(List(ids.clone()))
        .fetch_all(&mut *c)
        .await?;
        Ok::<_, sqlx::Error>((allocs, covered))
    })?;
    let covered: HashMap<i64, NaiveDate> = covered.into_iter().collect();
    let mut paid: HashMap<i64, Vec<(NaiveDate, i64)>> = HashMap::new();
    for (target, date, minor) in allocs {
        paid.entry(target).or_default().push((date, minor));
    }

    let mut by_currency: BTreeMap<Currency, Vec<NoteLine>> = BTreeMap::new();
    for inv in &invoices {
        let currency = Currency::parse(&inv.currency).unwrap_or(Currency::PLN);
        let payments: Vec<Payment> = paid
            .remove(&inv.id)
            .unwrap_or_default()
            .into_iter()
            // Allocations are in the invoice's currency by construction.
            .map(|(date, minor)| Payment {
                date,
                amount: Money::from_minor(minor, currency).amount,
            })
            .collect();
        let principal = Money::from_minor(inv.gross_minor, currency).amount;
        let paid_total: Decimal = payments.iter().map(|p| p.amount).sum();
        // Paid in full by the as-of date: interest runs to the day the last money came in.
        let until = if paid_total >= principal {
            payments.iter().map(|p| p.date).max().unwrap_or(as_of)
        } else {
            as_of
        };
        let interest = compute(&InterestQuery {
            principal,
            currency,
            due: inv.due_date,
            charged_until: covered.get(&inv.id).copied(),
            until,
            payments: &payments,
            basis: settings.basis,
            table: &table,
        })
        .map_err(|e| rejected("rate_table", format!("{}: {e}", inv.number)))?;
        let Some(first) = interest.segments.first() else {
            continue;
        };
        if interest.total <= Decimal::ZERO {
            continue;
        }
        by_currency.entry(currency).or_default().push(NoteLine {
            invoice_id: DocumentId(inv.id),
            invoice_number: inv.number.clone(),
            period_from: first.from,
            // Charged up to `until` even when the money ran out earlier.
            period_to: until,
            amount: interest.total,
            segments: interest.segments,
        });
    }

    let (existing,): (i64,) = on!(&mut *tx, c, DB, PG => {
        sqlx::query_as("SELECT COUNT(*) FROM interest_notes WHERE customer_id = $1")
            .bind(customer.0)
            .fetch_one(&mut *c)
            .await
    })?;
    let mut out = Vec::new();
    for (currency, lines) in by_currency {
        let total: Decimal = lines.iter().map(|l| l.amount).sum();
        if total <= Decimal::ZERO || total < settings.minimum {
            continue;
        }
        let number = format!(
            "IN/{}/{}/{}",
            as_of.format("%Y%m%d"),
            customer.0,
            existing + out.len() as i64 + 1
        );
        let mut input = DocumentInput::new(
            DocumentKind::InterestNote,
            number.clone(),
            CustomerRef::Id(customer),
            currency,
            as_of,
        );
        input.due_date = as_of.checked_add_days(Days::new(u64::from(settings.payment_days)));
        input.memo = Some(format!(
            "Interest for delay as of {as_of}, {} ({})",
            table.name(),
            settings.basis
        ));
        input.lines = lines
            .iter()
            .map(|l| LineInput {
                description: format!(
                    "Interest on {} from {} to {}",
                    l.invoice_number, l.period_from, l.period_to
                ),
                quantity: Decimal::ONE,
                unit_price: l.amount,
                tax_rate: Decimal::ZERO,
            })
            .collect();
        let prepared = prepare_document(&input).map_err(|errors| {
            StoreError::Rejected(
                errors
                    .into_iter()
                    .map(|error| Rejection { item: 0, error })
                    .collect(),
            )
        })?;
        let booked = book_in(tx, &[prepared], actor, now).await?;
        let document_id = booked
            .booked
            .first()
            .map(|b| b.id)
            .ok_or_else(|| StoreError::Conflict(format!("{number} was not booked")))?;
        let total_minor = Money::new(total, currency)
            .and_then(|m| m.to_minor())
            .map_err(|e| rejected("total", e.to_string()))?;
        let detail = serde_json::to_string(&lines).unwrap_or_else(|_| "[]".into());
        let (note_id,): (i64,) = on!(&mut *tx, c, DB, PG => {
            sqlx::query_as(
                "INSERT INTO interest_notes (document_id, customer_id, currency, as_of, rate_table, basis, \
                 total_minor, status, prepared_at, prepared_by, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'prepared', $8, $9, $10) RETURNING id",
            )
            .bind(document_id.0)
            .bind(customer.0)
            .bind(currency.code().to_string())
            .bind(as_of)
            .bind(table.name().to_string())
            .bind(settings.basis.as_str())
            .bind(total_minor)
            .bind(now)
            .bind(actor.as_str().to_string())
            .bind(detail)
            .fetch_one(&mut *c)
            .await
        })?;
        for l in &lines {
            let amount_minor = Money::new(l.amount, currency)
                .and_then(|m| m.to_minor())
                .map_err(|e| rejected("amount", e.to_string()))?;
            on!(&mut *tx, c, DB, PG => {
                sqlx::query(
                    "INSERT INTO interest_note_items (note_id, invoice_id, period_from, period_to, amount_minor) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(note_id)
                .bind(l.invoice_id.0)
                .bind(l.period_from)
                .bind(l.period_to)
                .bind(amount_minor)
                .execute(&mut *c)
                .await
                .map(|_| ())
            })?;
        }
        tracing::info!(note = %number, customer = customer.0, %total, %currency, invoices = lines.len(), "interest note issued");
        out.push(IssuedNote {
            id: InterestNoteId(note_id),
            document_id,
            number,
            customer_id: customer,
            currency,
            total,
            rate_table: table.name().to_string(),
            basis: settings.basis,
            lines,
        });
    }
    Ok(out)
}

/// What a portfolio run of interest notes did (or would do, in a dry run).
#[derive(Debug, Clone, Serialize)]
pub struct NotesRun {
    pub as_of: NaiveDate,
    pub dry_run: bool,
    /// Customers with an invoice paid late or overdue.
    pub customers_checked: usize,
    pub notes: Vec<IssuedNote>,
    /// Totals of the notes per currency.
    pub totals: BTreeMap<Currency, Decimal>,
    /// Customers whose notes could not be computed, and why (nothing was booked for them).
    pub refused: Vec<RefusedCustomer>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RefusedCustomer {
    pub customer_id: CustomerId,
    pub reason: String,
}

/// A per-step fee (or recovery compensation): booked now, or booked before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum FeeOutcome {
    Charged {
        document_id: DocumentId,
        number: String,
    },
    AlreadyCharged {
        document_id: Option<DocumentId>,
    },
}

/// A fee a scenario step charges.
#[derive(Debug, Clone)]
pub struct FeeCharge<'a> {
    pub case_id: CaseId,
    pub step: &'a str,
    pub customer: CustomerId,
    /// Exact in the currency's minor unit, greater than zero.
    pub amount: Money,
    pub reason: &'a str,
    pub issue_date: NaiveDate,
    /// Days from issue to due date.
    pub payment_days: u32,
}

/// Books a fee document for (case, step) inside the caller's transaction, unless that step of
/// that case already charged one: the primary key of `case_fees` makes it once, ever, even
/// when two workers race (the second waits for the first and finds its row).
pub async fn charge_fee_in(
    tx: &mut Tx,
    fee: &FeeCharge<'_>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<FeeOutcome, StoreError> {
    if fee.amount.amount <= Decimal::ZERO {
        return Err(rejected(
            "amount",
            format!("a fee must be greater than zero, got {}", fee.amount),
        ));
    }
    let claimed: Option<(i64,)> = on!(&mut *tx, c, DB, PG => {
        sqlx::query_as(
            "INSERT INTO case_fees (case_id, step, created_at, created_by) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (case_id, step) DO NOTHING RETURNING case_id",
        )
        .bind(fee.case_id.0)
        .bind(fee.step.to_string())
        .bind(now)
        .bind(actor.as_str().to_string())
        .fetch_optional(&mut *c)
        .await
    })?;
    if claimed.is_none() {
        let (doc,): (Option<i64>,) = on!(&mut *tx, c, DB, PG => {
            sqlx::query_as("SELECT document_id FROM case_fees WHERE case_id = $1 AND step = $2")
                .bind(fee.case_id.0)
                .bind(fee.step.to_string())
                .fetch_one(&mut *c)
                .await
        })?;
        return Ok(FeeOutcome::AlreadyCharged {
            document_id: doc.map(DocumentId),
        });
    }
    let number = format!("FEE/{}/{}", fee.case_id, fee.step);
    let document_id = book_receivable(
        tx,
        DocumentKind::Fee,
        &number,
        fee.customer,
        fee.amount,
        fee.reason,
        fee.issue_date,
        fee.payment_days,
        actor,
        now,
    )
    .await?;
    on!(&mut *tx, c, DB, PG => {
        sqlx::query("UPDATE case_fees SET document_id = $1 WHERE case_id = $2 AND step = $3")
            .bind(document_id.0)
            .bind(fee.case_id.0)
            .bind(fee.step.to_string())
            .execute(&mut *c)
            .await
            .map(|_| ())
    })?;
    tracing::info!(fee = %number, amount = %fee.amount, "fee charged");
    Ok(FeeOutcome::Charged {
        document_id,
        number,
    })
}

/// The recovery compensation to charge for one invoice.
#[derive(Debug, Clone)]
pub struct CompensationCharge<'a> {
    pub invoice: DocumentId,
    pub rule: CompensationRule,
    /// Converts the euro amount into the invoice's currency.
    pub fx: &'a FxTable,
    pub issue_date: NaiveDate,
    /// Days from issue to due date.
    pub payment_days: u32,
}

/// Books the fixed recovery compensation for one invoice (once per invoice) inside the
/// caller's transaction, converted into the invoice's currency.
pub async fn charge_recovery_compensation_in(
    tx: &mut Tx,
    charge: &CompensationCharge<'_>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<FeeOutcome, StoreError> {
    let CompensationCharge {
        invoice,
        rule,
        fx,
        issue_date,
        payment_days,
    } = *charge;
    let row: Option<(String, String, i64, i64, Option<NaiveDate>)> = on!(&mut *tx, c, DB, PG => {
        sqlx::query_as(
            "SELECT number, currency, customer_id, gross_minor, due_date FROM documents \
             WHERE id = $1 AND kind = 'invoice'",
        )
        .bind(invoice.0)
        .fetch_optional(&mut *c)
        .await
    })?;
    let (number, currency, customer_id, gross_minor, due) =
        row.ok_or_else(|| StoreError::NotFound(format!("invoice {invoice}")))?;
    let currency = Currency::parse(&currency).unwrap_or(Currency::PLN);
    let due = due.unwrap_or(issue_date);
    let comp = recovery_compensation(
        rule,
        Money::from_minor(gross_minor, currency).amount,
        currency,
        due,
        fx,
    )
    .map_err(|e| rejected("invoice", format!("{number}: {e}")))?;
    let claimed: Option<(i64,)> = on!(&mut *tx, c, DB, PG => {
        sqlx::query_as(
            "INSERT INTO recovery_compensations (invoice_id, eur_minor, rate_date, eur_pln, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (invoice_id) DO NOTHING RETURNING invoice_id",
        )
        .bind(invoice.0)
        .bind(i64::try_from(comp.eur * Decimal::ONE_HUNDRED).unwrap_or(0))
        .bind(comp.rate_date)
        .bind(comp.eur_pln.map(|r| r.to_string()))
        .bind(now)
        .bind(actor.as_str().to_string())
        .fetch_optional(&mut *c)
        .await
    })?;
    if claimed.is_none() {
        let (doc,): (Option<i64>,) = on!(&mut *tx, c, DB, PG => {
            sqlx::query_as("SELECT document_id FROM recovery_compensations WHERE invoice_id = $1")
                .bind(invoice.0)
                .fetch_one(&mut *c)
                .await
        })?;
        return Ok(FeeOutcome::AlreadyCharged {
            document_id: doc.map(DocumentId),
        });
    }
    let doc_number = format!("RC/{}", invoice.0);
    let rate_text = match (comp.rate_date, comp.eur_pln) {
        (Some(d), Some(r)) => format!(", EUR/PLN {r} of {d}"),
        _ => String::new(),
    };
    let document_id = book_receivable(
        tx,
        DocumentKind::Fee,
        &doc_number,
        CustomerId(customer_id),
        Money::rounded(comp.amount, currency),
        &format!(
            "Recovery compensation EUR {} for {number}{rate_text}",
            comp.eur
        ),
        issue_date,
        payment_days,
        actor,
        now,
    )
    .await?;
    on!(&mut *tx, c, DB, PG => {
        sqlx::query("UPDATE recovery_compensations SET document_id = $1 WHERE invoice_id = $2")
            .bind(document_id.0)
            .bind(invoice.0)
            .execute(&mut *c)
            .await
            .map(|_| ())
    })?;
    Ok(FeeOutcome::Charged {
        document_id,
        number: doc_number,
    })
}

#[allow(clippy::too_many_arguments)]
async fn book_receivable(
    tx: &mut Tx,
    kind: DocumentKind,
    number: &str,
    customer: CustomerId,
    amount: Money,
    description: &str,
    issue_date: NaiveDate,
    payment_days: u32,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<DocumentId, StoreError> {
    let mut input = DocumentInput::new(
        kind,
        number,
        CustomerRef::Id(customer),
        amount.currency,
        issue_date,
    );
    input.due_date = issue_date.checked_add_days(Days::new(u64::from(payment_days)));
    input.lines = vec![LineInput {
        description: description.to_string(),
        quantity: Decimal::ONE,
        unit_price: amount.amount,
        tax_rate: Decimal::ZERO,
    }];
    let prepared = prepare_document(&input).map_err(|errors| {
        StoreError::Rejected(
            errors
                .into_iter()
                .map(|error| Rejection { item: 0, error })
                .collect(),
        )
    })?;
    let booked = book_in(tx, &[prepared], actor, now).await?;
    booked
        .booked
        .first()
        .map(|b| b.id)
        .ok_or_else(|| StoreError::Conflict(format!("{number} was not booked")))
}

/// Where a note is in its correspondence life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoteStatus {
    Prepared,
    Approved,
    Sent,
}

impl NoteStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            NoteStatus::Prepared => "prepared",
            NoteStatus::Approved => "approved",
            NoteStatus::Sent => "sent",
        }
    }

    pub fn parse(s: &str) -> Option<NoteStatus> {
        match s {
            "prepared" => Some(NoteStatus::Prepared),
            "approved" => Some(NoteStatus::Approved),
            "sent" => Some(NoteStatus::Sent),
            _ => None,
        }
    }
}

/// How to order a list of notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoteSort {
    /// By as-of date, then id.
    #[default]
    Date,
    Total,
    Open,
    Customer,
    Number,
}

/// Which notes to list.
#[derive(Debug, Clone, Default)]
pub struct InterestNoteFilter {
    pub customer_id: Option<CustomerId>,
    /// Part of the customer's name or external id, or of the note's number (any case).
    pub search: Option<String>,
    pub status: Option<NoteStatus>,
    /// Only notes with money still open.
    pub open_only: bool,
    pub sort: NoteSort,
    pub descending: bool,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

/// An interest note with its customer, what is still open of it and its lifecycle.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct InterestNote {
    pub id: InterestNoteId,
    pub document_id: DocumentId,
    pub number: String,
    pub customer_id: CustomerId,
    pub customer_external_id: String,
    pub customer_name: String,
    pub currency: Currency,
    #[schema(value_type = String)]
    pub total: Decimal,
    /// What is still owed on the note (zero once paid, credited or written off).
    #[schema(value_type = String)]
    pub open: Decimal,
    pub as_of: NaiveDate,
    pub due_date: Option<NaiveDate>,
    pub rate_table: String,
    pub basis: String,
    pub status: NoteStatus,
    pub prepared_at: DateTime<Utc>,
    pub prepared_by: String,
    pub approved_at: Option<DateTime<Utc>>,
    pub approved_by: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub sent_by: Option<String>,
    /// Per invoice: the period charged, the amount and the segments (rate, days, principal).
    #[schema(value_type = Object)]
    pub lines: serde_json::Value,
}

#[derive(sqlx::FromRow)]
struct NoteRow {
    id: i64,
    document_id: i64,
    number: String,
    customer_id: i64,
    customer_external_id: String,
    customer_name: String,
    currency: String,
    total_minor: i64,
    open_minor: i64,
    as_of: NaiveDate,
    due_date: Option<NaiveDate>,
    rate_table: String,
    basis: String,
    status: String,
    prepared_at: DateTime<Utc>,
    prepared_by: String,
    approved_at: Option<DateTime<Utc>>,
    approved_by: Option<String>,
    sent_at: Option<DateTime<Utc>>,
    sent_by: Option<String>,
    detail: String,
}

impl NoteRow {
    fn into_note(self) -> InterestNote {
        let currency = Currency::parse(&self.currency).unwrap_or(Currency::PLN);
        InterestNote {
            id: InterestNoteId(self.id),
            document_id: DocumentId(self.document_id),
            number: self.number,
            customer_id: CustomerId(self.customer_id),
            customer_external_id: self.customer_external_id,
            customer_name: self.customer_name,
            currency,
            total: Money::from_minor(self.total_minor, currency).amount,
            open: Money::from_minor(self.open_minor, currency).amount,
            as_of: self.as_of,
            due_date: self.due_date,
            rate_table: self.rate_table,
            basis: self.basis,
            status: NoteStatus::parse(&self.status).unwrap_or(NoteStatus::Prepared),
            prepared_at: self.prepared_at,
            prepared_by: self.prepared_by,
            approved_at: self.approved_at,
            approved_by: self.approved_by,
            sent_at: self.sent_at,
            sent_by: self.sent_by,
            lines: serde_json::from_str(&self.detail).unwrap_or(serde_json::Value::Null),
        }
    }
}

const NOTE_SELECT: &str = "SELECT n.id, n.document_id, d.number, n.customer_id, \
    c.external_id AS customer_external_id, c.name AS customer_name, n.currency, n.total_minor, \
    d.gross_minor - COALESCE((SELECT CAST(SUM(a.amount_minor) AS BIGINT) FROM allocations a WHERE a.target_id = d.id), 0) AS open_minor, \
    n.as_of, d.due_date, n.rate_table, n.basis, n.status, n.prepared_at, n.prepared_by, \
    n.approved_at, n.approved_by, n.sent_at, n.sent_by, n.detail \
    FROM interest_notes n JOIN documents d ON d.id = n.document_id JOIN customers c ON c.id = n.customer_id";

async fn note_in(tx: &mut Tx, id: InterestNoteId) -> Result<InterestNote, StoreError> {
    let row: Option<NoteRow> = on!(&mut *tx, c, DB, PG => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{NOTE_SELECT} WHERE n.id = $1")))
            .bind(id.0)
            .fetch_optional(&mut *c)
            .await
    })?;
    row.map(NoteRow::into_note)
        .ok_or_else(|| StoreError::NotFound(format!("interest note {id}")))
}

impl Store {
    /// Customers with an invoice or debit note due before `as_of` that was paid late or is
    /// not paid yet: the ones an interest-note run looks at.
    pub async fn interest_note_candidates(
        &self,
        as_of: NaiveDate,
    ) -> Result<Vec<CustomerId>, StoreError> {
        let mut tx = self.read().await?;
        let rows: Vec<(i64,)> = on!(&mut tx, c, DB, PG => {
            sqlx::query_as(
                "SELECT DISTINCT d.customer_id FROM documents d \
                 LEFT JOIN document_clearings k ON k.document_id = d.id \
                 WHERE d.kind IN ('invoice', 'debit_note') AND d.due_date < $1 \
                   AND (k.cleared_on IS NULL OR k.cleared_on > d.due_date) \
                 ORDER BY d.customer_id",
            )
            .bind(as_of)
            .fetch_all(&mut *c)
            .await
        })?;
        tx.commit().await?;
        Ok(rows.into_iter().map(|r| CustomerId(r.0)).collect())
    }

    /// Issues (or, with `dry_run`, computes and rolls back) the interest notes of the whole
    /// portfolio as of `as_of`, one transaction per customer; `progress(done, total)` is
    /// called after each customer. A customer whose notes cannot be computed (a contractual
    /// rate that does not parse, a period the table does not cover) is reported in `refused`
    /// and the run goes on.
    pub async fn issue_interest_notes(
        &self,
        as_of: NaiveDate,
        settings: &NoteSettings,
        dry_run: bool,
        actor: &Actor,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<NotesRun, StoreError> {
        let customers = self.interest_note_candidates(as_of).await?;
        let mut run = NotesRun {
            as_of,
            dry_run,
            customers_checked: customers.len(),
            notes: Vec::new(),
            totals: BTreeMap::new(),
            refused: Vec::new(),
        };
        for (i, customer) in customers.iter().enumerate() {
            let mut tx = self.write().await?;
            let now = self.clock().now();
            match issue_interest_note_in(&mut tx, *customer, as_of, settings, actor, now).await {
                Ok(notes) => {
                    if dry_run {
                        tx.rollback().await?;
                    } else {
                        tx.commit().await?;
                    }
                    for n in &notes {
                        *run.totals.entry(n.currency).or_default() += n.total;
                    }
                    run.notes.extend(notes);
                }
                Err(StoreError::Rejected(r)) => {
                    tx.rollback().await?;
                    let reason = r
                        .iter()
                        .map(|x| x.error.message.clone())
                        .collect::<Vec<_>>()
                        .join("; ");
                    tracing::warn!(customer = customer.0, %reason, "no interest note");
                    run.refused.push(RefusedCustomer {
                        customer_id: *customer,
                        reason,
                    });
                }
                Err(e) => {
                    tx.rollback().await?;
                    return Err(e);
                }
            }
            progress(i + 1, customers.len());
        }
        Ok(run)
    }

    /// The interest notes of one customer as of a date, in their own transaction.
    pub async fn issue_interest_note(
        &self,
        customer: CustomerId,
        as_of: NaiveDate,
        settings: &NoteSettings,
        actor: &Actor,
    ) -> Result<Vec<IssuedNote>, StoreError> {
        let mut tx = self.write().await?;
        let notes = issue_interest_note_in(
            &mut tx,
            customer,
            as_of,
            settings,
            actor,
            self.clock().now(),
        )
        .await?;
        tx.commit().await?;
        Ok(notes)
    }

    /// Charges a per-step fee once per (case, step), in its own transaction.
    pub async fn charge_fee(
        &self,
        fee: &FeeCharge<'_>,
        actor: &Actor,
    ) -> Result<FeeOutcome, StoreError> {
        let mut tx = self.write().await?;
        let out = charge_fee_in(&mut tx, fee, actor, self.clock().now()).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Charges the recovery compensation of an invoice once, in its own transaction.
    pub async fn charge_recovery_compensation(
        &self,
        invoice: DocumentId,
        rule: CompensationRule,
        fx: &FxTable,
        payment_days: u32,
        actor: &Actor,
    ) -> Result<FeeOutcome, StoreError> {
        let mut tx = self.write().await?;
        let today = self.clock().today();
        let now = self.clock().now();
        let charge = CompensationCharge {
            invoice,
            rule,
            fx,
            issue_date: today,
            payment_days,
        };
        let out = charge_recovery_compensation_in(&mut tx, &charge, actor, now).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// One interest note.
    pub async fn interest_note(&self, id: InterestNoteId) -> Result<InterestNote, StoreError> {
        let mut tx = self.read().await?;
        let note = note_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(note)
    }

    /// Interest notes matching `f`, sorted as it asks.
    pub async fn interest_notes(
        &self,
        f: &InterestNoteFilter,
    ) -> Result<Vec<InterestNote>, StoreError> {
        let order = match f.sort {
            NoteSort::Date => "n.as_of",
            NoteSort::Total => "n.total_minor",
            NoteSort::Open => "open_minor",
            NoteSort::Customer => "c.name",
            NoteSort::Number => "d.number",
        };
        let dir = if f.descending { "DESC" } else { "ASC" };
        let search = f
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| format!("%{}%", s.to_lowercase()));
        let mut tx = self.read().await?;
        let rows: Vec<NoteRow> = on!(&mut tx, c, DB, PG => {
            let open = if f.open_only {
                "AND d.id IN (SELECT document_id FROM open_documents)"
            } else {
                ""
            };
            let sql = format!(
                "{NOTE_SELECT} WHERE ($1 IS NULL OR n.customer_id = $1) AND ($2 IS NULL OR n.status = $2) \
                 AND ($3 IS NULL OR LOWER(c.name) LIKE $3 OR LOWER(c.external_id) LIKE $3 OR LOWER(d.number) LIKE $3) \
                 {open} ORDER BY {order} {dir}, n.id {dir} LIMIT $4 OFFSET $5"
            );
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(f.customer_id.map(|c| c.0))
                .bind(f.status.map(|s| s.as_str()))
                .bind(search.clone())
                .bind(i64::from(f.limit.unwrap_or(u32::MAX >> 1)))
                .bind(i64::from(f.offset.unwrap_or(0)))
                .fetch_all(&mut *c)
                .await
        })?;
        tx.commit().await?;
        Ok(rows.into_iter().map(NoteRow::into_note).collect())
    }

    /// Moves a note along prepared -> approved -> sent, recording who and when. Skipping a
    /// stage or going back is refused, and so is approval by whoever prepared the note (four
    /// eyes: a note issued by a scenario step is prepared by `system`, so any person may
    /// approve it).
    pub async fn set_interest_note_status(
        &self,
        id: InterestNoteId,
        to: NoteStatus,
        actor: &Actor,
    ) -> Result<InterestNote, StoreError> {
        let mut tx = self.write().await?;
        let now = self.clock().now();
        let note = note_in(&mut tx, id).await?;
        let (needed, at_col, by_col) = match to {
            NoteStatus::Approved => (NoteStatus::Prepared, "approved_at", "approved_by"),
            NoteStatus::Sent => (NoteStatus::Approved, "sent_at", "sent_by"),
            NoteStatus::Prepared => {
                return Err(StoreError::Conflict(format!(
                    "interest note {} is {}; a note cannot go back to prepared",
                    note.number,
                    note.status.as_str()
                )));
            }
        };
        if note.status != needed {
            return Err(StoreError::Conflict(format!(
                "interest note {} is {}; only a {} note can become {}",
                note.number,
                note.status.as_str(),
                needed.as_str(),
                to.as_str()
            )));
        }
        if to == NoteStatus::Approved && note.prepared_by == actor.as_str() {
            return Err(StoreError::Conflict(format!(
                "interest note {} was prepared by {}; someone else must approve it",
                note.number, note.prepared_by
            )));
        }
        on!(&mut tx, c, DB, PG => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE interest_notes SET status = $1, {at_col} = $2, {by_col} = $3 WHERE id = $4 AND status = $5"
            )))
            .bind(to.as_str())
            .bind(now)
            .bind(actor.as_str().to_string())
            .bind(id.0)
            .bind(needed.as_str())
            .execute(&mut *c)
            .await
            .map(|_| ())
        })?;
        let note = note_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(note)
    }
}
