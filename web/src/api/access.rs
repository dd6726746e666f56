//! Users and API tokens for admins: list users, list, create and revoke tokens (the same
//! store operations as `arrears user list` and `arrears token ...`). Who may call these is
//! in `access::policy` (admins only).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use arrears_engine::store::access::Role;

use super::AppState;
use super::error::{ApiError, ApiJson, Problem};
use crate::access::Principal;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users))
        .routes(routes!(list_tokens, add_token))
        .routes(routes!(revoke_token))
}

/// The users with role, language, team and whether they may sign in (never password hashes).
#[utoipa::path(get, path = "/users", tag = "access", responses((status = 200, body = Object)))]
async fn list_users(State(st): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(
        serde_json::to_value(st.store.users().await?).unwrap_or_default(),
    ))
}

/// The API tokens: names, roles, who created them, revocation (never the tokens).
#[utoipa::path(get, path = "/tokens", tag = "access", responses((status = 200, body = Object)))]
async fn list_tokens(State(st): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(
        serde_json::to_value(st.store.api_tokens().await?).unwrap_or_default(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewToken {
    /// A unique name; the actor of the token's changes is `api:<name>`.
    name: String,
    /// admin, process_owner, supervisor, collector or viewer.
    role: String,
}

#[derive(Serialize, ToSchema)]
struct IssuedToken {
    name: String,
    role: String,
    /// The token, shown only in this response.
    token: String,
}

/// Create an API token; the response is the only place the token is ever shown.
#[utoipa::path(post, path = "/tokens", tag = "access", request_body = NewToken,
    responses((status = 201, body = IssuedToken), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn add_token(
    State(st): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<NewToken>,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    let role = Role::parse(&body.role)
        .map_err(|e| ApiError::field(StatusCode::UNPROCESSABLE_ENTITY, "/role", e))?;
    let name = body.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(ApiError::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            "/name",
            "1 to 100 characters",
        ));
    }
    let token =
        crate::access::cli::issue_token(&st.store, name, role, &principal.actor().0).await?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedToken {
            name: name.to_string(),
            role: role.to_string(),
            token,
        }),
    ))
}

/// Revoke an API token: refused from the next request on.
#[utoipa::path(delete, path = "/tokens/{name}", tag = "access", params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn revoke_token(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    st.store.revoke_api_token(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}
