//! The frame every page of the staff UI shares: the layout with its navigation, the user's
//! language, the CSRF field of forms, and how a refused form or a failed page answers. The
//! pages themselves live with their concepts (`inbox`, `request`, `matching`).

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::access::{CSRF_FIELD, Principal, Via};
use crate::i18n::{Lang, t};
use crate::ui::esc;

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
         <a href=\"/approvals\">{approvals}</a><a href=\"/matching\">{matching}</a><a href=\"/request\">{request}</a>\
         <a href=\"/requests\">{requests}</a><a href=\"/scenarios\">{scenarios}</a></nav>\
         {bar}<main><h1>{title}</h1>{body}</main></body></html>",
        code = lang.code(),
        title = esc(title),
        overview = t(lang, "ui.overview"),
        dashboard = t(lang, "ui.dashboard"),
        inbox = t(lang, "ui.inbox"),
        approvals = t(lang, "ui.approvals"),
        matching = t(lang, "ui.matching"),
        request = t(lang, "ui.request"),
        requests = t(lang, "ui.requests"),
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

/// A refused form: the reason, with a way back.
pub(crate) fn refused(
    lang: Lang,
    p: &Principal,
    status: StatusCode,
    reason: &str,
    to: &str,
) -> Response {
    let body = format!(
        "<p id=\"error\" role=\"alert\">{}</p><p><a href=\"{}\">{}</a></p>",
        esc(reason),
        esc(to),
        t(lang, "ui.back")
    );
    (status, layout(lang, p, t(lang, "ui.refused"), &body)).into_response()
}

/// A refused form for an error of the store or the runtime, with the status and words the
/// API answers it with, and a way back to `to`.
pub(crate) fn refuse(
    lang: Lang,
    p: &Principal,
    e: impl Into<crate::api::error::ApiError>,
    to: &str,
) -> Response {
    let e = e.into();
    refused(lang, p, e.status(), e.detail(), to)
}

/// Whether the signed-in role may post to the route `path` (a template of the policy
/// table): forms are shown only to who may use them.
pub(crate) fn may_post(p: &Principal, path: &str) -> bool {
    crate::access::policy::access("POST", path).is_some_and(|a| a.allows(p.role))
}
