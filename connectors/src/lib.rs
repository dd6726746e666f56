//! Adapters between arrears and the outside world: files in and out of the ledger (CSV),
//! inbound and outbound webhooks, pull connectors (REST/JSON sources and CSV drop folders),
//! bank statements, and the correspondence channels (e-mail over SMTP, SMS and fax through HTTP
//! gateways). Each adapter turns outside
//! input into engine types at the edge and reports bad input by where it is (row and column,
//! JSON pointer, statement entry).
#![forbid(unsafe_code)]

pub mod bank;
pub mod gateway;
pub mod inbound;
pub mod items;
pub mod ledger_csv;
pub mod mail;
pub mod pull;
pub mod webhook;
