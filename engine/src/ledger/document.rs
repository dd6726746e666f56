//! Ledger documents and their checks. A document is prepared (validated, its lines and totals
//! computed and rounded) before the store books it; once booked it never changes.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{FieldError, PathSegment, optional_text, text_field};
use crate::ids::{CustomerId, DocumentId};
use crate::ledger::Iban;
use crate::money::{Currency, Money};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    Invoice,
    DebitNote,
    InterestNote,
    Fee,
    Payment,
    CreditNote,
    WriteOff,
    /// Money moved here from another customer's overpayment.
    CreditTransfer,
}

impl DocumentKind {
    pub const ALL: [DocumentKind; 8] = [
        DocumentKind::Invoice,
        DocumentKind::DebitNote,
        DocumentKind::InterestNote,
        DocumentKind::Fee,
        DocumentKind::Payment,
        DocumentKind::CreditNote,
        DocumentKind::WriteOff,
        DocumentKind::CreditTransfer,
    ];
    pub const RECEIVABLES: [DocumentKind; 4] = [
        DocumentKind::Invoice,
        DocumentKind::DebitNote,
        DocumentKind::InterestNote,
        DocumentKind::Fee,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            DocumentKind::Invoice => "invoice",
            DocumentKind::DebitNote => "debit_note",
            DocumentKind::InterestNote => "interest_note",
            DocumentKind::Fee => "fee",
            DocumentKind::Payment => "payment",
            DocumentKind::CreditNote => "credit_note",
            DocumentKind::WriteOff => "write_off",
            DocumentKind::CreditTransfer => "credit_transfer",
        }
    }

    pub fn parse(s: &str) -> Option<DocumentKind> {
        DocumentKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Creates money owed by the customer (as opposed to reducing it).
    pub fn is_receivable(&self) -> bool {
        DocumentKind::RECEIVABLES.contains(self)
    }
}

impl fmt::Display for DocumentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A customer named by our id (a number) or by the billing system's external id (a string).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum CustomerRef {
    Id(CustomerId),
    External(String),
}

/// A document named by our id (a number) or by its document number (a string).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum DocRef {
    Id(DocumentId),
    Number(String),
}

impl fmt::Display for DocRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocRef::Id(id) => write!(f, "document {id}"),
            DocRef::Number(n) => write!(f, "{n}"),
        }
    }
}

/// One line of an invoice, debit note, credit note or fee.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineInput {
    pub description: String,
    #[serde(default = "one")]
    #[schema(value_type = String, example = "1")]
    pub quantity: Decimal,
    /// Net price of one unit.
    #[schema(value_type = String, example = "100.00")]
    pub unit_price: Decimal,
    /// Tax rate in percent, e.g. 23.
    #[serde(default)]
    #[schema(value_type = String, example = "23")]
    pub tax_rate: Decimal,
}

fn one() -> Decimal {
    Decimal::ONE
}

fn auto() -> bool {
    true
}

/// A document as sent by a user or an integrator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentInput {
    pub kind: DocumentKind,
    /// The printed document number, unique per kind (e.g. FV/2026/01/0001).
    pub number: String,
    /// The document's id in the system it came from.
    #[serde(default)]
    pub external_id: Option<String>,
    pub customer: CustomerRef,
    pub currency: Currency,
    /// Issue date; for a payment, the value date.
    pub issue_date: NaiveDate,
    /// Required for receivables.
    #[serde(default)]
    pub due_date: Option<NaiveDate>,
    /// Lines of an invoice, debit note, interest note, fee or credit note.
    #[serde(default)]
    pub lines: Vec<LineInput>,
    /// The amount of a payment or write-off (or of a document without lines).
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "250.00")]
    pub amount: Option<Decimal>,
    /// The receivable a credit note corrects or a write-off writes off.
    #[serde(default)]
    pub corrects: Option<DocRef>,
    /// Payment reference or remittance text.
    #[serde(default)]
    pub reference: Option<String>,
    /// The account a payment came from.
    #[serde(default)]
    pub payer_iban: Option<String>,
    #[serde(default)]
    pub memo: Option<String>,
    /// Receivables a payment pays, in this order, before any automatic allocation.
    #[serde(default)]
    pub allocate_to: Vec<DocRef>,
    /// After explicit allocation, spread what is left over the oldest-due receivables.
    #[serde(default = "auto")]
    pub auto_allocate: bool,
}

impl DocumentInput {
    /// A skeleton with no lines and no amount, to fill in.
    pub fn new(
        kind: DocumentKind,
        number: impl Into<String>,
        customer: CustomerRef,
        currency: Currency,
        issue_date: NaiveDate,
    ) -> DocumentInput {
        DocumentInput {
            kind,
            number: number.into(),
            external_id: None,
            customer,
            currency,
            issue_date,
            due_date: None,
            lines: Vec::new(),
            amount: None,
            corrects: None,
            reference: None,
            payer_iban: None,
            memo: None,
            allocate_to: Vec::new(),
            auto_allocate: true,
        }
    }
}

/// A computed line: amounts in minor units, rounded half-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PreparedLine {
    pub description: String,
    #[schema(value_type = String)]
    pub quantity: Decimal,
    #[schema(value_type = String)]
    pub unit_price: Decimal,
    #[schema(value_type = String)]
    pub tax_rate: Decimal,
    pub net_minor: i64,
    pub tax_minor: i64,
    pub gross_minor: i64,
}

/// A checked document whose totals are final, ready for the store to book.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedDocument {
    pub kind: DocumentKind,
    pub number: String,
    pub external_id: Option<String>,
    pub customer: CustomerRef,
    pub currency: Currency,
    pub issue_date: NaiveDate,
    pub due_date: Option<NaiveDate>,
    pub lines: Vec<PreparedLine>,
    pub net_minor: i64,
    pub tax_minor: i64,
    pub gross_minor: i64,
    pub corrects: Option<DocRef>,
    pub reference: Option<String>,
    pub payer_iban: Option<Iban>,
    pub memo: Option<String>,
    pub allocate_to: Vec<DocRef>,
    pub auto_allocate: bool,
}

const MAX_MINOR: i64 = 1_000_000_000_000_000; // 10^15 minor units: far above any invoice

fn to_minor(amount: Decimal, currency: Currency) -> Option<i64> {
    Money::rounded(amount, currency)
        .to_minor()
        .ok()
        .filter(|m| m.abs() < MAX_MINOR)
}

/// Checks a document and computes its lines and totals. Every problem is reported, each with
/// the path of its field.
pub fn prepare_document(input: &DocumentInput) -> Result<PreparedDocument, Vec<FieldError>> {
    let mut errors = Vec::new();
    let kind = input.kind;
    let currency = input.currency;
    let number = text_field("number", &input.number, 100, &mut errors);
    let external_id = optional_text(
        "external_id",
        input.external_id.as_deref(),
        100,
        &mut errors,
    );
    let reference = optional_text("reference", input.reference.as_deref(), 500, &mut errors);
    let memo = optional_text("memo", input.memo.as_deref(), 2000, &mut errors);
    if let CustomerRef::External(e) = &input.customer
        && e.trim().is_empty()
    {
        errors.push(FieldError::new("customer", "must name a customer"));
    }
    let payer_iban = match input.payer_iban.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => match Iban::parse(s) {
            Ok(i) => Some(i),
            Err(m) => {
                errors.push(FieldError::new("payer_iban", m));
                None
            }
        },
        _ => None,
    };

    if kind == DocumentKind::CreditTransfer {
        errors.push(FieldError::new(
            "kind",
            "credit transfers are made by transferring an overpayment, not booked directly",
        ));
    }

    let takes_lines = kind.is_receivable() || kind == DocumentKind::CreditNote;
    let mut lines = Vec::new();
    if !takes_lines && !input.lines.is_empty() {
        errors.push(FieldError::new(
            "lines",
            format!("a {kind} has an amount, not lines"),
        ));
    }
    if takes_lines {
        for (i, line) in input.lines.iter().enumerate() {
            let at = [PathSegment::Field("lines"), PathSegment::Index(i)];
            let before = errors.len();
            let description = text_field("description", &line.description, 500, &mut errors);
            if line.quantity <= Decimal::ZERO {
                errors.push(FieldError::new("quantity", "must be greater than zero"));
            }
            if line.unit_price < Decimal::ZERO {
                errors.push(FieldError::new(
                    "unit_price",
                    "must not be negative (a reduction is a credit note)",
                ));
            }
            if line.tax_rate < Decimal::ZERO || line.tax_rate > Decimal::ONE_HUNDRED {
                errors.push(FieldError::new(
                    "tax_rate",
                    "must be a percentage from 0 to 100",
                ));
            }
            let net = line
                .quantity
                .checked_mul(line.unit_price)
                .and_then(|n| to_minor(n, currency));
            let Some(net_minor) = net else {
                errors.push(FieldError::new(
                    "unit_price",
                    "the line amount is out of range",
                ));
                continue;
            };
            let tax = Money::from_minor(net_minor, currency).amount * line.tax_rate
                / Decimal::ONE_HUNDRED;
            let tax_minor = to_minor(tax, currency).unwrap_or(0);
            for e in errors.iter_mut().skip(before) {
                *e = e.clone().within(&at);
            }
            lines.push(PreparedLine {
                description,
                quantity: line.quantity.normalize(),
                unit_price: line.unit_price.normalize(),
                tax_rate: line.tax_rate.normalize(),
                net_minor,
                tax_minor,
                gross_minor: net_minor + tax_minor,
            });
        }
    }

    let (net_minor, tax_minor, gross_minor) = match (input.amount, lines.is_empty()) {
        (Some(amount), true) => match Money::new(amount, currency).and_then(|m| m.to_minor()) {
            Ok(m) if m > 0 && m < MAX_MINOR => {
                if takes_lines {
                    lines.push(PreparedLine {
                        description: memo.clone().unwrap_or_else(|| kind.to_string()),
                        quantity: Decimal::ONE,
                        unit_price: amount.normalize(),
                        tax_rate: Decimal::ZERO,
                        net_minor: m,
                        tax_minor: 0,
                        gross_minor: m,
                    });
                }
                (m, 0, m)
            }
            Ok(_) => {
                errors.push(FieldError::new("amount", "must be greater than zero"));
                (0, 0, 0)
            }
            Err(e) => {
                errors.push(FieldError::new("amount", e.to_string()));
                (0, 0, 0)
            }
        },
        (Some(_), false) if !input.lines.is_empty() => {
            errors.push(FieldError::new(
                "amount",
                "give either lines or an amount, not both",
            ));
            (0, 0, 0)
        }
        (None, true) if errors.iter().all(|e| e.field() != "lines") => {
            if takes_lines {
                errors.push(FieldError::new(
                    "lines",
                    format!("a {kind} needs at least one line (or an amount)"),
                ));
            } else {
                errors.push(FieldError::new(
                    "amount",
                    format!("a {kind} needs an amount"),
                ));
            }
            (0, 0, 0)
        }
        _ => {
            let net: i64 = lines.iter().map(|l| l.net_minor).sum();
            let tax: i64 = lines.iter().map(|l| l.tax_minor).sum();
            if net + tax <= 0 && !lines.is_empty() && errors.is_empty() {
                errors.push(FieldError::new(
                    "lines",
                    "the total must be greater than zero",
                ));
            }
            if (net + tax).abs() >= MAX_MINOR {
                errors.push(FieldError::new("lines", "the total is out of range"));
            }
            (net, tax, net + tax)
        }
    };

    let due_date = if kind.is_receivable() {
        match input.due_date {
            None => {
                errors.push(FieldError::new(
                    "due_date",
                    format!("a {kind} needs a due date"),
                ));
                None
            }
            Some(d) if d < input.issue_date => {
                errors.push(FieldError::new(
                    "due_date",
                    format!("{d} is before the issue date {}", input.issue_date),
                ));
                None
            }
            Some(d) => Some(d),
        }
    } else {
        if input.due_date.is_some() {
            errors.push(FieldError::new(
                "due_date",
                format!("a {kind} has no due date"),
            ));
        }
        None
    };

    let needs_target = matches!(kind, DocumentKind::CreditNote | DocumentKind::WriteOff);
    match (&input.corrects, needs_target) {
        (None, true) => errors.push(FieldError::new(
            "corrects",
            format!("a {kind} must name the receivable it applies to"),
        )),
        (Some(_), false) => errors.push(FieldError::new(
            "corrects",
            format!("only credit notes and write-offs correct another document, not a {kind}"),
        )),
        _ => {}
    }
    if kind != DocumentKind::Payment && !input.allocate_to.is_empty() {
        errors.push(FieldError::new(
            "allocate_to",
            "only payments are allocated on booking; use an allocation for other documents",
        ));
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(PreparedDocument {
        kind,
        number,
        external_id,
        customer: input.customer.clone(),
        currency,
        issue_date: input.issue_date,
        due_date,
        lines,
        net_minor,
        tax_minor,
        gross_minor,
        corrects: input.corrects.clone(),
        reference,
        payer_iban,
        memo,
        allocate_to: input.allocate_to.clone(),
        auto_allocate: input.auto_allocate,
    })
}

/// A booked document as stored.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Document {
    pub id: DocumentId,
    pub kind: DocumentKind,
    pub number: String,
    pub external_id: Option<String>,
    pub customer_id: CustomerId,
    /// The customer's name when the document was issued.
    pub buyer_name: String,
    pub currency: Currency,
    #[schema(value_type = String)]
    pub net: Decimal,
    #[schema(value_type = String)]
    pub tax: Decimal,
    #[schema(value_type = String)]
    pub gross: Decimal,
    pub issue_date: NaiveDate,
    pub due_date: Option<NaiveDate>,
    pub corrects_id: Option<DocumentId>,
    pub reference: Option<String>,
    pub payer_iban: Option<String>,
    pub memo: Option<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap_or_default()
    }

    fn invoice() -> DocumentInput {
        let mut d = DocumentInput::new(
            DocumentKind::Invoice,
            "FV/1",
            CustomerRef::External("C1".into()),
            Currency::PLN,
            date("2026-01-10"),
        );
        d.due_date = Some(date("2026-01-24"));
        d.lines = vec![
            LineInput {
                description: "Energy".into(),
                quantity: Decimal::new(3, 0),
                unit_price: Decimal::new(3333, 3),
                tax_rate: Decimal::new(23, 0),
            },
            LineInput {
                description: "Fee".into(),
                quantity: Decimal::ONE,
                unit_price: Decimal::new(1000, 2),
                tax_rate: Decimal::new(8, 0),
            },
        ];
        d
    }

    #[test]
    fn lines_are_rounded_half_up_and_summed() -> Result<(), Vec<FieldError>> {
        let p = prepare_document(&invoice())?;
        // 3 x 3.333 = 9.999 -> 10.00; tax 23% = 2.30; 10.00 + 8% = 0.80
        assert_eq!(
            p.lines
                .iter()
                .map(|l| (l.net_minor, l.tax_minor))
                .collect::<Vec<_>>(),
            vec![(1000, 230), (1000, 80)]
        );
        assert_eq!((p.net_minor, p.tax_minor, p.gross_minor), (2000, 310, 2310));
        Ok(())
    }

    #[test]
    fn bad_fields_are_reported_by_path() {
        let mut d = invoice();
        d.lines[1].quantity = Decimal::ZERO;
        d.due_date = Some(date("2026-01-01"));
        d.payer_iban = Some("XX".into());
        let errs = prepare_document(&d).err().unwrap_or_default();
        let ptrs: Vec<String> = errs.iter().map(FieldError::pointer).collect();
        assert_eq!(ptrs, ["/payer_iban", "/lines/1/quantity", "/due_date"]);
    }

    #[test]
    fn payments_need_a_positive_exact_amount() {
        let mut p = DocumentInput::new(
            DocumentKind::Payment,
            "P1",
            CustomerRef::Id(CustomerId(1)),
            Currency::PLN,
            date("2026-01-10"),
        );
        p.amount = Some(Decimal::new(10005, 3));
        let errs = prepare_document(&p).err().unwrap_or_default();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].pointer(), "/amount");
        p.amount = Some(Decimal::new(1000, 2));
        assert_eq!(prepare_document(&p).map(|d| d.gross_minor), Ok(1000));
    }
}
