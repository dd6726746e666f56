//! Booking documents, allocating money and moving overpayments, on both backends. A batch is
//! booked in one transaction: either every document of it is booked, or none is and every
//! problem is reported with the item and field it concerns.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;

use super::{Conn, Ids, List, Rejection, Store, StoreError, Tx, on, open_items, pg_bulk};
use crate::ids::{AllocationId, CreditOperationId, CustomerId, DocumentId};
use crate::ledger::document::{CustomerRef, DocRef, Document, PreparedLine};
use crate::ledger::{
    Actor, DocumentInput, DocumentKind, FieldError, OpenItem, PathSegment, PreparedDocument,
    allocate_oldest_first, prepare_document,
};
use crate::money::{Currency, Money};

/// The words of the rejection of a document booked before with other content, by which
/// callers (inbound webhooks) tell it from other bad input: it is a conflict with what exists.
pub const CHANGED_ISSUED: &str = "is already issued and differs";

/// Rows per multi-row INSERT: under SQLite's 32766 and PostgreSQL's 65535 bound parameters.
const INSERT_CHUNK: usize = 1000;

/// What a booking did.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct BookingOutcome {
    /// Documents booked now.
    pub booked: Vec<BookedDocument>,
    /// Documents that were already booked with the same content (idempotent re-delivery).
    pub unchanged: Vec<BookedDocument>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BookedDocument {
    /// Position of the document in the batch (0-based).
    pub item: usize,
    pub id: DocumentId,
    pub kind: DocumentKind,
    pub number: String,
    /// Allocations made when this document was booked.
    pub allocations: Vec<AllocationRecord>,
}

/// Money of a reducing document applied to a receivable.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AllocationRecord {
    pub id: AllocationId,
    pub source_id: DocumentId,
    pub target_id: DocumentId,
    pub currency: Currency,
    #[schema(value_type = String)]
    pub amount: Decimal,
    /// The accounting date from which the receivable counts as (partly) settled.
    pub effective_date: NaiveDate,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CreditOperation {
    Refund,
    Transfer,
}

/// A refund or transfer of unallocated money.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CreditRecord {
    pub id: CreditOperationId,
    pub kind: CreditOperation,
    pub source_id: DocumentId,
    pub customer_id: CustomerId,
    pub currency: Currency,
    #[schema(value_type = String)]
    pub amount: Decimal,
    pub effective_date: NaiveDate,
    pub target_customer_id: Option<CustomerId>,
    /// The credit transfer document booked for the receiving customer.
    pub target_document_id: Option<DocumentId>,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// A document with its lines, its allocations and what is still open (receivables) or
/// unallocated (payments, credit notes, credit transfers).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DocumentDetail {
    #[serde(flatten)]
    pub document: Document,
    pub lines: Vec<PreparedLine>,
    /// Allocations to this document (receivable) or from it (reducing document).
    pub allocations: Vec<AllocationRecord>,
    pub credit_operations: Vec<CreditRecord>,
    /// Receivables: the amount still owed.
    #[schema(value_type = Option<String>)]
    pub open: Option<Decimal>,
    /// Reducing documents: the money not yet allocated, refunded or transferred.
    #[schema(value_type = Option<String>)]
    pub unallocated: Option<Decimal>,
}

/// Which documents to list.
#[derive(Debug, Clone, Default)]
pub struct DocumentFilter {
    pub customer_id: Option<CustomerId>,
    pub kinds: Vec<DocumentKind>,
    /// Only receivables with money open, or reducing documents with money unallocated.
    pub open_only: bool,
    /// Keyset pagination: documents with an id greater than this.
    pub after: Option<DocumentId>,
    pub limit: Option<u32>,
}

#[derive(sqlx::FromRow)]
pub(super) struct DocRow {
    id: i64,
    kind: String,
    number: String,
    external_id: Option<String>,
    customer_id: i64,
    buyer_name: String,
    currency: String,
    net_minor: i64,
    tax_minor: i64,
    gross_minor: i64,
    issue_date: NaiveDate,
    due_date: Option<NaiveDate>,
    corrects_id: Option<i64>,
    reference: Option<String>,
    payer_iban: Option<String>,
    memo: Option<String>,
    created_at: DateTime<Utc>,
    created_by: String,
    /// Receivables: open; reducing documents: unallocated.
    remaining_minor: i64,
}

pub(super) const DOC_COLUMNS: &str = "d.id, d.kind, d.number, d.external_id, d.customer_id, d.buyer_name, \
    d.currency, d.net_minor, d.tax_minor, d.gross_minor, d.issue_date, d.due_date, d.corrects_id, \
    d.reference, d.payer_iban, d.memo, d.created_at, d.created_by";

/// Open amount of a receivable or unallocated amount of a reducing document, as SQL over `d`.
pub(crate) const REMAINING_SQL: &str = "CASE WHEN d.kind IN ('invoice','debit_note','interest_note','fee') \
    THEN d.gross_minor - COALESCE((SELECT CAST(SUM(a.amount_minor) AS BIGINT) FROM allocations a WHERE a.target_id = d.id), 0) \
    ELSE d.gross_minor - COALESCE((SELECT CAST(SUM(a.amount_minor) AS BIGINT) FROM allocations a WHERE a.source_id = d.id), 0) \
       - COALESCE((SELECT CAST(SUM(o.amount_minor) AS BIGINT) FROM credit_operations o WHERE o.source_id = d.id), 0) END";

fn currency_of(code: &str) -> Currency {
    // Codes in the store were checked on the way in.
    Currency::parse(code).unwrap_or(Currency::PLN)
}

impl DocRow {
    fn into_document(self) -> (Document, i64) {
        let currency = currency_of(&self.currency);
        let kind = DocumentKind::parse(&self.kind).unwrap_or(DocumentKind::Invoice);
        let m = |v| Money::from_minor(v, currency).amount;
        (
            Document {
                id: DocumentId(self.id),
                kind,
                number: self.number,
                external_id: self.external_id,
                customer_id: CustomerId(self.customer_id),
                buyer_name: self.buyer_name,
                currency,
                net: m(self.net_minor),
                tax: m(self.tax_minor),
                gross: m(self.gross_minor),
                issue_date: self.issue_date,
                due_date: self.due_date,
                corrects_id: self.corrects_id.map(DocumentId),
                reference: self.reference,
                payer_iban: self.payer_iban,
                memo: self.memo,
                created_at: self.created_at,
                created_by: self.created_by,
            },
            self.remaining_minor,
        )
    }
}

/// A document with what remains open or unallocated.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DocumentSummary {
    #[serde(flatten)]
    pub document: Document,
    /// Open amount of a receivable; unallocated amount of a reducing document.
    #[schema(value_type = String)]
    pub remaining: Decimal,
}

#[derive(sqlx::FromRow)]
struct LineRow {
    document_id: i64,
    description: String,
    quantity: String,
    unit_price: String,
    tax_rate: String,
    net_minor: i64,
    tax_minor: i64,
    gross_minor: i64,
}

impl LineRow {
    fn into_line(self) -> PreparedLine {
        let dec = |s: &str| s.parse::<Decimal>().unwrap_or_default();
        PreparedLine {
            description: self.description,
            quantity: dec(&self.quantity),
            unit_price: dec(&self.unit_price),
            tax_rate: dec(&self.tax_rate),
            net_minor: self.net_minor,
            tax_minor: self.tax_minor,
            gross_minor: self.gross_minor,
        }
    }
}

#[derive(sqlx::FromRow)]
struct AllocRow {
    id: i64,
    source_id: i64,
    target_id: i64,
    currency: String,
    amount_minor: i64,
    effective_date: NaiveDate,
    created_at: DateTime<Utc>,
    created_by: String,
}

impl AllocRow {
    fn into_record(self) -> AllocationRecord {
        let currency = currency_of(&self.currency);
        AllocationRecord {
            id: AllocationId(self.id),
            source_id: DocumentId(self.source_id),
            target_id: DocumentId(self.target_id),
            currency,
            amount: Money::from_minor(self.amount_minor, currency).amount,
            effective_date: self.effective_date,
            created_at: self.created_at,
            created_by: self.created_by,
        }
    }
}

#[derive(sqlx::FromRow)]
struct CreditOpRow {
    id: i64,
    kind: String,
    source_id: i64,
    customer_id: i64,
    currency: String,
    amount_minor: i64,
    effective_date: NaiveDate,
    target_customer_id: Option<i64>,
    target_document_id: Option<i64>,
    note: Option<String>,
    created_at: DateTime<Utc>,
    created_by: String,
}

impl CreditOpRow {
    fn into_record(self) -> CreditRecord {
        let currency = currency_of(&self.currency);
        CreditRecord {
            id: CreditOperationId(self.id),
            kind: if self.kind == "refund" {
                CreditOperation::Refund
            } else {
                CreditOperation::Transfer
            },
            source_id: DocumentId(self.source_id),
            customer_id: CustomerId(self.customer_id),
            currency,
            amount: Money::from_minor(self.amount_minor, currency).amount,
            effective_date: self.effective_date,
            target_customer_id: self.target_customer_id.map(CustomerId),
            target_document_id: self.target_document_id.map(DocumentId),
            note: self.note,
            created_at: self.created_at,
            created_by: self.created_by,
        }
    }
}

/// A document row to insert.
struct NewDocRow<'a> {
    doc: &'a PreparedDocument,
    customer_id: i64,
    buyer_name: String,
    corrects_id: Option<i64>,
}

/// A receivable (or credit source) as the booking logic sees it.
#[derive(Debug, Clone)]
struct Receivable {
    id: i64,
    kind: DocumentKind,
    number: String,
    customer_id: i64,
    currency: Currency,
    issue_date: NaiveDate,
    due_date: NaiveDate,
    gross_minor: i64,
    open_minor: i64,
    /// Sum of credit notes already correcting this receivable.
    credited_minor: i64,
}

#[derive(sqlx::FromRow)]
struct ReceivableRow {
    id: i64,
    kind: String,
    number: String,
    customer_id: i64,
    currency: String,
    issue_date: NaiveDate,
    due_date: Option<NaiveDate>,
    gross_minor: i64,
    open_minor: i64,
    credited_minor: i64,
}

impl ReceivableRow {
    fn into_receivable(self) -> Receivable {
        Receivable {
            id: self.id,
            kind: DocumentKind::parse(&self.kind).unwrap_or(DocumentKind::Invoice),
            number: self.number,
            customer_id: self.customer_id,
            currency: currency_of(&self.currency),
            issue_date: self.issue_date,
            due_date: self.due_date.unwrap_or(self.issue_date),
            gross_minor: self.gross_minor,
            open_minor: self.open_minor,
            credited_minor: self.credited_minor,
        }
    }
}

/// The columns of a receivable as booking sees it, over `d`; callers add the FROM clause.
const RECEIVABLE_COLUMNS: &str = "SELECT d.id, d.kind, d.number, d.customer_id, d.currency, d.issue_date, d.due_date, d.gross_minor, \
    d.gross_minor - COALESCE((SELECT CAST(SUM(a.amount_minor) AS BIGINT) FROM allocations a WHERE a.target_id = d.id), 0) AS open_minor, \
    COALESCE((SELECT CAST(SUM(c.gross_minor) AS BIGINT) FROM documents c WHERE c.corrects_id = d.id AND c.kind = 'credit_note'), 0) AS credited_minor";

const RECEIVABLE_KINDS: &str = "d.kind IN ('invoice','debit_note','interest_note','fee')";

/// An allocation decided during booking, before the source document has its id.
struct PlannedAllocation {
    source: usize,
    currency: Currency,
    target_id: i64,
    customer_id: i64,
    amount_minor: i64,
    effective_date: NaiveDate,
}

/// Existing documents with the same (kind, number) or (kind, external id) as an incoming one.
#[derive(sqlx::FromRow)]
struct ExistingRow {
    id: i64,
    kind: String,
    number: String,
    external_id: Option<String>,
    customer_id: i64,
    currency: String,
    net_minor: i64,
    tax_minor: i64,
    gross_minor: i64,
    issue_date: NaiveDate,
    due_date: Option<NaiveDate>,
    reference: Option<String>,
    memo: Option<String>,
}

impl Store {
    /// Checks and books a batch of documents in one transaction: all of them, or none.
    pub async fn book(
        &self,
        inputs: &[DocumentInput],
        actor: &Actor,
    ) -> Result<BookingOutcome, StoreError> {
        self.book_prepared(prepare_all(inputs)?, actor, false).await
    }

    /// Books documents already checked by `prepare_document`, in one transaction. With
    /// `dry_run`, does every check and allocation, reports them, and rolls back.
    pub async fn book_prepared(
        &self,
        docs: Vec<PreparedDocument>,
        actor: &Actor,
        dry_run: bool,
    ) -> Result<BookingOutcome, StoreError> {
        let mut tx = self.write().await?;
        let outcome = book_in(&mut tx, &docs, actor, self.clock.now()).await?;
        if dry_run {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
        }
        Ok(outcome)
    }

    /// The lines of documents, by document id, in line order.
    pub async fn document_lines(
        &self,
        ids: &[DocumentId],
    ) -> Result<HashMap<DocumentId, Vec<PreparedLine>>, StoreError> {
        let mut tx = self.read().await?;
        let rows: Vec<LineRow> = on!(&mut tx, c, DB, PG => {
            let sql = format!(
                "SELECT document_id, description, quantity, unit_price, tax_rate, net_minor, tax_minor, gross_minor \
                 FROM document_lines WHERE {} ORDER BY document_id, line_no",
                Ids::sql_in(PG, "document_id", 1)
            );
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(List(ids.iter().map(|i| i.0).collect()))
                .fetch_all(&mut *c)
                .await
        })?;
        let mut out: HashMap<DocumentId, Vec<PreparedLine>> = HashMap::new();
        for r in rows {
            out.entry(DocumentId(r.document_id))
                .or_default()
                .push(r.into_line());
        }
        Ok(out)
    }

    /// Numbers of documents by id (for exports that name documents by number).
    pub async fn document_numbers(
        &self,
        ids: &[DocumentId],
    ) -> Result<HashMap<DocumentId, String>, StoreError> {
        let mut tx = self.read().await?;
        let rows: Vec<(i64, String)> = on!(&mut tx, c, DB, PG => {
            let sql = format!("SELECT id, number FROM documents WHERE {}", Ids::sql_in(PG, "id", 1));
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(List(ids.iter().map(|i| i.0).collect()))
                .fetch_all(&mut *c)
                .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(id, n)| (DocumentId(id), n))
            .collect())
    }

    /// Allocates `amount` (all that both sides allow, when `None`) of a payment, credit note or
    /// credit transfer to a receivable of the same customer and currency.
    pub async fn allocate(
        &self,
        source: DocumentId,
        target: DocumentId,
        amount: Option<Decimal>,
        actor: &Actor,
    ) -> Result<AllocationRecord, StoreError> {
        let mut tx = self.write().await?;
        let now = self.clock.now();
        let src = load_summary(&mut tx, source).await?;
        let (src_doc, available) = (src.document, src.remaining);
        if src_doc.kind.is_receivable() || src_doc.kind == DocumentKind::WriteOff {
            return Err(StoreError::Rejected(vec![Rejection::new(
                0,
                "source_id",
                format!(
                    "{} {} is a {}; only payments, credit notes and credit transfers can be allocated",
                    src_doc.kind, src_doc.number, src_doc.kind
                ),
            )]));
        }
        let mut targets = load_receivables(&mut tx, &[target.0], &[]).await?;
        let Some(tgt) = targets.pop() else {
            return Err(StoreError::Rejected(vec![Rejection::new(
                0,
                "target_id",
                format!("document {target} is not a receivable in the ledger"),
            )]));
        };
        let available_minor = Money::new(available, src_doc.currency)
            .and_then(|m| m.to_minor())
            .unwrap_or(0);
        let mut problems = Vec::new();
        if tgt.customer_id != src_doc.customer_id.0 {
            problems.push(Rejection::new(
                0,
                "target_id",
                format!(
                    "{} belongs to another customer than {}",
                    tgt.number, src_doc.number
                ),
            ));
        }
        if tgt.currency != src_doc.currency {
            problems.push(Rejection::new(
                0,
                "target_id",
                format!(
                    "{} is in {} but {} is in {}",
                    tgt.number, tgt.currency, src_doc.number, src_doc.currency
                ),
            ));
        }
        let wanted = match amount {
            Some(a) => match Money::new(a, src_doc.currency).and_then(|m| m.to_minor()) {
                Ok(m) if m > 0 => m,
                Ok(_) => {
                    problems.push(Rejection::new(0, "amount", "must be greater than zero"));
                    0
                }
                Err(e) => {
                    problems.push(Rejection::new(0, "amount", e.to_string()));
                    0
                }
            },
            None => available_minor.min(tgt.open_minor),
        };
        if problems.is_empty() {
            if wanted > available_minor {
                problems.push(Rejection::new(
                    0,
                    "amount",
                    format!(
                        "{} has only {} unallocated",
                        src_doc.number,
                        Money::from_minor(available_minor, src_doc.currency)
                    ),
                ));
            }
            if wanted > tgt.open_minor {
                problems.push(Rejection::new(
                    0,
                    "amount",
                    format!(
                        "{} has only {} open",
                        tgt.number,
                        Money::from_minor(tgt.open_minor, tgt.currency)
                    ),
                ));
            }
            if wanted == 0 && problems.is_empty() {
                problems.push(Rejection::new(
                    0,
                    "amount",
                    format!(
                        "nothing to allocate: {} has {} unallocated and {} has {} open",
                        src_doc.number,
                        Money::from_minor(available_minor, src_doc.currency),
                        tgt.number,
                        Money::from_minor(tgt.open_minor, tgt.currency)
                    ),
                ));
            }
        }
        if !problems.is_empty() {
            return Err(StoreError::Rejected(problems));
        }
        let plan = PlannedAllocation {
            source: 0,
            currency: tgt.currency,
            target_id: tgt.id,
            customer_id: tgt.customer_id,
            amount_minor: wanted,
            effective_date: src_doc.issue_date.max(tgt.issue_date),
        };
        let mut records = insert_allocations(&mut tx, &[plan], &[source.0], actor, now).await?;
        open_items::refresh(&mut tx, &[source.0, target.0]).await?;
        tx.commit().await?;
        records
            .pop()
            .ok_or_else(|| StoreError::Conflict("the allocation was not recorded".into()))
    }

    /// Allocates every unallocated credit of a customer (payments, credit notes, transfers) to
    /// its open receivables, oldest due first. Returns the allocations made.
    pub async fn auto_allocate(
        &self,
        customer: CustomerId,
        actor: &Actor,
    ) -> Result<Vec<AllocationRecord>, StoreError> {
        let mut tx = self.write().await?;
        let now = self.clock.now();
        let credits = list_in(
            &mut tx,
            &DocumentFilter {
                customer_id: Some(customer),
                kinds: vec![
                    DocumentKind::Payment,
                    DocumentKind::CreditNote,
                    DocumentKind::CreditTransfer,
                ],
                open_only: true,
                ..Default::default()
            },
        )
        .await?;
        let mut open = load_receivables(&mut tx, &[], &[customer.0]).await?;
        let mut plans = Vec::new();
        let mut sources = Vec::new();
        for credit in &credits {
            let d = &credit.document;
            let available = Money::new(credit.remaining, d.currency)
                .and_then(|m| m.to_minor())
                .unwrap_or(0);
            let mut items: Vec<OpenItem> = open
                .iter()
                .filter(|r| r.currency == d.currency && r.open_minor > 0)
                .map(|r| OpenItem {
                    id: DocumentId(r.id),
                    issue_date: r.issue_date,
                    due_date: r.due_date,
                    open_minor: r.open_minor,
                })
                .collect();
            for (target, amount) in allocate_oldest_first(available, &mut items) {
                if let Some(r) = open.iter_mut().find(|r| r.id == target.0) {
                    r.open_minor -= amount;
                    plans.push(PlannedAllocation {
                        source: sources.len(),
                        currency: r.currency,
                        target_id: r.id,
                        customer_id: customer.0,
                        amount_minor: amount,
                        effective_date: d.issue_date.max(r.issue_date),
                    });
                }
            }
            sources.push(d.id.0);
        }
        let records = insert_allocations(&mut tx, &plans, &sources, actor, now).await?;
        let touched: Vec<i64> = sources
            .iter()
            .copied()
            .chain(plans.iter().map(|p| p.target_id))
            .collect();
        open_items::refresh(&mut tx, &touched).await?;
        tx.commit().await?;
        Ok(records)
    }

    /// Pays back unallocated money of a payment or credit note to the customer.
    pub async fn refund(
        &self,
        source: DocumentId,
        amount: Decimal,
        on: NaiveDate,
        note: Option<String>,
        actor: &Actor,
    ) -> Result<CreditRecord, StoreError> {
        self.credit_operation(
            CreditOperation::Refund,
            source,
            amount,
            on,
            None,
            note,
            actor,
        )
        .await
    }

    /// Moves unallocated money of a payment or credit note to another customer, where it
    /// arrives as a credit transfer document that can be allocated like a payment.
    pub async fn transfer(
        &self,
        source: DocumentId,
        amount: Decimal,
        on: NaiveDate,
        to: CustomerId,
        note: Option<String>,
        actor: &Actor,
    ) -> Result<CreditRecord, StoreError> {
        self.credit_operation(
            CreditOperation::Transfer,
            source,
            amount,
            on,
            Some(to),
            note,
            actor,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn credit_operation(
        &self,
        kind: CreditOperation,
        source: DocumentId,
        amount: Decimal,
        on: NaiveDate,
        to: Option<CustomerId>,
        note: Option<String>,
        actor: &Actor,
    ) -> Result<CreditRecord, StoreError> {
        let mut tx = self.write().await?;
        let now = self.clock.now();
        let src = load_summary(&mut tx, source).await?;
        let doc = &src.document;
        let reject = |field, msg: String| StoreError::Rejected(vec![Rejection::new(0, field, msg)]);
        if doc.kind.is_receivable() || doc.kind == DocumentKind::WriteOff {
            return Err(reject(
                "source_id",
                format!("{} {} holds no money to move", doc.kind, doc.number),
            ));
        }
        let minor = match Money::new(amount, doc.currency).and_then(|m| m.to_minor()) {
            Ok(m) if m > 0 => m,
            Ok(_) => return Err(reject("amount", "must be greater than zero".into())),
            Err(e) => return Err(reject("amount", e.to_string())),
        };
        let available = Money::new(src.remaining, doc.currency)
            .and_then(|m| m.to_minor())
            .unwrap_or(0);
        if minor > available {
            return Err(reject(
                "amount",
                format!(
                    "{} has only {} unallocated",
                    doc.number,
                    Money::from_minor(available, doc.currency)
                ),
            ));
        }
        if on < doc.issue_date {
            return Err(reject(
                "date",
                format!(
                    "{on} is before {} was booked on {}",
                    doc.number, doc.issue_date
                ),
            ));
        }
        let mut target_doc = None;
        if let Some(to) = to {
            if to == doc.customer_id {
                return Err(reject(
                    "to_customer_id",
                    "the money already belongs to this customer".into(),
                ));
            }
            let Some((_, name)) = customer_names(&mut tx, &[to.0], &[]).await?.0.remove(&to.0)
            else {
                return Err(reject(
                    "to_customer_id",
                    format!("customer {to} does not exist"),
                ));
            };
            let (earlier,): (i64,) = on!(&mut tx, c, DB, PG => {
                sqlx::query_as("SELECT COUNT(*) FROM credit_operations WHERE source_id = $1 AND kind = 'transfer'")
                    .bind(source.0)
                    .fetch_one(&mut *c)
                    .await
            })?;
            let number = format!("TR/{}/{}", doc.number, earlier + 1);
            let prepared = PreparedDocument {
                kind: DocumentKind::CreditTransfer,
                number,
                external_id: None,
                customer: CustomerRef::Id(to),
                currency: doc.currency,
                issue_date: on,
                due_date: None,
                lines: Vec::new(),
                net_minor: minor,
                tax_minor: 0,
                gross_minor: minor,
                corrects: None,
                reference: Some(format!("transfer from {}", doc.number)),
                payer_iban: None,
                memo: note.clone(),
                allocate_to: Vec::new(),
                auto_allocate: false,
            };
            let row = NewDocRow {
                doc: &prepared,
                customer_id: to.0,
                buyer_name: name,
                corrects_id: None,
            };
            let ids = insert_documents(&mut tx, &[row], actor, now).await?;
            target_doc = ids.first().map(|(id, _, _)| *id);
        }
        let kind_text = match kind {
            CreditOperation::Refund => "refund",
            CreditOperation::Transfer => "transfer",
        };
        let row: CreditOpRow = on!(&mut tx, c, DB, PG => {
            sqlx::query_as(
                "INSERT INTO credit_operations (kind, source_id, customer_id, amount_minor, effective_date, \
                 target_customer_id, target_document_id, note, created_at, created_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 RETURNING id, kind, source_id, customer_id, $11 AS currency, amount_minor, effective_date, \
                 target_customer_id, target_document_id, note, created_at, created_by",
            )
            .bind(kind_text)
            .bind(source.0)
            .bind(doc.customer_id.0)
            .bind(minor)
            .bind(on)
            .bind(to.map(|c| c.0))
            .bind(target_doc)
            .bind(note.clone())
            .bind(now)
            .bind(actor.as_str().to_string())
            .bind(doc.currency.code().to_string())
            .fetch_one(&mut *c)
            .await
        })?;
        let touched: Vec<i64> = std::iter::once(source.0).chain(target_doc).collect();
        open_items::refresh(&mut tx, &touched).await?;
        tx.commit().await?;
        Ok(row.into_record())
    }

    /// One document with its lines, allocations and credit operations.
    pub async fn document(&self, id: DocumentId) -> Result<DocumentDetail, StoreError> {
        let mut tx = self.read().await?;
        let summary = load_summary(&mut tx, id).await?;
        let (lines, allocs, ops): (Vec<LineRow>, Vec<AllocRow>, Vec<CreditOpRow>) = on!(&mut tx, c, DB, PG => {
            let lines = sqlx::query_as(
                "SELECT document_id, description, quantity, unit_price, tax_rate, net_minor, tax_minor, gross_minor \
                 FROM document_lines WHERE document_id = $1 ORDER BY line_no",
            )
            .bind(id.0)
            .fetch_all(&mut *c)
            .await?;
            let allocs = sqlx::query_as(
                "SELECT a.id, a.source_id, a.target_id, d.currency, a.amount_minor, a.effective_date, a.created_at, a.created_by \
                 FROM allocations a JOIN documents d ON d.id = a.target_id \
                 WHERE a.source_id = $1 OR a.target_id = $1 ORDER BY a.id",
            )
            .bind(id.0)
            .fetch_all(&mut *c)
            .await?;
            let ops = sqlx::query_as(
                "SELECT o.id, o.kind, o.source_id, o.customer_id, d.currency, o.amount_minor, o.effective_date, \
                 o.target_customer_id, o.target_document_id, o.note, o.created_at, o.created_by \
                 FROM credit_operations o JOIN documents d ON d.id = o.source_id \
                 WHERE o.source_id = $1 OR o.target_document_id = $1 ORDER BY o.id",
            )
            .bind(id.0)
            .fetch_all(&mut *c)
            .await?;
            Ok::<_, sqlx::Error>((lines, allocs, ops))
        })?;
        let receivable = summary.document.kind.is_receivable();
        Ok(DocumentDetail {
            lines: lines.into_iter().map(LineRow::into_line).collect(),
            allocations: allocs.into_iter().map(AllocRow::into_record).collect(),
            credit_operations: ops.into_iter().map(CreditOpRow::into_record).collect(),
            open: receivable.then_some(summary.remaining),
            unallocated: (!receivable).then_some(summary.remaining),
            document: summary.document,
        })
    }

    /// The document of `kind` with `number`, if booked.
    pub async fn find_document(
        &self,
        kind: DocumentKind,
        number: &str,
    ) -> Result<Option<DocumentId>, StoreError> {
        let mut tx = self.read().await?;
        let row: Option<(i64,)> = on!(&mut tx, c, DB, PG => {
            sqlx::query_as("SELECT id FROM documents WHERE kind = $1 AND number = $2")
                .bind(kind.as_str())
                .bind(number.to_string())
                .fetch_optional(&mut *c)
                .await
        })?;
        Ok(row.map(|r| DocumentId(r.0)))
    }

    /// Documents matching `filter`, by id.
    pub async fn documents(
        &self,
        filter: &DocumentFilter,
    ) -> Result<Vec<DocumentSummary>, StoreError> {
        let mut tx = self.read().await?;
        list_in(&mut tx, filter).await
    }

    /// Every allocation, in id order, `after` an id (for export and paging).
    pub async fn allocations(
        &self,
        customer: Option<CustomerId>,
        after: Option<AllocationId>,
        limit: u32,
    ) -> Result<Vec<AllocationRecord>, StoreError> {
        let mut tx = self.read().await?;
        let rows: Vec<AllocRow> = on!(&mut tx, c, DB, PG => {
            sqlx::query_as(
                "SELECT a.id, a.source_id, a.target_id, d.currency, a.amount_minor, a.effective_date, a.created_at, a.created_by \
                 FROM allocations a JOIN documents d ON d.id = a.target_id \
                 WHERE a.id > $1 AND ($2 IS NULL OR a.customer_id = $2) ORDER BY a.id LIMIT $3",
            )
            .bind(after.map(|a| a.0).unwrap_or(0))
            .bind(customer.map(|c| c.0))
            .bind(i64::from(limit))
            .fetch_all(&mut *c)
            .await
        })?;
        Ok(rows.into_iter().map(AllocRow::into_record).collect())
    }
}

async fn load_summary(tx: &mut Tx, id: DocumentId) -> Result<DocumentSummary, StoreError> {
    let row: Option<DocRow> = on!(tx, c, DB, PG => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {DOC_COLUMNS}, {REMAINING_SQL} AS remaining_minor FROM documents d WHERE d.id = $1"
        )))
        .bind(id.0)
        .fetch_optional(&mut *c)
        .await
    })?;
    let row = row.ok_or_else(|| StoreError::NotFound(format!("document {id}")))?;
    Ok(summary_of(row))
}

fn summary_of(row: DocRow) -> DocumentSummary {
    let (document, remaining) = row.into_document();
    DocumentSummary {
        remaining: Money::from_minor(remaining, document.currency).amount,
        document,
    }
}

async fn list_in(tx: &mut Tx, f: &DocumentFilter) -> Result<Vec<DocumentSummary>, StoreError> {
    let kinds: Vec<String> = f.kinds.iter().map(|k| k.as_str().to_string()).collect();
    let rows: Vec<DocRow> = on!(tx, c, DB, PG => {
        let kinds_sql = if kinds.is_empty() {
            "TRUE".to_string()
        } else {
            List::<String>::sql_in(PG, "d.kind", 3)
        };
        let open_sql = if f.open_only {
            "AND d.id IN (SELECT document_id FROM open_documents)".to_string()
        } else {
            String::new()
        };
        let sql = format!(
            "SELECT {DOC_COLUMNS}, {REMAINING_SQL} AS remaining_minor FROM documents d \
             WHERE d.id > $1 AND ($2 IS NULL OR d.customer_id = $2) AND {kinds_sql} {open_sql} \
             ORDER BY d.id LIMIT $4"
        );
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(f.after.map(|a| a.0).unwrap_or(0))
            .bind(f.customer_id.map(|c| c.0))
            .bind(List(kinds.clone()))
            .bind(i64::from(f.limit.unwrap_or(u32::MAX >> 1)))
            .fetch_all(&mut *c)
            .await
    })?;
    Ok(rows.into_iter().map(summary_of).collect())
}

/// Customer ids and names for ids and external ids: (by id, by external id).
async fn customer_names(
    tx: &mut Tx,
    ids: &[i64],
    external: &[String],
) -> Result<(HashMap<i64, (i64, String)>, HashMap<String, (i64, String)>), StoreError> {
    let rows: Vec<(i64, String, String)> = on!(tx, c, DB, PG => {
        let sql = format!(
            "SELECT id, external_id, name FROM customers WHERE {} \
             UNION SELECT id, external_id, name FROM customers WHERE {}",
            Ids::sql_in(PG, "id", 1),
            List::<String>::sql_in(PG, "external_id", 2)
        );
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(Ids::from_vec(ids))
            .bind(List(external.to_vec()))
            .fetch_all(&mut *c)
            .await
    })?;
    let mut by_id = HashMap::new();
    let mut by_ext = HashMap::new();
    for (id, ext, name) in rows {
        by_id.insert(id, (id, name.clone()));
        by_ext.insert(ext, (id, name));
    }
    Ok((by_id, by_ext))
}

impl Ids {
    fn from_vec(v: &[i64]) -> Ids {
        List(v.to_vec())
    }
}

/// Receivables by id, or all open receivables of some customers.
///
/// Both lookups are driven from the keys (CROSS JOIN fixes the join order on SQLite): given
/// `d.kind IN (...) AND d.id IN (...)`, SQLite prefers the `(kind, number)` index and walks
/// every receivable in the ledger for each batch, which made a bulk load quadratic.
async fn load_receivables(
    tx: &mut Tx,
    ids: &[i64],
    open_of_customers: &[i64],
) -> Result<Vec<Receivable>, StoreError> {
    let mut rows: Vec<ReceivableRow> = Vec::new();
    if !ids.is_empty() {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        rows = on!(&mut *tx, c, DB, PG => {
            let sql = if PG {
                format!("{RECEIVABLE_COLUMNS} FROM documents d WHERE d.id = ANY($1) AND {RECEIVABLE_KINDS}")
            } else {
                format!(
                    "{RECEIVABLE_COLUMNS} FROM json_each($1) j CROSS JOIN documents d \
                     WHERE d.id = j.value AND {RECEIVABLE_KINDS}"
                )
            };
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(List(ids))
                .fetch_all(&mut *c)
                .await
        })?;
    }
    if !open_of_customers.is_empty() {
        let open: Vec<ReceivableRow> = on!(&mut *tx, c, DB, PG => {
            let sql = format!(
                "{RECEIVABLE_COLUMNS} FROM open_documents o CROSS JOIN documents d \
                 WHERE d.id = o.document_id AND {} AND {RECEIVABLE_KINDS}",
                Ids::sql_in(PG, "o.customer_id", 1)
            );
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(Ids::from_vec(open_of_customers))
                .fetch_all(&mut *c)
                .await
        })?;
        let seen: HashSet<i64> = rows.iter().map(|r| r.id).collect();
        rows.extend(open.into_iter().filter(|r| !seen.contains(&r.id)));
    }
    Ok(rows
        .into_iter()
        .map(ReceivableRow::into_receivable)
        .collect())
}

/// Receivables named by number (any receivable kind).
async fn receivables_by_number(
    tx: &mut Tx,
    numbers: &[String],
) -> Result<Vec<Receivable>, StoreError> {
    if numbers.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<ReceivableRow> = on!(tx, c, DB, PG => {
        let sql = format!(
            "{RECEIVABLE_COLUMNS} FROM documents d WHERE {RECEIVABLE_KINDS} AND {}",
            List::<String>::sql_in(PG, "d.number", 1)
        );
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(List(numbers.to_vec()))
            .fetch_all(&mut *c)
            .await
    })?;
    Ok(rows
        .into_iter()
        .map(ReceivableRow::into_receivable)
        .collect())
}

/// Reserves `n` consecutive-or-not ids of `table` for rows about to be inserted, so that
/// inserts need not return them. SQLite: the write transaction holds the only writer, so the
/// ids after the current maximum are ours. PostgreSQL: drawn from the identity sequence.
async fn reserve_ids(tx: &mut Tx, table: &'static str, n: usize) -> Result<Vec<i64>, StoreError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = on!(tx, c, DB, PG => {
        if PG {
            // The sequence is looked up once: `pg_get_serial_sequence` per row searches the
            // catalog each time and cost 3.5 µs of the 4 µs per id.
            let sql = format!(
                "WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence('{table}', 'id')::regclass AS seq) \
                 SELECT nextval(s.seq) FROM s CROSS JOIN generate_series(1, $1)"
            );
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(n as i64).fetch_all(&mut *c).await
        } else {
            let sql = format!("SELECT COALESCE(MAX(id), 0) FROM {table}");
            let max: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&mut *c).await?;
            Ok((max + 1..=max + n as i64).collect())
        }
    })?;
    Ok(ids)
}

async fn insert_documents(
    tx: &mut Tx,
    rows: &[NewDocRow<'_>],
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Vec<(i64, String, String)>, StoreError> {
    let ids = reserve_ids(tx, "documents", rows.len()).await?;
    let with_ids: Vec<(i64, &NewDocRow)> = ids.iter().copied().zip(rows).collect();
    if let Conn::Postgres(t) = &mut tx.conn {
        let mut cols = pg_bulk::DocumentColumns::default();
        let mut lines = pg_bulk::LineColumns::default();
        for (id, r) in &with_ids {
            let d = r.doc;
            cols.id.push(*id);
            cols.kind.push(d.kind.as_str().to_string());
            cols.number.push(d.number.clone());
            cols.external_id.push(d.external_id.clone());
            cols.customer_id.push(r.customer_id);
            cols.buyer_name.push(r.buyer_name.clone());
            cols.currency.push(d.currency.code().to_string());
            cols.net_minor.push(d.net_minor);
            cols.tax_minor.push(d.tax_minor);
            cols.gross_minor.push(d.gross_minor);
            cols.issue_date.push(d.issue_date);
            cols.due_date.push(d.due_date);
            cols.corrects_id.push(r.corrects_id);
            cols.reference.push(d.reference.clone());
            cols.payer_iban
                .push(d.payer_iban.as_ref().map(|i| i.as_str().to_string()));
            cols.memo.push(d.memo.clone());
            for (i, l) in d.lines.iter().enumerate() {
                lines.document_id.push(*id);
                lines.line_no.push(i as i64 + 1);
                lines.description.push(l.description.clone());
                lines.quantity.push(l.quantity.to_string());
                lines.unit_price.push(l.unit_price.to_string());
                lines.tax_rate.push(l.tax_rate.to_string());
                lines.net_minor.push(l.net_minor);
                lines.tax_minor.push(l.tax_minor);
                lines.gross_minor.push(l.gross_minor);
            }
        }
        if !cols.id.is_empty() {
            pg_bulk::insert_documents(t, cols, now, actor.as_str()).await?;
        }
        if !lines.document_id.is_empty() {
            pg_bulk::insert_lines(t, lines).await?;
        }
        return Ok(with_ids
            .into_iter()
            .map(|(id, r)| (id, r.doc.kind.as_str().to_string(), r.doc.number.clone()))
            .collect());
    }
    for chunk in with_ids.chunks(INSERT_CHUNK) {
        on!(&mut *tx, c, DB, PG => {
            let mut qb = sqlx::QueryBuilder::<DB>::new(
                "INSERT INTO documents (id, kind, number, external_id, customer_id, buyer_name, currency, \
                 net_minor, tax_minor, gross_minor, issue_date, due_date, corrects_id, reference, \
                 payer_iban, memo, created_at, created_by) ",
            );
            qb.push_values(chunk, |mut b, (id, r)| {
                let d = r.doc;
                b.push_bind(*id)
                    .push_bind(d.kind.as_str())
                    .push_bind(d.number.clone())
                    .push_bind(d.external_id.clone())
                    .push_bind(r.customer_id)
                    .push_bind(r.buyer_name.clone())
                    .push_bind(d.currency.code().to_string())
                    .push_bind(d.net_minor)
                    .push_bind(d.tax_minor)
                    .push_bind(d.gross_minor)
                    .push_bind(d.issue_date)
                    .push_bind(d.due_date)
                    .push_bind(r.corrects_id)
                    .push_bind(d.reference.clone())
                    .push_bind(d.payer_iban.as_ref().map(|i| i.as_str().to_string()))
                    .push_bind(d.memo.clone())
                    .push_bind(now)
                    .push_bind(actor.as_str().to_string());
            });
            qb.build().execute(&mut *c).await.map(|_| ())
        })?;
    }
    let lines: Vec<(i64, i64, &PreparedLine)> = with_ids
        .iter()
        .flat_map(|(id, r)| {
            r.doc
                .lines
                .iter()
                .enumerate()
                .map(move |(i, l)| (*id, i as i64 + 1, l))
        })
        .collect();
    for chunk in lines.chunks(INSERT_CHUNK) {
        on!(&mut *tx, c, DB, PG => {
            let mut qb = sqlx::QueryBuilder::<DB>::new(
                "INSERT INTO document_lines (document_id, line_no, description, quantity, unit_price, \
                 tax_rate, net_minor, tax_minor, gross_minor) ",
            );
            qb.push_values(chunk, |mut b, (id, no, l)| {
                b.push_bind(*id)
                    .push_bind(*no)
                    .push_bind(l.description.clone())
                    .push_bind(l.quantity.to_string())
                    .push_bind(l.unit_price.to_string())
                    .push_bind(l.tax_rate.to_string())
                    .push_bind(l.net_minor)
                    .push_bind(l.tax_minor)
                    .push_bind(l.gross_minor);
            });
            qb.build().execute(&mut *c).await.map(|_| ())
        })?;
    }
    Ok(with_ids
        .into_iter()
        .map(|(id, r)| (id, r.doc.kind.as_str().to_string(), r.doc.number.clone()))
        .collect())
}

async fn insert_allocations(
    tx: &mut Tx,
    plans: &[PlannedAllocation],
    source_ids: &[i64],
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Vec<AllocationRecord>, StoreError> {
    let ids = reserve_ids(tx, "allocations", plans.len()).await?;
    let with_ids: Vec<(i64, &PlannedAllocation)> = ids.iter().copied().zip(plans).collect();
    if let Conn::Postgres(t) = &mut tx.conn
        && !with_ids.is_empty()
    {
        let mut cols = pg_bulk::AllocationColumns::default();
        for (id, p) in &with_ids {
            cols.id.push(*id);
            cols.source_id
                .push(source_ids.get(p.source).copied().unwrap_or(0));
            cols.target_id.push(p.target_id);
            cols.customer_id.push(p.customer_id);
            cols.amount_minor.push(p.amount_minor);
            cols.effective_date.push(p.effective_date);
        }
        pg_bulk::insert_allocations(t, cols, now, actor.as_str()).await?;
    }
    let sqlite_chunks: Vec<&[(i64, &PlannedAllocation)]> = if tx.is_postgres() {
        Vec::new()
    } else {
        with_ids.chunks(INSERT_CHUNK).collect()
    };
    for chunk in sqlite_chunks {
        on!(&mut *tx, c, DB, PG => {
            let mut qb = sqlx::QueryBuilder::<DB>::new(
                "INSERT INTO allocations (id, source_id, target_id, customer_id, amount_minor, effective_date, created_at, created_by) ",
            );
            qb.push_values(chunk, |mut b, (id, p)| {
                b.push_bind(*id)
                    .push_bind(source_ids.get(p.source).copied().unwrap_or(0))
                    .push_bind(p.target_id)
                    .push_bind(p.customer_id)
                    .push_bind(p.amount_minor)
                    .push_bind(p.effective_date)
                    .push_bind(now)
                    .push_bind(actor.as_str().to_string());
            });
            qb.build().execute(&mut *c).await.map(|_| ())
        })?;
    }
    Ok(with_ids
        .into_iter()
        .map(|(id, p)| AllocationRecord {
            id: AllocationId(id),
            source_id: DocumentId(source_ids.get(p.source).copied().unwrap_or(0)),
            target_id: DocumentId(p.target_id),
            currency: p.currency,
            amount: Money::from_minor(p.amount_minor, p.currency).amount,
            effective_date: p.effective_date,
            created_at: now,
            created_by: actor.as_str().to_string(),
        })
        .collect())
}

fn at(item: usize, field: &'static str, msg: impl Into<String>) -> Rejection {
    Rejection::new(item, field, msg)
}

fn at_index(item: usize, field: &'static str, index: usize, msg: impl Into<String>) -> Rejection {
    Rejection {
        item,
        error: FieldError {
            path: vec![PathSegment::Field(field), PathSegment::Index(index)],
            message: msg.into(),
        },
    }
}

/// The whole booking of a batch inside `tx`.
/// Checks every input with `prepare_document`; the error lists every item's problems.
pub(super) fn prepare_all(inputs: &[DocumentInput]) -> Result<Vec<PreparedDocument>, StoreError> {
    let mut rejections = Vec::new();
    let mut prepared = Vec::with_capacity(inputs.len());
    for (item, input) in inputs.iter().enumerate() {
        match prepare_document(input) {
            Ok(p) => prepared.push(p),
            Err(errors) => {
                rejections.extend(errors.into_iter().map(|error| Rejection { item, error }))
            }
        }
    }
    if rejections.is_empty() {
        Ok(prepared)
    } else {
        Err(StoreError::Rejected(rejections))
    }
}

pub(super) async fn book_in(
    tx: &mut Tx,
    docs: &[PreparedDocument],
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<BookingOutcome, StoreError> {
    let mut rejections = Vec::new();

    // 1. Customers.
    // Each customer once: a batch usually holds many documents of each.
    let mut ids = HashSet::new();
    let mut externals = HashSet::new();
    for d in docs {
        match &d.customer {
            CustomerRef::Id(id) => {
                ids.insert(id.0);
            }
            CustomerRef::External(e) => {
                externals.insert(e.trim());
            }
        }
    }
    let ids: Vec<i64> = ids.into_iter().collect();
    let externals: Vec<String> = externals.into_iter().map(str::to_string).collect();
    let (by_id, by_ext) = customer_names(tx, &ids, &externals).await?;
    let mut customers: Vec<(i64, String)> = Vec::with_capacity(docs.len());
    for (item, d) in docs.iter().enumerate() {
        let found = match &d.customer {
            CustomerRef::Id(id) => by_id.get(&id.0),
            CustomerRef::External(e) => by_ext.get(e.trim()),
        };
        match found {
            Some(c) => customers.push(c.clone()),
            None => {
                let what = match &d.customer {
                    CustomerRef::Id(id) => format!("customer {id} does not exist"),
                    CustomerRef::External(e) => {
                        format!("no customer has the external id {:?}", e.trim())
                    }
                };
                rejections.push(at(item, "customer", what));
                customers.push((0, String::new()));
            }
        }
    }

    // 2. Duplicates, in the batch and against the ledger. An identical re-delivery is fine.
    let mut seen: HashMap<(DocumentKind, &str), usize> = HashMap::new();
    let mut seen_ext: HashMap<(DocumentKind, &str), usize> = HashMap::new();
    for (item, d) in docs.iter().enumerate() {
        if let Some(first) = seen.insert((d.kind, d.number.as_str()), item) {
            rejections.push(at(
                item,
                "number",
                format!(
                    "{} {} appears twice in this batch (also item {first})",
                    d.kind, d.number
                ),
            ));
        }
        if let Some(ext) = &d.external_id
            && let Some(first) = seen_ext.insert((d.kind, ext.as_str()), item)
        {
            rejections.push(at(
                item,
                "external_id",
                format!("external id {ext:?} appears twice in this batch (also item {first})"),
            ));
        }
    }
    let existing = existing_documents(tx, docs).await?;
    let mut unchanged: Vec<BookedDocument> = Vec::new();
    let mut skip: HashSet<usize> = HashSet::new();
    if !existing.is_empty() {
        let existing_lines = existing_lines(tx, &existing).await?;
        let by_number: HashMap<(&str, &str), &ExistingRow> = existing
            .iter()
            .map(|e| ((e.kind.as_str(), e.number.as_str()), e))
            .collect();
        let by_ext: HashMap<(&str, &str), &ExistingRow> = existing
            .iter()
            .filter_map(|e| Some(((e.kind.as_str(), e.external_id.as_deref()?), e)))
            .collect();
        for (item, d) in docs.iter().enumerate() {
            let kind = d.kind.as_str();
            if let Some(ext) = d.external_id.as_deref()
                && let Some(e) = by_ext.get(&(kind, ext))
                && e.number != d.number
            {
                rejections.push(at(
                    item,
                    "external_id",
                    format!(
                        "external id {ext:?} is already used by {} {}",
                        e.kind, e.number
                    ),
                ));
                continue;
            }
            let Some(e) = by_number.get(&(kind, d.number.as_str())) else {
                continue;
            };
            match differences(d, customers[item].0, e, existing_lines.get(&e.id)) {
                None => {
                    skip.insert(item);
                    unchanged.push(BookedDocument {
                        item,
                        id: DocumentId(e.id),
                        kind: d.kind,
                        number: d.number.clone(),
                        allocations: Vec::new(),
                    });
                }
                Some(diff) => rejections.push(at(
                    item,
                    "number",
                    format!(
                        "{} {} {CHANGED_ISSUED} ({diff}); an issued document cannot change: book a credit note or debit note instead",
                        d.kind, d.number
                    ),
                )),
            }
        }
    }
    if !rejections.is_empty() {
        return Err(StoreError::Rejected(rejections));
    }

    // 3. What reducing documents refer to and the open items of payers, as booked before this
    //    batch; the batch's own receivables join them in memory once inserted.
    let reducers: Vec<usize> = (0..docs.len())
        .filter(|i| !docs[*i].kind.is_receivable() && !skip.contains(i))
        .collect();
    let mut ref_ids = Vec::new();
    let mut ref_numbers = Vec::new();
    for &i in &reducers {
        for r in docs[i].corrects.iter().chain(docs[i].allocate_to.iter()) {
            match r {
                DocRef::Id(id) => ref_ids.push(id.0),
                DocRef::Number(n) => ref_numbers.push(n.trim().to_string()),
            }
        }
    }
    let payer_customers: Vec<i64> = reducers
        .iter()
        .filter(|&&i| docs[i].kind == DocumentKind::Payment && docs[i].auto_allocate)
        .map(|&i| customers[i].0)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut book: HashMap<i64, Receivable> = HashMap::new();
    let mut by_number: HashMap<String, Vec<i64>> = HashMap::new();
    if !reducers.is_empty() {
        for r in load_receivables(tx, &ref_ids, &payer_customers).await? {
            book.insert(r.id, r);
        }
        for r in receivables_by_number(tx, &ref_numbers).await? {
            by_number.entry(r.number.clone()).or_default().push(r.id);
            book.entry(r.id).or_insert(r);
        }
    }

    // 4. Receivables first, so that reducing documents of the same batch can refer to them.
    let receivable_rows: Vec<NewDocRow> = docs
        .iter()
        .enumerate()
        .filter(|(i, d)| d.kind.is_receivable() && !skip.contains(i))
        .map(|(i, d)| NewDocRow {
            doc: d,
            customer_id: customers[i].0,
            buyer_name: customers[i].1.clone(),
            corrects_id: None,
        })
        .collect();
    let mut doc_ids: HashMap<(DocumentKind, String), i64> = HashMap::new();
    let inserted = insert_documents(tx, &receivable_rows, actor, now).await?;
    for (row, (id, _, _)) in receivable_rows.iter().zip(&inserted) {
        let d = row.doc;
        doc_ids.insert((d.kind, d.number.clone()), *id);
        if reducers.is_empty() {
            continue;
        }
        by_number.entry(d.number.clone()).or_default().push(*id);
        book.insert(
            *id,
            Receivable {
                id: *id,
                kind: d.kind,
                number: d.number.clone(),
                customer_id: row.customer_id,
                currency: d.currency,
                issue_date: d.issue_date,
                due_date: d.due_date.unwrap_or(d.issue_date),
                gross_minor: d.gross_minor,
                open_minor: d.gross_minor,
                credited_minor: 0,
            },
        );
    }
    let initial_open: HashMap<i64, i64> = book.iter().map(|(id, r)| (*id, r.open_minor)).collect();
    if reducers.is_empty() {
        index_batch(
            tx,
            docs,
            &skip,
            &doc_ids,
            &customers,
            &book,
            &initial_open,
            &[],
            &[],
        )
        .await?;
        return Ok(finish(docs, &skip, doc_ids, Vec::new(), unchanged));
    }

    // 5. Reducing documents: plan their allocations, then book them.
    let mut open_by_customer: HashMap<(i64, Currency), Vec<i64>> = HashMap::new();
    for r in book.values() {
        open_by_customer
            .entry((r.customer_id, r.currency))
            .or_default()
            .push(r.id);
    }

    let mut plans: Vec<PlannedAllocation> = Vec::new();
    let mut corrects_ids: HashMap<usize, i64> = HashMap::new();
    let mut rejections = Vec::new();
    let mut credits: HashMap<i64, i64> = HashMap::new();
    for &item in &reducers {
        let d = &docs[item];
        let customer_id = customers[item].0;
        let mut left = d.gross_minor;
        let plan = |target: &mut Receivable, amount: i64, plans: &mut Vec<PlannedAllocation>| {
            target.open_minor -= amount;
            plans.push(PlannedAllocation {
                source: item,
                currency: target.currency,
                target_id: target.id,
                customer_id,
                amount_minor: amount,
                effective_date: d.issue_date.max(target.issue_date),
            });
        };
        match d.kind {
            DocumentKind::CreditNote | DocumentKind::WriteOff => {
                let Some(r) = d.corrects.as_ref() else {
                    continue;
                };
                let id = match resolve(
                    &Refs {
                        book: &book,
                        by_number: &by_number,
                        docs,
                        customers: &customers,
                    },
                    item,
                    r,
                    "corrects",
                    None,
                ) {
                    Ok(id) => id,
                    Err(e) => {
                        rejections.push(e);
                        continue;
                    }
                };
                corrects_ids.insert(item, id);
                let Some(target) = book.get_mut(&id) else {
                    continue;
                };
                if d.kind == DocumentKind::CreditNote {
                    let credited = target.credited_minor + credits.get(&id).copied().unwrap_or(0);
                    if d.gross_minor > target.gross_minor - credited {
                        rejections.push(at(
                            item,
                            "lines",
                            format!(
                                "the credit note ({}) exceeds what is left of {} {} to correct ({} of {} already credited)",
                                Money::from_minor(d.gross_minor, d.currency),
                                target.kind,
                                target.number,
                                Money::from_minor(credited, d.currency),
                                Money::from_minor(target.gross_minor, d.currency)
                            ),
                        ));
                        continue;
                    }
                    *credits.entry(id).or_default() += d.gross_minor;
                    let take = left.min(target.open_minor);
                    if take > 0 {
                        plan(target, take, &mut plans);
                    }
                } else {
                    if d.gross_minor > target.open_minor {
                        rejections.push(at(
                            item,
                            "amount",
                            format!(
                                "the write-off ({}) exceeds the open amount of {} {} ({})",
                                Money::from_minor(d.gross_minor, d.currency),
                                target.kind,
                                target.number,
                                Money::from_minor(target.open_minor, d.currency)
                            ),
                        ));
                        continue;
                    }
                    plan(target, d.gross_minor, &mut plans);
                }
            }
            DocumentKind::Payment => {
                for (ix, r) in d.allocate_to.iter().enumerate() {
                    let id = match resolve(
                        &Refs {
                            book: &book,
                            by_number: &by_number,
                            docs,
                            customers: &customers,
                        },
                        item,
                        r,
                        "allocate_to",
                        Some(ix),
                    ) {
                        Ok(id) => id,
                        Err(e) => {
                            rejections.push(e);
                            continue;
                        }
                    };
                    let Some(target) = book.get_mut(&id) else {
                        continue;
                    };
                    let take = left.min(target.open_minor);
                    if take > 0 {
                        plan(target, take, &mut plans);
                        left -= take;
                    }
                }
                if d.auto_allocate && left > 0 {
                    let ids = open_by_customer
                        .get(&(customer_id, d.currency))
                        .cloned()
                        .unwrap_or_default();
                    let mut items: Vec<OpenItem> = ids
                        .iter()
                        .filter_map(|id| book.get(id))
                        .filter(|r| r.open_minor > 0)
                        .map(|r| OpenItem {
                            id: DocumentId(r.id),
                            issue_date: r.issue_date,
                            due_date: r.due_date,
                            open_minor: r.open_minor,
                        })
                        .collect();
                    for (target, amount) in allocate_oldest_first(left, &mut items) {
                        if let Some(t) = book.get_mut(&target.0) {
                            plan(t, amount, &mut plans);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if !rejections.is_empty() {
        return Err(StoreError::Rejected(rejections));
    }

    let reducer_rows: Vec<NewDocRow> = reducers
        .iter()
        .map(|&i| NewDocRow {
            doc: &docs[i],
            customer_id: customers[i].0,
            buyer_name: customers[i].1.clone(),
            corrects_id: corrects_ids.get(&i).copied(),
        })
        .collect();
    for (id, kind, number) in insert_documents(tx, &reducer_rows, actor, now).await? {
        if let Some(k) = DocumentKind::parse(&kind) {
            doc_ids.insert((k, number), id);
        }
    }
    let source_ids: Vec<i64> = docs
        .iter()
        .map(|d| {
            doc_ids
                .get(&(d.kind, d.number.clone()))
                .copied()
                .unwrap_or(0)
        })
        .collect();
    let records = insert_allocations(tx, &plans, &source_ids, actor, now).await?;
    index_batch(
        tx,
        docs,
        &skip,
        &doc_ids,
        &customers,
        &book,
        &initial_open,
        &plans,
        &source_ids,
    )
    .await?;
    Ok(finish(docs, &skip, doc_ids, records, unchanged))
}

/// Keeps the open-items index in step with a booked batch: new documents with money open go
/// in, documents whose money is all allocated are cleared.
#[allow(clippy::too_many_arguments)]
async fn index_batch(
    tx: &mut Tx,
    docs: &[PreparedDocument],
    skip: &HashSet<usize>,
    doc_ids: &HashMap<(DocumentKind, String), i64>,
    customers: &[(i64, String)],
    book: &HashMap<i64, Receivable>,
    initial_open: &HashMap<i64, i64>,
    plans: &[PlannedAllocation],
    source_ids: &[i64],
) -> Result<(), StoreError> {
    let mut allocated_from: HashMap<i64, i64> = HashMap::new();
    let mut last: HashMap<i64, NaiveDate> = HashMap::new();
    for p in plans {
        let source = source_ids.get(p.source).copied().unwrap_or(0);
        *allocated_from.entry(source).or_default() += p.amount_minor;
        for id in [source, p.target_id] {
            let e = last.entry(id).or_insert(p.effective_date);
            *e = (*e).max(p.effective_date);
        }
    }
    let mut opens = Vec::new();
    let mut cleared = Vec::new();
    let mut new_ids = HashSet::new();
    for (item, d) in docs.iter().enumerate() {
        if skip.contains(&item) {
            continue;
        }
        let Some(&id) = doc_ids.get(&(d.kind, d.number.clone())) else {
            continue;
        };
        new_ids.insert(id);
        let remaining = if d.kind.is_receivable() {
            book.get(&id).map(|r| r.open_minor).unwrap_or(d.gross_minor)
        } else {
            d.gross_minor - allocated_from.get(&id).copied().unwrap_or(0)
        };
        if remaining > 0 {
            opens.push(open_items::OpenRow {
                document_id: id,
                customer_id: customers[item].0,
                kind: d.kind.as_str(),
                currency: d.currency.code().to_string(),
                issue_date: d.issue_date,
                due_date: d.due_date,
                gross_minor: d.gross_minor,
            });
        } else if let Some(on) = last.get(&id) {
            cleared.push((id, *on));
        }
    }
    let settled_before: Vec<&Receivable> = book
        .values()
        .filter(|r| !new_ids.contains(&r.id) && r.open_minor == 0)
        .filter(|r| initial_open.get(&r.id).is_some_and(|o| *o > 0))
        .collect();
    // Only receivables with money allocated before this batch have a history to read: one
    // whose open amount was its gross had no allocation, and a receivable is never the
    // source of an allocation or a credit operation, so this batch's allocations are all
    // there is (saves 90,000 lookups in three tables when a bank import pays 90,000 invoices).
    let partly_paid: Vec<i64> = settled_before
        .iter()
        .filter(|r| initial_open.get(&r.id) != Some(&r.gross_minor))
        .map(|r| r.id)
        .collect();
    let history = open_items::last_effective(tx, &partly_paid).await?;
    let settled_before: Vec<i64> = settled_before.iter().map(|r| r.id).collect();
    let mut cleared_listed = Vec::new();
    for id in settled_before {
        let on = match (history.get(&id), last.get(&id)) {
            (Some(a), Some(b)) => (*a).max(*b),
            (Some(a), None) | (None, Some(a)) => *a,
            (None, None) => continue,
        };
        cleared_listed.push((id, on));
    }
    open_items::insert_open(tx, &opens).await?;
    open_items::clear(tx, &cleared, false).await?;
    open_items::clear(tx, &cleared_listed, true).await
}

fn finish(
    docs: &[PreparedDocument],
    skip: &HashSet<usize>,
    doc_ids: HashMap<(DocumentKind, String), i64>,
    allocations: Vec<AllocationRecord>,
    unchanged: Vec<BookedDocument>,
) -> BookingOutcome {
    let mut by_source: HashMap<DocumentId, Vec<AllocationRecord>> = HashMap::new();
    for a in allocations {
        by_source.entry(a.source_id).or_default().push(a);
    }
    let booked = docs
        .iter()
        .enumerate()
        .filter(|(i, _)| !skip.contains(i))
        .filter_map(|(item, d)| {
            let id = DocumentId(*doc_ids.get(&(d.kind, d.number.clone()))?);
            Some(BookedDocument {
                item,
                id,
                kind: d.kind,
                number: d.number.clone(),
                allocations: by_source.remove(&id).unwrap_or_default(),
            })
        })
        .collect();
    BookingOutcome { booked, unchanged }
}

/// Booked documents with the same kind and number, or kind and external id, as any of `docs`.
async fn existing_documents(
    tx: &mut Tx,
    docs: &[PreparedDocument],
) -> Result<Vec<ExistingRow>, StoreError> {
    let mut by_kind: HashMap<DocumentKind, (Vec<String>, Vec<String>)> = HashMap::new();
    for d in docs {
        let e = by_kind.entry(d.kind).or_default();
        e.0.push(d.number.clone());
        if let Some(x) = &d.external_id {
            e.1.push(x.clone());
        }
    }
    let mut out: Vec<ExistingRow> = Vec::new();
    let mut seen = HashSet::new();
    for (kind, (numbers, exts)) in by_kind {
        let rows: Vec<ExistingRow> = on!(&mut *tx, c, DB, PG => {
            const COLUMNS: &str = "SELECT id, kind, number, external_id, customer_id, currency, net_minor, \
                tax_minor, gross_minor, issue_date, due_date, reference, memo FROM documents WHERE kind = $1 AND";
            // Without external ids, the UNION (and the temporary b-tree it sorts through) is
            // pure cost.
            let sql = if exts.is_empty() {
                format!("{COLUMNS} {}", List::<String>::sql_in(PG, "number", 2))
            } else {
                format!(
                    "{COLUMNS} {} UNION {COLUMNS} {}",
                    List::<String>::sql_in(PG, "number", 2),
                    List::<String>::sql_in(PG, "external_id", 3)
                )
            };
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(kind.as_str())
                .bind(List(numbers));
            if !exts.is_empty() {
                q = q.bind(List(exts));
            }
            q.fetch_all(&mut *c).await
        })?;
        out.extend(rows.into_iter().filter(|r| seen.insert(r.id)));
    }
    Ok(out)
}

async fn existing_lines(
    tx: &mut Tx,
    existing: &[ExistingRow],
) -> Result<HashMap<i64, Vec<PreparedLine>>, StoreError> {
    let ids: Vec<i64> = existing.iter().map(|e| e.id).collect();
    let rows: Vec<LineRow> = on!(tx, c, DB, PG => {
        let sql = format!(
            "SELECT document_id, description, quantity, unit_price, tax_rate, net_minor, tax_minor, gross_minor \
             FROM document_lines WHERE {} ORDER BY document_id, line_no",
            Ids::sql_in(PG, "document_id", 1)
        );
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(List(ids))
            .fetch_all(&mut *c)
            .await
    })?;
    let mut out: HashMap<i64, Vec<PreparedLine>> = HashMap::new();
    for r in rows {
        out.entry(r.document_id).or_default().push(r.into_line());
    }
    Ok(out)
}

/// What differs between an incoming document and the booked one with its number, if anything.
fn differences(
    d: &PreparedDocument,
    customer_id: i64,
    e: &ExistingRow,
    lines: Option<&Vec<PreparedLine>>,
) -> Option<String> {
    let mut diffs = Vec::new();
    let cur = d.currency;
    if e.customer_id != customer_id {
        diffs.push("customer".to_string());
    }
    if e.currency != cur.code() {
        diffs.push(format!("currency {} vs {}", e.currency, cur));
    }
    if e.gross_minor != d.gross_minor || e.net_minor != d.net_minor || e.tax_minor != d.tax_minor {
        diffs.push(format!(
            "gross {} booked, {} now",
            Money::from_minor(e.gross_minor, cur),
            Money::from_minor(d.gross_minor, cur)
        ));
    }
    if e.issue_date != d.issue_date {
        diffs.push(format!("issue date {} vs {}", e.issue_date, d.issue_date));
    }
    if e.due_date != d.due_date {
        diffs.push("due date".to_string());
    }
    if d.external_id.is_some() && e.external_id != d.external_id {
        diffs.push("external id".to_string());
    }
    if e.reference != d.reference {
        diffs.push("reference".to_string());
    }
    if e.memo != d.memo && d.kind != DocumentKind::Payment {
        diffs.push("memo".to_string());
    }
    let booked_lines = lines.map(Vec::as_slice).unwrap_or(&[]);
    if diffs.is_empty() && booked_lines != d.lines.as_slice() {
        diffs.push("lines".to_string());
    }
    (!diffs.is_empty()).then(|| diffs.join(", "))
}

/// What a batch's references can point at.
struct Refs<'a> {
    book: &'a HashMap<i64, Receivable>,
    by_number: &'a HashMap<String, Vec<i64>>,
    docs: &'a [PreparedDocument],
    customers: &'a [(i64, String)],
}

/// Resolves a reference of item `item` to a receivable of the same customer and currency.
fn resolve(
    refs: &Refs<'_>,
    item: usize,
    r: &DocRef,
    field: &'static str,
    index: Option<usize>,
) -> Result<i64, Rejection> {
    let fail = |m: String| match index {
        Some(ix) => at_index(item, field, ix, m),
        None => at(item, field, m),
    };
    let id = match r {
        DocRef::Id(id) => refs.book.contains_key(&id.0).then_some(id.0),
        DocRef::Number(n) => match refs.by_number.get(n.trim()).map(Vec::as_slice) {
            Some([one]) => Some(*one),
            Some(many) if many.len() > 1 => {
                return Err(fail(format!(
                    "{n} names {} receivables of different kinds; refer to it by id",
                    many.len()
                )));
            }
            _ => None,
        },
    };
    let Some(id) = id else {
        return Err(fail(format!("{r} is not a receivable in the ledger")));
    };
    let d = &refs.docs[item];
    let Some(target) = refs.book.get(&id) else {
        return Err(fail(format!("{r} is not a receivable in the ledger")));
    };
    if target.customer_id != refs.customers[item].0 {
        return Err(fail(format!(
            "{} {} belongs to another customer",
            target.kind, target.number
        )));
    }
    if target.currency != d.currency {
        return Err(fail(format!(
            "{} {} is in {}, this {} is in {}",
            target.kind, target.number, target.currency, d.kind, d.currency
        )));
    }
    Ok(id)
}
