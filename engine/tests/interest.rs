//! Late-payment interest: hand-checked examples (the arithmetic is in the comments) and
//! property tests of the calculation's invariants.

use std::str::FromStr;

use arrears_engine::Currency;
use arrears_engine::interest::{
    DayCount, Interest, InterestError, InterestQuery, Payment, RateTable, compute,
};
use chrono::{Days, NaiveDate};
use proptest::prelude::*;
use rust_decimal::Decimal;

fn date(s: &str) -> NaiveDate {
    NaiveDate::from_str(s).unwrap_or_default()
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_default()
}

fn shipped(name: &str) -> RateTable {
    RateTable::shipped(name).expect("a shipped table")
}

fn interest(
    principal: &str,
    due: &str,
    paid: &str,
    payments: &[Payment],
    basis: DayCount,
    table: &RateTable,
) -> Result<Interest, InterestError> {
    compute(&InterestQuery {
        principal: dec(principal),
        currency: Currency::PLN,
        due: date(due),
        charged_until: None,
        until: date(paid),
        payments,
        basis,
        table,
    })
}

/// (from, to, days, principal, rate, amount) of each segment, as strings.
fn segments(i: &Interest) -> Vec<(String, String, i64, String, String, String)> {
    i.segments
        .iter()
        .map(|s| {
            (
                s.from.to_string(),
                s.to.to_string(),
                s.days,
                s.principal.to_string(),
                s.rate_percent.to_string(),
                s.amount.to_string(),
            )
        })
        .collect()
}

fn seg(
    from: &str,
    to: &str,
    days: i64,
    principal: &str,
    rate: &str,
    amount: &str,
) -> (String, String, i64, String, String, String) {
    (
        from.into(),
        to.into(),
        days,
        principal.into(),
        rate.into(),
        amount.into(),
    )
}

#[test]
fn a_payment_that_spans_a_rate_change_is_split_and_the_total_is_rounded_once()
-> Result<(), InterestError> {
    // Statutory interest for delay: 11.50% until 2023-10-04, 11.25% from 2023-10-05.
    // 10 000.00 due 2023-09-30, paid 2023-10-10:
    //   2023-10-01..04:  4 days x 10 000 x 11.50% / 365 = 460 000 / 36 500 = 12.6027... -> 12.60
    //   2023-10-05..10:  6 days x 10 000 x 11.25% / 365 = 675 000 / 36 500 = 18.4931... -> 18.49
    //   total: 1 135 000 / 36 500 = 31.0958... -> 31.10 (the shown segments add up to 31.09:
    //   the total is the exact sum rounded once, not the sum of rounded segments)
    let i = interest(
        "10000.00",
        "2023-09-30",
        "2023-10-10",
        &[],
        DayCount::Act365,
        &shipped("statutory_pl"),
    )?;
    assert_eq!(
        segments(&i),
        vec![
            seg("2023-10-01", "2023-10-04", 4, "10000.00", "11.5", "12.60"),
            seg("2023-10-05", "2023-10-10", 6, "10000.00", "11.25", "18.49"),
        ]
    );
    assert_eq!(i.total, dec("31.10"));
    Ok(())
}

#[test]
fn commercial_interest_changes_only_at_the_half_year() -> Result<(), InterestError> {
    // Commercial transactions: 11.75% in 2022 H1 (NBP 1.75% on 1 January + 10), 16.00% in
    // 2022 H2 (NBP 6.00% on 1 July + 10), although the NBP rate moved five times in H1.
    // 1 000.00 due 2022-06-20, paid 2022-07-10:
    //   06-21..06-30: 10 x 1000 x 11.75 = 117 500;  07-01..07-10: 10 x 1000 x 16 = 160 000
    //   total 277 500 / 36 500 = 7.6027... -> 7.60
    let i = interest(
        "1000.00",
        "2022-06-20",
        "2022-07-10",
        &[],
        DayCount::Act365,
        &shipped("statutory_pl_commercial"),
    )?;
    assert_eq!(i.segments.len(), 2);
    assert_eq!(i.total, dec("7.60"));
    Ok(())
}

#[test]
fn a_leap_year_has_366_days_but_act_365_still_divides_by_365() -> Result<(), InterestError> {
    // 1 000.00 due 2023-12-31, paid 2024-12-31: 366 days at 11.25% (the rate all of 2024).
    // 1000 x 11.25 x 366 / 36 500 = 4 117 500 / 36 500 = 112.8082... -> 112.81
    // (a full ordinary year would be 112.50)
    let i = interest(
        "1000.00",
        "2023-12-31",
        "2024-12-31",
        &[],
        DayCount::Act365,
        &shipped("statutory_pl"),
    )?;
    assert_eq!(
        segments(&i),
        vec![seg(
            "2024-01-01",
            "2024-12-31",
            366,
            "1000.00",
            "11.25",
            "112.81"
        )]
    );
    assert_eq!(i.total, dec("112.81"));
    Ok(())
}

#[test]
fn payment_on_the_due_date_bears_no_interest_and_one_day_late_bears_one_day()
-> Result<(), InterestError> {
    let table = shipped("statutory_pl");
    let on_time = interest(
        "1000.00",
        "2024-03-10",
        "2024-03-10",
        &[],
        DayCount::Act365,
        &table,
    )?;
    assert!(on_time.segments.is_empty());
    assert_eq!(on_time.total, Decimal::ZERO);
    let early = interest(
        "1000.00",
        "2024-03-10",
        "2024-03-01",
        &[],
        DayCount::Act365,
        &table,
    )?;
    assert_eq!(early.total, Decimal::ZERO);
    // One day: 1000 x 11.25 x 1 / 36 500 = 0.3082... -> 0.31
    let late = interest(
        "1000.00",
        "2024-03-10",
        "2024-03-11",
        &[],
        DayCount::Act365,
        &table,
    )?;
    assert_eq!(
        segments(&late),
        vec![seg(
            "2024-03-11",
            "2024-03-11",
            1,
            "1000.00",
            "11.25",
            "0.31"
        )]
    );
    Ok(())
}

#[test]
fn partial_payments_reduce_the_principal_from_the_next_day() -> Result<(), InterestError> {
    // 1 000.00 due 2024-01-31; 400.00 paid 2024-02-10; the last 600.00 paid 2024-03-01.
    //   02-01..02-10: 10 days on 1000: 1000 x 11.25 x 10 = 112 500 (3.0821... -> 3.08)
    //   02-11..03-01: 20 days on  600:  600 x 11.25 x 20 = 135 000 (3.6986... -> 3.70)
    //   total 247 500 / 36 500 = 6.7808... -> 6.78
    let payments = [
        Payment {
            date: date("2024-02-10"),
            amount: dec("400.00"),
        },
        Payment {
            date: date("2024-03-01"),
            amount: dec("600.00"),
        },
    ];
    let i = interest(
        "1000.00",
        "2024-01-31",
        "2024-03-01",
        &payments,
        DayCount::Act365,
        &shipped("statutory_pl"),
    )?;
    assert_eq!(
        segments(&i),
        vec![
            seg("2024-02-01", "2024-02-10", 10, "1000.00", "11.25", "3.08"),
            seg("2024-02-11", "2024-03-01", 20, "600.00", "11.25", "3.70"),
        ]
    );
    assert_eq!(i.total, dec("6.78"));
    // A payment before the due date reduces the principal before interest starts:
    // 600 x 11.25 x 10 / 36 500 = 1.8493... -> 1.85
    let early = [Payment {
        date: date("2024-01-20"),
        amount: dec("400.00"),
    }];
    let i = interest(
        "1000.00",
        "2024-01-31",
        "2024-02-10",
        &early,
        DayCount::Act365,
        &shipped("statutory_pl"),
    )?;
    assert_eq!(i.total, dec("1.85"));
    Ok(())
}

#[test]
fn exactly_half_a_minor_unit_rounds_up() -> Result<(), InterestError> {
    // A contractual 10%: 18.25 x 10 x 1 / 36 500 = 0.005 exactly -> 0.01 (banker's: 0.00)
    //                    91.25 x 10 x 1 / 36 500 = 0.025 exactly -> 0.03 (banker's: 0.02)
    let table = RateTable::fixed("contract 10%", dec("10"));
    let a = interest(
        "18.25",
        "2024-05-01",
        "2024-05-02",
        &[],
        DayCount::Act365,
        &table,
    )?;
    assert_eq!(a.total, dec("0.01"));
    let b = interest(
        "91.25",
        "2024-05-01",
        "2024-05-02",
        &[],
        DayCount::Act365,
        &table,
    )?;
    assert_eq!(b.total, dec("0.03"));
    // Just under the half rounds down: 18.24 x 10 / 36 500 = 0.004997... -> 0.00
    let c = interest(
        "18.24",
        "2024-05-01",
        "2024-05-02",
        &[],
        DayCount::Act365,
        &table,
    )?;
    assert_eq!(c.total, dec("0.00"));
    Ok(())
}

#[test]
fn act_360_and_30e_360_count_the_same_period_differently() -> Result<(), InterestError> {
    // 1 000.00 at a contractual 9%, due 2024-03-15, paid 2024-06-15.
    //   actual days: 16 (Mar 16-31) + 30 + 31 + 15 = 92;  30E/360 days: 3 months = 90
    //   act/365: 1000 x 9 x 92 / 36 500 = 22.6849... -> 22.68
    //   act/360: 1000 x 9 x 92 / 36 000 = 23.00
    //   30/360:  1000 x 9 x 90 / 36 000 = 22.50
    let table = RateTable::fixed("contract 9%", dec("9"));
    let run = |basis| interest("1000.00", "2024-03-15", "2024-06-15", &[], basis, &table);
    let a365 = run(DayCount::Act365)?;
    let a360 = run(DayCount::Act360)?;
    let t360 = run(DayCount::Thirty360)?;
    assert_eq!((a365.segments[0].days, a365.total), (92, dec("22.68")));
    assert_eq!((a360.segments[0].days, a360.total), (92, dec("23.00")));
    assert_eq!((t360.segments[0].days, t360.total), (90, dec("22.50")));
    Ok(())
}

#[test]
fn a_period_the_table_does_not_cover_is_refused() {
    // The statutory table starts on 2016-01-01.
    let e = interest(
        "1000.00",
        "2015-12-01",
        "2016-01-10",
        &[],
        DayCount::Act365,
        &shipped("statutory_pl"),
    );
    assert_eq!(
        e,
        Err(InterestError::NotCovered {
            table: "statutory_pl".into(),
            date: date("2015-12-02"),
            starts_on: date("2016-01-01"),
        })
    );
}

#[test]
fn a_user_table_can_be_read_from_csv_and_used() -> Result<(), Box<dyn std::error::Error>> {
    let table = RateTable::parse(
        "mine.csv",
        "# our contract\neffective_from,rate_percent\n2024-01-01,12\n2024-07-01,6\n",
    )?;
    // 06-21..06-30: 10 x 1000 x 12 = 120 000; 07-01..07-10: 10 x 1000 x 6 = 60 000
    // total 180 000 / 36 500 = 4.9315... -> 4.93
    let i = interest(
        "1000.00",
        "2024-06-20",
        "2024-07-10",
        &[],
        DayCount::Act365,
        &table,
    )?;
    assert_eq!(i.total, dec("4.93"));
    Ok(())
}

// ---- properties ----

const TABLES: [&str; 3] = ["statutory_pl", "statutory_pl_commercial", "eu_late_payment"];
const BASES: [DayCount; 3] = [DayCount::Act365, DayCount::Act360, DayCount::Thirty360];

fn day(offset: u32) -> NaiveDate {
    date("2016-01-01")
        .checked_add_days(Days::new(u64::from(offset)))
        .unwrap_or_default()
}

#[allow(clippy::too_many_arguments)]
fn total(
    principal_minor: i64,
    due: NaiveDate,
    charged_until: Option<NaiveDate>,
    until: NaiveDate,
    payments: &[Payment],
    basis: DayCount,
    table: &RateTable,
) -> Result<Interest, TestCaseError> {
    compute(&InterestQuery {
        principal: Decimal::new(principal_minor, 2),
        currency: Currency::PLN,
        due,
        charged_until,
        until,
        payments,
        basis,
        table,
    })
    .map_err(|e| TestCaseError::fail(e.to_string()))
}

fn payments_strategy() -> impl Strategy<Value = Vec<(u32, i64)>> {
    prop::collection::vec((0u32..3000, 0i64..5_000_000), 0..5)
}

fn to_payments(raw: &[(u32, i64)]) -> Vec<Payment> {
    raw.iter()
        .map(|(d, m)| Payment {
            date: day(*d),
            amount: Decimal::new(*m, 2),
        })
        .collect()
}

proptest! {
    #[test]
    fn interest_grows_with_the_days(
        principal in 0i64..10_000_000_000,
        due in 0u32..3000,
        a in 0u32..800,
        b in 0u32..800,
        t in 0usize..3,
        k in 0usize..3,
    ) {
        let table = shipped(TABLES[t]);
        let (short, long) = (a.min(b), a.max(b));
        let due_d = day(due);
        let i1 = total(principal, due_d, None, day(due + short), &[], BASES[k], &table)?;
        let i2 = total(principal, due_d, None, day(due + long), &[], BASES[k], &table)?;
        prop_assert!(i1.total <= i2.total, "{} days: {}, {} days: {}", short, i1.total, long, i2.total);
    }

    #[test]
    fn interest_grows_with_the_principal(
        p1 in 0i64..10_000_000_000,
        p2 in 0i64..10_000_000_000,
        due in 0u32..3000,
        len in 0u32..800,
        t in 0usize..3,
        k in 0usize..3,
        raw in payments_strategy(),
    ) {
        let table = shipped(TABLES[t]);
        let payments = to_payments(&raw);
        let (small, big) = (p1.min(p2), p1.max(p2));
        let (d, u) = (day(due), day(due + len));
        let i1 = total(small, d, None, u, &payments, BASES[k], &table)?;
        let i2 = total(big, d, None, u, &payments, BASES[k], &table)?;
        prop_assert!(i1.total <= i2.total, "{}: {}, {}: {}", small, i1.total, big, i2.total);
    }

    #[test]
    fn splitting_a_period_changes_the_total_by_at_most_the_rounding(
        principal in 0i64..10_000_000_000,
        due in 0u32..3000,
        len in 0u32..800,
        cut in 0u32..800,
        t in 0usize..3,
        k in 0usize..3,
        raw in payments_strategy(),
    ) {
        let table = shipped(TABLES[t]);
        let payments = to_payments(&raw);
        let cut = cut.min(len);
        let (d, mid, u) = (day(due), day(due + cut), day(due + len));
        let whole = total(principal, d, None, u, &payments, BASES[k], &table)?;
        let first = total(principal, d, None, mid, &payments, BASES[k], &table)?;
        let second = total(principal, d, Some(mid), u, &payments, BASES[k], &table)?;
        // The exact amounts add up (up to the last of rust_decimal's 28 digits)...
        let exact_gap = (first.exact + second.exact - whole.exact).abs();
        prop_assert!(exact_gap < dec("0.000000000000000001"), "exact gap {}", exact_gap);
        // ...and each piece's rounding moves it by at most half a grosz, so the rounded pieces
        // differ from the rounded whole by at most one grosz.
        let gap = (first.total + second.total - whole.total).abs();
        prop_assert!(gap <= dec("0.01"), "whole {} vs {} + {}", whole.total, first.total, second.total);
    }
}
