//! Who may call what: ONE table from route (method and axum path template) to the roles
//! allowed, the single source of truth the access guard enforces and the README summarises.
//! A route missing from the table is refused to everyone (deny by default), and the HTTP
//! tests walk every route of the OpenAPI document against it.
//!
//! The roles, from the issue: a viewer reads; a collector works cases (task actions, case
//! events, documents to prepare, manual bank matching and allocation); a supervisor also
//! approves documents and interest notes and books ledger documents; a process owner reads
//! and configures the process (webhook subscriptions; scenarios and connectors are
//! command-line only); an admin may do everything. Every role but the viewer may ask
//! collections to start a case (the intranet form); the collections lead (supervisor)
//! decides.

use arrears_engine::store::access::Role;

/// What a route requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without credentials: the route checks its own secret (HMAC signature,
    /// delivery token) or shows nothing private.
    Public,
    /// An authenticated principal with one of these roles.
    Roles(&'static [Role]),
}

impl Access {
    pub fn allows(self, role: Role) -> bool {
        match self {
            Access::Public => true,
            Access::Roles(roles) => roles.contains(&role),
        }
    }
}

use Role::{Admin, Collector, ProcessOwner, Supervisor, Viewer};

/// Every role: reads.
const ANYONE: Access = Access::Roles(&[Admin, ProcessOwner, Supervisor, Collector, Viewer]);
/// Case work.
const COLLECTORS: Access = Access::Roles(&[Admin, Supervisor, Collector]);
/// Staff who may ask collections to start a case: everyone who works, not a viewer.
const REQUESTERS: Access = Access::Roles(&[Admin, ProcessOwner, Supervisor, Collector]);
/// Approvals, bookings and decisions on case requests.
const SUPERVISORS: Access = Access::Roles(&[Admin, Supervisor]);
/// Process configuration.
const OWNERS: Access = Access::Roles(&[Admin, ProcessOwner]);
/// Users and tokens.
const ADMINS: Access = Access::Roles(&[Admin]);

/// (method, path template, access). HEAD is answered as GET.
pub const POLICY: &[(&str, &str, Access)] = &[
    // Outside the API.
    ("GET", "/healthz", Access::Public),
    // The API's description is public like the source it is generated from; integrators
    // read it before they hold a token.
    ("GET", "/api/openapi.json", Access::Public),
    // Business volumes (cases by scenario, backlogs): a scraper authenticates with a token.
    ("GET", "/metrics", ANYONE),
    ("GET", "/login", Access::Public),
    ("POST", "/login", Access::Public),
    ("POST", "/logout", ANYONE),
    ("GET", "/", ANYONE),
    ("GET", "/favicon.ico", Access::Public),
    // The collectors' desk: everyone reads, collectors work tasks.
    ("GET", "/tasks", ANYONE),
    ("GET", "/cases/{id}", ANYONE),
    ("POST", "/cases/{id}/notes", COLLECTORS),
    ("POST", "/tasks/{id}/complete", COLLECTORS),
    ("POST", "/tasks/{id}/forward", COLLECTORS),
    ("POST", "/tasks/{id}/snooze", COLLECTORS),
    ("GET", "/approvals", ANYONE),
    ("POST", "/approvals", SUPERVISORS),
    // The dashboard: every signed-in role reads it.
    ("GET", "/dashboard", ANYONE),
    // Scenario pages: everyone reads; scenarios are deployed from the command line.
    ("GET", "/scenarios", ANYONE),
    ("GET", "/scenarios/{id}", ANYONE),
    // The manual payment-matching queue: everyone reads, collectors match.
    ("GET", "/matching", ANYONE),
    ("POST", "/matching/{id}", COLLECTORS),
    // The intranet request form (with the requester's own requests) and the lead's list.
    ("GET", "/request", REQUESTERS),
    ("POST", "/request", REQUESTERS),
    ("GET", "/requests", ANYONE),
    ("POST", "/requests/{id}/accept", SUPERVISORS),
    ("POST", "/requests/{id}/reject", SUPERVISORS),
    // Ledger.
    ("GET", "/api/v1/customers", ANYONE),
    ("POST", "/api/v1/customers", SUPERVISORS),
    ("GET", "/api/v1/customers/{id}", ANYONE),
    ("PUT", "/api/v1/customers/{id}", SUPERVISORS),
    ("GET", "/api/v1/customers/{id}/balance", ANYONE),
    ("GET", "/api/v1/customers/{id}/open-items", ANYONE),
    ("POST", "/api/v1/customers/{id}/allocate", COLLECTORS),
    ("POST", "/api/v1/customers/{id}/events", COLLECTORS),
    ("GET", "/api/v1/invoices", ANYONE),
    ("POST", "/api/v1/invoices", SUPERVISORS),
    ("GET", "/api/v1/invoices/{id}", ANYONE),
    ("PUT", "/api/v1/invoices/{id}", SUPERVISORS),
    ("PATCH", "/api/v1/invoices/{id}", SUPERVISORS),
    ("DELETE", "/api/v1/invoices/{id}", SUPERVISORS),
    ("GET", "/api/v1/payments", ANYONE),
    ("POST", "/api/v1/payments", SUPERVISORS),
    ("GET", "/api/v1/payments/{id}", ANYONE),
    ("POST", "/api/v1/payments/{id}/refund", SUPERVISORS),
    ("POST", "/api/v1/payments/{id}/transfer", SUPERVISORS),
    ("GET", "/api/v1/allocations", ANYONE),
    ("POST", "/api/v1/allocations", COLLECTORS),
    ("GET", "/api/v1/balances", ANYONE),
    ("GET", "/api/v1/reports/aging", ANYONE),
    // Cases and tasks.
    ("GET", "/api/v1/cases", ANYONE),
    ("POST", "/api/v1/cases", COLLECTORS),
    ("GET", "/api/v1/cases/{id}/history", ANYONE),
    ("GET", "/api/v1/cases/{id}/notes", ANYONE),
    ("POST", "/api/v1/cases/{id}/notes", COLLECTORS),
    ("POST", "/api/v1/cases/{id}/events", COLLECTORS),
    ("GET", "/api/v1/tasks", ANYONE),
    ("POST", "/api/v1/tasks/{id}/claim", COLLECTORS),
    ("POST", "/api/v1/tasks/{id}/complete", COLLECTORS),
    ("POST", "/api/v1/tasks/{id}/forward", COLLECTORS),
    ("POST", "/api/v1/tasks/{id}/snooze", COLLECTORS),
    // Requests to start a case.
    ("GET", "/api/v1/case-requests", ANYONE),
    ("POST", "/api/v1/case-requests", REQUESTERS),
    ("POST", "/api/v1/case-requests/{id}/accept", SUPERVISORS),
    ("POST", "/api/v1/case-requests/{id}/reject", SUPERVISORS),
    // Correspondence.
    ("GET", "/api/v1/documents", ANYONE),
    ("POST", "/api/v1/documents", COLLECTORS),
    ("GET", "/api/v1/documents/{id}", ANYONE),
    ("GET", "/api/v1/documents/{id}/text", ANYONE),
    ("GET", "/api/v1/documents/{id}/pdf", ANYONE),
    ("POST", "/api/v1/documents/approve", SUPERVISORS),
    ("POST", "/api/v1/documents/{id}/duplicate", COLLECTORS),
    ("GET", "/api/v1/documents/print-batch", ANYONE),
    ("POST", "/api/v1/invoices/{id}/print", COLLECTORS),
    // The debtor page: its secret link is the credential, its forms carry the link's nonce.
    ("GET", "/pay/assets/debtor.css", Access::Public),
    ("GET", "/pay/{token}", Access::Public),
    ("POST", "/pay/{token}/proof", Access::Public),
    ("POST", "/pay/{token}/promise", Access::Public),
    // Debtor-page links and what debtors uploaded.
    ("GET", "/api/v1/cases/{id}/pay-links", ANYONE),
    ("POST", "/api/v1/cases/{id}/pay-links", COLLECTORS),
    ("DELETE", "/api/v1/pay-links/{id}", COLLECTORS),
    ("GET", "/api/v1/cases/{id}/uploads", ANYONE),
    ("GET", "/api/v1/uploads/{id}/content", ANYONE),
    // Gateways prove themselves with the delivery token (`ARREARS_DELIVERY_TOKEN`).
    ("POST", "/api/v1/delivery-reports", Access::Public),
    // Interest.
    ("GET", "/api/v1/interest-notes", ANYONE),
    ("POST", "/api/v1/interest-notes", COLLECTORS),
    ("GET", "/api/v1/interest-notes/{id}", ANYONE),
    ("POST", "/api/v1/interest-notes/{id}/approve", SUPERVISORS),
    ("POST", "/api/v1/interest-notes/{id}/send", SUPERVISORS),
    // Bank.
    ("GET", "/api/v1/bank/queue", ANYONE),
    ("POST", "/api/v1/bank/queue/{id}/match", COLLECTORS),
    // Webhooks: inbound ones carry an HMAC signature; subscriptions are configuration.
    (
        "POST",
        "/api/v1/webhooks/{source}/{resource}",
        Access::Public,
    ),
    ("GET", "/api/v1/webhooks/deliveries", ANYONE),
    ("GET", "/api/v1/webhooks/event-types", ANYONE),
    ("GET", "/api/v1/webhooks/subscriptions", ANYONE),
    ("POST", "/api/v1/webhooks/subscriptions", OWNERS),
    ("GET", "/api/v1/webhooks/subscriptions/{id}", ANYONE),
    ("PATCH", "/api/v1/webhooks/subscriptions/{id}", OWNERS),
    ("DELETE", "/api/v1/webhooks/subscriptions/{id}", OWNERS),
    (
        "GET",
        "/api/v1/webhooks/subscriptions/{id}/deliveries",
        ANYONE,
    ),
    // Access control itself.
    ("GET", "/api/v1/users", ADMINS),
    ("GET", "/api/v1/tokens", ADMINS),
    ("POST", "/api/v1/tokens", ADMINS),
    ("DELETE", "/api/v1/tokens/{name}", ADMINS),
];

/// The access a route requires, or None when the table has no entry (refused).
pub fn access(method: &str, path: &str) -> Option<Access> {
    let method = if method == "HEAD" { "GET" } else { method };
    POLICY
        .iter()
        .find(|(m, p, _)| *m == method && *p == path)
        .map(|(_, _, a)| *a)
}

/// The roles that may call a route, for messages.
pub fn roles_of(access: Access) -> String {
    match access {
        Access::Public => "anyone".to_string(),
        Access::Roles(r) => r.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_route_has_one_entry_and_admin_may_do_everything() {
        for (i, (m, p, a)) in POLICY.iter().enumerate() {
            assert!(
                !POLICY[..i].iter().any(|(m2, p2, _)| m2 == m && p2 == p),
                "{m} {p} is listed twice"
            );
            assert!(a.allows(Admin), "{m} {p} refuses admin");
        }
    }

    #[test]
    fn head_is_get_and_unknown_routes_have_no_access() {
        assert_eq!(access("HEAD", "/"), access("GET", "/"));
        assert_eq!(access("GET", "/nowhere"), None);
        assert_eq!(access("TRACE", "/"), None);
    }
}
