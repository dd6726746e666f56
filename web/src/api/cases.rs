//! Cases, their history, events and human tasks over HTTP. Events are stored and applied by
//! the engine's workers within a second (202 Accepted); task changes apply at once.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use arrears_engine::ids::{CaseId, CustomerId, TaskId};
use arrears_engine::runtime::{Event, RuntimeError, views};
use arrears_engine::store::case_notes::CaseNote;

use super::AppState;
use super::error::{ApiError, ApiJson, ApiQuery, Problem};
use crate::access::Principal;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_cases, start_case))
        .routes(routes!(case_history))
        .routes(routes!(list_notes, add_note))
        .routes(routes!(case_event))
        .routes(routes!(customer_event))
        .routes(routes!(list_tasks))
        .routes(routes!(claim_task))
        .routes(routes!(complete_task))
        .routes(routes!(forward_task))
        .routes(routes!(snooze_task))
}

impl From<RuntimeError> for ApiError {
    fn from(e: RuntimeError) -> ApiError {
        match e {
            RuntimeError::Store(e) => e.into(),
            RuntimeError::NotFound(what) => ApiError::not_found(what),
            RuntimeError::Refused(m) => match m.split_once(": ") {
                Some((pointer, detail)) if pointer.starts_with('/') => {
                    ApiError::field(StatusCode::UNPROCESSABLE_ENTITY, pointer, detail)
                }
                _ => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, m),
            },
            RuntimeError::Scenario(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, m),
        }
    }
}

fn json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_default()
}

/// Every case, in a stable order (scenario, subject, start).
#[utoipa::path(get, path = "/cases", tag = "cases", responses((status = 200, body = Object)))]
async fn list_cases(State(st): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(json(&views::cases(&st.store).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct StartCase {
    /// The customer's id.
    customer: i64,
    /// A deployed scenario whose `applies_to` holds for the customer.
    scenario: String,
}

/// Start a case by hand.
#[utoipa::path(post, path = "/cases", tag = "cases", request_body = StartCase,
    responses((status = 201, body = Object), (status = 422, body = Problem)))]
async fn start_case(
    State(st): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<StartCase>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let who = principal.actor();
    let id = st
        .runtime
        .start_manual(CustomerId(input.customer), &input.scenario, who.as_str())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "case": id.0 })),
    ))
}

/// A case's history: who, when, what, and the values that decided it.
#[utoipa::path(get, path = "/cases/{id}/history", tag = "cases", params(("id" = i64, Path)),
    responses((status = 200, body = Object)))]
async fn case_history(
    State(st): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(json(&views::case_history(&st.store, id).await?)))
}

/// A case's notes, oldest first.
#[utoipa::path(get, path = "/cases/{id}/notes", tag = "cases", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<CaseNote>)))]
async fn list_notes(
    State(st): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Vec<CaseNote>>, ApiError> {
    Ok(Json(st.store.case_notes(CaseId(id)).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NoteInput {
    /// The note, at most 4,000 characters.
    text: String,
}

/// Add a note to a case (kept with the signed-in author and the time; never changed).
#[utoipa::path(post, path = "/cases/{id}/notes", tag = "cases", params(("id" = i64, Path)), request_body = NoteInput,
    responses((status = 201, body = CaseNote), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn add_note(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    principal: Principal,
    ApiJson(input): ApiJson<NoteInput>,
) -> Result<(StatusCode, Json<CaseNote>), ApiError> {
    let note = st
        .store
        .add_case_note(CaseId(id), principal.actor().as_str(), &input.text)
        .await?;
    Ok((StatusCode::CREATED, Json(note)))
}

/// Post an event to a case: `{"kind": "promise_to_pay", "date": "2026-12-01", "amount":
/// "500.00"}`, `dispute` (reason), `proof_uploaded` (note), `pause` (reason), `resume`,
/// `goto` (step), `close` (reason), or `custom` (name).
#[utoipa::path(post, path = "/cases/{id}/events", tag = "cases", params(("id" = i64, Path)), request_body = Object,
    responses((status = 202, body = Object), (status = 400, body = Problem)))]
async fn case_event(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    principal: Principal,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let event = parse_event(body)?;
    let who = principal.actor();
    let e = st
        .runtime
        .post_event(None, Some(CaseId(id)), &event, who.as_str())
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "event": e })),
    ))
}

/// Post an event to every open case of a customer.
#[utoipa::path(post, path = "/customers/{id}/events", tag = "cases", params(("id" = i64, Path)), request_body = Object,
    responses((status = 202, body = Object), (status = 400, body = Problem)))]
async fn customer_event(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    principal: Principal,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let event = parse_event(body)?;
    let who = principal.actor();
    let e = st
        .runtime
        .post_event(Some(CustomerId(id)), None, &event, who.as_str())
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "event": e })),
    ))
}

const EVENT_KINDS: [&str; 9] = [
    "promise_to_pay",
    "dispute",
    "proof_uploaded",
    "pause",
    "resume",
    "goto",
    "close",
    "custom",
    "ledger_changed",
];

/// An event from its JSON, with the pointer of the first bad field.
fn parse_event(body: serde_json::Value) -> Result<Event, ApiError> {
    let bad =
        |pointer: &str, detail: String| ApiError::field(StatusCode::BAD_REQUEST, pointer, detail);
    let kind = body.get("kind").and_then(|k| k.as_str()).ok_or_else(|| {
        bad(
            "/kind",
            format!("required: one of {}", EVENT_KINDS.join(", ")),
        )
    })?;
    if !EVENT_KINDS.contains(&kind) {
        let hint = arrears_engine::suggest::did_you_mean(kind, EVENT_KINDS)
            .map(|s| format!(", did you mean `{s}`?"))
            .unwrap_or_default();
        return Err(bad("/kind", format!("unknown event `{kind}`{hint}")));
    }
    if let Some(d) = body.get("date") {
        let ok = d
            .as_str()
            .is_some_and(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok());
        if !ok {
            return Err(bad("/date", "expected a date like 2026-12-31".into()));
        }
    }
    if let Some(a) = body.get("amount") {
        let text = a
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| a.to_string());
        if text.parse::<rust_decimal::Decimal>().is_err() {
            return Err(bad("/amount", "expected an amount like \"120.50\"".into()));
        }
    }
    serde_json::from_value(body).map_err(|e| {
        let msg = e.to_string();
        let field = msg.split('`').nth(1).unwrap_or("").to_string();
        bad(&format!("/{field}"), msg)
    })
}

#[derive(Deserialize, IntoParams)]
struct TaskParams {
    /// Only tasks for this user (assigned to them, or unassigned for one of `roles`).
    user: Option<String>,
    /// Comma-separated roles of the user.
    roles: Option<String>,
}

/// Open and claimed tasks, oldest due first.
#[utoipa::path(get, path = "/tasks", tag = "tasks", params(TaskParams), responses((status = 200, body = Object)))]
async fn list_tasks(
    State(st): State<AppState>,
    ApiQuery(p): ApiQuery<TaskParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let roles: Vec<String> = p
        .roles
        .unwrap_or_default()
        .split(',')
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty())
        .collect();
    Ok(Json(json(
        &views::inbox(&st.store, p.user.map(|u| vec![u]).as_deref(), &roles).await?,
    )))
}

/// Claim a task for the caller.
#[utoipa::path(post, path = "/tasks/{id}/claim", tag = "tasks", params(("id" = i64, Path)),
    responses((status = 204), (status = 409, body = Problem)))]
async fn claim_task(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    principal: Principal,
) -> Result<StatusCode, ApiError> {
    st.runtime
        .claim_task(TaskId(id), principal.actor().as_str())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Complete {
    /// One of the task's outcomes.
    outcome: String,
    /// The task's form fields by name.
    #[serde(default)]
    #[schema(value_type = Object)]
    data: serde_json::Value,
}

/// Complete a task with an outcome and form data; the case moves on at once.
#[utoipa::path(post, path = "/tasks/{id}/complete", tag = "tasks", params(("id" = i64, Path)), request_body = Complete,
    responses((status = 204), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn complete_task(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    principal: Principal,
    ApiJson(c): ApiJson<Complete>,
) -> Result<StatusCode, ApiError> {
    st.runtime
        .complete_task(TaskId(id), &c.outcome, &c.data, principal.actor().as_str())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Forward {
    to: String,
    #[serde(default)]
    comment: String,
}

/// Forward a task to another user with a comment.
#[utoipa::path(post, path = "/tasks/{id}/forward", tag = "tasks", params(("id" = i64, Path)), request_body = Forward,
    responses((status = 204), (status = 409, body = Problem)))]
async fn forward_task(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    principal: Principal,
    ApiJson(f): ApiJson<Forward>,
) -> Result<StatusCode, ApiError> {
    st.runtime
        .forward_task(TaskId(id), &f.to, &f.comment, principal.actor().as_str())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Snooze {
    /// The next-contact date: the task re-opens then.
    until: chrono::NaiveDate,
}

/// Put a task aside until a next-contact date.
#[utoipa::path(post, path = "/tasks/{id}/snooze", tag = "tasks", params(("id" = i64, Path)), request_body = Snooze,
    responses((status = 204), (status = 409, body = Problem)))]
async fn snooze_task(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    principal: Principal,
    ApiJson(s): ApiJson<Snooze>,
) -> Result<StatusCode, ApiError> {
    st.runtime
        .snooze_task(TaskId(id), s.until, principal.actor().as_str())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
