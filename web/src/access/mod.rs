//! Access control: who is calling (a `Principal`, from a session cookie or a Bearer API
//! token), whether their role may call the route (`policy`), and CSRF for requests a browser
//! makes with its session cookie. One guard wraps every route of the router, so a route is
//! refused unless the policy table names it. The login and logout pages are in `login`, the
//! secrets in `secret`, the `user` and `token` commands in `cli`.

pub mod cli;
pub mod login;
pub mod policy;
pub mod secret;

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};

use arrears_engine::ledger::Actor;
use arrears_engine::store::access::Role;
use arrears_engine::store::{Store, StoreError};

use crate::api::AppState;
use crate::api::error::ApiError;
use policy::Access;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "arrears_session";
/// The header a script sends its session's CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The form field a page sends its session's CSRF token in.
pub const CSRF_FIELD: &str = "csrf";
/// How long a login lasts.
pub const SESSION_HOURS: i64 = 12;

/// Who is calling, as the guard authenticated them.
#[derive(Debug, Clone)]
pub struct Principal {
    pub name: String,
    pub role: Role,
    pub via: Via,
}

/// How the principal proved who they are.
#[derive(Debug, Clone)]
pub enum Via {
    /// A browser's session cookie: the session's id hash (to end it), its CSRF token, and the
    /// user's language.
    Session {
        id_hash: String,
        csrf: String,
        language: String,
    },
    /// An API token in `Authorization: Bearer`.
    Token,
}

impl Principal {
    /// The actor recorded in history and ledger: `user:<name>` or `api:<token name>`.
    pub fn actor(&self) -> Actor {
        match self.via {
            Via::Session { .. } => Actor(format!("user:{}", self.name)),
            Via::Token => Actor(format!("api:{}", self.name)),
        }
    }

    /// The CSRF token a page's forms carry (none for token callers, who need none).
    pub fn csrf(&self) -> Option<&str> {
        match &self.via {
            Via::Session { csrf, .. } => Some(csrf),
            Via::Token => None,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Principal>().cloned().ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "this request carries no credentials",
            )
        })
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// Who the request's credentials name: a Bearer token when an `Authorization` header is
/// sent (nothing else is looked at then), else the session cookie. None when there are no
/// credentials or they open nothing (unknown, revoked, expired, disabled user).
async fn authenticate(store: &Store, headers: &HeaderMap) -> Result<Option<Principal>, StoreError> {
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        let Some(token) = auth
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
        else {
            return Ok(None);
        };
        return Ok(store
            .api_token(&secret::digest(token))
            .await?
            .map(|(name, role)| Principal {
                name,
                role,
                via: Via::Token,
            }));
    }
    let Some(id) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let id_hash = secret::digest(id);
    Ok(store.session(&id_hash).await?.map(|s| Principal {
        name: s.user.name,
        role: s.user.role,
        via: Via::Session {
            id_hash,
            csrf: s.csrf,
            language: s.user.language,
        },
    }))
}

/// The guard around every route: finds the route's policy, authenticates, checks the role,
/// and for cookie-authenticated changes the CSRF token; then hands the principal to the
/// handler. Refusals change nothing: the handler never runs.
pub async fn guard(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let api = req.uri().path().starts_with("/api/");
    let access = match &route {
        Some(route) => policy::access(method.as_str(), route),
        // No route matched: whoever is authenticated learns it is not found.
        None => Some(Access::Roles(&Role::ALL)),
    };
    if access == Some(Access::Public) {
        return next.run(req).await;
    }
    let principal = match authenticate(&st.store, req.headers()).await {
        Ok(Some(p)) => p,
        Ok(None) => return unauthenticated(api, req.uri().path()),
        Err(e) => {
            tracing::error!(error = %e, "authentication failed");
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "authentication is unavailable",
            )
            .into_response();
        }
    };
    let route = route.unwrap_or_else(|| req.uri().path().to_string());
    let Some(access) = access else {
        tracing::error!(%method, %route, "no access policy covers this route; refused");
        return forbidden(api, format!("no access policy covers {method} {route}"));
    };
    if !access.allows(principal.role) {
        return forbidden(
            api,
            format!(
                "the role {} may not {method} {route}; it needs one of: {}",
                principal.role,
                policy::roles_of(access)
            ),
        );
    }
    let mut req = match &principal.via {
        Via::Session { csrf, .. } if !is_safe(&method) => match csrf_checked(req, csrf).await {
            Ok(req) => req,
            Err(detail) => return forbidden(api, detail.to_string()),
        },
        _ => req,
    };
    req.extensions_mut().insert(principal);
    next.run(req).await
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The request again when it carries its session's CSRF token, in the `X-CSRF-Token` header
/// or, for a form, in the `csrf` field (the body is read and put back).
async fn csrf_checked(req: Request, expected: &str) -> Result<Request, &'static str> {
    const MISSING: &str = "this change needs the session's CSRF token (form field `csrf` or header X-CSRF-Token); nothing was changed";
    const WRONG: &str =
        "the CSRF token does not match the session's; nothing was changed (reload the page)";
    if let Some(sent) = req.headers().get(CSRF_HEADER) {
        return match sent.to_str() {
            Ok(sent) if secret::same(sent, expected) => Ok(req),
            _ => Err(WRONG),
        };
    }
    let form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return Err(MISSING);
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, crate::server::BODY_LIMIT)
        .await
        .map_err(|_| MISSING)?;
    let fields: Vec<(String, String)> =
        serde_urlencoded::from_bytes(&bytes).map_err(|_| MISSING)?;
    match fields.iter().find(|(k, _)| k == CSRF_FIELD) {
        Some((_, sent)) if secret::same(sent, expected) => {
            Ok(Request::from_parts(parts, axum::body::Body::from(bytes)))
        }
        Some(_) => Err(WRONG),
        None => Err(MISSING),
    }
}

/// 401: a problem for the API (with the scheme to use), the login page for pages.
fn unauthenticated(api: bool, path: &str) -> Response {
    if api {
        let mut resp = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "sign in: send `Authorization: Bearer <API token>` or the session cookie of a login",
        )
        .into_response();
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return resp;
    }
    let next: String = form_encode(path);
    Redirect::to(&format!("/login?next={next}")).into_response()
}

/// 403 with the reason: a problem for the API, a short page for pages.
fn forbidden(api: bool, detail: String) -> Response {
    if api {
        return ApiError::new(StatusCode::FORBIDDEN, detail).into_response();
    }
    (
        StatusCode::FORBIDDEN,
        Html(format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Forbidden</title></head>\
             <body><h1>Forbidden</h1><p>{}</p><p><a href=\"/\">arrears</a></p></body></html>",
            crate::ui::esc(&detail)
        )),
    )
        .into_response()
}

fn form_encode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .map(|e| e.trim_start_matches('=').to_string())
        .unwrap_or_default()
}
