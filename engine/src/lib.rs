//! The arrears engine: the receivables ledger, its storage on SQLite and PostgreSQL, the reports derived from it, and
//! the scenario language. It knows nothing of HTTP or of file formats; those live in the
//! `connectors` and `web` crates.
#![forbid(unsafe_code)]

pub mod aging;
pub mod clock;
pub mod correspondence;
pub mod demo;
pub mod ids;
pub mod interest;
pub mod ledger;
pub mod money;
pub mod runtime;
pub mod scenario;
pub mod store;
pub mod suggest;

pub use clock::{Clock, ManualClock, SystemClock};
pub use money::{Currency, Money, MoneyError};
#[cfg(feature = "testkit")]
pub mod testkit;
