//! The server-rendered overview page (the portfolio's aging totals and the customers most
//! overdue, with links into the API) and what every staff page shares: the layout with its
//! navigation and signed-in bar, the page language, escaping. The collectors' inbox and case
//! pages are `crate::inbox`, the dashboard `crate::dashboard`, the scenario pages
//! `crate::scenario_page`; the debtor page is `crate::pay`.

use std::fmt::Write;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use arrears_engine::aging::Buckets;
use arrears_engine::store::AgingQuery;

use crate::access::{CSRF_FIELD, Principal, Via};
use crate::api::AppState;
use crate::i18n::{Lang, t};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(overview))
        // Browsers ask for it on every page; there is none, and asking needs no sign-in.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .with_state(state)
}

/// A page failed for a reason the user cannot act on: logged, shown as a short message.
pub(crate) fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "page failed");
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
}

/// The language of a signed-in user's pages; English for API tokens.
pub(crate) fn lang_of(p: &Principal) -> Lang {
    match &p.via {
        Via::Session { language, .. } => Lang::of(language),
        Via::Token => Lang::En,
    }
}

/// The page around `body`: title, navigation, who is signed in. On a narrow screen tables
/// become one cell per line, each cell named by its `data-label`.
pub(crate) fn layout(lang: Lang, p: &Principal, title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"{code}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title} · arrears</title>\
         <style>body{{font-family:system-ui,sans-serif;margin:1rem auto;max-width:72rem;padding:0 1rem}}\
         nav a{{margin-right:1rem;display:inline-block;padding:.2rem 0}}table{{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}}\
         th,td{{padding:.3rem .5rem;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}}\
         td.n,th.n{{text-align:right;font-variant-numeric:tabular-nums}}\
         form.task{{border:1px solid #ccc;padding:.6rem;margin:.5rem 0}}label{{display:block;margin:.3rem 0}}\
         input,select,textarea,button{{font:inherit;padding:.3rem}}\
         :focus{{outline:3px solid #1a5fb4;outline-offset:2px}}\
         svg.chart{{display:block;width:100%;max-width:44rem;height:auto}}.scroll{{overflow-x:auto}}\
         .error{{color:#a51d2d}}.warning{{color:#865e00}}pre{{white-space:pre-wrap;background:#f6f6f6;padding:.4rem}}\
         @media (max-width:40rem){{table,thead,tbody,tr,td,th{{display:block}}thead{{display:none}}td{{border:0}}tr{{border-bottom:1px solid #ccc}}\
         td.n{{text-align:left}}td[data-label]::before{{content:attr(data-label) \": \";font-weight:600}}}}\
         </style></head><body><nav><a href=\"/\">{overview}</a><a href=\"/dashboard\">{dashboard}</a><a href=\"/tasks\">{inbox}</a>\
         <a href=\"/approvals\">{approvals}</a><a href=\"/scenarios\">{scenarios}</a></nav>\
         {bar}<main><h1>{title}</h1>{body}</main></body></html>",
        code = lang.code(),
        title = esc(title),
        overview = t(lang, "ui.overview"),
        dashboard = t(lang, "ui.dashboard"),
        inbox = t(lang, "ui.inbox"),
        approvals = t(lang, "ui.approvals"),
        scenarios = t(lang, "ui.scenarios"),
        bar = crate::access::login::signed_in_bar(p),
    ))
}

/// The hidden field with the session's CSRF token, for a form of a page.
pub(crate) fn csrf_input(p: &Principal) -> String {
    p.csrf()
        .map(|c| {
            format!(
                "<input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{}\">",
                esc(c)
            )
        })
        .unwrap_or_default()
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
