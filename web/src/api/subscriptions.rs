//! Outbound webhook subscriptions under `/api/v1/webhooks/subscriptions`: create, list, read,
//! change and remove them, and read each one's delivery log. The secret a subscription signs
//! with is shown once, when arrears generates it, and never again (only its last four
//! characters). The deliveries themselves are the outbox's (engine::store::webhooks).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use arrears_engine::store::webhooks::{
    CreatedSubscription, DeliveryAttempt, EVENT_TYPES, Subscription, SubscriptionInput,
    SubscriptionPatch,
};

use super::AppState;
use super::error::{ApiError, ApiJson, ApiQuery, Problem};
use crate::access::Principal;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update, remove))
        .routes(routes!(deliveries))
        .routes(routes!(event_types))
}

/// An event type a subscription can name.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventTypeInfo {
    pub name: &'static str,
    pub description: &'static str,
}

/// The event types a subscription can ask for.
#[utoipa::path(get, path = "/webhooks/event-types", tag = "webhooks",
    responses((status = 200, body = Vec<EventTypeInfo>)))]
async fn event_types() -> Json<Vec<EventTypeInfo>> {
    Json(
        EVENT_TYPES
            .iter()
            .map(|t| EventTypeInfo {
                name: t.name,
                description: t.description,
            })
            .collect(),
    )
}

/// Webhook subscriptions (secrets hidden).
#[utoipa::path(get, path = "/webhooks/subscriptions", tag = "webhooks",
    responses((status = 200, body = Vec<Subscription>)))]
async fn list(State(st): State<AppState>) -> Result<Json<Vec<Subscription>>, ApiError> {
    Ok(Json(st.store.subscriptions().await?))
}

/// Subscribe a URL to event types.
///
/// Every event of the types named is POSTed to `url` as JSON (`id`, `type`, `occurred_at`,
/// `data`) with `X-Arrears-Event`, `X-Arrears-Delivery` (the same on every retry),
/// `X-Arrears-Timestamp` and `X-Arrears-Signature: sha256=<hex of HMAC-SHA256(secret,
/// timestamp + "." + body)>`. Without a `secret`, one is generated and returned once, here.
#[utoipa::path(post, path = "/webhooks/subscriptions", tag = "webhooks",
    request_body = SubscriptionInput,
    responses((status = 201, body = CreatedSubscription),
              (status = 400, body = Problem, description = "malformed JSON or a field of the wrong type"),
              (status = 422, body = Problem, description = "a bad URL, an unknown event type, a short secret")))]
async fn create(
    State(st): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<SubscriptionInput>,
) -> Result<(StatusCode, Json<CreatedSubscription>), ApiError> {
    let created = st
        .store
        .create_subscription(&input, &principal.actor())
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// One subscription (secret hidden).
#[utoipa::path(get, path = "/webhooks/subscriptions/{id}", tag = "webhooks", params(("id" = i64, Path)),
    responses((status = 200, body = Subscription), (status = 404, body = Problem)))]
async fn show(
    State(st): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Subscription>, ApiError> {
    Ok(Json(st.store.subscription(id).await?))
}

/// Change a subscription's URL, events, secret, description or active flag.
#[utoipa::path(patch, path = "/webhooks/subscriptions/{id}", tag = "webhooks", params(("id" = i64, Path)),
    request_body = SubscriptionPatch,
    responses((status = 200, body = Subscription), (status = 404, body = Problem),
              (status = 400, body = Problem), (status = 422, body = Problem)))]
async fn update(
    State(st): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    ApiJson(patch): ApiJson<SubscriptionPatch>,
) -> Result<Json<Subscription>, ApiError> {
    Ok(Json(
        st.store
            .update_subscription(id, &patch, &principal.actor())
            .await?,
    ))
}

/// What removing a subscription did.
#[derive(Debug, Serialize, ToSchema)]
pub struct Removed {
    pub id: i64,
    /// Deliveries queued and not yet sent, now cancelled.
    pub cancelled_deliveries: u64,
}

/// Remove a subscription: no more events, its unsent deliveries cancelled; its delivery
/// log stays readable.
#[utoipa::path(delete, path = "/webhooks/subscriptions/{id}", tag = "webhooks", params(("id" = i64, Path)),
    responses((status = 200, body = Removed), (status = 404, body = Problem)))]
async fn remove(
    State(st): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> Result<Json<Removed>, ApiError> {
    let cancelled_deliveries = st.store.remove_subscription(id, &principal.actor()).await?;
    Ok(Json(Removed {
        id,
        cancelled_deliveries,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    /// At most this many attempts (default 100, at most 1000).
    limit: Option<u32>,
}

/// The delivery log of a subscription: every attempt, newest first, with the receiver's
/// status or the error, the duration and when the next attempt is due.
#[utoipa::path(get, path = "/webhooks/subscriptions/{id}/deliveries", tag = "webhooks",
    params(("id" = i64, Path), DeliveryParams),
    responses((status = 200, body = Vec<DeliveryAttempt>), (status = 404, body = Problem)))]
async fn deliveries(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    ApiQuery(p): ApiQuery<DeliveryParams>,
) -> Result<Json<Vec<DeliveryAttempt>>, ApiError> {
    let limit = p.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(st.store.subscription_deliveries(id, limit).await?))
}
