//! Correspondence over HTTP: the archive of documents (search by customer, case, status,
//! channel and day; metadata, text and PDF), four-eyes approval of several documents at
//! once, documents prepared by hand, duplicates, the day's print batch, and the delivery
//! reports gateways call back with.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use arrears_engine::correspondence::{
    DeliveryUpdate, DocumentFilter, DocumentMeta, DocumentStatus,
};
use arrears_engine::scenario::Channel;

use super::AppState;
use super::error::{ApiError, ApiJson, ApiQuery, Problem};
use crate::access::Principal;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_documents, prepare_document))
        .routes(routes!(get_document))
        .routes(routes!(document_text))
        .routes(routes!(document_pdf))
        .routes(routes!(approve_documents))
        .routes(routes!(duplicate_document))
        .routes(routes!(print_batch))
        .routes(routes!(print_receivable))
        .routes(routes!(delivery_report))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DocumentListParams {
    /// Only documents of the customer with this id.
    customer_id: Option<i64>,
    /// Only documents of this case.
    case_id: Option<i64>,
    /// prepared, approved, sent, delivered, bounced or cancelled.
    status: Option<String>,
    /// email, sms, letter, registered_letter or fax.
    channel: Option<String>,
    /// Only documents sent on this day (YYYY-MM-DD).
    sent_on: Option<NaiveDate>,
    /// At most this many, newest first (default 1000).
    limit: Option<i64>,
}

fn status_param(s: Option<&str>) -> Result<Option<DocumentStatus>, ApiError> {
    match s {
        None => Ok(None),
        Some(s) => DocumentStatus::parse(s).map(Some).ok_or_else(|| {
            ApiError::field(
                StatusCode::BAD_REQUEST,
                "status",
                format!(
                    "unknown status `{s}`; expected one of {}",
                    DocumentStatus::ALL.map(DocumentStatus::as_str).join(", ")
                ),
            )
        }),
    }
}

fn channel_param(pointer: &str, s: &str) -> Result<Channel, ApiError> {
    Channel::parse(s).ok_or_else(|| {
        ApiError::field(
            StatusCode::BAD_REQUEST,
            pointer,
            format!(
                "unknown channel `{s}`; expected one of email, sms, letter, registered_letter, fax"
            ),
        )
    })
}

/// Search the archive: every document prepared, with its lifecycle, newest first.
#[utoipa::path(get, path = "/documents", tag = "documents", params(DocumentListParams),
    responses((status = 200, body = Vec<DocumentMeta>), (status = 400, body = Problem)))]
async fn list_documents(
    State(st): State<AppState>,
    ApiQuery(p): ApiQuery<DocumentListParams>,
) -> Result<Json<Vec<DocumentMeta>>, ApiError> {
    let channel = match p.channel.as_deref() {
        Some(c) => Some(channel_param("channel", c)?.as_str().to_string()),
        None => None,
    };
    let filter = DocumentFilter {
        customer_id: p.customer_id,
        case_id: p.case_id,
        status: status_param(p.status.as_deref())?,
        channel,
        sent_on: p.sent_on,
        limit: p.limit,
    };
    Ok(Json(st.store.archive(&filter).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PrepareDocument {
    case_id: i64,
    /// A template beside the scenarios, e.g. `reminder`.
    template: String,
    /// email, sms, letter, registered_letter or fax.
    channel: String,
}

/// Prepare a document by hand for a case: rendered at once from the ledger as it is, held
/// until someone other than its preparer approves it.
#[utoipa::path(post, path = "/documents", tag = "documents", request_body = PrepareDocument,
    responses((status = 201, body = DocumentMeta), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn prepare_document(
    State(st): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<PrepareDocument>,
) -> Result<(StatusCode, Json<DocumentMeta>), ApiError> {
    let channel = channel_param("/channel", &body.channel)?;
    let id = st
        .runtime
        .prepare_document(body.case_id, &body.template, channel, &principal.actor().0)
        .await?;
    Ok((StatusCode::CREATED, Json(st.store.archived(id).await?)))
}

/// One document's metadata and lifecycle.
#[utoipa::path(get, path = "/documents/{id}", tag = "documents", params(("id" = i64, Path)),
    responses((status = 200, body = DocumentMeta), (status = 404, body = Problem)))]
async fn get_document(
    State(st): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<DocumentMeta>, ApiError> {
    Ok(Json(st.store.archived(id).await?))
}

/// The document's text as sent (an e-mail's subject on the first line).
#[utoipa::path(get, path = "/documents/{id}/text", tag = "documents", params(("id" = i64, Path)),
    responses((status = 200, content_type = "text/plain", body = String), (status = 404, body = Problem)))]
async fn document_text(
    State(st): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let (subject, body) = st.store.document_text(id).await?;
    let text = match subject {
        Some(s) => format!("Subject: {s}\n\n{body}"),
        None => body,
    };
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// The document's PDF as sent (letters, and e-mails with the letter attached).
#[utoipa::path(get, path = "/documents/{id}/pdf", tag = "documents", params(("id" = i64, Path)),
    responses((status = 200, content_type = "application/pdf", body = Vec<u8>), (status = 404, body = Problem)))]
async fn document_pdf(
    State(st): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    match st.store.document_pdf(id).await? {
        Some(pdf) => Ok(pdf_response(pdf, &format!("document-{id}.pdf"))),
        None => Err(ApiError::not_found(format!("a PDF of document {id}"))),
    }
}

fn pdf_response(pdf: Vec<u8>, name: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"{name}\""),
            ),
        ],
        pdf,
    )
        .into_response()
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ApproveDocuments {
    /// The prepared documents to approve.
    ids: Vec<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
struct Approved {
    approved: usize,
}

/// Approve prepared documents, several at once. Four eyes: nobody approves a document they
/// prepared. All or nothing: each refused document is named by `/ids/N`.
#[utoipa::path(post, path = "/documents/approve", tag = "documents", request_body = ApproveDocuments,
    responses((status = 200, body = Approved), (status = 422, body = Problem), (status = 409, body = Problem)))]
async fn approve_documents(
    State(st): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<ApproveDocuments>,
) -> Result<Json<Approved>, ApiError> {
    if body.ids.is_empty() {
        return Err(ApiError::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            "/ids",
            "name at least one document",
        ));
    }
    let approved = st
        .runtime
        .approve_documents(&body.ids, &principal.actor().0)
        .await
        .map_err(|e| match e {
            arrears_engine::runtime::RuntimeError::Store(
                arrears_engine::store::StoreError::Rejected(r),
            ) => {
                let errors = r
                    .into_iter()
                    .map(|r| super::error::FieldProblem {
                        pointer: format!("/ids/{}", r.item),
                        detail: r.error.message,
                    })
                    .collect();
                ApiError::with_errors(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "nothing was approved",
                    errors,
                )
            }
            other => other.into(),
        })?;
    Ok(Json(Approved { approved }))
}

/// Print a duplicate of a letter (or of an e-mail's PDF letter): the same document marked
/// DUPLICATE, kept in the archive as a document of its own.
#[utoipa::path(post, path = "/documents/{id}/duplicate", tag = "documents", params(("id" = i64, Path)),
    responses((status = 201, body = DocumentMeta), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn duplicate_document(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    principal: Principal,
) -> Result<(StatusCode, Json<DocumentMeta>), ApiError> {
    let meta = st
        .store
        .duplicate_document(id, &principal.actor().0)
        .await?;
    Ok((StatusCode::CREATED, Json(meta)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PrintParams {
    /// Add a payment request for the customer's whole balance after the document.
    #[serde(default)]
    payment_request: bool,
}

/// Print a receivable (invoice, debit note, interest note, fee) with the customer's current
/// balance and open items, optionally followed by a payment request. The pages are filed as
/// letters sent by the caller (their ids in `X-Document-Ids`) and join the day's print batch.
#[utoipa::path(post, path = "/invoices/{id}/print", tag = "documents",
    params(("id" = i64, Path), PrintParams),
    responses((status = 201, content_type = "application/pdf", body = Vec<u8>),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn print_receivable(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    ApiQuery(params): ApiQuery<PrintParams>,
    principal: Principal,
) -> Result<Response, ApiError> {
    let printed = st
        .runtime
        .print_receivable(
            arrears_engine::ids::DocumentId(id),
            params.payment_request,
            &principal.actor().0,
        )
        .await?;
    let ids: Vec<String> = printed.documents.iter().map(|d| d.id.to_string()).collect();
    Ok((
        StatusCode::CREATED,
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (
                header::HeaderName::from_static("x-document-ids"),
                ids.join(","),
            ),
        ],
        printed.pdf,
    )
        .into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PrintBatchParams {
    /// The day (YYYY-MM-DD) whose letters to print.
    date: NaiveDate,
}

/// Every letter sent on a day as one PDF for the print room (404 when there is none).
#[utoipa::path(get, path = "/documents/print-batch", tag = "documents", params(PrintBatchParams),
    responses((status = 200, content_type = "application/pdf", body = Vec<u8>), (status = 404, body = Problem)))]
async fn print_batch(
    State(st): State<AppState>,
    ApiQuery(p): ApiQuery<PrintBatchParams>,
) -> Result<Response, ApiError> {
    match st.store.print_batch(p.date).await? {
        Some((_, pdf)) => Ok(pdf_response(pdf, &format!("letters-{}.pdf", p.date))),
        None => Err(ApiError::not_found(format!("a letter sent on {}", p.date))),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// The callback token (`ARREARS_DELIVERY_TOKEN`), when one is configured.
    token: Option<String>,
}

/// A gateway's delivery report: the message with this provider id was delivered or
/// bounced. Recorded on the document and in the case history.
#[utoipa::path(post, path = "/delivery-reports", tag = "documents", params(ReportParams), request_body = DeliveryUpdate,
    responses((status = 200, body = DocumentMeta), (status = 401, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn delivery_report(
    State(st): State<AppState>,
    ApiQuery(p): ApiQuery<ReportParams>,
    ApiJson(body): ApiJson<DeliveryUpdate>,
) -> Result<Json<DocumentMeta>, ApiError> {
    if let Some(expected) = st.delivery_token.as_deref()
        && p.token.as_deref() != Some(expected)
    {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "a delivery report needs the configured ?token=",
        ));
    }
    Ok(Json(st.store.record_delivery(&body).await?))
}
