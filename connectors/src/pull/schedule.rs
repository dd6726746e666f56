//! When a pull connector runs by itself: a standard five-field cron pattern (minute, hour,
//! day of month, month, day of week; croner's syntax) in a time zone (IANA name, default
//! UTC), so `0 6 * * 1-5` is six in the morning on working days where the source is, summer
//! time or not. The next run is computed from the injected clock's now.

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds};

#[derive(Debug, Clone)]
pub struct Schedule {
    pub pattern: String,
    pub time_zone: chrono_tz::Tz,
    cron: Cron,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleError {
    Cron(String),
    TimeZone(String),
}

impl Schedule {
    pub fn parse(pattern: &str, time_zone: Option<&str>) -> Result<Schedule, ScheduleError> {
        let fields = pattern.split_whitespace().count();
        if fields != 5 && !pattern.trim().starts_with('@') {
            return Err(ScheduleError::Cron(format!(
                "schedule {pattern:?} has {fields} fields; expected five: minute hour day-of-month month day-of-week (e.g. \"*/15 * * * *\")"
            )));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .build()
            .parse(pattern)
            .map_err(|e| ScheduleError::Cron(format!("schedule {pattern:?}: {e}")))?;
        let time_zone = match time_zone {
            None => chrono_tz::UTC,
            Some(name) => name.trim().parse::<chrono_tz::Tz>().map_err(|_| {
                ScheduleError::TimeZone(format!(
                    "time_zone {name:?} is not an IANA time zone name (e.g. Europe/Warsaw, UTC)"
                ))
            })?,
        };
        Ok(Schedule {
            pattern: pattern.trim().to_string(),
            time_zone,
            cron,
        })
    }

    /// The first run strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = after.with_timezone(&self.time_zone);
        self.cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn the_next_run_follows_the_pattern_in_its_time_zone() {
        let s = Schedule::parse("0 6 * * 1-5", Some("Europe/Warsaw")).expect("valid");
        // Friday 2026-01-09 07:00 in Warsaw (06:00 UTC, winter): next is Monday 06:00 local.
        assert_eq!(
            s.next_after(at("2026-01-09T06:00:00Z")),
            Some(at("2026-01-12T05:00:00Z"))
        );
        // Summer time: 06:00 in Warsaw is 04:00 UTC.
        assert_eq!(
            s.next_after(at("2026-07-01T12:00:00Z")),
            Some(at("2026-07-02T04:00:00Z"))
        );
        let every = Schedule::parse("*/15 * * * *", None).expect("valid");
        assert_eq!(
            every.next_after(at("2026-01-09T06:00:00Z")),
            Some(at("2026-01-09T06:15:00Z"))
        );
    }

    #[test]
    fn bad_patterns_and_zones_say_what_was_expected() {
        assert!(matches!(
            Schedule::parse("0 0 6 * * 1", None),
            Err(ScheduleError::Cron(m)) if m.contains("expected five")
        ));
        assert!(matches!(
            Schedule::parse("61 * * * *", None),
            Err(ScheduleError::Cron(_))
        ));
        assert!(matches!(
            Schedule::parse("0 6 * * *", Some("Mars/Olympus")),
            Err(ScheduleError::TimeZone(m)) if m.contains("IANA")
        ));
    }
}
