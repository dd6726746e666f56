//! Exchange-rate tables and the fixed recovery compensation for late payment in commercial
//! transactions (Directive 2011/7/EU art. 6: at least EUR 40 per invoice; the Polish act on
//! late payments, art. 10, since 2020: EUR 40, 70 or 100 by the invoice's value).
//!
//! An exchange-rate table is a CSV `date,currency,pln_per_unit` (shipped:
//! `scenarios/rates/fx_nbp.csv`). The Polish rule converts at the NBP average rate of the last
//! business day of the month before the month the invoice fell due: the lookup takes the row
//! with the latest date in that month and refuses a month with no row, rather than guess.

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use serde::Serialize;

use super::rates::{RateTableError, data_lines, parse_date};
use crate::money::{Currency, parse_amount, round_half_up};

const SHIPPED_FX: &str = include_str!("../../../scenarios/rates/fx_nbp.csv");

/// PLN per unit of foreign currencies, by date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FxTable {
    name: String,
    /// Sorted by (currency, date).
    rows: Vec<(Currency, NaiveDate, Decimal)>,
}

impl FxTable {
    pub fn parse(source_name: &str, text: &str) -> Result<FxTable, RateTableError> {
        let mut rows = Vec::new();
        for (line, f) in data_lines(source_name, text, &["date", "currency", "pln_per_unit"])? {
            let err = |column: (usize, &'static str), message: String| RateTableError {
                source_name: source_name.to_string(),
                line,
                column: Some(column),
                message,
            };
            let date = parse_date(source_name, line, (1, "date"), f[0])?;
            let currency =
                Currency::parse(f[1]).map_err(|e| err((2, "currency"), e.to_string()))?;
            let rate = parse_amount(f[2])
                .ok()
                .filter(|r| *r > Decimal::ZERO)
                .ok_or_else(|| {
                    err(
                        (3, "pln_per_unit"),
                        format!("expected a positive rate such as 4.2730, got {:?}", f[2]),
                    )
                })?;
            if rows.iter().any(|(c, d, _)| *c == currency && *d == date) {
                return Err(err(
                    (1, "date"),
                    format!("{currency} on {date} appears twice"),
                ));
            }
            rows.push((currency, date, rate));
        }
        rows.sort();
        Ok(FxTable {
            name: source_name.to_string(),
            rows,
        })
    }

    /// The table shipped in `scenarios/rates/fx_nbp.csv`.
    pub fn shipped() -> FxTable {
        FxTable::parse("fx_nbp", SHIPPED_FX).unwrap_or(FxTable {
            name: "fx_nbp".into(),
            rows: Vec::new(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The rate of the latest day in the given month: (that day, PLN per unit).
    pub fn month_end(
        &self,
        currency: Currency,
        year: i32,
        month: u32,
    ) -> Option<(NaiveDate, Decimal)> {
        if currency == Currency::PLN {
            let last = NaiveDate::from_ymd_opt(year, month, 1)?;
            return Some((last, Decimal::ONE));
        }
        self.rows
            .iter()
            .filter(|(c, d, _)| *c == currency && d.year() == year && d.month() == month)
            .map(|(_, d, r)| (*d, *r))
            .next_back()
    }
}

/// Which compensation applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CompensationRule {
    /// EUR 40 per invoice (Directive 2011/7/EU art. 6).
    #[default]
    Eu40,
    /// The Polish act on late payments, art. 10 ust. 1 (since 2020-01-01): EUR 40 up to
    /// PLN 5,000 of the invoice's value, EUR 70 below PLN 50,000, EUR 100 from PLN 50,000;
    /// EUR 40 for invoices due before 2020.
    PlTiered,
}

impl CompensationRule {
    pub fn parse(text: &str) -> Option<CompensationRule> {
        match text.trim() {
            "eu40" | "eu" => Some(CompensationRule::Eu40),
            "pl" | "pl_tiered" => Some(CompensationRule::PlTiered),
            _ => None,
        }
    }
}

/// A compensation computed for one invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Compensation {
    pub rule: CompensationRule,
    /// The amount in euro the rule grants.
    pub eur: Decimal,
    /// The amount in the invoice's currency, rounded half-up to its minor unit.
    pub amount: Decimal,
    pub currency: Currency,
    /// The day of the exchange rates used (none for an invoice in euro).
    pub rate_date: Option<NaiveDate>,
    /// PLN per EUR and PLN per unit of the invoice's currency on `rate_date`.
    pub eur_pln: Option<Decimal>,
    pub currency_pln: Option<Decimal>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FxError {
    #[error(
        "the exchange-rate table {table} has no {currency} rate for {year}-{month:02} (the month before the invoice fell due): add the NBP table A rate of that month's last business day"
    )]
    MissingRate {
        table: String,
        currency: Currency,
        year: i32,
        month: u32,
    },
}

/// The fixed recovery compensation for one invoice of `gross` in `currency`, due on `due`.
pub fn recovery_compensation(
    rule: CompensationRule,
    gross: Decimal,
    currency: Currency,
    due: NaiveDate,
    fx: &FxTable,
) -> Result<Compensation, FxError> {
    let (year, month) = if due.month() == 1 {
        (due.year() - 1, 12)
    } else {
        (due.year(), due.month() - 1)
    };
    let rate = |c: Currency| {
        fx.month_end(c, year, month)
            .ok_or_else(|| FxError::MissingRate {
                table: fx.name().to_string(),
                currency: c,
                year,
                month,
            })
    };
    let needs_rates = currency != Currency::EUR || rule == CompensationRule::PlTiered;
    let (rate_date, eur_pln, cur_pln) = if needs_rates {
        let (date, eur_pln) = rate(Currency::EUR)?;
        let (_, cur_pln) = rate(currency)?;
        (Some(date), Some(eur_pln), Some(cur_pln))
    } else {
        (None, None, None)
    };
    let eur = match rule {
        CompensationRule::Eu40 => Decimal::from(40),
        CompensationRule::PlTiered => {
            let value_pln = gross * cur_pln.unwrap_or(Decimal::ONE);
            let since = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap_or(NaiveDate::MIN);
            if due < since || value_pln <= Decimal::from(5_000) {
                Decimal::from(40)
            } else if value_pln < Decimal::from(50_000) {
                Decimal::from(70)
            } else {
                Decimal::from(100)
            }
        }
    };
    let exact = match (currency == Currency::EUR, eur_pln, cur_pln) {
        (true, _, _) => eur,
        (false, Some(e), Some(c)) => eur * e / c,
        _ => eur,
    };
    Ok(Compensation {
        rule,
        eur,
        amount: round_half_up(exact, currency.minor_digits()),
        currency,
        rate_date: if currency == Currency::EUR && rule == CompensationRule::Eu40 {
            None
        } else {
            rate_date
        },
        eur_pln,
        currency_pln: if currency == Currency::PLN {
            None
        } else {
            cur_pln
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap_or_default()
    }

    #[test]
    fn forty_euro_in_zloty_at_the_rate_of_the_month_before_the_due_month() -> Result<(), FxError> {
        let fx = FxTable::shipped();
        // Due 2025-01-20: the rate of the last business day of December 2024, 4.2730.
        // 40 x 4.2730 = 170.92 PLN.
        let c = recovery_compensation(
            CompensationRule::Eu40,
            Decimal::from(1000),
            Currency::PLN,
            d("2025-01-20"),
            &fx,
        )?;
        assert_eq!(c.amount, Decimal::new(17092, 2));
        assert_eq!(c.rate_date, Some(d("2024-12-31")));
        // An invoice in euro needs no rate.
        let c = recovery_compensation(
            CompensationRule::Eu40,
            Decimal::from(1000),
            Currency::EUR,
            d("2031-05-20"),
            &fx,
        )?;
        assert_eq!(c.amount, Decimal::from(40));
        // A month with no row is refused.
        let e = recovery_compensation(
            CompensationRule::Eu40,
            Decimal::from(1000),
            Currency::PLN,
            d("2025-03-20"),
            &fx,
        );
        assert!(
            matches!(e, Err(FxError::MissingRate { month: 2, .. })),
            "{e:?}"
        );
        Ok(())
    }

    #[test]
    fn the_polish_tiers_follow_the_invoice_value_in_zloty() -> Result<(), FxError> {
        let fx = FxTable::shipped();
        let due = d("2025-01-20");
        let eur = |gross: i64| {
            recovery_compensation(
                CompensationRule::PlTiered,
                Decimal::from(gross),
                Currency::PLN,
                due,
                &fx,
            )
            .map(|c| c.eur)
        };
        assert_eq!(eur(5_000)?, Decimal::from(40));
        assert_eq!(eur(5_001)?, Decimal::from(70));
        assert_eq!(eur(49_999)?, Decimal::from(70));
        assert_eq!(eur(50_000)?, Decimal::from(100));
        Ok(())
    }

    #[test]
    fn bad_fx_rows_name_line_and_column() {
        let e = FxTable::parse("fx.csv", "date,currency,pln_per_unit\n2024-12-31,EUR,0\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("row 2, column \"pln_per_unit\""), "{e}");
    }
}
