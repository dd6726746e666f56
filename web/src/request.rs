//! The intranet request form and the collections lead's list, server-rendered. At `/request`
//! a member of staff asks collections to start a case for a customer or an invoice, with a
//! reason, and below the form follows their own requests: pending, accepted (with the case)
//! or rejected (with the lead's reason). At `/requests` the lead works the pending requests
//! oldest first: accept (in the scenario that applies, or one picked) or reject with a
//! reason. The rules are the engine's (`runtime::request`); the access policy decides who may
//! post which form.

use std::fmt::Write;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use arrears_engine::correspondence::render::format_date;
use arrears_engine::ids::CaseRequestId;
use arrears_engine::runtime::RuntimeError;
use arrears_engine::runtime::request::{self, CaseRequest, Decision, NewRequest, RequestFilter};

use crate::access::Principal;
use crate::api::AppState;
use crate::i18n::{Lang, t};
use crate::page::{csrf_input, internal, lang_of, layout, may_post, refuse, refused};
use crate::ui::esc;

/// At most this many decided requests on the lead's list.
const DECIDED_LIMIT: usize = 50;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/request", get(form_page).post(file))
        .route("/requests", get(lead_page))
        .route("/requests/{id}/accept", post(accept))
        .route("/requests/{id}/reject", post(reject))
        .with_state(state)
}

#[derive(Debug, Default, Deserialize)]
struct RequestForm {
    #[serde(default)]
    customer: String,
    #[serde(default)]
    invoice: String,
    #[serde(default)]
    reason: String,
}

/// A refused form field: its name (the engine's pointer without the slash) and why.
struct FieldError {
    field: String,
    message: String,
}

fn status_text(lang: Lang, status: &str) -> &'static str {
    match status {
        "accepted" => t(lang, "ui.request_accepted"),
        "rejected" => t(lang, "ui.request_rejected"),
        _ => t(lang, "ui.request_pending"),
    }
}

/// What became of a request: the case it started or why it was rejected.
fn outcome_cell(lang: Lang, r: &CaseRequest) -> String {
    match (r.case_id, &r.decision_reason) {
        (Some(case), _) => format!(
            "<a href=\"/cases/{case}\">{}</a>",
            esc(&crate::i18n::tf(
                lang,
                "ui.case_link",
                &[("id", &case.to_string())]
            ))
        ),
        (None, Some(why)) => format!("<span class=\"why\">{}</span>", esc(why)),
        _ => String::new(),
    }
}

fn subject_cell(r: &CaseRequest) -> String {
    let mut s = format!("{} {}", esc(&r.customer), esc(&r.customer_name));
    if let Some(n) = &r.invoice_number {
        let _ = write!(s, " · {}", esc(n));
    }
    s
}

/// The form (with the values typed and the refused field's message, when there is one) and
/// the requester's own requests.
async fn render_form(
    st: &AppState,
    p: &Principal,
    typed: &RequestForm,
    error: Option<&FieldError>,
) -> Response {
    let lang = lang_of(p);
    let mine = match request::list(
        &st.store,
        &RequestFilter {
            requester: Some(p.actor().0),
            status: None,
        },
    )
    .await
    {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    let field = |name: &str, label: &str, value: &str, textarea: bool| {
        let err = error.filter(|e| e.field == name);
        let described = err
            .map(|_| format!(" aria-invalid=\"true\" aria-describedby=\"{name}-error\""))
            .unwrap_or_default();
        let input = if textarea {
            format!(
                "<textarea id=\"{name}\" name=\"{name}\" rows=\"4\" required{described}>{}</textarea>",
                esc(value)
            )
        } else {
            format!(
                "<input id=\"{name}\" name=\"{name}\" value=\"{}\"{described}>",
                esc(value)
            )
        };
        let message = err
            .map(|e| {
                format!(
                    "<p class=\"error\" id=\"{name}-error\" role=\"alert\">{}</p>",
                    esc(&e.message)
                )
            })
            .unwrap_or_default();
        format!("<label for=\"{name}\">{label}</label>{input}{message}")
    };
    let mut body = format!(
        "<p>{}</p><form class=\"task\" method=\"post\" action=\"/request\">{}{}{}{}\
         <button type=\"submit\" id=\"send-request\">{}</button></form>",
        t(lang, "ui.request_hint"),
        csrf_input(p),
        field(
            "customer",
            t(lang, "ui.customer_number"),
            &typed.customer,
            false
        ),
        field(
            "invoice",
            t(lang, "ui.invoice_number"),
            &typed.invoice,
            false
        ),
        field("reason", t(lang, "ui.reason"), &typed.reason, true),
        t(lang, "ui.send_request"),
    );
    if let Some(e) =
        error.filter(|e| !["customer", "invoice", "reason"].contains(&e.field.as_str()))
    {
        let _ = write!(
            body,
            "<p class=\"error\" id=\"error\" role=\"alert\">{}</p>",
            esc(&e.message)
        );
    }
    let _ = write!(body, "<h2>{}</h2>", t(lang, "ui.my_requests"));
    if mine.is_empty() {
        let _ = write!(body, "<p id=\"empty\">{}</p>", t(lang, "ui.no_requests"));
    } else {
        let _ = write!(
            body,
            "<table id=\"my-requests\"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
            t(lang, "ui.when"),
            t(lang, "ui.customer"),
            t(lang, "ui.reason"),
            t(lang, "ui.status"),
            t(lang, "ui.decision"),
        );
        for r in &mine {
            let _ = write!(
                body,
                "<tr id=\"request-{id}\"><td>{}</td><td>{}</td><td>{}</td><td class=\"status\">{}</td><td>{}</td></tr>",
                format_date(r.created_at.date_naive(), lang.code()),
                subject_cell(r),
                esc(&r.reason),
                status_text(lang, &r.status),
                outcome_cell(lang, r),
                id = r.id,
            );
        }
        body.push_str("</tbody></table>");
    }
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    (status, layout(lang, p, t(lang, "ui.request_title"), &body)).into_response()
}

async fn form_page(State(st): State<AppState>, p: Principal) -> Response {
    render_form(&st, &p, &RequestForm::default(), None).await
}

/// Files a request; a refused field shows the form again with what was typed.
async fn file(
    State(st): State<AppState>,
    p: Principal,
    axum::Form(f): axum::Form<RequestForm>,
) -> Response {
    let filed = st
        .runtime
        .file_request(
            &NewRequest {
                customer: Some(f.customer.clone()),
                invoice: Some(f.invoice.clone()),
                reason: f.reason.clone(),
            },
            p.actor().as_str(),
        )
        .await;
    match filed {
        Ok(r) => Redirect::to(&format!("/request#request-{}", r.id)).into_response(),
        Err(RuntimeError::Refused(m)) => {
            let (field, message) = match m.split_once(": ") {
                Some((pointer, detail)) if pointer.starts_with('/') => {
                    (pointer[1..].to_string(), detail.to_string())
                }
                _ => (String::new(), m),
            };
            render_form(&st, &p, &f, Some(&FieldError { field, message })).await
        }
        Err(e) => refuse(lang_of(&p), &p, e, "/request"),
    }
}

/// The lead's list: pending requests oldest first, each with accept and reject forms, then
/// the latest decisions.
async fn lead_page(State(st): State<AppState>, p: Principal) -> Response {
    let lang = lang_of(&p);
    let (all, scenarios) = match tokio::try_join!(
        async {
            request::list(&st.store, &RequestFilter::default())
                .await
                .map_err(RuntimeError::from)
        },
        st.runtime.request_scenarios(),
    ) {
        Ok(x) => x,
        Err(e) => return internal(e),
    };
    let (mut pending, decided): (Vec<&CaseRequest>, Vec<&CaseRequest>) =
        all.iter().partition(|r| r.status == "pending");
    pending.reverse();
    let decide = may_post(&p, "/requests/{id}/accept");
    let csrf = csrf_input(&p);
    let mut body = String::new();
    if pending.is_empty() {
        let _ = write!(
            body,
            "<p id=\"empty\">{}</p>",
            t(lang, "ui.no_pending_requests")
        );
    }
    for r in &pending {
        let id = r.id;
        let _ = write!(
            body,
            "<section class=\"task\" id=\"request-{id}\"><h2>{}</h2>\
             <p>{}: {} · {}</p><p class=\"reason\">{}</p>",
            subject_cell(r),
            t(lang, "ui.requested_by"),
            esc(&r.requester),
            format_date(r.created_at.date_naive(), lang.code()),
            esc(&r.reason),
        );
        if decide {
            let _ = write!(
                body,
                "<form class=\"task\" method=\"post\" action=\"/requests/{id}/accept\">{csrf}\
                 <label for=\"scenario-{id}\">{}</label><select id=\"scenario-{id}\" name=\"scenario\">\
                 <option value=\"\">{}</option>",
                t(lang, "ui.scenario"),
                t(lang, "ui.scenario_auto"),
            );
            for (sid, title) in &scenarios {
                let _ = write!(
                    body,
                    "<option value=\"{0}\">{0}: {1}</option>",
                    esc(sid),
                    esc(title)
                );
            }
            let _ = write!(
                body,
                "</select> <button type=\"submit\" id=\"accept-{id}\">{}</button></form>\
                 <form class=\"task\" method=\"post\" action=\"/requests/{id}/reject\">{csrf}\
                 <label for=\"why-{id}\">{}</label><textarea id=\"why-{id}\" name=\"reason\" rows=\"2\" required></textarea>\
                 <button type=\"submit\" id=\"reject-{id}\">{}</button></form>",
                t(lang, "ui.accept_request"),
                t(lang, "ui.reject_reason"),
                t(lang, "ui.reject_request"),
            );
        }
        body.push_str("</section>");
    }
    if !decided.is_empty() {
        let _ = write!(
            body,
            "<h2>{}</h2><table id=\"decided\"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
            t(lang, "ui.decided_requests"),
            t(lang, "ui.customer"),
            t(lang, "ui.requested_by"),
            t(lang, "ui.status"),
            t(lang, "ui.who"),
            t(lang, "ui.decision"),
        );
        for r in decided.iter().take(DECIDED_LIMIT) {
            let _ = write!(
                body,
                "<tr id=\"request-{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                r.id,
                subject_cell(r),
                esc(&r.requester),
                status_text(lang, &r.status),
                esc(r.decided_by.as_deref().unwrap_or("")),
                outcome_cell(lang, r),
            );
        }
        body.push_str("</tbody></table>");
    }
    layout(lang, &p, t(lang, "ui.requests"), &body).into_response()
}

#[derive(Debug, Deserialize)]
struct AcceptForm {
    #[serde(default)]
    scenario: String,
}

/// Accepts a request: the case starts and its page opens.
async fn accept(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
    axum::Form(f): axum::Form<AcceptForm>,
) -> Response {
    let scenario = Some(f.scenario.trim().to_string()).filter(|s| !s.is_empty());
    let done = st
        .runtime
        .decide_request(
            CaseRequestId(id),
            &Decision::Accept { scenario },
            p.actor().as_str(),
        )
        .await;
    match done {
        Ok(r) => match r.case_id {
            Some(case) => Redirect::to(&format!("/cases/{case}")).into_response(),
            None => Redirect::to("/requests").into_response(),
        },
        Err(e) => decision_refused(&p, e),
    }
}

#[derive(Debug, Deserialize)]
struct RejectForm {
    #[serde(default)]
    reason: String,
}

/// Rejects a request with the reason the requester will read.
async fn reject(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
    axum::Form(f): axum::Form<RejectForm>,
) -> Response {
    let done = st
        .runtime
        .decide_request(
            CaseRequestId(id),
            &Decision::Reject { reason: f.reason },
            p.actor().as_str(),
        )
        .await;
    match done {
        Ok(_) => Redirect::to("/requests").into_response(),
        Err(e) => decision_refused(&p, e),
    }
}

fn decision_refused(p: &Principal, e: RuntimeError) -> Response {
    let e = crate::api::error::ApiError::from(e);
    // The page's forms have no JSON pointers: it shows the message alone.
    let reason = match e.detail().split_once(": ") {
        Some((pointer, detail)) if pointer.starts_with('/') => detail,
        _ => e.detail(),
    };
    refused(lang_of(p), p, e.status(), reason, "/requests")
}
