//! The one place a worker-stub refusal becomes an HTTP answer:
//! `{"error":{"code","message"}}` with the status that fits.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use hearth_protocol::bearer::BearerError;
use serde_json::json;

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The bearer did not check out; the code is the bearer's own (`missing`, `bad_signature`…).
    #[error(transparent)]
    Unauthorized(#[from] BearerError),
    #[error("{0}")]
    BadRequest(String),
    #[error("request body over {0} bytes")]
    TooLarge(usize),
    #[error("no run '{0}'")]
    NotFound(String),
}

impl ApiError {
    /// The stable snake_case code for the wire.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized(e) => e.code(),
            ApiError::BadRequest(_) => "invalid_request",
            ApiError::TooLarge(_) => "body_too_large",
            ApiError::NotFound(_) => "not_found",
        }
    }

    /// The HTTP status for the answer.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(
                BearerError::ReplayCacheFull | BearerError::ReplayJournal(_),
            ) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code(), "message": self.to_string()}});
        let mut resp = (self.status(), Json(body)).into_response();
        if self.status() == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        resp
    }
}
