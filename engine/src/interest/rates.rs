//! Interest rate tables: lists of (effective_from, annual rate in percent), shipped as CSV
//! files in `scenarios/rates/` and embedded in the binary, or read from a user's file.
//!
//! The format is deliberately small: lines starting with `#` are comments (the shipped files
//! name their legal source there), blank lines are ignored, the first other line is the
//! header `effective_from,rate_percent`, then one row per period in date order. Fields are
//! plain (no quotes); a rate applies from its date until the day before the next row's.

use std::fmt;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::money::parse_amount;

/// One period of a table: `rate_percent` applies from `effective_from` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RatePeriod {
    pub effective_from: NaiveDate,
    pub rate_percent: Decimal,
}

/// A checked table: at least one period, dates strictly increasing, rates from 0 to 100.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateTable {
    name: String,
    periods: Vec<RatePeriod>,
}

/// What is wrong with a rate (or exchange-rate) file, and where: the row (the 1-based line of
/// the file, comments included, as an editor shows it) and, for a bad field, its 1-based
/// column and name. Shown as `rates.csv: row 4, column "rate_percent": ...`, like the
/// ledger's CSV import.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RateTableError {
    pub source_name: String,
    pub line: usize,
    pub column: Option<(usize, &'static str)>,
    pub message: String,
}

impl fmt::Display for RateTableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: row {}", self.source_name, self.line)?;
        if let Some((_, name)) = self.column {
            write!(f, ", column {name:?}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The tables shipped with arrears: (name, file contents).
const SHIPPED: &[(&str, &str)] = &[
    (
        "statutory_pl",
        include_str!("../../../scenarios/rates/statutory_pl.csv"),
    ),
    (
        "statutory_pl_commercial",
        include_str!("../../../scenarios/rates/statutory_pl_commercial.csv"),
    ),
    (
        "statutory_pl_commercial_public",
        include_str!("../../../scenarios/rates/statutory_pl_commercial_public.csv"),
    ),
    (
        "eu_late_payment",
        include_str!("../../../scenarios/rates/eu_late_payment.csv"),
    ),
];

/// Other names scenarios use for shipped tables (`interest_note` without a `rate_table` means
/// `statutory`).
const ALIASES: &[(&str, &str)] = &[("statutory", "statutory_pl")];

/// The data lines of a small CSV file: checks the header and yields (line number, fields).
pub(crate) fn data_lines<'a>(
    source_name: &str,
    text: &'a str,
    header: &[&'static str],
) -> Result<Vec<(usize, Vec<&'a str>)>, RateTableError> {
    let err = |line: usize, message: String| RateTableError {
        source_name: source_name.to_string(),
        line,
        column: None,
        message,
    };
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_start_matches('\u{feff}').trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    let expected = header.join(",");
    match lines.next() {
        None => {
            return Err(err(
                1,
                format!("the file is empty: expected the header {expected}"),
            ));
        }
        Some((n, l)) => {
            let got: Vec<String> = l
                .split(',')
                .map(|f| f.trim().to_ascii_lowercase())
                .collect();
            if got != header {
                return Err(err(n, format!("expected the header {expected}, got {l:?}")));
            }
        }
    }
    let mut out = Vec::new();
    for (n, l) in lines {
        let fields: Vec<&str> = l.split(',').map(str::trim).collect();
        if fields.len() != header.len() {
            return Err(err(
                n,
                format!(
                    "expected {} fields ({expected}), got {}: {l:?}",
                    header.len(),
                    fields.len()
                ),
            ));
        }
        out.push((n, fields));
    }
    Ok(out)
}

pub(crate) fn parse_date(
    source_name: &str,
    line: usize,
    column: (usize, &'static str),
    text: &str,
) -> Result<NaiveDate, RateTableError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| RateTableError {
        source_name: source_name.to_string(),
        line,
        column: Some(column),
        message: format!("expected a date as YYYY-MM-DD, got {text:?}"),
    })
}

impl RateTable {
    /// Parses and checks a table; `source_name` (a file name or table name) goes into errors.
    pub fn parse(source_name: &str, text: &str) -> Result<RateTable, RateTableError> {
        let rows = data_lines(source_name, text, &["effective_from", "rate_percent"])?;
        let mut periods: Vec<RatePeriod> = Vec::with_capacity(rows.len());
        for (line, fields) in rows {
            let effective_from = parse_date(source_name, line, (1, "effective_from"), fields[0])?;
            let bad_rate = |message: String| RateTableError {
                source_name: source_name.to_string(),
                line,
                column: Some((2, "rate_percent")),
                message,
            };
            let rate_percent = parse_amount(fields[1]).map_err(|_| {
                bad_rate(format!(
                    "expected an annual rate in percent such as 11.25, got {:?}",
                    fields[1]
                ))
            })?;
            if rate_percent < Decimal::ZERO || rate_percent > Decimal::ONE_HUNDRED {
                return Err(bad_rate(format!(
                    "the rate must be from 0 to 100 percent, got {rate_percent}"
                )));
            }
            if let Some(prev) = periods.last()
                && prev.effective_from >= effective_from
            {
                return Err(RateTableError {
                    source_name: source_name.to_string(),
                    line,
                    column: Some((1, "effective_from")),
                    message: format!(
                        "{effective_from} is not after the previous row's {}: rows must be in date order, one per date",
                        prev.effective_from
                    ),
                });
            }
            periods.push(RatePeriod {
                effective_from,
                rate_percent: rate_percent.normalize(),
            });
        }
        if periods.is_empty() {
            return Err(RateTableError {
                source_name: source_name.to_string(),
                line: text.lines().count().max(1),
                column: None,
                message: "the table has a header but no rows".into(),
            });
        }
        Ok(RateTable {
            name: source_name.to_string(),
            periods,
        })
    }

    /// A shipped table by name (or alias), e.g. `statutory_pl_commercial`.
    pub fn shipped(name: &str) -> Option<RateTable> {
        let name = ALIASES
            .iter()
            .find(|(alias, _)| *alias == name)
            .map(|(_, real)| *real)
            .unwrap_or(name);
        let (n, text) = SHIPPED.iter().find(|(n, _)| *n == name)?;
        // The shipped files are checked by a unit test; a broken one is simply not offered.
        RateTable::parse(n, text).ok()
    }

    /// Names of the shipped tables.
    pub fn shipped_names() -> Vec<&'static str> {
        SHIPPED.iter().map(|(n, _)| *n).collect()
    }

    /// One rate for all time: a contractual rate that overrides the statutory tables.
    pub fn fixed(name: impl Into<String>, rate_percent: Decimal) -> RateTable {
        RateTable {
            name: name.into(),
            periods: vec![RatePeriod {
                effective_from: NaiveDate::MIN,
                rate_percent,
            }],
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn periods(&self) -> &[RatePeriod] {
        &self.periods
    }

    /// The first day the table covers.
    pub fn starts_on(&self) -> NaiveDate {
        self.periods
            .first()
            .map(|p| p.effective_from)
            .unwrap_or(NaiveDate::MIN)
    }

    /// The rate in force on `date`, `None` before the table starts.
    pub fn rate_on(&self, date: NaiveDate) -> Option<Decimal> {
        let i = self.periods.partition_point(|p| p.effective_from <= date);
        i.checked_sub(1).map(|i| self.periods[i].rate_percent)
    }

    /// Days after `after` (exclusive) and up to `until` (inclusive) on which the rate changes.
    pub(crate) fn changes_between(
        &self,
        after: NaiveDate,
        until: NaiveDate,
    ) -> impl Iterator<Item = NaiveDate> + '_ {
        self.periods
            .iter()
            .map(|p| p.effective_from)
            .filter(move |d| *d > after && *d <= until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap_or_default()
    }

    #[test]
    fn every_shipped_table_parses_and_aliases_resolve() {
        for (name, text) in SHIPPED {
            let t = RateTable::parse(name, text);
            assert!(t.is_ok(), "{name}: {t:?}");
        }
        assert_eq!(
            RateTable::shipped("statutory").map(|t| t.name().to_string()),
            Some("statutory_pl".into())
        );
        assert!(RateTable::shipped("nonsense").is_none());
    }

    #[test]
    fn the_rate_in_force_is_the_last_one_that_started() {
        let t = RateTable::shipped("statutory_pl").expect("shipped");
        assert_eq!(t.rate_on(d("2015-12-31")), None);
        assert_eq!(t.rate_on(d("2016-01-01")), Some(Decimal::new(7, 0)));
        assert_eq!(t.rate_on(d("2023-10-04")), Some(Decimal::new(115, 1)));
        assert_eq!(t.rate_on(d("2023-10-05")), Some(Decimal::new(1125, 2)));
        let c = RateTable::shipped("statutory_pl_commercial").expect("shipped");
        // Half-yearly: the NBP cut of 2020-03-18 does not move the commercial rate.
        assert_eq!(c.rate_on(d("2020-06-30")), Some(Decimal::new(115, 1)));
        assert_eq!(c.rate_on(d("2020-07-01")), Some(Decimal::new(101, 1)));
    }

    #[test]
    fn errors_name_the_line_and_column() {
        let cases = [
            ("", "row 1: the file is empty"),
            ("from,rate\n", "row 1: expected the header"),
            (
                "# c\neffective_from,rate_percent\n2024-01-01,7\n2024-13-01,8\n",
                "row 4, column \"effective_from\": expected a date",
            ),
            (
                "effective_from,rate_percent\n2024-01-01,seven\n",
                "row 2, column \"rate_percent\": expected an annual rate",
            ),
            (
                "effective_from,rate_percent\n2024-01-01,-1\n",
                "row 2, column \"rate_percent\": the rate must be from 0 to 100",
            ),
            (
                "effective_from,rate_percent\n2024-02-01,7\n2024-01-01,8\n",
                "row 3, column \"effective_from\": 2024-01-01 is not after",
            ),
            (
                "effective_from,rate_percent\n2024-02-01,7,1\n",
                "row 2: expected 2 fields",
            ),
            (
                "effective_from,rate_percent\n",
                "the table has a header but no rows",
            ),
        ];
        for (text, want) in cases {
            let got = RateTable::parse("t.csv", text)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(got.contains(want), "{text:?}: {got}");
        }
    }
}
