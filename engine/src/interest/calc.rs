//! Simple interest on one receivable: from the day after the due date (or after the last day
//! an earlier note charged) to the end date inclusive, on the amount open each day, at the
//! rate in force that day. The period is split at every rate change and every partial payment;
//! each piece is a `Segment`.
//!
//! A payment dated D still bears interest on D and reduces the principal from D + 1. Payments
//! on or before the start reduce the principal before any interest runs; payments after the
//! end date are ignored.
//!
//! The total is computed exactly, `sum(principal * rate * days) / (100 * year days)` with one
//! division, and rounded once, half-up, to the currency's minor unit. Segment amounts are the
//! same exact values rounded for display.

use chrono::{Datelike, Days, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::rates::RateTable;
use crate::money::{Currency, round_half_up};

/// How days are counted and what a year is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum DayCount {
    /// Actual days over a year of 365, leap years included (Actual/365 Fixed): the Polish and
    /// EU practice for interest for delay.
    #[default]
    #[serde(rename = "act365")]
    Act365,
    /// Actual days over a year of 360 (Actual/360).
    #[serde(rename = "act360")]
    Act360,
    /// 30E/360 (Eurobond basis): every month counts 30 days, day 31 counts as day 30, over a
    /// year of 360. Chosen over US 30/360 because its day counts add up when a period is split,
    /// so splitting at a rate change never changes the number of days.
    #[serde(rename = "30360")]
    Thirty360,
}

impl DayCount {
    pub fn parse(text: &str) -> Option<DayCount> {
        match text.trim().to_ascii_lowercase().as_str() {
            "act365" | "act/365" | "actual/365" => Some(DayCount::Act365),
            "act360" | "act/360" | "actual/360" => Some(DayCount::Act360),
            "30360" | "30/360" | "30e/360" => Some(DayCount::Thirty360),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            DayCount::Act365 => "act365",
            DayCount::Act360 => "act360",
            DayCount::Thirty360 => "30360",
        }
    }

    pub fn year_days(&self) -> i64 {
        match self {
            DayCount::Act365 => 365,
            DayCount::Act360 | DayCount::Thirty360 => 360,
        }
    }

    /// The days after `after` up to and including `until` (0 when `until <= after`).
    pub fn days(&self, after: NaiveDate, until: NaiveDate) -> i64 {
        if until <= after {
            return 0;
        }
        match self {
            DayCount::Act365 | DayCount::Act360 => (until - after).num_days(),
            DayCount::Thirty360 => {
                let d1 = i64::from(after.day().min(30));
                let d2 = i64::from(until.day().min(30));
                360 * i64::from(until.year() - after.year())
                    + 30 * (i64::from(until.month()) - i64::from(after.month()))
                    + (d2 - d1)
            }
        }
    }
}

impl std::fmt::Display for DayCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Money that reduced the receivable on `date` (a payment, a credit note, a write-off).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Payment {
    pub date: NaiveDate,
    pub amount: Decimal,
}

/// What to compute.
#[derive(Debug, Clone, Copy)]
pub struct InterestQuery<'a> {
    /// The receivable's amount (gross) before any payment.
    pub principal: Decimal,
    pub currency: Currency,
    pub due: NaiveDate,
    /// Interest already charged up to this day: this computation starts the day after it.
    /// `None` (or a day before `due`) starts the day after the due date.
    pub charged_until: Option<NaiveDate>,
    /// The last day of interest: the payment date, or the as-of date for money still open.
    pub until: NaiveDate,
    /// Partial payments, in any order.
    pub payments: &'a [Payment],
    pub basis: DayCount,
    pub table: &'a RateTable,
}

/// One piece of the period with one principal and one rate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Segment {
    /// First day of interest in this piece.
    pub from: NaiveDate,
    /// Last day of interest in this piece (inclusive).
    pub to: NaiveDate,
    /// Days by the day-count basis.
    pub days: i64,
    /// The amount open in this piece.
    pub principal: Decimal,
    /// Annual rate in percent.
    pub rate_percent: Decimal,
    /// This piece's interest rounded half-up to the minor unit, for display.
    pub amount: Decimal,
    /// This piece's interest, exact.
    #[serde(skip)]
    pub exact: Decimal,
}

/// The interest on one receivable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Interest {
    pub currency: Currency,
    pub basis: DayCount,
    pub segments: Vec<Segment>,
    /// The exact sum of the segments rounded once, half-up, to the minor unit.
    pub total: Decimal,
    /// The exact sum before rounding.
    #[serde(skip)]
    pub exact: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterestError {
    #[error("the principal must not be negative, got {0}")]
    NegativePrincipal(Decimal),
    #[error("the payment of {date} must not be negative, got {amount}")]
    NegativePayment { date: NaiveDate, amount: Decimal },
    #[error(
        "the rate table {table} starts on {starts_on} and has no rate for {date}: add the period to the table"
    )]
    NotCovered {
        table: String,
        date: NaiveDate,
        starts_on: NaiveDate,
    },
    #[error("the amounts are too large to compute")]
    Overflow,
}

/// Computes the interest `q` describes.
pub fn compute(q: &InterestQuery<'_>) -> Result<Interest, InterestError> {
    if q.principal < Decimal::ZERO {
        return Err(InterestError::NegativePrincipal(q.principal));
    }
    if let Some(p) = q.payments.iter().find(|p| p.amount < Decimal::ZERO) {
        return Err(InterestError::NegativePayment {
            date: p.date,
            amount: p.amount,
        });
    }
    let start = q.charged_until.map_or(q.due, |c| c.max(q.due));
    let mut out = Interest {
        currency: q.currency,
        basis: q.basis,
        segments: Vec::new(),
        total: Decimal::ZERO,
        exact: Decimal::ZERO,
    };
    if q.until <= start {
        return Ok(out);
    }
    let paid_by = |day: NaiveDate, after: Option<NaiveDate>| -> Decimal {
        q.payments
            .iter()
            .filter(|p| p.date <= day && after.is_none_or(|a| p.date > a))
            .map(|p| p.amount)
            .sum()
    };
    let mut open = (q.principal - paid_by(start, None)).max(Decimal::ZERO);

    // Each piece ends on a payment day, the day before a rate change, or the end date.
    let mut ends: Vec<NaiveDate> = q
        .payments
        .iter()
        .map(|p| p.date)
        .filter(|d| *d > start && *d < q.until)
        .chain(
            q.table
                .changes_between(start, q.until)
                .filter_map(|d| d.checked_sub_days(Days::new(1)))
                .filter(|d| *d > start),
        )
        .collect();
    ends.push(q.until);
    ends.sort_unstable();
    ends.dedup();

    let denominator = Decimal::from(100 * q.basis.year_days());
    let digits = q.currency.minor_digits();
    let mut numerator_sum = Decimal::ZERO;
    let mut after = start;
    for end in ends {
        if open <= Decimal::ZERO {
            break;
        }
        let from = after
            .checked_add_days(Days::new(1))
            .ok_or(InterestError::Overflow)?;
        let rate = q
            .table
            .rate_on(from)
            .ok_or_else(|| InterestError::NotCovered {
                table: q.table.name().to_string(),
                date: from,
                starts_on: q.table.starts_on(),
            })?;
        let days = q.basis.days(after, end);
        if days > 0 {
            let numerator = open
                .checked_mul(rate)
                .and_then(|v| v.checked_mul(Decimal::from(days)))
                .ok_or(InterestError::Overflow)?;
            numerator_sum = numerator_sum
                .checked_add(numerator)
                .ok_or(InterestError::Overflow)?;
            let exact = numerator / denominator;
            out.segments.push(Segment {
                from,
                to: end,
                days,
                principal: open,
                rate_percent: rate,
                amount: round_half_up(exact, digits),
                exact,
            });
        }
        open = (open - paid_by(end, Some(after))).max(Decimal::ZERO);
        after = end;
    }
    out.exact = numerator_sum / denominator;
    out.total = round_half_up(out.exact, digits);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap_or_default()
    }

    #[test]
    fn thirty_e_360_counts_months_as_thirty_days_and_adds_up() {
        let b = DayCount::Thirty360;
        assert_eq!(b.days(d("2024-01-31"), d("2024-03-01")), 31);
        assert_eq!(b.days(d("2024-01-31"), d("2024-02-29")), 29);
        assert_eq!(b.days(d("2024-02-29"), d("2024-03-01")), 2);
        assert_eq!(b.days(d("2024-01-30"), d("2024-01-31")), 0);
        assert_eq!(b.days(d("2024-01-15"), d("2025-01-15")), 360);
    }
}
