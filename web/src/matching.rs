//! The manual payment-matching queue, server-rendered at `/matching`: the bank credits that
//! matched nothing (or not confidently) at import, oldest first, each with matching's guess
//! (customer, invoices, confidence) and why, and a form that assigns it to a customer's open
//! invoices (the oldest due first when none are named) or to the customer as unallocated
//! money. The form goes through the same store call and refusals as the API's
//! `POST /api/v1/bank/queue/{id}/match`; the access policy decides who may post it.

use std::collections::HashMap;
use std::fmt::Write;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use arrears_engine::correspondence::render::{format_date, format_money};
use arrears_engine::ids::CustomerId;
use arrears_engine::ledger::document::{CustomerRef, DocRef};
use arrears_engine::store::StoreError;

use crate::access::Principal;
use crate::api::AppState;
use crate::api::bank::{match_refusal, match_to};
use crate::i18n::{t, tf};
use crate::page::{csrf_input, internal, lang_of, layout, may_post, refuse, refused};
use crate::ui::esc;

/// At most this many credits on the page.
const QUEUE_LIMIT: usize = 200;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/matching", get(queue))
        .route("/matching/{id}", post(match_credit))
        .with_state(state)
}

/// The invoice numbers of matching's suggestion (`[{"number": ...}]`).
fn suggested_numbers(suggestion: &serde_json::Value) -> Vec<String> {
    suggestion
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["number"].as_str().map(String::from))
        .collect()
}

/// The credits waiting, oldest first, each with the guess and the form.
async fn queue(State(st): State<AppState>, p: Principal) -> Response {
    let lang = lang_of(&p);
    let code = lang.code();
    let items = match st.store.bank_queue().await {
        Ok(items) => items,
        Err(e) => return internal(e),
    };
    // The guessed customers' numbers and names, once each.
    let mut customers: HashMap<CustomerId, (String, String)> = HashMap::new();
    for id in items
        .iter()
        .take(QUEUE_LIMIT)
        .filter_map(|i| i.suggested_customer_id)
    {
        if customers.contains_key(&id) {
            continue;
        }
        match st.store.customer(id).await {
            Ok(c) => {
                customers.insert(id, (c.external_id, c.name));
            }
            // Gone since the import: no guess to show.
            Err(StoreError::NotFound(_)) => {}
            Err(e) => return internal(e),
        }
    }
    let may_match = may_post(&p, "/matching/{id}");
    let csrf = csrf_input(&p);
    let mut body = String::new();
    if items.is_empty() {
        let _ = write!(body, "<p id=\"empty\">{}</p>", t(lang, "ui.no_credits"));
    }
    for item in items.iter().take(QUEUE_LIMIT) {
        let id = item.id;
        let payer = [
            item.counterparty_name.as_deref(),
            item.counterparty_account.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
        let _ = write!(
            body,
            "<section class=\"task\" id=\"credit-{id}\"><h2>{} · {}</h2>\
             <p>{}: {}</p><p>{}: {}</p>",
            format_money(item.amount, item.currency.code(), code),
            format_date(item.booking_date, code),
            t(lang, "ui.payer"),
            esc(&payer),
            t(lang, "ui.remittance"),
            esc(&item.remittance),
        );
        let guess = item
            .suggested_customer_id
            .and_then(|c| customers.get(&c))
            .cloned();
        let numbers = suggested_numbers(&item.suggestion);
        let guessed = match &guess {
            Some((number, name)) => tf(
                lang,
                "ui.guess",
                &[
                    ("customer", &format!("{number} {name}")),
                    ("confidence", &item.confidence.to_string()),
                ],
            ),
            None => t(lang, "ui.no_guess").to_string(),
        };
        let _ = write!(
            body,
            "<p class=\"guess\">{}{}</p><p class=\"why\">{}: {}</p>",
            esc(&guessed),
            if numbers.is_empty() {
                String::new()
            } else {
                format!(" → {}", esc(&numbers.join(", ")))
            },
            t(lang, "ui.why"),
            esc(&if item.explanation.is_empty() {
                item.reason.clone()
            } else {
                format!("{} ({})", item.reason, item.explanation)
            }),
        );
        if may_match {
            let _ = write!(
                body,
                "<form class=\"task\" method=\"post\" action=\"/matching/{id}\">{csrf}\
                 <label for=\"customer-{id}\">{}</label><input id=\"customer-{id}\" name=\"customer\" value=\"{}\" required>\
                 <label for=\"invoices-{id}\">{}</label><input id=\"invoices-{id}\" name=\"invoices\" value=\"{}\">\
                 <label><input type=\"checkbox\" id=\"unallocated-{id}\" name=\"unallocated\" value=\"true\"> {}</label>\
                 <button type=\"submit\" id=\"match-{id}\">{}</button></form>",
                t(lang, "ui.customer_number"),
                esc(guess.as_ref().map(|g| g.0.as_str()).unwrap_or("")),
                t(lang, "ui.invoice_numbers"),
                esc(&numbers.join(", ")),
                t(lang, "ui.keep_unallocated"),
                t(lang, "ui.match_credit"),
            );
        }
        body.push_str("</section>");
    }
    layout(lang, &p, t(lang, "ui.matching"), &body).into_response()
}

#[derive(Debug, Deserialize)]
struct MatchForm {
    #[serde(default)]
    customer: String,
    /// Invoice numbers separated by commas or line breaks.
    #[serde(default)]
    invoices: String,
    unallocated: Option<String>,
}

/// Books the credit for the customer and applies it as the form says.
async fn match_credit(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
    axum::Form(f): axum::Form<MatchForm>,
) -> Response {
    let lang = lang_of(&p);
    let customer = f.customer.trim();
    if customer.is_empty() {
        return refused(
            lang,
            &p,
            StatusCode::UNPROCESSABLE_ENTITY,
            t(lang, "ui.name_customer"),
            "/matching",
        );
    }
    let invoices: Vec<DocRef> = f
        .invoices
        .split([',', '\n'])
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| DocRef::Number(n.to_string()))
        .collect();
    let done = match match_to(f.unallocated.as_deref() == Some("true"), invoices) {
        Ok(to) => st
            .store
            .resolve_bank_item(
                id,
                CustomerRef::External(customer.to_string()),
                to,
                &p.actor(),
            )
            .await
            .map_err(match_refusal),
        Err(e) => Err(e),
    };
    match done {
        Ok(_) => Redirect::to("/matching").into_response(),
        Err(e) => refuse(lang, &p, e, "/matching"),
    }
}
