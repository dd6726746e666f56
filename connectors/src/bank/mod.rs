//! Bank statements: one model for what banks send (SWIFT MT940, ISO 20022 camt.053 and
//! camt.054, CSV with a column mapping), format detection from the content, and the balance
//! check (opening + credits - debits = closing) that tells precisely where a statement does
//! not add up. Parsing only reads: booking the entries and matching them to invoices belong to
//! the import and to [`matching`]. Bad input is an error that says where (line and column,
//! CSV row and column, XML element path) and what; no input makes a parser panic.

pub mod camt;
pub mod csv;
pub mod import;
pub mod matching;
pub mod mt940;
mod text;

use std::fmt;

use arrears_engine::Currency;
use arrears_engine::ledger::Iban;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;

pub use self::csv::{AmountColumns, CsvMapping, DecimalSeparator};

/// The file formats we read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Mt940,
    /// camt.053 bank-to-customer statement (camt.052 account reports are read the same way).
    Camt053,
    /// camt.054 debit/credit notification: entries without balances.
    Camt054,
    Csv,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Mt940 => "MT940",
            Format::Camt053 => "camt.053",
            Format::Camt054 => "camt.054",
            Format::Csv => "CSV",
        })
    }
}

/// Which way money moved on the statement's account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Money in: the balance goes up.
    Credit,
    /// Money out: the balance goes down.
    Debit,
}

impl Side {
    fn sign(self, amount: Decimal) -> Decimal {
        match self {
            Side::Credit => amount,
            Side::Debit => -amount,
        }
    }

    fn mark(self) -> &'static str {
        match self {
            Side::Credit => "C",
            Side::Debit => "D",
        }
    }
}

/// Where something is in the source file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Position {
    /// A text position, 1-based (MT940).
    Line { line: usize, column: usize },
    /// A CSV row as a spreadsheet numbers it (the header is row 1 unless rows are skipped) and
    /// the column's name, when one is to blame.
    Row { row: usize, column: Option<String> },
    /// An XML element by its path (`/Document/BkToCstmrStmt/Stmt[1]/Ntry[3]/Amt`) and the line
    /// where it starts.
    Xml { line: usize, path: String },
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Line { line, column } => write!(f, "line {line}, column {column}"),
            Position::Row { row, column: None } => write!(f, "row {row}"),
            Position::Row {
                row,
                column: Some(c),
            } => write!(f, "row {row}, column {c:?}"),
            Position::Xml { line, path } => write!(f, "line {line}, element {path}"),
        }
    }
}

/// Bad input: where it is and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{format} {position}: {message}")]
pub struct ParseError {
    pub format: Format,
    pub position: Position,
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(format: Format, position: Position, message: impl Into<String>) -> Self {
        ParseError {
            format,
            position,
            message: message.into(),
        }
    }
}

/// Whether a balance is the final one of a statement or an intermediate one where the bank
/// split a statement over several messages or pages (MT940 `:60M:`/`:62M:`, camt `ITBD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BalanceKind {
    Final,
    Intermediate,
}

/// A booked balance on a date. `amount` is never negative; `side` says whether the account is
/// in credit or in debit (overdrawn).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Balance {
    pub amount: Decimal,
    pub side: Side,
    pub date: NaiveDate,
    pub currency: Currency,
    pub kind: BalanceKind,
}

impl Balance {
    /// The balance as a signed number: positive in credit, negative in debit.
    pub fn signed(&self) -> Decimal {
        self.side.sign(self.amount)
    }
}

impl fmt::Display for Balance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} on {}",
            self.side.mark(),
            self.amount,
            self.currency,
            self.date
        )
    }
}

/// A statement split over several messages: the balance that closed one part and the one that
/// opened the next, after the entry with index `after_entries - 1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Continuation {
    pub after_entries: usize,
    pub closing: Balance,
    pub opening: Balance,
}

/// Whether the bank has booked an entry. Only booked entries move the balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryStatus {
    Booked,
    Pending,
    /// camt `INFO`: for information only, never booked.
    Info,
}

/// Part of a batch: the bank booked one entry for several transactions (camt `TxDtls`), and
/// this entry is one of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchPart {
    /// 1-based index of this part.
    pub part: usize,
    pub of: usize,
    /// The amount the bank booked for the whole batch.
    pub batch_amount: Decimal,
}

/// One movement on the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// The date the bank booked it. When the file has none (MT940 without the optional entry
    /// date), the value date.
    pub booking_date: NaiveDate,
    pub value_date: Option<NaiveDate>,
    /// Never negative; `side` carries the direction.
    pub amount: Decimal,
    pub currency: Currency,
    /// The effect on the balance. A reversal of a credit (MT940 `RC`) is a debit here, with
    /// `is_reversal` set.
    pub side: Side,
    pub is_reversal: bool,
    pub status: EntryStatus,
    /// The bank's own reference (MT940 `//` reference, camt `AcctSvcrRef`).
    pub bank_reference: Option<String>,
    /// The payer's end-to-end id (camt `EndToEndId`, SEPA `EREF+`, MT940 customer reference).
    pub end_to_end_id: Option<String>,
    /// A structured creditor reference (RF reference, camt `CdtrRefInf/Ref`) or a referred
    /// document number given as a structured field.
    pub structured_reference: Option<String>,
    pub counterparty_name: Option<String>,
    /// The counterparty's account with spaces removed and letters upper-cased; usually an
    /// IBAN, sometimes a domestic account number.
    pub counterparty_account: Option<String>,
    /// Unstructured remittance information, joined.
    pub remittance: String,
    /// The bank's transaction code (MT940 `:61:` type and `:86:` GVC, camt `BkTxCd`).
    pub transaction_code: Option<String>,
    pub batch: Option<BatchPart>,
    pub source: Position,
}

impl Entry {
    /// Positive for money in, negative for money out.
    pub fn signed_amount(&self) -> Decimal {
        self.side.sign(self.amount)
    }

    /// The counterparty account as an IBAN, when it is one.
    pub fn counterparty_iban(&self) -> Option<Iban> {
        self.counterparty_account
            .as_deref()
            .and_then(|a| Iban::parse(a).ok())
    }
}

/// One account statement (or one camt.054 notification) of a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Statement {
    pub format: Format,
    /// The account as the file gives it (IBAN, or bank code and account number).
    pub account: String,
    /// The account as an IBAN, when it is one.
    pub iban: Option<Iban>,
    pub currency: Currency,
    /// MT940 `:20:`, camt `Stmt/Id`.
    pub id: String,
    /// MT940 `:28C:` (statement number / sequence), camt electronic or legal sequence number.
    pub sequence: Option<String>,
    pub opening: Option<Balance>,
    pub closing: Option<Balance>,
    /// Where the statement was split over several messages (MT940 `:62M:` then `:60M:`).
    pub continuations: Vec<Continuation>,
    pub entries: Vec<Entry>,
    pub source: Position,
}

/// The credits and debits of a statement's booked entries. A reversal counts against the side
/// it reverses: reversing a credit lowers the credits rather than adding a debit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub credit_count: usize,
    pub credits: Decimal,
    pub debit_count: usize,
    pub debits: Decimal,
    pub reversal_count: usize,
    /// Entries not booked (pending, information only): counted here, not in the sums.
    pub unbooked_count: usize,
}

/// The outcome of checking a statement's balances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Reconciliation {
    Reconciles {
        opening: Decimal,
        credits: Decimal,
        debits: Decimal,
        closing: Decimal,
    },
    Mismatch {
        /// What the entries say the balance should be where the check failed.
        expected: Decimal,
        /// What the bank says it is.
        stated: Decimal,
        /// `stated - expected`.
        difference: Decimal,
        /// The whole story, for a person.
        description: String,
    },
    NotApplicable {
        reason: String,
    },
}

impl Reconciliation {
    pub fn is_reconciled(&self) -> bool {
        matches!(self, Reconciliation::Reconciles { .. })
    }
}

impl fmt::Display for Reconciliation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reconciliation::Reconciles {
                opening,
                credits,
                debits,
                closing,
            } => write!(
                f,
                "reconciles: opening {opening} + credits {credits} - debits {debits} = closing {closing}"
            ),
            Reconciliation::Mismatch { description, .. } => f.write_str(description),
            Reconciliation::NotApplicable { reason } => write!(f, "not applicable: {reason}"),
        }
    }
}

impl Statement {
    /// Credits and debits of the booked entries, reversals netted against what they reverse.
    pub fn totals(&self) -> Totals {
        totals(&self.entries)
    }

    /// Whether the bank split this statement over several messages or pages.
    pub fn has_intermediate_balances(&self) -> bool {
        !self.continuations.is_empty()
            || [&self.opening, &self.closing]
                .into_iter()
                .flatten()
                .any(|b| b.kind == BalanceKind::Intermediate)
    }

    /// Checks opening + credits - debits = closing over the booked entries, part by part when
    /// the statement was split, and says where and by how much it fails.
    pub fn reconciles(&self) -> Reconciliation {
        let (Some(opening), Some(closing)) = (&self.opening, &self.closing) else {
            let reason = match self.format {
                Format::Camt054 => {
                    "a camt.054 notification carries no balances to check".to_string()
                }
                Format::Csv => "a CSV statement carries no balances to check".to_string(),
                _ => format!(
                    "the statement has no {} balance",
                    if self.opening.is_none() {
                        "opening"
                    } else {
                        "closing"
                    }
                ),
            };
            return Reconciliation::NotApplicable { reason };
        };
        if let Some(e) = self
            .entries
            .iter()
            .find(|e| e.status == EntryStatus::Booked && e.currency != self.currency)
        {
            return Reconciliation::NotApplicable {
                reason: format!(
                    "the entry at {} is in {} but the statement is in {}",
                    e.source, e.currency, self.currency
                ),
            };
        }
        for b in [opening, closing].into_iter().chain(
            self.continuations
                .iter()
                .flat_map(|c| [&c.closing, &c.opening]),
        ) {
            if b.currency != self.currency {
                return Reconciliation::NotApplicable {
                    reason: format!(
                        "the balance {b} is not in the statement's currency {}",
                        self.currency
                    ),
                };
            }
        }
        let parts = self.continuations.len() + 1;
        let mut start = opening;
        let mut from = 0usize;
        for (i, part_end) in self
            .continuations
            .iter()
            .map(|c| (c.after_entries, &c.closing, Some(&c.opening)))
            .chain(std::iter::once((self.entries.len(), closing, None)))
            .enumerate()
        {
            let (to, stated, next_opening) = part_end;
            let to = to.clamp(from, self.entries.len());
            let t = totals(&self.entries[from..to]);
            let expected = start.signed() + t.credits - t.debits;
            if expected != stated.signed() {
                let whereabouts = if parts > 1 {
                    format!(" in part {} of {parts}", i + 1)
                } else {
                    String::new()
                };
                return Reconciliation::Mismatch {
                    expected,
                    stated: stated.signed(),
                    difference: stated.signed() - expected,
                    description: format!(
                        "does not reconcile{whereabouts}: opening {} + credits {} ({} entries) - debits {} ({} entries) = {}, but the closing balance is {} (difference {})",
                        start.signed(),
                        t.credits,
                        t.credit_count,
                        t.debits,
                        t.debit_count,
                        expected,
                        stated.signed(),
                        stated.signed() - expected
                    ),
                };
            }
            if let Some(next) = next_opening {
                if next.signed() != stated.signed() {
                    return Reconciliation::Mismatch {
                        expected: stated.signed(),
                        stated: next.signed(),
                        difference: next.signed() - stated.signed(),
                        description: format!(
                            "does not reconcile: part {} of {parts} closes with the intermediate balance {} but part {} opens with {}",
                            i + 1,
                            stated,
                            i + 2,
                            next
                        ),
                    };
                }
                start = next;
            }
            from = to;
        }
        let t = self.totals();
        Reconciliation::Reconciles {
            opening: opening.signed(),
            credits: t.credits,
            debits: t.debits,
            closing: closing.signed(),
        }
    }
}

fn totals(entries: &[Entry]) -> Totals {
    let mut t = Totals {
        credit_count: 0,
        credits: Decimal::ZERO,
        debit_count: 0,
        debits: Decimal::ZERO,
        reversal_count: 0,
        unbooked_count: 0,
    };
    for e in entries {
        if e.status != EntryStatus::Booked {
            t.unbooked_count += 1;
            continue;
        }
        if e.is_reversal {
            t.reversal_count += 1;
        }
        match (e.side, e.is_reversal) {
            (Side::Credit, false) => {
                t.credit_count += 1;
                t.credits += e.amount;
            }
            (Side::Debit, false) => {
                t.debit_count += 1;
                t.debits += e.amount;
            }
            // Money out that undoes a credit.
            (Side::Debit, true) => {
                t.credit_count += 1;
                t.credits -= e.amount;
            }
            // Money in that undoes a debit.
            (Side::Credit, true) => {
                t.debit_count += 1;
                t.debits -= e.amount;
            }
        }
    }
    t
}

/// Recognises the format from the content. `None` when it is none of ours.
pub fn detect(bytes: &[u8]) -> Option<Format> {
    let head = &bytes[..bytes.len().min(64 * 1024)];
    let text = String::from_utf8_lossy(head);
    let trimmed = text
        .trim_start_matches('\u{feff}')
        .trim_start_matches(|c: char| c.is_whitespace() || c == '\u{1}');
    if trimmed.starts_with('<') {
        if text.contains("camt.054") || text.contains("BkToCstmrDbtCdtNtfctn") {
            return Some(Format::Camt054);
        }
        if text.contains("camt.053")
            || text.contains("BkToCstmrStmt")
            || text.contains("camt.052")
            || text.contains("BkToCstmrAcctRpt")
        {
            return Some(Format::Camt053);
        }
        return None;
    }
    if text.contains(":20:")
        && text.contains(":25:")
        && (text.contains(":60F:") || text.contains(":60M:") || text.contains(":61:"))
    {
        return Some(Format::Mt940);
    }
    let mut lines = trimmed.lines().filter(|l| !l.trim().is_empty());
    let first = lines.next()?;
    let delimited = |l: &str| l.contains(';') || l.contains(',') || l.contains('\t');
    if delimited(first) && lines.next().is_some_and(delimited) {
        return Some(Format::Csv);
    }
    None
}

/// Parses a whole file. CSV is read with [`CsvMapping::standard_for`] the file; use
/// [`csv::parse`] with a mapping for anything else.
pub fn parse(bytes: &[u8], format: Format) -> Result<Vec<Statement>, ParseError> {
    match format {
        Format::Mt940 => mt940::parse(bytes),
        Format::Camt053 | Format::Camt054 => camt::parse(bytes),
        Format::Csv => csv::parse(bytes, &CsvMapping::standard_for(bytes)),
    }
}
