//! Requests to start a case over HTTP, the API twin of the intranet form at `/request`: staff
//! file them (a customer or invoice number and a reason), the collections lead accepts (the
//! case starts) or rejects them (with a reason the requester reads). The engine's
//! `runtime::request` owns the rules; this module only translates.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use arrears_engine::ids::CaseRequestId;
use arrears_engine::runtime::request::{self, CaseRequest, Decision, NewRequest, RequestFilter};

use super::AppState;
use super::error::{ApiError, ApiJson, ApiQuery, Problem};
use crate::access::Principal;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_requests, file_request))
        .routes(routes!(accept_request))
        .routes(routes!(reject_request))
}

#[derive(Deserialize, IntoParams)]
struct ListParams {
    /// Only the caller's own requests.
    #[serde(default)]
    mine: bool,
    /// Only requests in this state: `pending`, `accepted` or `rejected`.
    status: Option<String>,
}

/// Requests to start a case, newest first (pending ones oldest first).
#[utoipa::path(get, path = "/case-requests", tag = "case-requests", params(ListParams),
    responses((status = 200, body = Vec<CaseRequest>), (status = 400, body = Problem)))]
async fn list_requests(
    State(st): State<AppState>,
    principal: Principal,
    ApiQuery(p): ApiQuery<ListParams>,
) -> Result<Json<Vec<CaseRequest>>, ApiError> {
    if let Some(s) = &p.status
        && !matches!(s.as_str(), "pending" | "accepted" | "rejected")
    {
        return Err(ApiError::field(
            StatusCode::BAD_REQUEST,
            "/status",
            format!("`{s}` is not a state; expected pending, accepted or rejected"),
        ));
    }
    let filter = RequestFilter {
        requester: p.mine.then(|| principal.actor().0),
        status: p.status,
    };
    Ok(Json(request::list(&st.store, &filter).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct FileRequest {
    /// The customer's number (external id); may be left out when `invoice` is given.
    #[serde(default)]
    customer: Option<String>,
    /// The number of one of the customer's open invoices.
    #[serde(default)]
    invoice: Option<String>,
    /// Why collections should start a case.
    #[serde(default)]
    reason: String,
}

/// Ask collections to start a case: the request becomes a task for the collections lead.
#[utoipa::path(post, path = "/case-requests", tag = "case-requests", request_body = FileRequest,
    responses((status = 201, body = CaseRequest), (status = 422, body = Problem)))]
async fn file_request(
    State(st): State<AppState>,
    principal: Principal,
    ApiJson(r): ApiJson<FileRequest>,
) -> Result<(StatusCode, Json<CaseRequest>), ApiError> {
    let filed = st
        .runtime
        .file_request(
            &NewRequest {
                customer: r.customer,
                invoice: r.invoice,
                reason: r.reason,
            },
            principal.actor().as_str(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(filed)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Accept {
    /// The scenario to start; left out: the first deployed one, by priority, that applies.
    #[serde(default)]
    scenario: Option<String>,
}

/// Accept a pending request: its case starts at once, in the same transaction.
#[utoipa::path(post, path = "/case-requests/{id}/accept", tag = "case-requests", params(("id" = i64, Path)),
    request_body = Accept,
    responses((status = 200, body = CaseRequest), (status = 404, body = Problem),
              (status = 409, body = Problem, description = "the request was already decided"),
              (status = 422, body = Problem)))]
async fn accept_request(
    State(st): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    ApiJson(a): ApiJson<Accept>,
) -> Result<Json<CaseRequest>, ApiError> {
    let decided = st
        .runtime
        .decide_request(
            CaseRequestId(id),
            &Decision::Accept {
                scenario: a.scenario,
            },
            principal.actor().as_str(),
        )
        .await?;
    Ok(Json(decided))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Reject {
    /// Why not: the requester reads it.
    #[serde(default)]
    reason: String,
}

/// Reject a pending request with a reason.
#[utoipa::path(post, path = "/case-requests/{id}/reject", tag = "case-requests", params(("id" = i64, Path)),
    request_body = Reject,
    responses((status = 200, body = CaseRequest), (status = 404, body = Problem),
              (status = 409, body = Problem, description = "the request was already decided"),
              (status = 422, body = Problem)))]
async fn reject_request(
    State(st): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    ApiJson(r): ApiJson<Reject>,
) -> Result<Json<CaseRequest>, ApiError> {
    let decided = st
        .runtime
        .decide_request(
            CaseRequestId(id),
            &Decision::Reject { reason: r.reason },
            principal.actor().as_str(),
        )
        .await?;
    Ok(Json(decided))
}
