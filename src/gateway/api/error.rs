//! The REST API's error answers: an HTTP status plus an [`ApiError`] JSON body. The one
//! place where domain errors become HTTP, and where internal failures are logged.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::core::protocol::ApiError;
use crate::gateway::error::EngineError;

#[derive(Debug, Clone)]
pub struct ApiFailure {
    pub status: StatusCode,
    pub body: ApiError,
    pub retry_after_secs: Option<u64>,
    /// What went wrong inside the gateway: logged when the answer is sent, never shown.
    pub internal: Option<String>,
}

pub type ApiResult<T> = Result<T, ApiFailure>;

impl ApiFailure {
    pub fn new(status: StatusCode, error: &str, message: impl Into<String>) -> Self {
        ApiFailure {
            status,
            body: ApiError {
                error: error.into(),
                message: message.into(),
                field: None,
            },
            retry_after_secs: None,
            internal: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid", message)
    }
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let mut f = Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message);
        f.body.field = Some(field.into());
        f
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "unsupported", message)
    }
    pub fn upstream(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, "upstream_failed", message)
    }
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    }
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut f = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many actions from this token; try again in {retry_after_secs} s"),
        );
        f.retry_after_secs = Some(retry_after_secs);
        f
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
}

impl From<EngineError> for ApiFailure {
    fn from(err: EngineError) -> Self {
        match err {
            EngineError::NotFound(m) => ApiFailure::not_found(m),
            EngineError::Conflict(m) => ApiFailure::conflict(m),
            EngineError::Busy(m) => ApiFailure::new(StatusCode::CONFLICT, "busy", m),
            EngineError::Contended(m) => {
                ApiFailure::new(StatusCode::SERVICE_UNAVAILABLE, "contended", m)
            }
            EngineError::Forbidden(m) => ApiFailure::forbidden(m),
            EngineError::Unsupported { message } => ApiFailure::unsupported(message),
            EngineError::Invalid { field, message } => ApiFailure::invalid(field, message),
            EngineError::Upstream(m) => ApiFailure::upstream(m),
            EngineError::RateLimited { retry_after_secs } => {
                ApiFailure::rate_limited(retry_after_secs)
            }
            EngineError::Store(_) | EngineError::Internal(_) => {
                let mut f =
                    ApiFailure::internal("the gateway could not complete the request; see its log");
                f.internal = Some(err.to_string());
                f
            }
        }
    }
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        if let Some(detail) = &self.internal {
            tracing::error!(error = %detail, "internal error");
        }
        let mut resp = (self.status, Json(self.body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp
    }
}
