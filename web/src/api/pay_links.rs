//! Debtor-page links and what debtors uploaded, for collectors: make a case's link (its URL
//! is returned once, with its expiry), list and revoke links, list a case's uploads and read
//! one. The debtor page itself is `crate::pay`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use arrears_engine::ids::{CaseId, PayLinkId, UploadId};
use arrears_engine::store::pay_links::{PayLink, Upload};

use super::AppState;
use super::error::{ApiError, ApiJson, Problem};
use crate::access::Principal;

/// Links last this long unless the request says otherwise.
const DEFAULT_VALID_DAYS: i64 = 30;
/// No link lasts longer than this.
const MAX_VALID_DAYS: i64 = 365;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_link, list_links))
        .routes(routes!(revoke_link))
        .routes(routes!(list_uploads))
        .routes(routes!(upload_content))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewLink {
    /// Days the link works, 1 to 365 (default 30).
    valid_days: Option<i64>,
}

/// A link just made: the only answer that carries its URL.
#[derive(Serialize, ToSchema)]
struct CreatedLink {
    #[serde(flatten)]
    link: PayLink,
    /// The debtor page; the token in it is not stored and cannot be shown again.
    url: String,
}

/// Make a debtor-page link for an open case (`{}` for the default 30 days).
#[utoipa::path(post, path = "/cases/{id}/pay-links", tag = "pay-links", params(("id" = i64, Path)),
    request_body = NewLink,
    responses((status = 201, body = CreatedLink), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_link(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    principal: Principal,
    ApiJson(body): ApiJson<NewLink>,
) -> Result<(StatusCode, Json<CreatedLink>), ApiError> {
    let days = body.valid_days.unwrap_or(DEFAULT_VALID_DAYS);
    if !(1..=MAX_VALID_DAYS).contains(&days) {
        return Err(ApiError::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            "/valid_days",
            format!("expected 1 to {MAX_VALID_DAYS} days, got {days}"),
        ));
    }
    let made = st
        .store
        .create_pay_link(
            CaseId(id),
            chrono::Duration::days(days),
            principal.actor().as_str(),
        )
        .await?;
    let url = format!("{}/pay/{}", st.public_url.trim_end_matches('/'), made.token);
    Ok((
        StatusCode::CREATED,
        Json(CreatedLink {
            link: made.link,
            url,
        }),
    ))
}

/// A case's debtor-page links, newest first, with their status (never their tokens).
#[utoipa::path(get, path = "/cases/{id}/pay-links", tag = "pay-links", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<PayLink>), (status = 404, body = Problem)))]
async fn list_links(
    State(st): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Vec<PayLink>>, ApiError> {
    Ok(Json(st.store.pay_links(CaseId(id)).await?))
}

/// Revoke a link: the debtor page refuses it from now on.
#[utoipa::path(delete, path = "/pay-links/{id}", tag = "pay-links", params(("id" = i64, Path)),
    responses((status = 200, body = PayLink), (status = 404, body = Problem)))]
async fn revoke_link(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    principal: Principal,
) -> Result<Json<PayLink>, ApiError> {
    Ok(Json(
        st.store
            .revoke_pay_link(PayLinkId(id), principal.actor().as_str())
            .await?,
    ))
}

/// What debtors uploaded for a case, newest first.
#[utoipa::path(get, path = "/cases/{id}/uploads", tag = "pay-links", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<Upload>), (status = 404, body = Problem)))]
async fn list_uploads(
    State(st): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Vec<Upload>>, ApiError> {
    Ok(Json(st.store.pay_uploads(CaseId(id)).await?))
}

/// An upload's bytes, as an attachment of the type its content showed.
#[utoipa::path(get, path = "/uploads/{id}/content", tag = "pay-links", params(("id" = i64, Path)),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>),
              (status = 404, body = Problem)))]
async fn upload_content(
    State(st): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let (upload, content) = st.store.pay_upload(UploadId(id)).await?;
    let extension = crate::pay::sniff(&content).map_or("bin", |t| t.1);
    Ok((
        [
            (header::CONTENT_TYPE, upload.content_type.clone()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"upload-{id}.{extension}\""),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".into()),
            (header::CONTENT_SECURITY_POLICY, "sandbox".into()),
            (header::CACHE_CONTROL, "no-store".into()),
        ],
        content,
    )
        .into_response())
}
