//! The HTTP error type: problem details (RFC 9457) that name each bad field by JSON pointer.
//! Internal errors are logged in full and shown to the client only as an id-less 500.

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use arrears_engine::store::{Rejection, StoreError};

/// One bad field of a request.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldProblem {
    /// JSON pointer (RFC 6901) to the field in the request body, or the query parameter name.
    pub pointer: String,
    pub detail: String,
}

/// An error response (RFC 9457 problem details).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    detail: String,
    errors: Vec<FieldProblem>,
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    pub fn field(status: StatusCode, pointer: &str, detail: impl Into<String>) -> ApiError {
        let detail = detail.into();
        ApiError {
            status,
            detail: format!("{pointer}: {detail}"),
            errors: vec![FieldProblem {
                pointer: pointer.to_string(),
                detail,
            }],
        }
    }

    /// An error with several bad fields, each with its own pointer.
    pub fn with_errors(
        status: StatusCode,
        detail: impl Into<String>,
        errors: Vec<FieldProblem>,
    ) -> ApiError {
        let list = errors
            .iter()
            .map(|e| format!("{}: {}", e.pointer, e.detail))
            .collect::<Vec<_>>()
            .join("; ");
        let detail = detail.into();
        ApiError {
            status,
            detail: if list.is_empty() {
                detail
            } else {
                format!("{detail}: {list}")
            },
            errors,
        }
    }

    /// The status the error answers with (pages show their own body for it).
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// What the error says, field pointers included.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, format!("{} not found", what.into()))
    }

    /// Field errors of a batch; `batch` puts the item index in front of each pointer.
    pub fn rejected(rejections: Vec<Rejection>, batch: bool) -> ApiError {
        let errors: Vec<FieldProblem> = rejections
            .into_iter()
            .map(|r| FieldProblem {
                pointer: if batch {
                    format!("/{}{}", r.item, r.error.pointer())
                } else {
                    r.error.pointer()
                },
                detail: r.error.message,
            })
            .collect();
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.pointer, e.detail))
            .collect::<Vec<_>>()
            .join("; ");
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            detail: format!("the request was refused and nothing was changed: {detail}"),
            errors,
        }
    }

    pub fn store(e: StoreError, batch: bool) -> ApiError {
        match e {
            StoreError::Rejected(r) => ApiError::rejected(r, batch),
            StoreError::NotFound(what) => {
                ApiError::new(StatusCode::NOT_FOUND, format!("{what} not found"))
            }
            StoreError::Immutable(msg) | StoreError::Conflict(msg) => {
                ApiError::new(StatusCode::CONFLICT, msg)
            }
            other => {
                tracing::error!(error = %other, "internal error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error; the server log has the details",
                )
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        ApiError::store(e, false)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Problem {
            title: self
                .status
                .canonical_reason()
                .unwrap_or("Error")
                .to_string(),
            status: self.status.as_u16(),
            detail: self.detail,
            errors: self.errors,
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        resp.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/problem+json"),
        );
        resp
    }
}

/// A JSON body whose errors name the field by JSON pointer.
pub struct ApiJson<T>(pub T);

/// The JSON pointer of a serde path, e.g. `/lines/0/quantity`.
pub(crate) fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("/{index}")),
            Segment::Map { key } => {
                out.push('/');
                out.push_str(&key.replace('~', "~0").replace('/', "~1"));
            }
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    out
}

/// The field a "missing field `x`" message names: serde's path stops at the object that
/// lacks it. (For an unknown field the path already ends at the field.)
pub(crate) fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json_type = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json") || v.contains("+json"));
        if !json_type {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected a JSON body with Content-Type: application/json",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("cannot read the body: {e}"),
                )
            })?;
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let value: Result<T, _> = serde_path_to_error::deserialize(&mut de);
        let err = match value {
            Ok(v) => match de.end() {
                Ok(()) => return Ok(ApiJson(v)),
                Err(e) => {
                    return Err(ApiError::field(
                        StatusCode::BAD_REQUEST,
                        "",
                        format!("malformed JSON: {e}"),
                    ));
                }
            },
            Err(err) => err,
        };
        let mut pointer = pointer_of(err.path());
        let inner = err.inner();
        let message = inner.to_string();
        let plain = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_string();
        if let Some(f) = missing_field(&plain) {
            pointer = format!("{pointer}/{f}");
        }
        if inner.is_syntax() || inner.is_eof() {
            return Err(ApiError::field(
                StatusCode::BAD_REQUEST,
                &pointer,
                format!("malformed JSON: {message}"),
            ));
        }
        Err(ApiError::field(StatusCode::BAD_REQUEST, &pointer, plain))
    }
}

/// Query parameters whose errors say which parameter is wrong.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(q) => Ok(ApiQuery(q.0)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("bad query parameter: {}", e.body_text()),
            )),
            Err(e) => Err(ApiError::new(StatusCode::BAD_REQUEST, e.body_text())),
        }
    }
}
