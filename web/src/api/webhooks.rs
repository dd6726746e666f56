//! Inbound webhooks: billing systems push customers, invoices, credit notes and payments to
//! `POST /api/v1/webhooks/{source}/{resource}`, one item or `{"items": [...]}`, signed with
//! the source's secret (connectors::inbound). A batch books all or nothing; every bad field
//! is named by its JSON pointer (`/items/3/amount`). The same content sent again books
//! nothing and answers 200 with what exists; the same delivery id sent again is a replay
//! and is refused; an issued document sent with other content is refused with 409 (its
//! correction is a credit note).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use arrears_connectors::inbound::{SignatureError, body_sha256};
use arrears_connectors::items::{self, Entity, prepare_document};
use arrears_engine::ledger::{Actor, CustomerInput, DocumentInput};
use arrears_engine::store::inbound::{InboundDelivery, InboundDeliveryRecord, InboundError};
use arrears_engine::store::{BookedDocument, CustomerSaveOutcome, Rejection, StoreError};

use super::AppState;
use super::error::{ApiError, ApiQuery, FieldProblem, Problem};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(receive))
        .routes(routes!(list_deliveries))
}

/// At most this many items in one delivery.
const MAX_ITEMS: usize = 10_000;

/// What a delivery booked (or found booked before).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookReceipt {
    pub source: String,
    pub delivery: String,
    pub resource: String,
    /// Documents booked by this delivery.
    pub booked: Vec<BookedDocument>,
    /// Documents delivered before with the same content: nothing changed.
    pub unchanged: Vec<BookedDocument>,
    /// Customers created, updated or unchanged (the customers resource).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customers: Option<CustomerSaveOutcome>,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Receive a signed delivery from a billing system.
///
/// Headers: `X-Arrears-Timestamp` (unix seconds, within 5 minutes of the server's clock),
/// `X-Arrears-Signature: sha256=<hex of HMAC-SHA256(secret, timestamp + "." + body)>` and
/// `X-Arrears-Delivery` (the sender's id of this delivery; a second delivery with the same
/// id is refused as a replay). Body: one item, or `{"items": [...]}` booked all or nothing.
/// `resource` is `customers`, `invoices` (also debit notes and fees), `credit-notes` or
/// `payments` (also write-offs); documents need an `external_id`, and `kind` defaults to
/// the resource's.
#[utoipa::path(post, path = "/webhooks/{source}/{resource}", tag = "webhooks",
    params(("source" = String, Path, description = "A configured source (ARREARS_INBOUND_WEBHOOKS)"),
           ("resource" = String, Path, description = "customers | invoices | credit-notes | payments")),
    request_body(content = Object, description = "one item, or {\"items\": [...]}"),
    responses((status = 201, body = WebhookReceipt, description = "something was booked"),
              (status = 200, body = WebhookReceipt, description = "everything existed already, unchanged"),
              (status = 400, body = Problem, description = "malformed JSON, a field of the wrong type, or a missing delivery id"),
              (status = 401, body = Problem, description = "missing or wrong signature, stale timestamp"),
              (status = 404, body = Problem, description = "unknown source or resource"),
              (status = 409, body = Problem, description = "a replayed delivery id, or an issued document with other content"),
              (status = 422, body = Problem, description = "items the ledger refuses")))]
async fn receive(
    State(st): State<AppState>,
    Path((source, resource)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<WebhookReceipt>), ApiError> {
    let Some(res) = Entity::parse(&resource).filter(|_| resource != "credit_notes") else {
        return Err(ApiError::not_found(format!(
            "webhook resource {resource:?} (expected customers, invoices, credit-notes or payments)"
        )));
    };
    let now = st.store.clock().now();
    st.inbound
        .verify(
            &source,
            header(&headers, "x-arrears-timestamp"),
            header(&headers, "x-arrears-signature"),
            &body,
            now,
        )
        .map_err(|e| {
            tracing::warn!(%source, error = %e, "inbound webhook refused");
            match e {
                SignatureError::UnknownSource(_) => {
                    ApiError::new(StatusCode::NOT_FOUND, e.to_string())
                }
                _ => ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()),
            }
        })?;
    let delivery_id = header(&headers, "x-arrears-delivery")
        .map(str::trim)
        .filter(|d| !d.is_empty() && d.len() <= 200)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "the X-Arrears-Delivery header (the sender's id of this delivery, at most 200 characters) is missing",
            )
        })?
        .to_string();
    let (items, batch) = split_items(&body)?;
    let delivery = InboundDelivery {
        source: source.clone(),
        id: delivery_id.clone(),
        resource: res.as_str().to_string(),
        items: items.len(),
        body_sha256: body_sha256(&body),
    };
    let mut receipt = WebhookReceipt {
        source: source.clone(),
        delivery: delivery_id,
        resource: res.as_str().to_string(),
        booked: Vec::new(),
        unchanged: Vec::new(),
        customers: None,
    };
    let created = if res == Entity::Customers {
        let inputs: Vec<CustomerInput> = parse_items(items, batch, |_| Ok(()))?;
        let outcome = st
            .store
            .receive_customers(&delivery, &inputs)
            .await
            .map_err(|e| inbound_error(e, batch))?;
        let created = !outcome.created.is_empty();
        receipt.customers = Some(outcome);
        created
    } else {
        let inputs: Vec<DocumentInput> = parse_items(items, batch, |v| prepare_document(res, v))?;
        let actor = Actor(format!("webhook:{source}"));
        let outcome = st
            .store
            .receive_documents(&delivery, &inputs, &actor)
            .await
            .map_err(|e| inbound_error(e, batch))?;
        receipt.booked = outcome.booked;
        receipt.unchanged = outcome.unchanged;
        !receipt.booked.is_empty()
    };
    tracing::info!(
        source = %receipt.source, delivery = %receipt.delivery, resource = %receipt.resource,
        booked = receipt.booked.len(), unchanged = receipt.unchanged.len(), "inbound webhook received"
    );
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(receipt)))
}

/// The items of a body: one object, or the array under `items`.
fn split_items(body: &[u8]) -> Result<(Vec<Value>, bool), ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::field(StatusCode::BAD_REQUEST, "", format!("malformed JSON: {e}"))
    })?;
    let Value::Object(mut map) = value else {
        return Err(ApiError::field(
            StatusCode::BAD_REQUEST,
            "",
            "expected a JSON object: one item, or {\"items\": [...]}",
        ));
    };
    let Some(items) = map.remove("items") else {
        return Ok((vec![Value::Object(map)], false));
    };
    if let Some(other) = map.keys().next() {
        return Err(ApiError::field(
            StatusCode::BAD_REQUEST,
            &format!("/{other}"),
            "a batch has only `items`",
        ));
    }
    match items {
        Value::Array(a) if a.is_empty() => Err(ApiError::field(
            StatusCode::BAD_REQUEST,
            "/items",
            "the batch is empty",
        )),
        Value::Array(a) if a.len() > MAX_ITEMS => Err(ApiError::field(
            StatusCode::BAD_REQUEST,
            "/items",
            format!("{} items; at most {MAX_ITEMS} in one delivery", a.len()),
        )),
        Value::Array(a) => Ok((a, true)),
        _ => Err(ApiError::field(
            StatusCode::BAD_REQUEST,
            "/items",
            "expected an array of items",
        )),
    }
}

fn item_pointer(batch: bool, item: usize, pointer: &str) -> String {
    if batch {
        format!("/items/{item}{pointer}")
    } else {
        pointer.to_string()
    }
}

/// Turns every item into `T` (connectors::items, shared with the pull connectors); reports
/// every bad field of every item at once.
fn parse_items<T: DeserializeOwned>(
    items: Vec<Value>,
    batch: bool,
    prepare: impl Fn(&mut Value) -> Result<(), (String, String)>,
) -> Result<Vec<T>, ApiError> {
    let (ok, problems) = items::parse_items::<T>(items, prepare);
    if !problems.is_empty() {
        return Err(ApiError::with_errors(
            StatusCode::BAD_REQUEST,
            "the delivery was refused and nothing was booked",
            problems
                .into_iter()
                .map(|p| FieldProblem {
                    pointer: item_pointer(batch, p.item, &p.pointer),
                    detail: p.message,
                })
                .collect(),
        ));
    }
    Ok(ok.into_iter().map(|(_, t)| t).collect())
}

fn problems(rejections: Vec<Rejection>, batch: bool) -> Vec<FieldProblem> {
    rejections
        .into_iter()
        .map(|r| FieldProblem {
            pointer: item_pointer(batch, r.item, &r.error.pointer()),
            detail: r.error.message,
        })
        .collect()
}

fn inbound_error(e: InboundError, batch: bool) -> ApiError {
    match e {
        InboundError::Replay(..) => ApiError::new(StatusCode::CONFLICT, e.to_string()),
        InboundError::Changed(r) => ApiError::with_errors(
            StatusCode::CONFLICT,
            "issued documents cannot change and nothing was booked; send the correction as a credit note (credit-notes, with `corrects`)",
            problems(r, batch),
        ),
        InboundError::Store(StoreError::Rejected(r)) => ApiError::with_errors(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the delivery was refused and nothing was booked",
            problems(r, batch),
        ),
        InboundError::Store(e) => ApiError::store(e, batch),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryListParams {
    /// Only deliveries of this source.
    source: Option<String>,
    /// At most this many (default 100, at most 1000).
    limit: Option<u32>,
}

/// Inbound deliveries received, newest first.
#[utoipa::path(get, path = "/webhooks/deliveries", tag = "webhooks", params(DeliveryListParams),
    responses((status = 200, body = Vec<InboundDeliveryRecord>)))]
async fn list_deliveries(
    State(st): State<AppState>,
    ApiQuery(p): ApiQuery<DeliveryListParams>,
) -> Result<Json<Vec<InboundDeliveryRecord>>, ApiError> {
    let limit = p.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(
        st.store
            .inbound_deliveries(p.source.as_deref(), limit)
            .await?,
    ))
}
