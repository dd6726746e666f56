//! Adapters between arrears and the outside world: files in and out of the ledger (CSV),
//! webhooks, bank statements, and the correspondence channels (e-mail over SMTP, SMS and fax
//! through HTTP gateways). Each adapter turns outside
//! input into engine types at the edge and reports bad input by where it is (row and column,
//! JSON pointer, statement entry).
#![forbid(unsafe_code)]

pub mod bank;
pub mod gateway;
pub mod inbound;
pub mod ledger_csv;
pub mod mail;
pub mod webhook;
