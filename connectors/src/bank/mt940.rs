//! SWIFT MT940 customer statements as banks really send them: several statements in a file,
//! bank headers before the first one, SOH/ETX wrappers and `{1:}{2:}{4:` ... `-}` blocks,
//! CRLF or LF, zero-padded amounts with a decimal comma, `:61:` marks `C`, `D`, `RC`, `RD`
//! (a funds-code letter after the mark, as in `CR`, is not a reversal), the optional entry
//! date, `:86:` free or structured (`?20`/`~20` subfields, SEPA `EREF+`/`SVWZ+`, `/REMI/`
//! slash codes), and statements split over messages with `:60M:`/`:62M:` balances, which are
//! joined back into one statement. Lines are numbered from 1 as an editor shows them.

use arrears_engine::Currency;
use arrears_engine::ledger::Iban;
use chrono::{Datelike, NaiveDate};

mod details;

use self::details::details;
use super::text::{
    decode, find_creditor_reference, join_text, non_blank, normalise_account, unsigned_amount,
};
use super::{
    Balance, BalanceKind, Continuation, Entry, EntryStatus, Format, ParseError, Position, Side,
    Statement,
};

/// One `:TAG:` field with its continuation lines.
struct Field<'a> {
    tag: &'a str,
    line: usize,
    /// Column (1-based) where the value starts on the first line.
    column: usize,
    lines: Vec<&'a str>,
}

impl Field<'_> {
    fn at(&self, offset: usize) -> Position {
        Position::Line {
            line: self.line,
            column: self.column + offset,
        }
    }

    fn err(&self, offset: usize, message: impl Into<String>) -> ParseError {
        ParseError::new(Format::Mt940, self.at(offset), message)
    }

    fn first(&self) -> &str {
        self.lines.first().copied().unwrap_or("")
    }
}

/// One message: `:20:` to `-`.
struct Message<'a> {
    line: usize,
    fields: Vec<Field<'a>>,
}

/// Reads every statement of the file.
pub fn parse(bytes: &[u8]) -> Result<Vec<Statement>, ParseError> {
    let text = decode(bytes);
    let messages = split_messages(&text);
    if messages.is_empty() {
        return Err(ParseError::new(
            Format::Mt940,
            Position::Line { line: 1, column: 1 },
            "no MT940 statement found: expected a line starting with :20:",
        ));
    }
    let mut statements: Vec<Statement> = Vec::new();
    for m in &messages {
        let part = read_message(m)?;
        let continues = part.opening.kind == BalanceKind::Intermediate
            && statements.last().is_some_and(|s| {
                s.account == part.account
                    && s.closing
                        .as_ref()
                        .is_some_and(|c| c.kind == BalanceKind::Intermediate)
            });
        match statements.last_mut() {
            Some(prev) if continues => {
                if let Some(closing) = prev.closing.take() {
                    prev.continuations.push(Continuation {
                        after_entries: prev.entries.len(),
                        closing,
                        opening: part.opening,
                    });
                }
                prev.entries.extend(part.entries);
                prev.closing = Some(part.closing);
                if let Some(seq) = part.sequence {
                    prev.sequence = Some(match prev.sequence.take() {
                        Some(first) => {
                            let first = first.split_once("..").map_or(first.as_str(), |f| f.0);
                            format!("{first}..{seq}")
                        }
                        None => seq,
                    });
                }
            }
            _ => statements.push(Statement {
                format: Format::Mt940,
                iban: account_iban(&part.account),
                account: part.account,
                currency: part.opening.currency,
                id: part.reference,
                sequence: part.sequence,
                opening: Some(part.opening),
                closing: Some(part.closing),
                continuations: Vec::new(),
                entries: part.entries,
                source: Position::Line {
                    line: part.line,
                    column: 1,
                },
            }),
        }
    }
    Ok(statements)
}

/// Splits the text into messages, skipping whatever is outside them (bank headers, block
/// envelopes, trailers).
fn split_messages(text: &str) -> Vec<Message<'_>> {
    let mut messages = Vec::new();
    let mut current: Option<Message<'_>> = None;
    for (i, raw) in text.split('\n').enumerate() {
        let line_no = i + 1;
        let mut line = raw.trim_end_matches(['\r', '\u{3}', '\u{1a}']);
        let mut column = 1;
        loop {
            // SOH and ETX may stand anywhere between messages.
            let lead = line.len() - line.trim_start_matches(['\u{1}', '\u{3}']).len();
            line = &line[lead..];
            column += lead;
            // `-` (or `-}` and trailer blocks) ends a message.
            let ends = ends_message(line);
            if ends && let Some(m) = current.take() {
                messages.push(m);
            }
            // The `{1:...}{2:...}{4:` envelope: fields start after `{4:`, maybe on this line.
            if ends || line.starts_with('{') {
                match line.find("{4:") {
                    Some(pos) => {
                        line = &line[pos + 3..];
                        column += pos + 3;
                        continue;
                    }
                    None => line = "",
                }
            }
            break;
        }
        if line.trim().is_empty() {
            continue;
        }
        if let Some((tag, value_at)) = field_tag(line) {
            if tag == "20" {
                if let Some(m) = current.take() {
                    messages.push(m);
                }
                current = Some(Message {
                    line: line_no,
                    fields: Vec::new(),
                });
            }
            if let Some(m) = current.as_mut() {
                m.fields.push(Field {
                    tag,
                    line: line_no,
                    column: column + value_at,
                    lines: vec![&line[value_at..]],
                });
            }
            continue;
        }
        if let Some(f) = current.as_mut().and_then(|m| m.fields.last_mut()) {
            f.lines.push(line);
        }
    }
    if let Some(m) = current.take() {
        messages.push(m);
    }
    messages
}

/// `-` ends a message; `}` and trailer blocks may follow it.
fn ends_message(line: &str) -> bool {
    line.strip_prefix('-').is_some_and(|rest| {
        let rest = rest.trim_start();
        rest.is_empty() || rest.starts_with('}')
    })
}

/// `:61:...` -> (`61`, index of the value).
fn field_tag(line: &str) -> Option<(&str, usize)> {
    let b = line.as_bytes();
    if b.first() != Some(&b':') {
        return None;
    }
    let end = 1 + b[1..].iter().position(|&c| c == b':')?;
    let tag = &line[1..end];
    let tb = tag.as_bytes();
    let ok = (tb.len() == 2 || tb.len() == 3)
        && tb[..2].iter().all(u8::is_ascii_digit)
        && tb.get(2).is_none_or(u8::is_ascii_uppercase);
    ok.then_some((tag, end + 1))
}

/// A message read: one statement, or one part of a statement split over messages.
struct Part {
    line: usize,
    reference: String,
    account: String,
    sequence: Option<String>,
    opening: Balance,
    closing: Balance,
    entries: Vec<Entry>,
}

fn read_message(m: &Message<'_>) -> Result<Part, ParseError> {
    let here = Position::Line {
        line: m.line,
        column: 1,
    };
    let missing = |what: &str| {
        ParseError::new(
            Format::Mt940,
            here.clone(),
            format!("the statement starting here has no {what}"),
        )
    };
    let mut reference = None;
    let mut account = None;
    let mut sequence = None;
    let mut opening: Option<Balance> = None;
    let mut closing: Option<Balance> = None;
    let mut entries: Vec<Entry> = Vec::new();
    // Whether the last field was a :61: whose :86: has not come yet.
    let mut open_entry = false;
    for f in &m.fields {
        match f.tag {
            "20" => reference = Some(f.first().trim().to_string()),
            "25" => {
                account =
                    Some(normalise_account(f.first()).ok_or_else(|| {
                        f.err(0, "expected the account number or IBAN after :25:")
                    })?)
            }
            "28" | "28C" => sequence = non_blank(f.first()),
            "60F" | "60M" => {
                if opening.is_some() {
                    return Err(f.err(0, "a second opening balance in the same statement"));
                }
                opening = Some(balance(f)?);
            }
            "61" => {
                let currency = opening
                    .as_ref()
                    .map(|b| b.currency)
                    .ok_or_else(|| f.err(0, "an entry :61: before the opening balance :60F:"))?;
                if closing.is_some() {
                    return Err(f.err(0, "an entry :61: after the closing balance :62F:"));
                }
                entries.push(entry(f, currency)?);
                open_entry = true;
                continue;
            }
            "86" if open_entry => {
                if let Some(e) = entries.last_mut() {
                    apply_details(e, &f.lines);
                }
            }
            "62F" | "62M" => {
                if closing.is_some() {
                    return Err(f.err(0, "a second closing balance in the same statement"));
                }
                closing = Some(balance(f)?);
            }
            // :21: related reference, :13D: date, :64: / :65: available balances, :86: for the
            // whole statement, :34F: floor limits: nothing we need.
            _ => {}
        }
        open_entry = false;
    }
    let opening = opening.ok_or_else(|| missing("opening balance :60F: or :60M:"))?;
    let closing = closing.ok_or_else(|| missing("closing balance :62F: or :62M:"))?;
    Ok(Part {
        line: m.line,
        reference: reference.unwrap_or_default(),
        account: account.ok_or_else(|| missing("account :25:"))?,
        sequence,
        opening,
        closing,
        entries,
    })
}

/// `:25:` holds an IBAN (sometimes with a leading `/` or the currency appended), a Polish NRB
/// of 26 digits, or a bank code and account number.
fn account_iban(account: &str) -> Option<Iban> {
    if let Ok(i) = Iban::parse(account) {
        return Some(i);
    }
    if account.len() > 3 && account.is_char_boundary(account.len() - 3) {
        let (head, tail) = account.split_at(account.len() - 3);
        if tail.bytes().all(|b| b.is_ascii_alphabetic())
            && let Ok(i) = Iban::parse(head)
        {
            return Some(i);
        }
    }
    if account.len() == 26 && account.bytes().all(|b| b.is_ascii_digit()) {
        return Iban::parse(&format!("PL{account}")).ok();
    }
    None
}

/// A cursor over the ASCII head of a field value.
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn digits(&mut self, n: usize) -> Option<&'a str> {
        let b = self.s.as_bytes();
        let end = self.pos + n;
        if end <= b.len() && b[self.pos..end].iter().all(u8::is_ascii_digit) {
            let out = &self.s[self.pos..end];
            self.pos = end;
            Some(out)
        } else {
            None
        }
    }

    fn starts_with(&self, p: &str) -> bool {
        self.s.as_bytes()[self.pos.min(self.s.len())..].starts_with(p.as_bytes())
    }

    /// Digits and commas: an SWIFT amount.
    fn amount_text(&mut self) -> &'a str {
        let b = self.s.as_bytes();
        let start = self.pos;
        while self.pos < b.len() && (b[self.pos].is_ascii_digit() || b[self.pos] == b',') {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    fn rest(&self) -> &'a str {
        self.s.get(self.pos..).unwrap_or("")
    }
}

fn yymmdd(text: &str) -> Option<NaiveDate> {
    let n = |r: std::ops::Range<usize>| text.get(r).and_then(|t| t.parse::<u32>().ok());
    let yy = n(0..2)?;
    let year = if yy < 80 { 2000 + yy } else { 1900 + yy };
    NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, n(2..4)?, n(4..6)?)
}

/// `:60F:C230102PLN000000012345,67`; some banks write the mark as `CR`/`DR`.
fn balance(f: &Field<'_>) -> Result<Balance, ParseError> {
    let mut c = Cursor {
        s: f.first().trim_end(),
        pos: 0,
    };
    let side = match c.peek() {
        Some(b'C') => Side::Credit,
        Some(b'D') => Side::Debit,
        _ => {
            return Err(f.err(
                0,
                format!(
                    "expected the balance mark C or D, got {:?}",
                    f.first().chars().next().unwrap_or(' ')
                ),
            ));
        }
    };
    c.pos += 1;
    if c.peek() == Some(b'R') {
        c.pos += 1;
    }
    let date_at = c.pos;
    let date = c
        .digits(6)
        .and_then(yymmdd)
        .ok_or_else(|| f.err(date_at, "expected the balance date as YYMMDD"))?;
    let cur_at = c.pos;
    let currency =
        c.s.get(c.pos..c.pos + 3)
            .and_then(|t| Currency::parse(t).ok())
            .ok_or_else(|| f.err(cur_at, "expected a three-letter currency code"))?;
    c.pos += 3;
    let amount_at = c.pos;
    let text = c.amount_text();
    let amount = unsigned_amount(text, ',').map_err(|m| f.err(amount_at, m))?;
    if !c.rest().trim().is_empty() {
        return Err(f.err(
            c.pos,
            format!("unexpected {:?} after the balance amount", c.rest()),
        ));
    }
    Ok(Balance {
        amount,
        side,
        date,
        currency,
        kind: if f.tag.ends_with('M') {
            BalanceKind::Intermediate
        } else {
            BalanceKind::Final
        },
    })
}

/// The entry date has no year: take the one that puts it closest to the value date.
fn entry_date(value: NaiveDate, mmdd: &str) -> Option<NaiveDate> {
    let month = mmdd.get(0..2)?.parse::<u32>().ok()?;
    let day = mmdd.get(2..4)?.parse::<u32>().ok()?;
    [value.year() - 1, value.year(), value.year() + 1]
        .into_iter()
        .filter_map(|y| NaiveDate::from_ymd_opt(y, month, day))
        .min_by_key(|d| (*d - value).num_days().abs())
}

/// `:61:2301030103C000000001230,00NTRFNONREF//BNK123` and an optional second line.
fn entry(f: &Field<'_>, currency: Currency) -> Result<Entry, ParseError> {
    let mut c = Cursor {
        s: f.first(),
        pos: 0,
    };
    let value_date = c
        .digits(6)
        .and_then(yymmdd)
        .ok_or_else(|| f.err(0, "expected the value date as YYMMDD"))?;
    let booking_date = match c.digits(4) {
        Some(mmdd) => entry_date(value_date, mmdd)
            .ok_or_else(|| f.err(6, format!("expected the entry date as MMDD, got {mmdd:?}")))?,
        None => value_date,
    };
    let mark_at = c.pos;
    let (side, is_reversal) = if c.starts_with("RC") {
        c.pos += 2;
        (Side::Debit, true)
    } else if c.starts_with("RD") {
        c.pos += 2;
        (Side::Credit, true)
    } else if c.starts_with("C") {
        c.pos += 1;
        (Side::Credit, false)
    } else if c.starts_with("D") {
        c.pos += 1;
        (Side::Debit, false)
    } else {
        return Err(f.err(
            mark_at,
            format!(
                "expected the mark C, D, RC or RD, got {:?}",
                c.rest().chars().take(2).collect::<String>()
            ),
        ));
    };
    // Funds code: the third letter of the currency code, optional (`CR`, `DR` are credits
    // and debits with funds code R, not reversals).
    if c.peek().is_some_and(|b| b.is_ascii_alphabetic()) {
        c.pos += 1;
    }
    let amount_at = c.pos;
    let amount_text = c.amount_text();
    if c.peek() == Some(b'.') {
        return Err(f.err(
            amount_at,
            format!(
                "expected the amount with a decimal comma, got {:?}",
                c.s.get(amount_at..c.pos + 3).unwrap_or(amount_text)
            ),
        ));
    }
    let amount = unsigned_amount(amount_text, ',').map_err(|m| f.err(amount_at, m))?;
    let type_at = c.pos;
    let code =
        c.s.get(c.pos..c.pos + 4)
            .filter(|t| t.bytes().all(|b| b.is_ascii_alphanumeric()))
            .ok_or_else(|| {
                f.err(
                    type_at,
                    "expected the transaction type, such as NTRF, after the amount",
                )
            })?;
    c.pos += 4;
    let rest = c.rest();
    let (customer_ref, bank_ref) = match rest.split_once("//") {
        Some((a, b)) => (a, b),
        None => (rest, ""),
    };
    let customer_ref = non_blank(customer_ref).filter(|r| !r.eq_ignore_ascii_case("NONREF"));
    let supplementary = join_text(f.lines.iter().skip(1).copied());
    Ok(Entry {
        booking_date,
        value_date: Some(value_date),
        amount,
        currency,
        side,
        is_reversal,
        status: EntryStatus::Booked,
        bank_reference: non_blank(bank_ref).filter(|r| !r.eq_ignore_ascii_case("NONREF")),
        end_to_end_id: customer_ref,
        structured_reference: None,
        counterparty_name: None,
        counterparty_account: None,
        remittance: supplementary,
        transaction_code: Some(code.to_string()),
        batch: None,
        source: Position::Line {
            line: f.line,
            column: f.column.saturating_sub(4).max(1),
        },
    })
}

fn apply_details(e: &mut Entry, lines: &[&str]) {
    let d = details(lines);
    if let Some(code) = d.code {
        e.transaction_code = Some(match e.transaction_code.take() {
            Some(t) => format!("{t}/{code}"),
            None => code,
        });
    }
    // The :61: supplementary line is kept only when :86: has no text.
    if !d.remittance.is_empty() {
        e.remittance = d.remittance;
    }
    e.counterparty_name = d.name;
    e.counterparty_account = d.account;
    if d.end_to_end_id.is_some() {
        e.end_to_end_id = d.end_to_end_id;
    }
    e.structured_reference = d
        .structured_reference
        .or_else(|| find_creditor_reference(&e.remittance));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_date_across_the_year_end() {
        let v = NaiveDate::from_ymd_opt(2023, 12, 31).expect("date");
        assert_eq!(entry_date(v, "0102"), NaiveDate::from_ymd_opt(2024, 1, 2));
        let v = NaiveDate::from_ymd_opt(2024, 1, 1).expect("date");
        assert_eq!(entry_date(v, "1229"), NaiveDate::from_ymd_opt(2023, 12, 29));
    }
}
