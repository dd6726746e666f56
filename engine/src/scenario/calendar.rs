//! Business-day calendars: a weekend plus public holidays, read from the data files in
//! `scenarios/calendars/<ID>.yaml`. Deadlines and `business days` waits count on them.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{Datelike, NaiveDate, Weekday};
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    pub id: String,
    pub weekend: Vec<Weekday>,
    pub holidays: BTreeSet<NaiveDate>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCalendar {
    id: String,
    #[serde(default)]
    #[allow(dead_code)]
    name: Option<String>,
    weekend: Vec<String>,
    #[serde(default)]
    holidays: Vec<RawHoliday>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHoliday {
    date: String,
    #[allow(dead_code)]
    name: String,
}

impl Calendar {
    /// Weekends only (Saturday and Sunday), no holidays.
    pub fn generic() -> Calendar {
        Calendar {
            id: "generic".into(),
            weekend: vec![Weekday::Sat, Weekday::Sun],
            holidays: BTreeSet::new(),
        }
    }

    pub fn load(path: &Path) -> Result<Calendar, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read calendar: {e}", path.display()))?;
        Calendar::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Calendar, String> {
        let raw: RawCalendar = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
        let weekend = raw
            .weekend
            .iter()
            .map(|d| {
                d.parse::<Weekday>()
                    .map_err(|_| format!("`{d}` is not a day of the week"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let holidays = raw
            .holidays
            .iter()
            .map(|h| {
                NaiveDate::parse_from_str(&h.date, "%Y-%m-%d")
                    .map_err(|_| format!("holiday `{}` is not a date like 2026-12-25", h.date))
            })
            .collect::<Result<BTreeSet<_>, _>>()?;
        Ok(Calendar {
            id: raw.id,
            weekend,
            holidays,
        })
    }

    pub fn is_business_day(&self, date: NaiveDate) -> bool {
        !self.weekend.contains(&date.weekday()) && !self.holidays.contains(&date)
    }

    /// The first business day on or after `date`.
    pub fn roll_forward(&self, mut date: NaiveDate) -> NaiveDate {
        // A calendar whose weekend covers all seven days would never end: stop after a year.
        for _ in 0..366 {
            if self.is_business_day(date) {
                return date;
            }
            date = date.succ_opt().unwrap_or(date);
        }
        date
    }

    /// `n` business days after `date`: `date` itself does not count, the result is always a
    /// business day (zero days rolls a holiday forward).
    pub fn add_business_days(&self, date: NaiveDate, n: u32) -> NaiveDate {
        let mut d = date;
        let mut left = n;
        if left == 0 {
            return self.roll_forward(d);
        }
        let mut guard = 0u32;
        while left > 0 && guard < n.saturating_mul(7).saturating_add(400) {
            d = d.succ_opt().unwrap_or(d);
            if self.is_business_day(d) {
                left -= 1;
            }
            guard += 1;
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date")
    }

    #[test]
    fn business_days_skip_weekends_and_holidays() {
        let cal = Calendar::parse(
            "id: PL\nweekend: [sat, sun]\nholidays:\n  - { date: 2026-11-11, name: Independence Day }\n",
        )
        .expect("calendar");
        // Monday 2026-11-09 + 3 business days: Tue 10, (Wed 11 is a holiday), Thu 12, Fri 13.
        assert_eq!(
            cal.add_business_days(date("2026-11-09"), 3),
            date("2026-11-13")
        );
        // Friday + 1 business day is Monday.
        assert_eq!(
            cal.add_business_days(date("2026-11-13"), 1),
            date("2026-11-16")
        );
        assert_eq!(cal.roll_forward(date("2026-11-11")), date("2026-11-12"));
        assert!(!Calendar::generic().is_business_day(date("2026-11-14")));
    }

    #[test]
    fn a_bad_calendar_says_what_is_wrong() {
        let err = Calendar::parse("id: X\nweekend: [funday]\n").expect_err("must fail");
        assert!(err.contains("`funday` is not a day of the week"), "{err}");
        let err = Calendar::parse(
            "id: X\nweekend: []\nholidays:\n  - { date: 2026-13-01, name: Nope }\n",
        )
        .expect_err("must fail");
        assert!(err.contains("not a date"), "{err}");
    }
}
