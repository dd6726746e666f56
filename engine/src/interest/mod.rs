//! Late-payment interest and recovery compensation, as pure functions: rate tables (data, not
//! code), day-count bases, the interest on one receivable split at every rate change and every
//! partial payment, exchange-rate tables and the fixed recovery compensation. Nothing here
//! reads a clock, a file or the database: the store issues interest notes and fees with these
//! results (`store::interest_notes`), the CLI prints them.
//!
//! Rounding: every amount is exact (`rust_decimal`) until the end. A calculation's total is
//! the exact sum of its segments rounded once, half-up, to the currency's minor unit; the
//! amount shown for each segment is rounded the same way for display only, so the printed
//! segments may differ from the total by at most half a minor unit each.

pub mod calc;
pub mod fx;
pub mod rates;

pub use calc::{DayCount, Interest, InterestError, InterestQuery, Payment, Segment, compute};
pub use fx::{Compensation, CompensationRule, FxError, FxTable, recovery_compensation};
pub use rates::{RatePeriod, RateTable, RateTableError};
