//! Importing a bank statement file into the ledger: parse, check each statement's balances,
//! leave out entries imported before, net reversals against what they reverse, match the
//! credits to open items, book a payment with explicit allocations for each confident match,
//! and put the rest in the manual-matching queue. All of it in one transaction; a dry run does
//! the same and rolls back.
//!
//! An entry is known by a hash of its account, the bank's reference (or the end-to-end id),
//! the booking date, its side and amount, and its place in the statement: importing the same
//! file twice books nothing twice, and the duplicates are counted.

use std::collections::HashMap;
use std::fmt::{self, Write as _};

use arrears_engine::Currency;
use arrears_engine::ids::CustomerId;
use arrears_engine::ledger::document::{CustomerRef, DocRef};
use arrears_engine::ledger::{Actor, FieldError, prepare_document};
use arrears_engine::store::bank::{BankEntryStatus, NewBankEntry, payment_input};
use arrears_engine::store::{Rejection, Store, StoreError};
use rust_decimal::Decimal;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::matching::{CustomerAccounts, Match, OpenItem, match_payments};
use super::{Entry, EntryStatus, Format, ParseError, Reconciliation, Side, Statement};

/// Matches at least this confident are booked at import; the others wait in the queue.
pub const BOOK_CONFIDENCE: u8 = 60;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(
        "{0}: not a bank statement we can read (MT940, camt.053, camt.054 or CSV); name the format with --bank-format"
    )]
    UnknownFormat(String),
    #[error("{file}: {error}")]
    Parse { file: String, error: ParseError },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One statement of the file, as the summary shows it.
#[derive(Debug, Clone, Serialize)]
pub struct StatementSummary {
    pub id: String,
    pub account: String,
    pub currency: Currency,
    pub opening: Option<Decimal>,
    pub closing: Option<Decimal>,
    pub entries: usize,
    pub credit_count: usize,
    pub credits: Decimal,
    pub debit_count: usize,
    pub debits: Decimal,
    pub reversal_count: usize,
    pub reconciles: bool,
    pub reconciliation: Reconciliation,
}

/// What an import did (or, dry, would do).
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub file: String,
    pub format: Format,
    pub dry_run: bool,
    pub statements: Vec<StatementSummary>,
    /// Entries in the file.
    pub entries: usize,
    /// Payments booked.
    pub booked: usize,
    /// Credits matched to open items and booked with their allocations.
    pub matched: usize,
    /// Credits put in the manual-matching queue.
    pub unmatched: usize,
    /// Entries imported before: left alone.
    pub duplicates: usize,
    /// Credits reversed in the same file: not booked.
    pub reversed: usize,
    /// Reversals of credits (netted in the file, or in `warnings` when they need a person).
    pub reversals: usize,
    /// Debits and entries the bank has not booked: nothing to book.
    pub not_payments: usize,
    /// Money booked as payments, per currency.
    pub booked_amount: Vec<(Currency, Decimal)>,
    /// Money allocated to open items, per currency.
    pub allocated_amount: Vec<(Currency, Decimal)>,
    /// What needs a person: reversals of credits booked before, and the like.
    pub warnings: Vec<String>,
}

/// Where an import is, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Parsed { entries: usize },
    Matched { credits: usize },
    Booked,
}

/// The stable identity of an entry: hex SHA-256 of what makes it this entry.
pub fn entry_identity(statement: &Statement, sequence: usize, e: &Entry) -> String {
    let reference = e
        .bank_reference
        .as_deref()
        .or(e.end_to_end_id.as_deref())
        .unwrap_or("");
    let text = format!(
        "{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}",
        statement.account,
        reference,
        e.booking_date,
        if e.side == Side::Credit { "C" } else { "D" },
        if e.is_reversal { "R" } else { "" },
        e.amount.normalize(),
        sequence
    );
    let digest = Sha256::digest(text.as_bytes());
    let mut hex = String::with_capacity(32);
    for b in digest.iter().take(16) {
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

/// Imports a file. `format` None = detect it from the content.
pub async fn import(
    store: &Store,
    name: &str,
    bytes: &[u8],
    format: Option<Format>,
    dry_run: bool,
    actor: &Actor,
) -> Result<ImportReport, ImportError> {
    import_with(store, name, bytes, format, dry_run, actor, &mut |_| {}).await
}

/// [`import`] reporting its stages.
pub async fn import_with(
    store: &Store,
    name: &str,
    bytes: &[u8],
    format: Option<Format>,
    dry_run: bool,
    actor: &Actor,
    progress: &mut dyn FnMut(Stage),
) -> Result<ImportReport, ImportError> {
    let format = match format.or_else(|| super::detect(bytes)) {
        Some(f) => f,
        None => return Err(ImportError::UnknownFormat(name.to_string())),
    };
    let statements = super::parse(bytes, format).map_err(|error| ImportError::Parse {
        file: name.to_string(),
        error,
    })?;
    let total: usize = statements.iter().map(|s| s.entries.len()).sum();
    progress(Stage::Parsed { entries: total });

    let mut report = ImportReport {
        file: name.to_string(),
        format,
        dry_run,
        statements: statements.iter().map(summary).collect(),
        entries: total,
        booked: 0,
        matched: 0,
        unmatched: 0,
        duplicates: 0,
        reversed: 0,
        reversals: 0,
        not_payments: 0,
        booked_amount: Vec::new(),
        allocated_amount: Vec::new(),
        warnings: Vec::new(),
    };

    // Identities, and which were imported before.
    let mut flat: Vec<(&Statement, usize, &Entry, String)> = Vec::with_capacity(total);
    for s in &statements {
        for (i, e) in s.entries.iter().enumerate() {
            flat.push((s, i, e, entry_identity(s, i, e)));
        }
    }
    let ids: Vec<String> = flat.iter().map(|f| f.3.clone()).collect();
    let known = store.bank_known(&ids).await?;
    report.duplicates = flat.iter().filter(|f| known.contains(&f.3)).count();
    let fresh: Vec<usize> = (0..flat.len())
        .filter(|&i| !known.contains(&flat[i].3))
        .collect();

    // Reversals of credits: netted against the credit they reverse when it is in this file
    // (new), reported when it was imported before.
    let mut amount: HashMap<usize, Decimal> =
        fresh.iter().map(|&i| (i, flat[i].2.amount)).collect();
    let mut notes: HashMap<usize, String> = HashMap::new();
    for &i in &fresh {
        let (s, _, e, _) = &flat[i];
        if !(e.is_reversal && e.side == Side::Debit && e.status == EntryStatus::Booked) {
            continue;
        }
        let same_ref = |o: &Entry| {
            (e.end_to_end_id.is_some() && o.end_to_end_id == e.end_to_end_id)
                || (e.end_to_end_id.is_none()
                    && e.bank_reference.is_some()
                    && o.bank_reference == e.bank_reference)
        };
        let original = fresh.iter().copied().take_while(|&j| j < i).find(|&j| {
            let o = flat[j].2;
            std::ptr::eq(flat[j].0, *s)
                && o.side == Side::Credit
                && !o.is_reversal
                && o.status == EntryStatus::Booked
                && o.currency == e.currency
                && same_ref(o)
                && amount.get(&j).is_some_and(|a| *a >= e.amount)
        });
        if let Some(j) = original {
            if let Some(a) = amount.get_mut(&j) {
                *a -= e.amount;
            }
            notes.insert(
                i,
                format!(
                    "reverses {} of the credit at {}",
                    e.amount, flat[j].2.source
                ),
            );
            continue;
        }
        let reference = e
            .end_to_end_id
            .as_deref()
            .or(e.bank_reference.as_deref())
            .unwrap_or("");
        let earlier = if reference.is_empty() {
            None
        } else {
            store.bank_booked_credit(&s.account, reference).await?
        };
        let warning = match earlier {
            Some(c) => match c.payment_number {
                Some(p) => format!(
                    "the reversal of {} {} at {} reverses a credit imported before, booked as payment {p}: the payment stays booked; refund or correct it by hand",
                    e.amount, e.currency, e.source
                ),
                None => format!(
                    "the reversal of {} {} at {} reverses a credit imported before (bank entry {}) that was not booked: do not match it by hand",
                    e.amount, e.currency, e.source, c.entry_id
                ),
            },
            None => format!(
                "the reversal of {} {} at {} reverses no credit we know of",
                e.amount, e.currency, e.source
            ),
        };
        notes.insert(i, warning.clone());
        report.warnings.push(warning);
    }

    // Matching the credits that are left.
    let candidates: Vec<usize> = fresh
        .iter()
        .copied()
        .filter(|&i| {
            let e = flat[i].2;
            e.side == Side::Credit
                && !e.is_reversal
                && e.status == EntryStatus::Booked
                && amount.get(&i).is_some_and(|a| *a > Decimal::ZERO)
        })
        .collect();
    let (open, ibans) = store.bank_snapshot().await?;
    let items: Vec<OpenItem> = open
        .into_iter()
        .map(|o| OpenItem {
            document: o.document,
            number: o.number,
            customer: o.customer,
            structured_reference: o.reference,
            open: o.open,
            currency: o.currency,
            due_date: o.due_date,
        })
        .collect();
    let mut accounts: HashMap<CustomerId, Vec<String>> = HashMap::new();
    for (c, iban) in ibans {
        accounts.entry(c).or_default().push(iban);
    }
    let accounts: Vec<CustomerAccounts> = accounts
        .into_iter()
        .map(|(customer, accounts)| CustomerAccounts { customer, accounts })
        .collect();
    let to_match: Vec<Entry> = candidates
        .iter()
        .map(|&i| {
            let mut e = flat[i].2.clone();
            e.amount = amount.get(&i).copied().unwrap_or(e.amount);
            e
        })
        .collect();
    let matches = match_payments(&to_match, &items, &accounts);
    progress(Stage::Matched {
        credits: candidates.len(),
    });
    let match_of: HashMap<usize, &Match> = candidates.iter().copied().zip(&matches).collect();

    // The rows to record and the payments to book.
    let mut rows = Vec::with_capacity(fresh.len());
    let mut payments = Vec::new();
    let mut rejections = Vec::new();
    let mut booked_amount: HashMap<Currency, Decimal> = HashMap::new();
    let mut allocated_amount: HashMap<Currency, Decimal> = HashMap::new();
    for &i in &fresh {
        let (s, _, e, identity) = &flat[i];
        let left = amount.get(&i).copied().unwrap_or(e.amount);
        let mut row = NewBankEntry {
            identity: identity.clone(),
            account: s.account.clone(),
            statement_id: s.id.clone(),
            currency: e.currency,
            booking_date: e.booking_date,
            // A credit partly reversed in the same file counts for what is left of it.
            amount: left,
            credit: e.side == Side::Credit,
            is_reversal: e.is_reversal,
            bank_reference: e.bank_reference.clone(),
            end_to_end_id: e.end_to_end_id.clone(),
            structured_reference: e.structured_reference.clone(),
            counterparty_name: e.counterparty_name.clone(),
            counterparty_account: e.counterparty_account.clone(),
            remittance: e.remittance.clone(),
            status: BankEntryStatus::NotPayment,
            payment: None,
            suggested_customer: None,
            confidence: 0,
            reason: "not_a_payment".into(),
            explanation: notes.get(&i).cloned().unwrap_or_else(|| {
                "not money in: a debit, a reversal or an entry not booked".into()
            }),
            suggestion: serde_json::Value::Array(Vec::new()),
        };
        if e.is_reversal && e.side == Side::Debit && e.status == EntryStatus::Booked {
            row.status = BankEntryStatus::Reversal;
            row.reason = "reversal".into();
            report.reversals += 1;
        } else if e.side == Side::Credit
            && !e.is_reversal
            && e.status == EntryStatus::Booked
            && left.is_zero()
        {
            row.status = BankEntryStatus::Reversed;
            row.reason = "reversed".into();
            row.explanation = "reversed by the bank in the same file: nothing booked".into();
            report.reversed += 1;
        } else if let Some(m) = match_of.get(&i) {
            row.suggested_customer = m.customer;
            row.confidence = m.confidence;
            row.reason = serde_json::to_value(m.reason)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            row.explanation = m.explanation.clone();
            if left != e.amount {
                row.explanation = format!(
                    "{}; {} of {} reversed in the same file, {} booked",
                    row.explanation,
                    e.amount - left,
                    e.amount,
                    left
                );
            }
            row.suggestion = serde_json::to_value(&m.allocations).unwrap_or_default();
            match m.customer {
                Some(c) if m.is_matched() && m.confidence >= BOOK_CONFIDENCE => {
                    let input = payment_input(
                        identity,
                        CustomerRef::Id(c),
                        e.currency,
                        e.booking_date,
                        left,
                        &e.remittance,
                        e.counterparty_account.as_deref(),
                        m.allocations
                            .iter()
                            .map(|a| DocRef::Id(a.document))
                            .collect(),
                        false,
                    );
                    match prepare_document(&input) {
                        Ok(p) => {
                            row.status = BankEntryStatus::Booked;
                            row.payment = Some(payments.len());
                            payments.push(p);
                            report.matched += 1;
                            *booked_amount.entry(e.currency).or_default() += left;
                            *allocated_amount.entry(e.currency).or_default() +=
                                m.allocations.iter().map(|a| a.amount).sum::<Decimal>();
                        }
                        Err(errors) => {
                            rejections.extend(errors.into_iter().map(|error| Rejection {
                                item: i,
                                error: FieldError {
                                    path: error.path,
                                    message: format!("entry at {}: {}", e.source, error.message),
                                },
                            }))
                        }
                    }
                }
                _ => {
                    row.status = BankEntryStatus::Queued;
                    report.unmatched += 1;
                }
            }
        }
        if row.status == BankEntryStatus::NotPayment {
            report.not_payments += 1;
        }
        rows.push(row);
    }
    if !rejections.is_empty() {
        return Err(StoreError::Rejected(rejections).into());
    }
    if !rows.is_empty() {
        let outcome = store.import_bank(&rows, payments, dry_run, actor).await?;
        report.booked = outcome.booked.len();
    }
    progress(Stage::Booked);
    let sorted = |m: HashMap<Currency, Decimal>| {
        let mut v: Vec<(Currency, Decimal)> = m.into_iter().collect();
        v.sort_by(|a, b| a.0.code().cmp(b.0.code()));
        v
    };
    report.booked_amount = sorted(booked_amount);
    report.allocated_amount = sorted(allocated_amount);
    Ok(report)
}

fn summary(s: &Statement) -> StatementSummary {
    let t = s.totals();
    let reconciliation = s.reconciles();
    StatementSummary {
        id: s.id.clone(),
        account: s.account.clone(),
        currency: s.currency,
        opening: s.opening.as_ref().map(|b| b.signed()),
        closing: s.closing.as_ref().map(|b| b.signed()),
        entries: s.entries.len(),
        credit_count: t.credit_count,
        credits: t.credits,
        debit_count: t.debit_count,
        debits: t.debits,
        reversal_count: t.reversal_count,
        reconciles: reconciliation.is_reconciled(),
        reconciliation,
    }
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} ({}){}",
            self.file,
            self.format,
            if self.dry_run {
                ": dry run, nothing booked"
            } else {
                ""
            }
        )?;
        for s in &self.statements {
            let bal = |b: Option<Decimal>| b.map(|d| d.to_string()).unwrap_or_else(|| "-".into());
            writeln!(
                f,
                "  statement {} account {} {}: opening {} closing {}; credits {} ({}), debits {} ({}); {}",
                s.id,
                s.account,
                s.currency,
                bal(s.opening),
                bal(s.closing),
                s.credits,
                s.credit_count,
                s.debits,
                s.debit_count,
                s.reconciliation
            )?;
        }
        writeln!(
            f,
            "entries {}: booked {}, matched {}, unmatched {} (queued), duplicates {}, reversed {}, reversals {}, not payments {}",
            self.entries,
            self.booked,
            self.matched,
            self.unmatched,
            self.duplicates,
            self.reversed,
            self.reversals,
            self.not_payments
        )?;
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}
