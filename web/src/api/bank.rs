//! REST endpoints of the manual-matching queue: bank credits that matched nothing (or not
//! confidently) at import, and matching one by hand to a customer and its invoices. The
//! same store functions serve `arrears bank queue|match`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use arrears_engine::ledger::PathSegment;
use arrears_engine::ledger::document::{CustomerRef, DocRef};
use arrears_engine::store::bank::{BankQueueItem, MatchTo};
use arrears_engine::store::{BookingOutcome, StoreError};

use super::AppState;
use super::error::{ApiError, ApiJson, Problem};
use crate::access::Principal;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_queue))
        .routes(routes!(match_item))
}

/// Bank credits waiting for manual matching, oldest first, with matching's guess.
#[utoipa::path(get, path = "/bank/queue", tag = "bank",
    responses((status = 200, body = Vec<BankQueueItem>)))]
async fn list_queue(State(st): State<AppState>) -> Result<Json<Vec<BankQueueItem>>, ApiError> {
    Ok(Json(st.store.bank_queue().await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchRequest {
    /// The customer who paid: our id (a number) or the external id (a string).
    customer: CustomerRef,
    /// Receivables the payment pays, in this order (numbers or ids); none: oldest due first.
    #[serde(default)]
    invoices: Vec<DocRef>,
    /// Keep the money on the customer's account unallocated (no invoice may be named).
    #[serde(default)]
    unallocated: bool,
}

/// Match a queued credit by hand: book its payment for the customer and allocate it to the
/// invoices named (oldest due first when none are, or not at all with `unallocated`), in one
/// transaction.
#[utoipa::path(post, path = "/bank/queue/{id}/match", tag = "bank", params(("id" = i64, Path)),
    request_body = MatchRequest,
    responses((status = 201, body = BookingOutcome), (status = 404, body = Problem),
              (status = 409, body = Problem, description = "the entry is no longer in the queue"),
              (status = 422, body = Problem)))]
async fn match_item(
    State(st): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    ApiJson(r): ApiJson<MatchRequest>,
) -> Result<(StatusCode, Json<BookingOutcome>), ApiError> {
    let to = match_to(r.unallocated, r.invoices)?;
    let outcome = st
        .store
        .resolve_bank_item(id, r.customer, to, &principal.actor())
        .await
        .map_err(match_refusal)?;
    Ok((StatusCode::CREATED, Json(outcome)))
}

/// Where a manual match puts the money, for the API and the matching page alike: the
/// invoices named, the oldest due first when none are, or (`unallocated`) none.
pub(crate) fn match_to(unallocated: bool, invoices: Vec<DocRef>) -> Result<MatchTo, ApiError> {
    match (unallocated, invoices.is_empty()) {
        (true, false) => Err(ApiError::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            "/invoices",
            "name no invoice when the money stays unallocated",
        )),
        (true, true) => Ok(MatchTo::Unallocated),
        (false, _) => Ok(MatchTo::Invoices(invoices)),
    }
}

/// What a refused manual match answers, for the API and the matching page alike.
pub(crate) fn match_refusal(e: StoreError) -> ApiError {
    match e {
        // The entry itself is not waiting any more: a conflict with the queue's state,
        // not a bad field of the request.
        StoreError::Rejected(rej) if rej.iter().any(|x| x.error.pointer() == "/item") => {
            ApiError::new(
                StatusCode::CONFLICT,
                rej.into_iter()
                    .map(|x| x.error.message)
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        }
        StoreError::Rejected(mut rej) => {
            // The store names the payment's field; the request calls it `invoices`.
            for x in &mut rej {
                for seg in &mut x.error.path {
                    if *seg == PathSegment::Field("allocate_to") {
                        *seg = PathSegment::Field("invoices");
                    }
                }
            }
            ApiError::rejected(rej, false)
        }
        e => ApiError::store(e, false),
    }
}
