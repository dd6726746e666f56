//! The server-rendered overview page (the portfolio's aging totals and the customers most
//! overdue, with links into the API) and HTML escaping. The frame of every staff page is
//! `crate::page`; the collectors' inbox and case pages are `crate::inbox`, the dashboard
//! `crate::dashboard`, the scenario pages `crate::scenario_page`; the debtor page is
//! `crate::pay`.

use std::fmt::Write;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Html;
use axum::routing::get;

use arrears_engine::aging::Buckets;
use arrears_engine::store::AgingQuery;

use crate::api::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(overview))
        // Browsers ask for it on every page; there is none, and asking needs no sign-in.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .with_state(state)
}

/// Text made safe for HTML content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn overview(
    State(st): State<AppState>,
    principal: crate::access::Principal,
) -> Result<Html<String>, (StatusCode, String)> {
    let as_of = st.store.clock().today();
    let report = st
        .store
        .aging(&AgingQuery {
            as_of,
            buckets: Buckets::default(),
            customer_id: None,
            detail: false,
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "overview failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error".to_string(),
            )
        })?;
    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>arrears</title><style>body{{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem}}\
         table{{border-collapse:collapse;width:100%;margin:1rem 0}}th,td{{padding:.3rem .6rem;border-bottom:1px solid #ddd;text-align:left}}\
         td.n,th.n{{text-align:right;font-variant-numeric:tabular-nums}}</style></head><body>\
         <h1>arrears</h1>{bar}<p>Receivables as of {as_of}. API: <a href=\"/api/openapi.json\">OpenAPI document</a>, \
         <a href=\"/api/v1/reports/aging\">aging (JSON)</a>, <a href=\"/api/v1/customers\">customers</a>.</p><h2>Aging</h2><table><thead><tr><th>currency</th>",
        bar = crate::access::login::signed_in_bar(&principal),
    );
    for b in &report.buckets {
        let _ = write!(html, "<th class=\"n\">{}</th>", esc(b));
    }
    html.push_str("<th class=\"n\">open</th><th class=\"n\">unapplied credit</th><th class=\"n\">customers</th></tr></thead><tbody>");
    for t in &report.totals {
        let _ = write!(html, "<tr><td>{}</td>", t.currency);
        for a in &t.amounts {
            let _ = write!(html, "<td class=\"n\">{a}</td>");
        }
        let _ = write!(
            html,
            "<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            t.open, t.unapplied_credit, t.customers
        );
    }
    html.push_str("</tbody></table><h2>Most overdue</h2><table><thead><tr><th>customer</th><th>category</th><th>currency</th><th class=\"n\">overdue</th><th class=\"n\">days</th></tr></thead><tbody>");
    let mut rows: Vec<_> = report
        .rows
        .iter()
        .filter(|r| r.overdue > rust_decimal::Decimal::ZERO)
        .collect();
    rows.sort_by(|a, b| {
        b.days_overdue
            .cmp(&a.days_overdue)
            .then(b.overdue.cmp(&a.overdue))
    });
    for r in rows.iter().take(25) {
        let _ = write!(
            html,
            "<tr><td><a href=\"/api/v1/customers/{}/open-items\">{}</a> {}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            r.customer_id,
            esc(&r.external_id),
            esc(&r.name),
            esc(&r.category),
            r.currency,
            r.overdue,
            r.days_overdue
        );
    }
    html.push_str("</tbody></table></body></html>");
    Ok(Html(html))
}
