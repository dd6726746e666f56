//! The debtor page's rate limit: an in-memory generic cell rate algorithm (a token bucket
//! that stores one instant per key) per client address and per link. Unknown tokens count
//! against the address like any other request, so guessing links is throttled. Each process
//! keeps its own counts: behind several `arrears serve` processes the limit is per process.
//! Keys are hashes of tokens, never tokens.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// So many requests at once, refilled at so many per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub burst: u32,
    pub per_minute: u32,
}

impl Rate {
    /// `BURST/PER_MINUTE`, both at least 1.
    pub fn parse(text: &str) -> Option<Rate> {
        let (burst, per_minute) = text.trim().split_once('/')?;
        let rate = Rate {
            burst: burst.trim().parse().ok()?,
            per_minute: per_minute.trim().parse().ok()?,
        };
        (rate.burst >= 1 && rate.per_minute >= 1).then_some(rate)
    }

    fn interval(self) -> Duration {
        Duration::from_secs(60) / self.per_minute.max(1)
    }

    /// How far ahead of now a key's next free slot may be before it is refused.
    fn tolerance(self) -> Duration {
        self.interval() * self.burst.max(1).saturating_sub(1)
    }
}

/// Past this many keys, keys whose bucket is full again are forgotten.
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Default)]
pub struct Limiter {
    next_free: Mutex<HashMap<String, Instant>>,
}

impl Limiter {
    /// Takes one request for every `(key, rate)`; `Err(wait)` when one of them is spent (and
    /// then none is charged), with how long until it admits one again.
    pub fn check(&self, keys: &[(String, Rate)]) -> Result<(), Duration> {
        let now = Instant::now();
        let mut map = self.next_free.lock().unwrap_or_else(|p| p.into_inner());
        let mut updates = Vec::with_capacity(keys.len());
        for (key, rate) in keys {
            let tat = map.get(key).copied().filter(|t| *t > now).unwrap_or(now);
            let earliest = tat.checked_sub(rate.tolerance()).unwrap_or(now);
            if earliest > now {
                return Err(earliest - now);
            }
            updates.push((key.clone(), tat + rate.interval()));
        }
        if map.len() >= MAX_KEYS {
            map.retain(|_, t| *t > now);
        }
        map.extend(updates);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_admitted_then_refused_with_a_wait_and_keys_are_separate() {
        let l = Limiter::default();
        let rate = Rate {
            burst: 3,
            per_minute: 6,
        };
        let a = [("ip:a".to_string(), rate)];
        for _ in 0..3 {
            assert!(l.check(&a).is_ok());
        }
        let wait = l.check(&a).err().unwrap_or_default();
        assert!(
            wait > Duration::from_secs(5) && wait <= Duration::from_secs(10),
            "{wait:?}"
        );
        assert!(l.check(&[("ip:b".to_string(), rate)]).is_ok());
    }

    #[test]
    fn rates_are_read_as_burst_per_minute() {
        assert_eq!(
            Rate::parse(" 30/60 "),
            Some(Rate {
                burst: 30,
                per_minute: 60
            })
        );
        for bad in ["30", "0/60", "30/0", "a/b", "30/60/1", ""] {
            assert_eq!(Rate::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_refusal_charges_no_other_key() {
        let l = Limiter::default();
        let one = Rate {
            burst: 1,
            per_minute: 1,
        };
        let many = Rate {
            burst: 100,
            per_minute: 100,
        };
        assert!(l.check(&[("tok:x".to_string(), one)]).is_ok());
        for _ in 0..5 {
            assert!(
                l.check(&[("ip:a".to_string(), many), ("tok:x".to_string(), one)])
                    .is_err()
            );
        }
        // ip:a was never charged: its whole burst is still there.
        for _ in 0..100 {
            assert!(l.check(&[("ip:a".to_string(), many)]).is_ok());
        }
    }
}
