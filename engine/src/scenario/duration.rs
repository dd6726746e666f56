//! Durations as process owners write them: `7 days`, `10 business days`, `2 weeks`,
//! `12 hours`. Business days are counted on the scenario's calendar.

use std::fmt;

use chrono::{DateTime, Duration as ChronoDuration, Utc};

use super::calendar::Calendar;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Hours,
    Days,
    BusinessDays,
    Weeks,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Duration {
    pub amount: u32,
    pub unit: Unit,
}

impl Duration {
    /// Parses `N unit`; the error says what was expected.
    pub fn parse(text: &str) -> Result<Duration, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let expected =
            "expected a duration like `7 days`, `10 business days`, `2 weeks` or `12 hours`";
        let (number, unit) = match words.as_slice() {
            [n, u] => (*n, u.to_lowercase()),
            [n, b, u] if b.eq_ignore_ascii_case("business") => {
                (*n, format!("business {}", u.to_lowercase()))
            }
            _ => return Err(format!("`{text}` is not a duration: {expected}")),
        };
        let amount: u32 = number
            .parse()
            .map_err(|_| format!("`{number}` is not a whole number of units: {expected}"))?;
        if amount > 3650 {
            return Err(format!("`{text}` is longer than ten years"));
        }
        let unit = match unit.as_str() {
            "hour" | "hours" => Unit::Hours,
            "day" | "days" => Unit::Days,
            "business day" | "business days" => Unit::BusinessDays,
            "week" | "weeks" => Unit::Weeks,
            other => {
                return Err(format!(
                    "unknown unit `{other}`: expected hours, days, business days or weeks"
                ));
            }
        };
        Ok(Duration { amount, unit })
    }

    /// The instant this duration after `from`, business days counted on `calendar`.
    pub fn after(&self, from: DateTime<Utc>, calendar: &Calendar) -> DateTime<Utc> {
        let n = i64::from(self.amount);
        match self.unit {
            Unit::Hours => from + ChronoDuration::hours(n),
            Unit::Days => from + ChronoDuration::days(n),
            Unit::Weeks => from + ChronoDuration::weeks(n),
            Unit::BusinessDays => {
                let date = calendar.add_business_days(from.date_naive(), self.amount);
                from + (date - from.date_naive())
            }
        }
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match (self.unit, self.amount == 1) {
            (Unit::Hours, true) => "hour",
            (Unit::Hours, false) => "hours",
            (Unit::Days, true) => "day",
            (Unit::Days, false) => "days",
            (Unit::BusinessDays, true) => "business day",
            (Unit::BusinessDays, false) => "business days",
            (Unit::Weeks, true) => "week",
            (Unit::Weeks, false) => "weeks",
        };
        write!(f, "{} {unit}", self.amount)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_every_unit_and_bad_ones_say_what_was_expected() {
        assert_eq!(
            Duration::parse("7 business days"),
            Ok(Duration {
                amount: 7,
                unit: Unit::BusinessDays
            })
        );
        assert_eq!(Duration::parse("1 day").map(|d| d.unit), Ok(Unit::Days));
        assert_eq!(Duration::parse("2 Weeks").map(|d| d.unit), Ok(Unit::Weeks));
        assert_eq!(Duration::parse("12 hours").map(|d| d.amount), Ok(12));
        assert!(
            Duration::parse("seven days")
                .expect_err("must fail")
                .contains("not a whole number")
        );
        assert!(
            Duration::parse("7 fortnights")
                .expect_err("must fail")
                .contains("unknown unit")
        );
        assert!(
            Duration::parse("soon")
                .expect_err("must fail")
                .contains("expected a duration")
        );
    }
}
