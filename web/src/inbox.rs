//! The collectors' desk, server-rendered: the task inbox (my tasks and everyone's, sorted by
//! due date or by the amount overdue), the case page (customer, balance, open items, the open
//! tasks with their forms, the history timeline with the engine's explanations, documents),
//! the letters waiting for approval (approved several at once, four eyes), and the task forms (complete with an outcome and the step's fields, forward to a user with
//! a comment, set a next-contact date). Forms post with the session's CSRF token and answer
//! with a redirect back to the case; the access policy decides who may post them.

use std::collections::HashMap;
use std::fmt::Write;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use arrears_engine::correspondence::DocumentFilter;
use arrears_engine::correspondence::render::{format_date, format_money};
use arrears_engine::ids::{CaseId, CustomerId, TaskId};
use arrears_engine::runtime::task::TaskRow;
use arrears_engine::runtime::views;

use crate::access::Principal;
use crate::api::AppState;
use crate::i18n::{Lang, t, tf};
use crate::page::{csrf_input, internal, lang_of, layout, refuse, refused};
use crate::ui::esc;

/// At most this many tasks on one inbox page.
const INBOX_LIMIT: usize = 200;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/tasks", get(inbox))
        .route("/cases/{id}", get(case_page))
        .route("/cases/{id}/notes", post(crate::notes::add))
        .route("/tasks/{id}/complete", post(complete))
        .route("/tasks/{id}/forward", post(forward))
        .route("/tasks/{id}/snooze", post(snooze))
        .route("/approvals", get(approvals).post(approve))
        .with_state(state)
}

#[derive(Debug, Deserialize)]
struct InboxParams {
    /// `mine` (default), `team` or `all`.
    scope: Option<String>,
    /// `due` (default) or `amount`.
    sort: Option<String>,
}

/// The users whose tasks `scope` shows to `p`: only `p`; everyone in `p`'s team (only `p`
/// without a team); or everyone (`None`).
async fn scope_users(
    st: &AppState,
    p: &Principal,
    scope: &str,
) -> Result<Option<Vec<String>>, arrears_engine::store::StoreError> {
    match scope {
        "all" => Ok(None),
        "team" => Ok(Some(st.store.team_of(&p.name).await?)),
        _ => Ok(Some(vec![p.name.clone()])),
    }
}

/// The task inbox: my tasks (assigned to me, or unassigned for my role), my team's, or every
/// open task.
async fn inbox(State(st): State<AppState>, p: Principal, Query(q): Query<InboxParams>) -> Response {
    let lang = lang_of(&p);
    // An unknown scope is "mine", so the page marks what it shows.
    let scope = ["team", "all"]
        .into_iter()
        .find(|s| q.scope.as_deref() == Some(*s))
        .unwrap_or("mine");
    let by_amount = q.sort.as_deref() == Some("amount");
    let roles = vec![p.role.as_str().to_string()];
    let users = match scope_users(&st, &p, scope).await {
        Ok(u) => u,
        Err(e) => return internal(e),
    };
    let tasks = match views::inbox(&st.store, users.as_deref(), &roles).await {
        Ok(t) => t,
        Err(e) => return internal(e),
    };
    let tasks: Vec<TaskRow> = tasks.into_iter().take(INBOX_LIMIT).collect();
    let today = st.store.clock().today();
    // Overdue per customer and currency, for every task's customer in one query; amounts
    // in different currencies are shown side by side, never added.
    let customers: Vec<CustomerId> = tasks
        .iter()
        .filter_map(|t| t.customer_id)
        .map(CustomerId)
        .collect();
    let mut overdue: HashMap<i64, Vec<(rust_decimal::Decimal, String)>> = HashMap::new();
    match st.store.balances_of(&customers, today).await {
        Ok(rows) => {
            for r in rows.into_iter().filter(|r| !r.overdue.is_zero()) {
                overdue
                    .entry(r.customer_id.0)
                    .or_default()
                    .push((r.overdue, r.currency.code().to_string()));
            }
        }
        Err(e) => return internal(e),
    }
    let mut rows: Vec<&TaskRow> = tasks.iter().collect();
    if by_amount {
        // Across currencies there is no total: a customer ranks by its largest overdue amount.
        let amount = |t: &TaskRow| {
            t.customer_id
                .and_then(|c| overdue.get(&c))
                .and_then(|amounts| amounts.iter().map(|a| a.0).max())
                .unwrap_or_default()
        };
        rows.sort_by(|a, b| amount(b).cmp(&amount(a)).then(a.id.cmp(&b.id)));
    }
    let link = |scope: &str, sort: &str, label: &str, current: bool| {
        if current {
            format!("<strong>{label}</strong>")
        } else {
            format!("<a href=\"/tasks?scope={scope}&amp;sort={sort}\">{label}</a>")
        }
    };
    let sort = if by_amount { "amount" } else { "due" };
    let mut body = format!(
        "<p>{} · {} · {} &nbsp;|&nbsp; {}: {} · {}</p>",
        link("mine", sort, t(lang, "ui.mine"), scope == "mine"),
        link("team", sort, t(lang, "ui.team"), scope == "team"),
        link("all", sort, t(lang, "ui.all"), scope == "all"),
        t(lang, "ui.sort"),
        link(scope, "due", t(lang, "ui.by_due"), !by_amount),
        link(scope, "amount", t(lang, "ui.by_amount"), by_amount),
    );
    if rows.is_empty() {
        let _ = write!(body, "<p id=\"empty\">{}</p>", t(lang, "ui.no_tasks"));
    } else {
        let _ = write!(
            body,
            "<table id=\"tasks\"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th class=\"n\">{}</th></tr></thead><tbody>",
            t(lang, "ui.task"),
            t(lang, "ui.assigned"),
            t(lang, "ui.due"),
            t(lang, "ui.status"),
            t(lang, "ui.overdue"),
        );
        for task in rows {
            let title = match task.case_id {
                Some(c) => format!(
                    "<a href=\"/cases/{c}#task-{}\">{}</a>",
                    task.id,
                    esc(&task.title)
                ),
                // A request to start a case has no case yet: it is decided on its page.
                None if task.kind == "request" => {
                    format!("<a href=\"/requests\">{}</a>", esc(&task.title))
                }
                None => esc(&task.title),
            };
            let amount = task
                .customer_id
                .and_then(|c| overdue.get(&c))
                .map(|amounts| {
                    amounts
                        .iter()
                        .map(|(a, cur)| format_money(*a, cur, lang.code()))
                        .collect::<Vec<_>>()
                        .join("<br>")
                })
                .unwrap_or_default();
            let _ = write!(
                body,
                "<tr><td>{title}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
                esc(task
                    .assignee
                    .as_deref()
                    .or(task.role.as_deref())
                    .unwrap_or("")),
                task.due_at
                    .map(|d| format_date(d.date_naive(), lang.code()))
                    .unwrap_or_default(),
                esc(&task.status),
                esc(&amount),
            );
        }
        body.push_str("</tbody></table>");
    }
    layout(lang, &p, t(lang, "ui.inbox"), &body).into_response()
}

/// A case: customer, balance, open items, open tasks with their forms, history, documents.
async fn case_page(State(st): State<AppState>, p: Principal, Path(id): Path<i64>) -> Response {
    let lang = lang_of(&p);
    let case = match views::case(&st.store, id).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return (
                StatusCode::NOT_FOUND,
                layout(lang, &p, t(lang, "ui.not_found"), ""),
            )
                .into_response();
        }
        Err(e) => return internal(e),
    };
    let filter = DocumentFilter {
        case_id: Some(id),
        limit: Some(100),
        ..Default::default()
    };
    let (statement, tasks, history, documents, notes) = match tokio::try_join!(
        st.store.customer_statement(CustomerId(case.customer_id)),
        views::case_tasks(&st.store, id),
        views::case_history(&st.store, id),
        st.store.archive(&filter),
        st.store.case_notes(CaseId(id)),
    ) {
        Ok(x) => x,
        Err(e) => return internal(e),
    };
    let code = lang.code();
    let cur = &statement.balance.currency;
    let mut body = format!(
        "<p id=\"case-status\">{}: <strong>{}</strong> · {}: {} · {}: {}</p>\
         <p id=\"balance\">{}: <strong>{}</strong>, {}: <strong>{}</strong></p>",
        t(lang, "ui.status"),
        esc(&case.status),
        t(lang, "ui.scenario"),
        esc(&case.scenario_id),
        t(lang, "ui.step"),
        esc(&case.step),
        t(lang, "ui.balance"),
        format_money(statement.balance.total, cur, code),
        t(lang, "ui.overdue"),
        format_money(statement.balance.overdue, cur, code),
    );
    if let Some(promise) = case.promise() {
        let _ = write!(
            body,
            "<p id=\"promise\">{}</p>",
            esc(&tf(
                lang,
                "ui.promise",
                &[
                    ("date", &format_date(promise.date, code)),
                    ("amount", &format_money(promise.amount, cur, code)),
                ]
            ))
        );
    }
    let _ = write!(
        body,
        "<h2>{}</h2><table id=\"items\"><thead><tr><th>{}</th><th>{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th></tr></thead><tbody>",
        t(lang, "ui.open_items"),
        t(lang, "ui.document"),
        t(lang, "ui.due"),
        t(lang, "ui.days_overdue"),
        t(lang, "ui.open"),
    );
    for i in &statement.open_items {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(&i.number),
            format_date(i.due, code),
            i.days_overdue,
            format_money(i.open, &i.currency, code)
        );
    }
    body.push_str("</tbody></table>");
    let _ = write!(body, "<h2>{}</h2>", t(lang, "ui.tasks"));
    for task in &tasks {
        body.push_str(&task_block(lang, &p, task));
    }
    body.push_str(&crate::notes::section(lang, &p, id, &notes));
    let _ = write!(
        body,
        "<h2>{}</h2><table id=\"history\"><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
        t(lang, "ui.history"),
        t(lang, "ui.when"),
        t(lang, "ui.who"),
        t(lang, "ui.what"),
    );
    for h in history.iter().rev() {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            h.at.format("%Y-%m-%d %H:%M"),
            esc(&h.actor),
            esc(&h.message)
        );
    }
    body.push_str("</tbody></table>");
    let _ = write!(
        body,
        "<h2>{}</h2><ul id=\"documents\">",
        t(lang, "ui.documents")
    );
    for d in &documents {
        let _ = write!(
            body,
            "<li><a href=\"/api/v1/documents/{id}/pdf\">{} ({})</a>: {}</li>",
            esc(&d.template),
            esc(&d.channel),
            esc(&d.status),
            id = d.id
        );
    }
    body.push_str("</ul>");
    let title = tf(
        lang,
        "ui.case_title",
        &[("id", &id.to_string()), ("name", &statement.customer_name)],
    );
    layout(lang, &p, &title, &body).into_response()
}

/// A task with, while it is open, its forms: complete, forward, next contact.
fn task_block(lang: Lang, p: &Principal, task: &TaskRow) -> String {
    let id = task.id;
    let mut out = format!(
        "<section class=\"task\" id=\"task-{id}\"><h3>{}</h3><p>{}: {} · {}: {}</p>",
        esc(&task.title),
        t(lang, "ui.status"),
        esc(&task.status),
        t(lang, "ui.assigned"),
        esc(task
            .assignee
            .as_deref()
            .or(task.role.as_deref())
            .unwrap_or(""))
    );
    if !matches!(task.status.as_str(), "open" | "claimed" | "snoozed") {
        if let Some(o) = &task.outcome {
            let _ = write!(out, "<p>{}: {}</p>", t(lang, "ui.outcome"), esc(o));
        }
        out.push_str("</section>");
        return out;
    }
    let csrf = csrf_input(p);
    let _ = write!(
        out,
        "<form class=\"task\" method=\"post\" action=\"/tasks/{id}/complete\">{csrf}\
         <label for=\"outcome-{id}\">{}</label><select id=\"outcome-{id}\" name=\"outcome\">",
        t(lang, "ui.outcome")
    );
    for o in task.outcomes() {
        let _ = write!(out, "<option value=\"{0}\">{0}</option>", esc(&o));
    }
    out.push_str("</select>");
    let fields: Vec<serde_json::Value> = serde_json::from_str(&task.form).unwrap_or_default();
    for f in &fields {
        let Some(name) = f["name"].as_str() else {
            continue;
        };
        let label = f["label"].as_str().unwrap_or(name);
        let input = match f["kind"].as_str().or(f["type"].as_str()) {
            Some("date") => "<input type=\"date\"",
            Some("amount") | Some("number") => "<input inputmode=\"decimal\"",
            Some("bool") => "<input type=\"checkbox\" value=\"true\"",
            _ => "<input",
        };
        let _ = write!(
            out,
            "<label for=\"f-{id}-{n}\">{}</label>{input} id=\"f-{id}-{n}\" name=\"f.{n}\">",
            esc(label),
            n = esc(name)
        );
    }
    let _ = write!(
        out,
        "<button type=\"submit\" id=\"complete-{id}\">{}</button></form>",
        t(lang, "ui.complete")
    );
    let _ = write!(
        out,
        "<form class=\"task\" method=\"post\" action=\"/tasks/{id}/forward\">{csrf}\
         <label for=\"to-{id}\">{}</label><input id=\"to-{id}\" name=\"to\" required>\
         <label for=\"comment-{id}\">{}</label><input id=\"comment-{id}\" name=\"comment\">\
         <button type=\"submit\">{}</button></form>\
         <form class=\"task\" method=\"post\" action=\"/tasks/{id}/snooze\">{csrf}\
         <label for=\"until-{id}\">{}</label><input type=\"date\" id=\"until-{id}\" name=\"until\" required>\
         <button type=\"submit\">{}</button></form></section>",
        t(lang, "ui.forward_to"),
        t(lang, "ui.comment"),
        t(lang, "ui.forward"),
        t(lang, "ui.next_contact"),
        t(lang, "ui.set_next_contact"),
    );
    out
}

/// Where a task form goes back to: its case, or the inbox.
async fn back(st: &AppState, task: i64) -> String {
    let mut tx = match st.store.read().await {
        Ok(tx) => tx,
        Err(_) => return "/tasks".into(),
    };
    let case = arrears_engine::runtime::task::load(&mut tx, TaskId(task))
        .await
        .ok()
        .and_then(|t| t.case_id);
    let _ = tx.commit().await;
    case.map(|c| format!("/cases/{c}"))
        .unwrap_or_else(|| "/tasks".into())
}

/// What a task form answers: back to where it came from, or a page that says why not.
fn answer(
    done: Result<(), arrears_engine::runtime::RuntimeError>,
    lang: Lang,
    p: &Principal,
    to: &str,
) -> Response {
    match done {
        Ok(()) => Redirect::to(to).into_response(),
        Err(e) => refuse(lang, p, e, to),
    }
}

/// Completes a task with the outcome and the step's fields (`f.<name>`).
async fn complete(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> Response {
    let lang = lang_of(&p);
    let to = back(&st, id).await;
    let Some(outcome) = form
        .iter()
        .find(|(k, _)| k == "outcome")
        .map(|e| e.1.clone())
    else {
        return refused(
            lang,
            &p,
            StatusCode::UNPROCESSABLE_ENTITY,
            t(lang, "ui.choose_outcome"),
            &to,
        );
    };
    let data: serde_json::Map<String, serde_json::Value> = form
        .iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix("f.")?;
            (!v.trim().is_empty()).then(|| (name.to_string(), serde_json::Value::from(v.trim())))
        })
        .collect();
    let done = st
        .runtime
        .complete_task(
            TaskId(id),
            &outcome,
            &serde_json::Value::Object(data),
            p.actor().as_str(),
        )
        .await;
    answer(done, lang, &p, &to)
}

#[derive(Debug, Deserialize)]
struct ForwardForm {
    to: String,
    #[serde(default)]
    comment: String,
}

/// Forwards a task to another user with a comment.
async fn forward(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
    axum::Form(f): axum::Form<ForwardForm>,
) -> Response {
    let lang = lang_of(&p);
    let to = back(&st, id).await;
    let user = f.to.trim();
    if user.is_empty() {
        return refused(
            lang,
            &p,
            StatusCode::UNPROCESSABLE_ENTITY,
            t(lang, "ui.name_user"),
            &to,
        );
    }
    let assignee = if user.contains(':') {
        user.to_string()
    } else {
        format!("user:{user}")
    };
    let done = st
        .runtime
        .forward_task(TaskId(id), &assignee, &f.comment, p.actor().as_str())
        .await;
    answer(done, lang, &p, &to)
}

#[derive(Debug, Deserialize)]
struct SnoozeForm {
    until: String,
}

/// Sets the next-contact date: the task re-opens then.
async fn snooze(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
    axum::Form(f): axum::Form<SnoozeForm>,
) -> Response {
    let lang = lang_of(&p);
    let to = back(&st, id).await;
    let Ok(until) = chrono::NaiveDate::parse_from_str(f.until.trim(), "%Y-%m-%d") else {
        return refused(
            lang,
            &p,
            StatusCode::UNPROCESSABLE_ENTITY,
            t(lang, "ui.bad_date"),
            &to,
        );
    };
    let done = st
        .runtime
        .snooze_task(TaskId(id), until, p.actor().as_str())
        .await;
    answer(done, lang, &p, &to)
}

/// Letters waiting for approval, oldest first, each with a checkbox: several are approved at
/// once (four eyes: never one's own).
async fn approvals(State(st): State<AppState>, p: Principal) -> Response {
    let lang = lang_of(&p);
    let mut waiting = match st
        .store
        .archive(&DocumentFilter {
            status: Some(arrears_engine::correspondence::DocumentStatus::Prepared),
            limit: Some(INBOX_LIMIT as i64),
            ..Default::default()
        })
        .await
    {
        Ok(d) => d,
        Err(e) => return internal(e),
    };
    waiting.reverse();
    let mut body = String::new();
    if waiting.is_empty() {
        let _ = write!(body, "<p id=\"empty\">{}</p>", t(lang, "ui.no_approvals"));
    } else {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"/approvals\">{}<table id=\"approvals\"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
            csrf_input(&p),
            t(lang, "ui.approve"),
            t(lang, "ui.document"),
            t(lang, "ui.case"),
            t(lang, "ui.prepared_by"),
            t(lang, "ui.when"),
        );
        for d in &waiting {
            let case = d
                .case_id
                .map(|c| format!("<a href=\"/cases/{c}\">{c}</a>"))
                .unwrap_or_default();
            let _ = write!(
                body,
                "<tr><td><input type=\"checkbox\" name=\"id\" value=\"{id}\" id=\"doc-{id}\" aria-label=\"{}\"></td>\
                 <td><a href=\"/api/v1/documents/{id}/pdf\">{} ({})</a></td><td>{case}</td><td>{}</td><td>{}</td></tr>",
                esc(&tf(lang, "ui.approve_doc", &[("id", &d.id.to_string())])),
                esc(&d.template),
                esc(&d.channel),
                esc(&d.prepared_by),
                d.prepared_at.format("%Y-%m-%d %H:%M"),
                id = d.id,
            );
        }
        let _ = write!(
            body,
            "</tbody></table><button type=\"submit\" id=\"approve\">{}</button></form>",
            t(lang, "ui.approve_selected")
        );
    }
    layout(lang, &p, t(lang, "ui.approvals"), &body).into_response()
}

/// Approves the checked letters, all or none.
async fn approve(
    State(st): State<AppState>,
    p: Principal,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> Response {
    let lang = lang_of(&p);
    let ids: Result<Vec<i64>, _> = form
        .iter()
        .filter(|(k, _)| k == "id")
        .map(|(_, v)| v.parse::<i64>())
        .collect();
    let ids = match ids {
        Ok(ids) if !ids.is_empty() => ids,
        _ => {
            return refused(
                lang,
                &p,
                StatusCode::UNPROCESSABLE_ENTITY,
                t(lang, "ui.choose_letters"),
                "/approvals",
            );
        }
    };
    match st.runtime.approve_documents(&ids, p.actor().as_str()).await {
        Ok(_) => Redirect::to("/approvals").into_response(),
        Err(e) => refuse(lang, &p, e, "/approvals"),
    }
}
