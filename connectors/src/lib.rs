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

/// An error with its causes, `: `-separated. An HTTP client's own message names only the
/// request; why it failed (a refused connection, a certificate no trusted authority signed)
/// is in the causes, and that is what the person reading a delivery log needs.
pub(crate) fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}
