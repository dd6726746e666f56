//! Bank statements exported as CSV, read through a column mapping: which column holds the
//! booking date, the amount (one signed column, separate credit and debit columns, or an
//! amount with a credit/debit mark), the currency, the payer's reference, name, account and
//! text. Decimal commas and thousands separators are read as the mapping says. Rows are
//! numbered as a spreadsheet shows them, counting the lines skipped before the header; every
//! error names the row and the column. A CSV file has no balances to check.

use std::collections::HashMap;

use ::csv::{ErrorKind, ReaderBuilder, StringRecord, Trim};
use arrears_engine::Currency;
use arrears_engine::ledger::Iban;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::text::{
    decode, find_creditor_reference, join_text, non_blank, normalise_account, signed_amount,
};
use super::{Entry, EntryStatus, Format, ParseError, Position, Side, Statement};

/// How amounts write their decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecimalSeparator {
    /// `1,234.56`: commas, spaces and apostrophes group thousands.
    Point,
    /// `1.234,56` or `1 234,56`: points, spaces and apostrophes group thousands.
    Comma,
    /// Whichever of `.` and `,` comes last is the decimal separator; a single `,` is one.
    Auto,
}

/// Where the amount and its direction are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AmountColumns {
    /// One column: positive is money in, negative money out.
    Signed { column: String },
    /// Money in one column, money out in another (either may carry a minus sign).
    CreditDebit { credit: String, debit: String },
    /// An unsigned amount and a column whose value says the direction.
    Marked {
        amount: String,
        mark: String,
        credit_marks: Vec<String>,
        debit_marks: Vec<String>,
    },
}

/// Which column holds what. Column names compare case-insensitively; a column the mapping
/// names must be in the header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CsvMapping {
    /// `None`: the one of `;`, `,` and tab the header uses most.
    pub delimiter: Option<char>,
    /// Lines before the header (bank preambles).
    pub skip_lines: usize,
    pub decimal: DecimalSeparator,
    pub date_column: String,
    /// chrono formats tried in order.
    pub date_formats: Vec<String>,
    pub value_date_column: Option<String>,
    pub amount: AmountColumns,
    pub currency_column: Option<String>,
    /// The currency when there is no currency column, or its cell is blank.
    pub currency: Option<Currency>,
    pub account_column: Option<String>,
    /// The account when there is no account column.
    pub account: Option<String>,
    /// The payer's reference (creditor reference or our document number).
    pub reference_column: Option<String>,
    pub end_to_end_column: Option<String>,
    pub bank_reference_column: Option<String>,
    pub name_column: Option<String>,
    pub iban_column: Option<String>,
    /// Free-text columns, joined in this order.
    pub text_columns: Vec<String>,
}

impl Default for CsvMapping {
    /// Columns `date`, `amount` (signed) and `currency`, nothing optional.
    fn default() -> Self {
        CsvMapping {
            delimiter: None,
            skip_lines: 0,
            decimal: DecimalSeparator::Auto,
            date_column: "date".into(),
            date_formats: [
                "%Y-%m-%d", "%d.%m.%Y", "%d-%m-%Y", "%d/%m/%Y", "%Y/%m/%d", "%Y%m%d",
            ]
            .map(String::from)
            .to_vec(),
            value_date_column: None,
            amount: AmountColumns::Signed {
                column: "amount".into(),
            },
            currency_column: Some("currency".into()),
            currency: None,
            account_column: None,
            account: None,
            reference_column: None,
            end_to_end_column: None,
            bank_reference_column: None,
            name_column: None,
            iban_column: None,
            text_columns: Vec::new(),
        }
    }
}

impl CsvMapping {
    /// The default mapping plus those of the standard optional columns (`value_date`,
    /// `account`, `reference`, `end_to_end_id`, `bank_reference`, `name`, `iban`, `text`)
    /// that the file's header has.
    pub fn standard_for(bytes: &[u8]) -> CsvMapping {
        let mut m = CsvMapping::default();
        let text = decode(bytes);
        let header = text.lines().next().unwrap_or("");
        let delimiter = detect_delimiter(header);
        let names: Vec<String> = header
            .split(delimiter)
            .map(|h| h.trim().trim_matches('"').to_ascii_lowercase())
            .collect();
        let has = |n: &str| names.iter().any(|h| h == n).then(|| n.to_string());
        m.value_date_column = has("value_date");
        m.account_column = has("account");
        m.reference_column = has("reference");
        m.end_to_end_column = has("end_to_end_id");
        m.bank_reference_column = has("bank_reference");
        m.name_column = has("name");
        m.iban_column = has("iban");
        m.text_columns = has("text").into_iter().collect();
        m
    }
}

fn detect_delimiter(header: &str) -> char {
    [';', ',', '\t']
        .into_iter()
        .max_by_key(|d| (header.matches(*d).count(), *d == ';'))
        .unwrap_or(';')
}

fn parse_amount(text: &str, decimal: DecimalSeparator) -> Result<Decimal, String> {
    let t: String = text
        .trim()
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\'' && *c != '\u{a0}' && *c != '\u{202f}')
        .collect();
    let (drop, sep) = match decimal {
        DecimalSeparator::Point => (',', '.'),
        DecimalSeparator::Comma => ('.', ','),
        DecimalSeparator::Auto => match (t.rfind('.'), t.rfind(',')) {
            (Some(p), Some(c)) if p > c => (',', '.'),
            (Some(_), Some(_)) => ('.', ','),
            (None, Some(_)) if t.matches(',').count() == 1 => ('.', ','),
            (None, Some(_)) => (',', '.'),
            _ => (',', '.'),
        },
    };
    let cleaned: String = t.chars().filter(|c| *c != drop).collect();
    signed_amount(&cleaned, sep).map_err(|_| format!("expected an amount, got {text:?}"))
}

/// Reads a CSV statement with the given mapping.
pub fn parse(bytes: &[u8], mapping: &CsvMapping) -> Result<Vec<Statement>, ParseError> {
    // The csv crate counts a CRLF record's line before its LF: normalise so rows count right.
    let text = decode(bytes).replace("\r\n", "\n");
    let skip = mapping.skip_lines;
    let mut rest: &str = &text;
    for _ in 0..skip {
        rest = match rest.find('\n') {
            Some(i) => &rest[i + 1..],
            None => "",
        };
    }
    let row_err = |row: usize, column: Option<&str>, msg: String| {
        ParseError::new(
            Format::Csv,
            Position::Row {
                row,
                column: column.map(str::to_string),
            },
            msg,
        )
    };
    let header_row = skip + 1;
    let delimiter = match mapping.delimiter {
        Some(d) => d,
        None => detect_delimiter(rest.lines().next().unwrap_or("")),
    };
    let delimiter = u8::try_from(delimiter).map_err(|_| {
        row_err(
            header_row,
            None,
            format!("the delimiter {delimiter:?} is not a single-byte character"),
        )
    })?;
    let mut reader = ReaderBuilder::new()
        .delimiter(delimiter)
        .trim(Trim::All)
        .flexible(false)
        .from_reader(rest.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| row_err(header_row, None, format!("cannot read the header: {e}")))?
        .clone();
    if header.iter().all(|h| h.trim().is_empty()) {
        return Err(row_err(
            header_row,
            None,
            "the file has no header row".to_string(),
        ));
    }
    let index: HashMap<String, usize> = header
        .iter()
        .enumerate()
        .map(|(i, h)| (h.trim().to_lowercase(), i))
        .collect();
    let col = |name: &str| -> Result<usize, ParseError> {
        index
            .get(&name.trim().to_lowercase())
            .copied()
            .ok_or_else(|| {
                row_err(
                    header_row,
                    Some(name),
                    format!(
                        "the mapping names column {name:?} but the header has {}",
                        header
                            .iter()
                            .map(|h| format!("{h:?}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })
    };
    let opt = |name: &Option<String>| name.as_deref().map(col).transpose();
    let date_c = col(&mapping.date_column)?;
    let value_c = opt(&mapping.value_date_column)?;
    enum Amt {
        Signed(usize),
        CreditDebit(usize, usize),
        Marked(usize, usize),
    }
    let amount_c = match &mapping.amount {
        AmountColumns::Signed { column } => Amt::Signed(col(column)?),
        AmountColumns::CreditDebit { credit, debit } => Amt::CreditDebit(col(credit)?, col(debit)?),
        AmountColumns::Marked { amount, mark, .. } => Amt::Marked(col(amount)?, col(mark)?),
    };
    let currency_c = opt(&mapping.currency_column)?;
    let account_c = opt(&mapping.account_column)?;
    let reference_c = opt(&mapping.reference_column)?;
    let e2e_c = opt(&mapping.end_to_end_column)?;
    let bank_ref_c = opt(&mapping.bank_reference_column)?;
    let name_c = opt(&mapping.name_column)?;
    let iban_c = opt(&mapping.iban_column)?;
    let text_c = mapping
        .text_columns
        .iter()
        .map(|t| col(t))
        .collect::<Result<Vec<_>, _>>()?;
    if currency_c.is_none() && mapping.currency.is_none() {
        return Err(row_err(
            header_row,
            None,
            "the mapping gives neither a currency column nor a currency".to_string(),
        ));
    }

    let mut statements: Vec<Statement> = Vec::new();
    let mut record = StringRecord::new();
    loop {
        let more = reader.read_record(&mut record).map_err(|e| {
            let row = e.position().map_or(header_row, |p| {
                skip + usize::try_from(p.line()).unwrap_or(0)
            });
            let msg = match e.kind() {
                ErrorKind::UnequalLengths {
                    expected_len, len, ..
                } => format!("expected {expected_len} columns as in the header, found {len}"),
                other => format!("cannot read the row: {other:?}"),
            };
            row_err(row, None, msg)
        })?;
        if !more {
            break;
        }
        let row = skip
            + record
                .position()
                .map_or(0, |p| usize::try_from(p.line()).unwrap_or(0));
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let cell = |i: usize| record.get(i).unwrap_or("").trim();
        let name_of = |i: usize| header.get(i).unwrap_or("");
        let err = |i: usize, msg: String| row_err(row, Some(name_of(i)), msg);
        let date = |i: usize| -> Result<NaiveDate, ParseError> {
            let t = cell(i);
            let first = t.split_whitespace().next().unwrap_or("");
            mapping
                .date_formats
                .iter()
                .find_map(|f| {
                    NaiveDate::parse_from_str(t, f)
                        .or_else(|_| NaiveDate::parse_from_str(first, f))
                        .ok()
                })
                .ok_or_else(|| {
                    err(
                        i,
                        format!(
                            "expected a date ({}), got {t:?}",
                            mapping.date_formats.join(" or ")
                        ),
                    )
                })
        };
        let booking_date = date(date_c)?;
        let value_date = match value_c {
            Some(c) if !cell(c).is_empty() => Some(date(c)?),
            _ => None,
        };
        let amount_in = |i: usize| parse_amount(cell(i), mapping.decimal).map_err(|m| err(i, m));
        let (amount, side) = match amount_c {
            Amt::Signed(c) => {
                let a = amount_in(c)?;
                if a.is_sign_negative() && !a.is_zero() {
                    (-a, Side::Debit)
                } else {
                    (a, Side::Credit)
                }
            }
            Amt::CreditDebit(cr, db) => {
                let credit = (!cell(cr).is_empty())
                    .then(|| amount_in(cr))
                    .transpose()?
                    .filter(|a| !a.is_zero());
                let debit = (!cell(db).is_empty())
                    .then(|| amount_in(db))
                    .transpose()?
                    .filter(|a| !a.is_zero());
                match (credit, debit) {
                    (Some(c), None) => (c.abs(), Side::Credit),
                    (None, Some(d)) => (d.abs(), Side::Debit),
                    (Some(_), Some(_)) => {
                        return Err(err(
                            db,
                            format!(
                                "both {:?} and {:?} hold an amount; expected one of them",
                                name_of(cr),
                                name_of(db)
                            ),
                        ));
                    }
                    (None, None) => {
                        return Err(err(
                            cr,
                            format!(
                                "neither {:?} nor {:?} holds an amount",
                                name_of(cr),
                                name_of(db)
                            ),
                        ));
                    }
                }
            }
            Amt::Marked(a, m) => {
                let amount = amount_in(a)?;
                let mark = cell(m);
                let (credit_marks, debit_marks) = match &mapping.amount {
                    AmountColumns::Marked {
                        credit_marks,
                        debit_marks,
                        ..
                    } => (credit_marks.as_slice(), debit_marks.as_slice()),
                    _ => (&[][..], &[][..]),
                };
                let side = if credit_marks.iter().any(|c| c.eq_ignore_ascii_case(mark)) {
                    Side::Credit
                } else if debit_marks.iter().any(|c| c.eq_ignore_ascii_case(mark)) {
                    Side::Debit
                } else {
                    return Err(err(
                        m,
                        format!(
                            "expected one of {} (credit) or {} (debit), got {mark:?}",
                            credit_marks.join(", "),
                            debit_marks.join(", ")
                        ),
                    ));
                };
                if amount.is_sign_negative() && !amount.is_zero() {
                    return Err(err(
                        a,
                        "expected an amount without sign; the mark column gives the direction"
                            .to_string(),
                    ));
                }
                (amount, side)
            }
        };
        let currency = match currency_c.map(cell).filter(|c| !c.is_empty()) {
            Some(c) => {
                Currency::parse(c).map_err(|e| err(currency_c.unwrap_or(0), e.to_string()))?
            }
            None => mapping.currency.ok_or_else(|| {
                err(
                    currency_c.unwrap_or(0),
                    "the currency is blank and the mapping gives none".to_string(),
                )
            })?,
        };
        let account = account_c
            .map(cell)
            .and_then(normalise_account)
            .or_else(|| mapping.account.as_deref().and_then(normalise_account))
            .unwrap_or_default();
        let remittance = join_text(text_c.iter().map(|&c| cell(c)));
        let structured_reference = reference_c
            .map(cell)
            .and_then(non_blank)
            .or_else(|| find_creditor_reference(&remittance));
        let entry = Entry {
            booking_date,
            value_date,
            amount,
            currency,
            side,
            is_reversal: false,
            status: EntryStatus::Booked,
            bank_reference: bank_ref_c.map(cell).and_then(non_blank),
            end_to_end_id: e2e_c.map(cell).and_then(non_blank),
            structured_reference,
            counterparty_name: name_c.map(cell).and_then(non_blank),
            counterparty_account: iban_c.map(cell).and_then(normalise_account),
            remittance,
            transaction_code: None,
            batch: None,
            source: Position::Row { row, column: None },
        };
        match statements
            .iter_mut()
            .find(|s| s.account == account && s.currency == currency)
        {
            Some(s) => s.entries.push(entry),
            None => statements.push(Statement {
                format: Format::Csv,
                iban: Iban::parse(&account).ok(),
                account,
                currency,
                id: String::new(),
                sequence: None,
                opening: None,
                closing: None,
                continuations: Vec::new(),
                entries: vec![entry],
                source: Position::Row { row, column: None },
            }),
        }
    }
    Ok(statements)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_in_every_notation() {
        let d = |s: &str| s.parse::<Decimal>().expect("decimal");
        assert_eq!(
            parse_amount("1 234,56", DecimalSeparator::Comma),
            Ok(d("1234.56"))
        );
        assert_eq!(
            parse_amount("1.234,56", DecimalSeparator::Comma),
            Ok(d("1234.56"))
        );
        assert_eq!(
            parse_amount("-1,234.56", DecimalSeparator::Point),
            Ok(d("-1234.56"))
        );
        assert_eq!(
            parse_amount("1.234,56", DecimalSeparator::Auto),
            Ok(d("1234.56"))
        );
        assert_eq!(
            parse_amount("1,234.56", DecimalSeparator::Auto),
            Ok(d("1234.56"))
        );
        assert_eq!(
            parse_amount("-12,5", DecimalSeparator::Auto),
            Ok(d("-12.5"))
        );
        assert!(parse_amount("12,5x", DecimalSeparator::Auto).is_err());
        assert!(parse_amount("", DecimalSeparator::Auto).is_err());
    }
}
