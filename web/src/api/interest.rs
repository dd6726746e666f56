//! Interest notes over HTTP: list (search, status, sort, paging), one note, approval (four
//! eyes: not by whoever prepared it) and sending, and issuing or previewing the notes of one
//! customer as of a date. The arithmetic and the bookkeeping are the engine's
//! (`store::interest_notes`); this module parses requests and maps errors.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use arrears_engine::ids::{CustomerId, InterestNoteId};
use arrears_engine::interest::{DayCount, RateTable};
use arrears_engine::money::parse_amount;
use arrears_engine::store::{
    InterestNote, InterestNoteFilter, IssuedNote, NoteSettings, NoteSort, NoteStatus, StoreError,
    issue_interest_note_in,
};
use arrears_engine::suggest::did_you_mean;

use super::AppState;
use super::error::{ApiError, ApiJson, ApiQuery, Problem};
use crate::access::Principal;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_notes, issue_notes))
        .routes(routes!(get_note))
        .routes(routes!(approve_note))
        .routes(routes!(send_note))
}

const MAX_PAGE: u32 = 1000;
const STATUSES: [&str; 3] = ["prepared", "approved", "sent"];
const SORTS: [&str; 5] = ["date", "total", "open", "customer", "number"];

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NoteListParams {
    /// Only notes of the customer with this id.
    customer_id: Option<i64>,
    /// Part of the customer's name or external id, or of the note's number (any case).
    search: Option<String>,
    /// `prepared`, `approved` or `sent`.
    status: Option<String>,
    /// Only notes with money still open.
    open: Option<bool>,
    /// `date` (the as-of date, default), `total`, `open`, `customer` (name) or `number`.
    sort: Option<String>,
    /// Descending order.
    desc: Option<bool>,
    /// At most this many (default 100, at most 1000).
    limit: Option<u32>,
    /// Skip this many.
    offset: Option<u32>,
}

/// A request field or query parameter that is not one of `allowed`, with a suggestion.
fn not_one_of(status: StatusCode, pointer: &str, value: &str, allowed: &[&str]) -> ApiError {
    let hint = did_you_mean(value, allowed.iter().copied())
        .map(|s| format!(", did you mean `{s}`?"))
        .unwrap_or_else(|| format!("; expected one of {}", allowed.join(", ")));
    ApiError::field(status, pointer, format!("unknown value `{value}`{hint}"))
}

/// List interest notes: search by customer or text, filter by status, sort and page.
#[utoipa::path(get, path = "/interest-notes", tag = "interest", params(NoteListParams),
    responses((status = 200, body = Vec<InterestNote>), (status = 400, body = Problem)))]
async fn list_notes(
    State(st): State<AppState>,
    ApiQuery(p): ApiQuery<NoteListParams>,
) -> Result<Json<Vec<InterestNote>>, ApiError> {
    let status = match p.status.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(
            NoteStatus::parse(s)
                .ok_or_else(|| not_one_of(StatusCode::BAD_REQUEST, "status", s, &STATUSES))?,
        ),
    };
    let sort = match p.sort.as_deref().map(str::trim) {
        None | Some("") | Some("date") => NoteSort::Date,
        Some("total") => NoteSort::Total,
        Some("open") => NoteSort::Open,
        Some("customer") => NoteSort::Customer,
        Some("number") => NoteSort::Number,
        Some(s) => return Err(not_one_of(StatusCode::BAD_REQUEST, "sort", s, &SORTS)),
    };
    let filter = InterestNoteFilter {
        customer_id: p.customer_id.map(CustomerId),
        search: p.search,
        status,
        open_only: p.open.unwrap_or(false),
        sort,
        descending: p.desc.unwrap_or(false),
        limit: Some(p.limit.unwrap_or(100).clamp(1, MAX_PAGE)),
        offset: p.offset,
    };
    Ok(Json(st.store.interest_notes(&filter).await?))
}

/// One interest note, with its lines (per invoice: period, amount, rate segments).
#[utoipa::path(get, path = "/interest-notes/{id}", tag = "interest", params(("id" = i64, Path)),
    responses((status = 200, body = InterestNote), (status = 404, body = Problem)))]
async fn get_note(
    State(st): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<InterestNote>, ApiError> {
    Ok(Json(st.store.interest_note(InterestNoteId(id)).await?))
}

/// Approve a prepared note. Four eyes: whoever prepared it (`prepared_by`) cannot approve it.
#[utoipa::path(post, path = "/interest-notes/{id}/approve", tag = "interest", params(("id" = i64, Path)),
    responses((status = 200, body = InterestNote), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn approve_note(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    principal: Principal,
) -> Result<Json<InterestNote>, ApiError> {
    Ok(Json(
        st.store
            .set_interest_note_status(InterestNoteId(id), NoteStatus::Approved, &principal.actor())
            .await?,
    ))
}

/// Record that an approved note was sent to the customer.
#[utoipa::path(post, path = "/interest-notes/{id}/send", tag = "interest", params(("id" = i64, Path)),
    responses((status = 200, body = InterestNote), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn send_note(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    principal: Principal,
) -> Result<Json<InterestNote>, ApiError> {
    Ok(Json(
        st.store
            .set_interest_note_status(InterestNoteId(id), NoteStatus::Sent, &principal.actor())
            .await?,
    ))
}

fn default_rate_table() -> String {
    "statutory_pl".into()
}

fn default_basis() -> String {
    "act365".into()
}

fn default_minimum() -> String {
    "0".into()
}

fn default_payment_days() -> u32 {
    14
}

/// Which customer's notes to issue (or preview), as of when, and how.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct IssueNotes {
    /// The customer's id.
    customer: i64,
    /// Interest runs up to this day for invoices still open.
    as_of: NaiveDate,
    /// Compute and return the notes, book nothing.
    #[serde(default)]
    dry_run: bool,
    /// The shipped table for a customer without a contractual rate (custom field
    /// `interest_rate_percent`): statutory_pl (default), statutory_pl_commercial,
    /// statutory_pl_commercial_public or eu_late_payment.
    #[serde(default = "default_rate_table")]
    rate_table: String,
    /// `act365` (default), `act360` or `30360`.
    #[serde(default = "default_basis")]
    basis: String,
    /// No note below this total, e.g. "10.00" (its interest waits for a later note).
    #[serde(default = "default_minimum")]
    minimum: String,
    /// Days from the note's date to its due date (default 14).
    #[serde(default = "default_payment_days")]
    payment_days: u32,
}

#[derive(Debug, Serialize)]
struct IssueOutcome {
    dry_run: bool,
    notes: Vec<IssuedNote>,
}

/// Issue the interest notes of one customer as of a date: one note per currency covering
/// every invoice paid late or still overdue, for the days no earlier note charged. With
/// `dry_run` the notes are computed and returned and nothing is booked (200); else they
/// are booked as receivables in status `prepared` (201, or 200 when nothing was due).
#[utoipa::path(post, path = "/interest-notes", tag = "interest", request_body = IssueNotes,
    responses((status = 200, body = Object), (status = 201, body = Object),
              (status = 400, body = Problem), (status = 422, body = Problem)))]
async fn issue_notes(
    State(st): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<IssueNotes>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let names = RateTable::shipped_names();
    let table = RateTable::shipped(input.rate_table.trim())
        .ok_or_else(|| not_one_of(unprocessable, "/rate_table", &input.rate_table, &names))?;
    let mut settings = NoteSettings::new(table);
    settings.basis = DayCount::parse(&input.basis).ok_or_else(|| {
        not_one_of(
            unprocessable,
            "/basis",
            &input.basis,
            &["act365", "act360", "30360"],
        )
    })?;
    settings.minimum = parse_amount(&input.minimum)
        .ok()
        .filter(|m| !m.is_sign_negative())
        .ok_or_else(|| {
            ApiError::field(
                unprocessable,
                "/minimum",
                format!("expected an amount like \"10.00\", got {:?}", input.minimum),
            )
        })?;
    settings.payment_days = input.payment_days;
    let customer = CustomerId(input.customer);
    match st.store.customer(customer).await {
        Ok(_) => {}
        Err(StoreError::NotFound(_)) => {
            return Err(ApiError::field(
                unprocessable,
                "/customer",
                format!("no customer has the id {}", input.customer),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    let who = principal.actor();
    let mut tx = st.store.write().await?;
    let now = st.store.clock().now();
    let notes =
        match issue_interest_note_in(&mut tx, customer, input.as_of, &settings, &who, now).await {
            Ok(notes) => notes,
            Err(e) => {
                tx.rollback().await?;
                return Err(e.into());
            }
        };
    if input.dry_run {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
    }
    let status = if input.dry_run || notes.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let body = serde_json::to_value(IssueOutcome {
        dry_run: input.dry_run,
        notes,
    })
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok((status, Json(body)))
}
