//! The HTTP API under `/api/v1`, its OpenAPI document (generated from the handlers'
//! annotations) at `/api/openapi.json`, and `/healthz`. Who may call which route is decided by
//! the guard in `crate::access`, before any handler runs.

mod access;
pub(crate) mod bank;
mod cases;
mod documents;
pub mod error;
mod interest;
mod ledger;
mod pay_links;
mod requests;
mod subscriptions;
mod webhooks;

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde::Serialize;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use arrears_engine::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub runtime: Arc<arrears_engine::runtime::Runtime>,
    /// Sources allowed to push through inbound webhooks, with their secrets.
    pub inbound: Arc<arrears_connectors::inbound::InboundSources>,
    /// The token gateways' delivery reports must carry (none: reports are accepted as they
    /// come).
    pub delivery_token: Option<String>,
    /// Whether session cookies carry `Secure` (see `access::session`).
    pub secure_cookies: bool,
    /// The base of debtor-page links handed out by the API.
    pub public_url: String,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "arrears",
        description = "Receivables ledger and collection engine. Money amounts are decimal strings; \
                       errors are RFC 9457 problem details whose `errors[].pointer` names the field."
    ),
    tags(
        (name = "customers", description = "Debtors and their master data"),
        (name = "invoices", description = "Invoices, debit notes, interest notes, fees and credit notes"),
        (name = "payments", description = "Payments, write-offs, refunds and transfers of overpayments"),
        (name = "allocations", description = "Money applied to receivables"),
        (name = "balances", description = "Derived balances and open items"),
        (name = "reports", description = "Aging and other reports"),
        (name = "cases", description = "Collection cases, their history and events"),
        (name = "case-requests", description = "Staff's requests that collections start a case, accepted or rejected by the collections lead"),
        (name = "tasks", description = "Collectors' tasks: calls, approvals, court stages"),
        (name = "documents", description = "Correspondence: the archive of letters, e-mails and SMS, approval, duplicates, print batch, delivery reports"),
        (name = "interest", description = "Interest notes for late payment: issue, approve, send"),
        (name = "bank", description = "Bank credits waiting for manual matching"),
        (name = "access", description = "Users and API tokens (admins only)"),
        (name = "pay-links", description = "Debtor-page links (made, listed, revoked) and the proofs of payment debtors uploaded"),
        (name = "webhooks", description = "Signed inbound webhooks from billing systems; outbound webhook subscriptions and their delivery log"),
    )
)]
struct ApiDoc;

/// The API router and its OpenAPI document, built from the same route list.
pub fn router(state: AppState) -> axum::Router {
    let (api, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest(
            "/api/v1",
            ledger::router()
                .merge(cases::router())
                .merge(documents::router())
                .merge(interest::router())
                .merge(bank::router())
                .merge(webhooks::router())
                .merge(subscriptions::router())
                .merge(access::router())
                .merge(pay_links::router())
                .merge(requests::router()),
        )
        .split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    declare_security(&mut doc);
    let doc = Arc::new(doc);
    api.route(
        "/api/openapi.json",
        get(move || {
            let doc = doc.clone();
            async move { Json(doc.as_ref().clone()) }
        }),
    )
    .route("/healthz", get(healthz))
    .with_state(state)
}

/// The document's security follows the policy table: a Bearer API token everywhere, none on
/// the routes the table makes public.
fn declare_security(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
    doc.components
        .get_or_insert_with(Default::default)
        .add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    doc.security = Some(vec![SecurityRequirement::new(
        "bearer",
        Vec::<String>::new(),
    )]);
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, op) in [
            ("GET", &mut item.get),
            ("PUT", &mut item.put),
            ("POST", &mut item.post),
            ("DELETE", &mut item.delete),
            ("PATCH", &mut item.patch),
        ] {
            if let Some(op) = op
                && crate::access::policy::access(method, path)
                    == Some(crate::access::policy::Access::Public)
            {
                op.security = Some(vec![SecurityRequirement::default()]);
            }
        }
    }
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    database: &'static str,
}

async fn healthz(State(st): State<AppState>) -> (StatusCode, Json<Health>) {
    match st.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(Health {
                status: "ok",
                database: st.store.backend_name(),
            }),
        ),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Health {
                    status: "database unavailable",
                    database: st.store.backend_name(),
                }),
            )
        }
    }
}
