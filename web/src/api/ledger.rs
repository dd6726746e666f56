//! REST endpoints of the ledger: customers, invoices (and other receivables), payments,
//! allocations, overpayment refunds and transfers, balances and the aging report.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use arrears_engine::aging::{AgingItem, AgingReport, Buckets};
use arrears_engine::ids::{CustomerId, DocumentId};
use arrears_engine::ledger::{Customer, CustomerInput, DocumentInput, DocumentKind};
use arrears_engine::store::{
    AgingQuery, AllocationRecord, BalanceRow, BookedDocument, CreditRecord, CustomerFilter,
    DocumentDetail, DocumentFilter, DocumentSummary,
};

use super::AppState;
use super::error::{ApiError, ApiJson, ApiQuery, Problem};
use crate::access::Principal;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_customers, create_customer))
        .routes(routes!(get_customer, replace_customer))
        .routes(routes!(customer_balance))
        .routes(routes!(customer_open_items))
        .routes(routes!(customer_auto_allocate))
        .routes(routes!(list_invoices, create_invoice))
        .routes(routes!(get_invoice, change_invoice))
        .routes(routes!(list_payments, create_payment))
        .routes(routes!(get_payment))
        .routes(routes!(refund_payment))
        .routes(routes!(transfer_payment))
        .routes(routes!(list_allocations, create_allocation))
        .routes(routes!(list_balances))
        .routes(routes!(aging_report))
}

const MAX_PAGE: u32 = 1000;

fn page_limit(limit: Option<u32>) -> u32 {
    limit.unwrap_or(100).clamp(1, MAX_PAGE)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CustomerListParams {
    /// Only customers of this category.
    category: Option<String>,
    /// Only customers of this collector.
    collector: Option<String>,
    /// Part of the name or external id.
    search: Option<String>,
    /// Customers with an id greater than this (keyset paging).
    after: Option<i64>,
    /// At most this many (default 100, at most 1000).
    limit: Option<u32>,
}

/// List customers.
#[utoipa::path(get, path = "/customers", tag = "customers", params(CustomerListParams),
    responses((status = 200, body = Vec<Customer>), (status = 400, body = Problem)))]
async fn list_customers(
    State(st): State<AppState>,
    ApiQuery(p): ApiQuery<CustomerListParams>,
) -> Result<Json<Vec<Customer>>, ApiError> {
    let filter = CustomerFilter {
        category: p.category,
        collector: p.collector,
        search: p.search,
        after: p.after.map(CustomerId),
        limit: Some(page_limit(p.limit)),
    };
    Ok(Json(st.store.customers(&filter).await?))
}

/// Create a customer, or update the one with the same external id.
#[utoipa::path(post, path = "/customers", tag = "customers", request_body = CustomerInput,
    responses((status = 201, body = Customer), (status = 400, body = Problem), (status = 422, body = Problem)))]
async fn create_customer(
    State(st): State<AppState>,
    ApiJson(input): ApiJson<CustomerInput>,
) -> Result<(StatusCode, Json<Customer>), ApiError> {
    let outcome = st.store.save_customers(&[input]).await?;
    let (status, id) = match (
        outcome.created.first(),
        outcome.updated.first(),
        outcome.unchanged.first(),
    ) {
        (Some(id), _, _) => (StatusCode::CREATED, *id),
        (_, Some(id), _) | (_, _, Some(id)) => (StatusCode::OK, *id),
        _ => {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the customer was not saved",
            ));
        }
    };
    Ok((status, Json(st.store.customer(id).await?)))
}

/// One customer.
#[utoipa::path(get, path = "/customers/{id}", tag = "customers", params(("id" = i64, Path)),
    responses((status = 200, body = Customer), (status = 404, body = Problem)))]
async fn get_customer(
    State(st): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Customer>, ApiError> {
    Ok(Json(st.store.customer(CustomerId(id)).await?))
}

/// Replace a customer's master data (contacts, collector, ...). Documents already issued keep
/// the name they were issued with.
#[utoipa::path(put, path = "/customers/{id}", tag = "customers", params(("id" = i64, Path)), request_body = CustomerInput,
    responses((status = 200, body = Customer), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn replace_customer(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<CustomerInput>,
) -> Result<Json<Customer>, ApiError> {
    let current = st.store.customer(CustomerId(id)).await?;
    if current.external_id != input.external_id.trim() {
        return Err(ApiError::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            "/external_id",
            format!(
                "customer {id} has the external id {:?}; it cannot change",
                current.external_id
            ),
        ));
    }
    st.store.save_customers(&[input]).await?;
    Ok(Json(st.store.customer(CustomerId(id)).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AsOfParams {
    /// The accounting date (default: today).
    as_of: Option<NaiveDate>,
}

fn as_of(st: &AppState, d: Option<NaiveDate>) -> Result<NaiveDate, ApiError> {
    let d = d.unwrap_or_else(|| st.store.clock().today());
    if !(1900..=9999).contains(&chrono::Datelike::year(&d)) {
        return Err(ApiError::field(
            StatusCode::BAD_REQUEST,
            "as_of",
            "must be a date between 1900 and 9999",
        ));
    }
    Ok(d)
}

/// A customer's balance per currency: open, overdue, unapplied credit, days overdue.
#[utoipa::path(get, path = "/customers/{id}/balance", tag = "balances", params(("id" = i64, Path), AsOfParams),
    responses((status = 200, body = Vec<BalanceRow>), (status = 404, body = Problem)))]
async fn customer_balance(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    ApiQuery(p): ApiQuery<AsOfParams>,
) -> Result<Json<Vec<BalanceRow>>, ApiError> {
    let customer = st.store.customer(CustomerId(id)).await?;
    Ok(Json(
        st.store
            .balances(Some(customer.id), as_of(&st, p.as_of)?)
            .await?,
    ))
}

/// A customer's open receivables, oldest due first.
#[utoipa::path(get, path = "/customers/{id}/open-items", tag = "balances", params(("id" = i64, Path), AsOfParams),
    responses((status = 200, body = Vec<AgingItem>), (status = 404, body = Problem)))]
async fn customer_open_items(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    ApiQuery(p): ApiQuery<AsOfParams>,
) -> Result<Json<Vec<AgingItem>>, ApiError> {
    let customer = st.store.customer(CustomerId(id)).await?;
    Ok(Json(
        st.store
            .open_items(customer.id, as_of(&st, p.as_of)?)
            .await?,
    ))
}

/// Allocate all of a customer's unallocated credit to its open receivables, oldest due first.
#[utoipa::path(post, path = "/customers/{id}/allocate", tag = "allocations", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<AllocationRecord>), (status = 404, body = Problem)))]
async fn customer_auto_allocate(
    State(st): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> Result<Json<Vec<AllocationRecord>>, ApiError> {
    let customer = st.store.customer(CustomerId(id)).await?;
    Ok(Json(
        st.store
            .auto_allocate(customer.id, &principal.actor())
            .await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DocumentListParams {
    customer_id: Option<i64>,
    /// Only this kind.
    kind: Option<DocumentKind>,
    /// Only documents with money open (receivables) or unallocated (payments).
    open: Option<bool>,
    after: Option<i64>,
    limit: Option<u32>,
}

const INVOICE_KINDS: [DocumentKind; 5] = [
    DocumentKind::Invoice,
    DocumentKind::DebitNote,
    DocumentKind::InterestNote,
    DocumentKind::Fee,
    DocumentKind::CreditNote,
];
const PAYMENT_KINDS: [DocumentKind; 3] = [
    DocumentKind::Payment,
    DocumentKind::WriteOff,
    DocumentKind::CreditTransfer,
];

async fn list_of(
    st: &AppState,
    p: DocumentListParams,
    family: &[DocumentKind],
) -> Result<Vec<DocumentSummary>, ApiError> {
    let kinds = match p.kind {
        Some(k) if family.contains(&k) => vec![k],
        Some(k) => {
            return Err(ApiError::field(
                StatusCode::BAD_REQUEST,
                "kind",
                format!(
                    "{k} is not listed here; expected one of {}",
                    family
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        None => family.to_vec(),
    };
    let filter = DocumentFilter {
        customer_id: p.customer_id.map(CustomerId),
        kinds,
        open_only: p.open.unwrap_or(false),
        after: p.after.map(DocumentId),
        limit: Some(page_limit(p.limit)),
    };
    Ok(st.store.documents(&filter).await?)
}

/// List invoices, debit notes, interest notes, fees and credit notes.
#[utoipa::path(get, path = "/invoices", tag = "invoices", params(DocumentListParams),
    responses((status = 200, body = Vec<DocumentSummary>), (status = 400, body = Problem)))]
async fn list_invoices(
    State(st): State<AppState>,
    ApiQuery(p): ApiQuery<DocumentListParams>,
) -> Result<Json<Vec<DocumentSummary>>, ApiError> {
    Ok(Json(list_of(&st, p, &INVOICE_KINDS).await?))
}

async fn book_one(
    st: &AppState,
    principal: &Principal,
    input: DocumentInput,
    family: &[DocumentKind],
) -> Result<(StatusCode, Json<BookedDocument>), ApiError> {
    if !family.contains(&input.kind) {
        return Err(ApiError::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            "/kind",
            format!(
                "a {} is not booked here; expected one of {}",
                input.kind,
                family
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let outcome = st.store.book(&[input], &principal.actor()).await?;
    if let Some(b) = outcome.booked.into_iter().next() {
        return Ok((StatusCode::CREATED, Json(b)));
    }
    match outcome.unchanged.into_iter().next() {
        Some(b) => Ok((StatusCode::OK, Json(b))),
        None => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the document was not booked",
        )),
    }
}

/// Book an invoice, debit note, interest note, fee or credit note. The same document sent
/// again is accepted with 200 and changes nothing; a changed one is refused.
#[utoipa::path(post, path = "/invoices", tag = "invoices", request_body = DocumentInput,
    responses((status = 201, body = BookedDocument), (status = 200, description = "already booked, unchanged", body = BookedDocument),
              (status = 400, body = Problem), (status = 422, body = Problem)))]
async fn create_invoice(
    State(st): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<DocumentInput>,
) -> Result<(StatusCode, Json<BookedDocument>), ApiError> {
    book_one(&st, &principal, input, &INVOICE_KINDS).await
}

async fn detail_of(
    st: &AppState,
    id: i64,
    family: &[DocumentKind],
) -> Result<Json<DocumentDetail>, ApiError> {
    let d = st.store.document(DocumentId(id)).await?;
    if !family.contains(&d.document.kind) {
        return Err(ApiError::not_found(format!("document {id} of this kind")));
    }
    Ok(Json(d))
}

/// One invoice-like document with its lines, allocations and open amount.
#[utoipa::path(get, path = "/invoices/{id}", tag = "invoices", params(("id" = i64, Path)),
    responses((status = 200, body = DocumentDetail), (status = 404, body = Problem)))]
async fn get_invoice(
    State(st): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<DocumentDetail>, ApiError> {
    detail_of(&st, id, &INVOICE_KINDS).await
}

/// Issued documents cannot change: this always answers 409 and says what to do instead.
#[utoipa::path(method(put, patch, delete), path = "/invoices/{id}", tag = "invoices", params(("id" = i64, Path)),
    responses((status = 409, body = Problem), (status = 404, body = Problem)))]
async fn change_invoice(
    State(st): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let d = st.store.document(DocumentId(id)).await?;
    Err(ApiError::new(
        StatusCode::CONFLICT,
        format!(
            "{} {} is issued and immutable; book a credit note (POST /api/v1/invoices with kind credit_note and corrects {:?}) or a debit note instead",
            d.document.kind, d.document.number, d.document.number
        ),
    ))
}

/// List payments, write-offs and credit transfers.
#[utoipa::path(get, path = "/payments", tag = "payments", params(DocumentListParams),
    responses((status = 200, body = Vec<DocumentSummary>), (status = 400, body = Problem)))]
async fn list_payments(
    State(st): State<AppState>,
    ApiQuery(p): ApiQuery<DocumentListParams>,
) -> Result<Json<Vec<DocumentSummary>>, ApiError> {
    Ok(Json(list_of(&st, p, &PAYMENT_KINDS).await?))
}

/// Book a payment (allocated to `allocate_to`, then oldest due first unless `auto_allocate` is
/// false) or a write-off.
#[utoipa::path(post, path = "/payments", tag = "payments", request_body = DocumentInput,
    responses((status = 201, body = BookedDocument), (status = 200, description = "already booked, unchanged", body = BookedDocument),
              (status = 400, body = Problem), (status = 422, body = Problem)))]
async fn create_payment(
    State(st): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<DocumentInput>,
) -> Result<(StatusCode, Json<BookedDocument>), ApiError> {
    book_one(
        &st,
        &principal,
        input,
        &[DocumentKind::Payment, DocumentKind::WriteOff],
    )
    .await
}

/// One payment with its allocations and unallocated amount.
#[utoipa::path(get, path = "/payments/{id}", tag = "payments", params(("id" = i64, Path)),
    responses((status = 200, body = DocumentDetail), (status = 404, body = Problem)))]
async fn get_payment(
    State(st): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<DocumentDetail>, ApiError> {
    detail_of(&st, id, &PAYMENT_KINDS).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    #[schema(value_type = String, example = "50.00")]
    amount: Decimal,
    /// Accounting date of the refund (default: today).
    #[serde(default)]
    date: Option<NaiveDate>,
    #[serde(default)]
    note: Option<String>,
}

/// Refund unallocated money of a payment (or credit note) to the customer.
#[utoipa::path(post, path = "/payments/{id}/refund", tag = "payments", params(("id" = i64, Path)), request_body = RefundRequest,
    responses((status = 201, body = CreditRecord), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn refund_payment(
    State(st): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    ApiJson(r): ApiJson<RefundRequest>,
) -> Result<(StatusCode, Json<CreditRecord>), ApiError> {
    let on = r.date.unwrap_or_else(|| st.store.clock().today());
    let rec = st
        .store
        .refund(DocumentId(id), r.amount, on, r.note, &principal.actor())
        .await?;
    Ok((StatusCode::CREATED, Json(rec)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    #[schema(value_type = String, example = "50.00")]
    amount: Decimal,
    /// The customer who receives the money.
    to_customer_id: CustomerId,
    #[serde(default)]
    date: Option<NaiveDate>,
    #[serde(default)]
    note: Option<String>,
}

/// Move unallocated money of a payment (or credit note) to another customer.
#[utoipa::path(post, path = "/payments/{id}/transfer", tag = "payments", params(("id" = i64, Path)), request_body = TransferRequest,
    responses((status = 201, body = CreditRecord), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn transfer_payment(
    State(st): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    ApiJson(r): ApiJson<TransferRequest>,
) -> Result<(StatusCode, Json<CreditRecord>), ApiError> {
    let on = r.date.unwrap_or_else(|| st.store.clock().today());
    let rec = st
        .store
        .transfer(
            DocumentId(id),
            r.amount,
            on,
            r.to_customer_id,
            r.note,
            &principal.actor(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(rec)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AllocationListParams {
    customer_id: Option<i64>,
    after: Option<i64>,
    limit: Option<u32>,
}

/// List allocations.
#[utoipa::path(get, path = "/allocations", tag = "allocations", params(AllocationListParams),
    responses((status = 200, body = Vec<AllocationRecord>)))]
async fn list_allocations(
    State(st): State<AppState>,
    ApiQuery(p): ApiQuery<AllocationListParams>,
) -> Result<Json<Vec<AllocationRecord>>, ApiError> {
    let rows = st
        .store
        .allocations(
            p.customer_id.map(CustomerId),
            p.after.map(arrears_engine::ids::AllocationId),
            page_limit(p.limit),
        )
        .await?;
    Ok(Json(rows))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllocationRequest {
    /// A payment, credit note or credit transfer with money unallocated.
    source_id: DocumentId,
    /// A receivable of the same customer and currency.
    target_id: DocumentId,
    /// Default: as much as both allow.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    amount: Option<Decimal>,
}

/// Allocate money explicitly.
#[utoipa::path(post, path = "/allocations", tag = "allocations", request_body = AllocationRequest,
    responses((status = 201, body = AllocationRecord), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn create_allocation(
    State(st): State<AppState>,
    principal: Principal,
    ApiJson(r): ApiJson<AllocationRequest>,
) -> Result<(StatusCode, Json<AllocationRecord>), ApiError> {
    let rec = st
        .store
        .allocate(r.source_id, r.target_id, r.amount, &principal.actor())
        .await?;
    Ok((StatusCode::CREATED, Json(rec)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BalanceParams {
    as_of: Option<NaiveDate>,
    customer_id: Option<i64>,
}

/// Balances of every customer with money open or unapplied, per currency.
#[utoipa::path(get, path = "/balances", tag = "balances", params(BalanceParams),
    responses((status = 200, body = Vec<BalanceRow>), (status = 400, body = Problem)))]
async fn list_balances(
    State(st): State<AppState>,
    ApiQuery(p): ApiQuery<BalanceParams>,
) -> Result<Json<Vec<BalanceRow>>, ApiError> {
    let day = as_of(&st, p.as_of)?;
    Ok(Json(
        st.store
            .balances(p.customer_id.map(CustomerId), day)
            .await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AgingParams {
    as_of: Option<NaiveDate>,
    /// Upper bounds of the overdue buckets in days, e.g. `30,60,90`.
    buckets: Option<String>,
    customer_id: Option<i64>,
    /// List the documents behind every amount.
    detail: Option<bool>,
}

/// The aging report: open receivables by days overdue, per customer and in total.
#[utoipa::path(get, path = "/reports/aging", tag = "reports", params(AgingParams),
    responses((status = 200, body = AgingReport), (status = 400, body = Problem)))]
async fn aging_report(
    State(st): State<AppState>,
    ApiQuery(p): ApiQuery<AgingParams>,
) -> Result<Json<AgingReport>, ApiError> {
    let buckets = match p.buckets.as_deref() {
        Some(b) => {
            Buckets::parse(b).map_err(|e| ApiError::field(StatusCode::BAD_REQUEST, "buckets", e))?
        }
        None => Buckets::default(),
    };
    let q = AgingQuery {
        as_of: as_of(&st, p.as_of)?,
        buckets,
        customer_id: p.customer_id.map(CustomerId),
        detail: p.detail.unwrap_or(false),
    };
    Ok(Json(st.store.aging(&q).await?))
}
