//! The console's API errors and the one place that turns them into HTTP responses.
//!
//! Every variant has a stable snake_case code (what scripts match on), a status and, where it
//! helps, a hint saying what to do. Client errors pass through unlogged; internal errors are
//! logged once here and answered with an opaque message.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use hearth_protocol::hearth::ErrorCode;
use serde_json::json;

/// Everything a console route can answer instead of success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No valid admin token or session.
    #[error("a valid admin token or session is required")]
    Unauthorized,
    /// The `Host` header is not one the console serves.
    #[error("host {0:?} is not allowed")]
    ForbiddenHost(String),
    /// A cross-site `Origin` on a state-changing request or an event stream.
    #[error("cross-site request from origin {0:?} refused")]
    ForbiddenOrigin(String),
    /// A cookie-authenticated request that changes state came without the page's header.
    #[error("a state-changing request with a session cookie must carry the {0} header")]
    PageHeaderMissing(&'static str),
    /// A login code that is unknown, used or expired.
    #[error("this login link is used, expired or unknown")]
    LoginRefused,
    /// The request body is over the cap.
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// The request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// Nothing by that name.
    #[error("{0} not found")]
    NotFound(String),
    /// The audit log cannot be written, so the console does not act.
    #[error("the HATCH log cannot be written: {0}")]
    HatchUnavailable(String),
    /// `GET /healthz` while the audit log refuses appends: 503, so a supervisor restarts it.
    #[error("the HATCH log cannot be written: {0}")]
    Unhealthy(String),
    /// hearth answered with an error (or could not be reached, or timed out).
    #[error("{message}")]
    Hearth {
        code: ErrorCode,
        message: String,
        hint: Option<String>,
        http_status: Option<u16>,
    },
    /// The worker refused a submit.
    #[error("the worker refused the run ({status}: {worker_code})")]
    SubmitRejected { status: u16, worker_code: String },
    /// The worker could not be reached.
    #[error("the worker could not be reached: {0}")]
    WorkerUnreachable(String),
    /// The worker answered with something the console will not use (a run id breaking the
    /// identifier rule, say); nothing it named was passed on.
    #[error("the worker's answer was refused: {0}")]
    WorkerBadAnswer(String),
    /// A number the console read from outside (its HATCH log) is past the protocol's limit.
    #[error("{0}")]
    OutOfRange(String),
    /// A bug or an unexpected failure; logged, answered opaquely.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The stable wire code.
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::Unauthorized => ErrorCode::Unauthorized,
            ApiError::ForbiddenHost(_) => ErrorCode::ForbiddenHost,
            ApiError::ForbiddenOrigin(_) => ErrorCode::ForbiddenOrigin,
            ApiError::PageHeaderMissing(_) => ErrorCode::PageHeaderMissing,
            ApiError::LoginRefused => ErrorCode::LoginRefused,
            ApiError::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            ApiError::BadRequest(_) => ErrorCode::InvalidRequest,
            ApiError::NotFound(_) => ErrorCode::NotFound,
            ApiError::HatchUnavailable(_) | ApiError::Unhealthy(_) => ErrorCode::HatchUnavailable,
            ApiError::Hearth { code, .. } => code.clone(),
            ApiError::SubmitRejected { .. } => ErrorCode::SubmitRejected,
            ApiError::WorkerUnreachable(_) => ErrorCode::WorkerUnreachable,
            ApiError::WorkerBadAnswer(_) => ErrorCode::BadAnswer,
            ApiError::OutOfRange(_) => ErrorCode::OutOfRange,
            ApiError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized | ApiError::LoginRefused => StatusCode::UNAUTHORIZED,
            ApiError::ForbiddenHost(_)
            | ApiError::ForbiddenOrigin(_)
            | ApiError::PageHeaderMissing(_) => StatusCode::FORBIDDEN,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::OutOfRange(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::HatchUnavailable(_) | ApiError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            ApiError::Unhealthy(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Hearth {
                code, http_status, ..
            } => hearth_status(code, *http_status),
            ApiError::SubmitRejected { .. }
            | ApiError::WorkerUnreachable(_)
            | ApiError::WorkerBadAnswer(_) => StatusCode::BAD_GATEWAY,
        }
    }

    /// Whether the same request may succeed later unchanged: the console or what it calls
    /// was unavailable, not the request wrong.
    pub fn retryable(&self) -> bool {
        // A worker that answers out of protocol will answer the same way again.
        !matches!(self, ApiError::WorkerBadAnswer(_))
            && matches!(
                self.status(),
                StatusCode::BAD_GATEWAY
                    | StatusCode::SERVICE_UNAVAILABLE
                    | StatusCode::GATEWAY_TIMEOUT
            )
    }

    /// What the caller can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            ApiError::Unauthorized => Some(
                "send Authorization: Bearer <token> with the token from STATE/console.token, \
                 or open a session with POST /api/session"
                    .to_owned(),
            ),
            ApiError::ForbiddenHost(_) => Some(
                "address the console as 127.0.0.1:PORT or localhost:PORT, or start it with \
                 --allow-host"
                    .to_owned(),
            ),
            ApiError::ForbiddenOrigin(_) => {
                Some("the console only accepts requests from its own origin".to_owned())
            }
            ApiError::PageHeaderMissing(_) => Some(
                "the console's page sends it; scripts use Authorization: Bearer instead of a \
                 cookie"
                    .to_owned(),
            ),
            ApiError::LoginRefused => Some(
                "a login link works once, within 2 minutes: run `console ui` for a fresh one"
                    .to_owned(),
            ),
            ApiError::HatchUnavailable(_) | ApiError::Unhealthy(_) => Some(
                "check that the --hatch file's disk is writable and not full, then restart \
                 the console (the sink stops after a failed write)"
                    .to_owned(),
            ),
            ApiError::Hearth { hint, .. } => hint.clone(),
            ApiError::SubmitRejected { status, .. } if *status == 401 || *status == 403 => Some(
                "the worker did not accept the console's bearer: the --keys files of console \
                 and worker have drifted (same key_id:secret lines needed), or the clocks differ"
                    .to_owned(),
            ),
            ApiError::SubmitRejected { .. } => {
                Some("see the worker's log for why it refused the run".to_owned())
            }
            ApiError::WorkerUnreachable(_) => {
                Some("check that the worker runs at --worker-url".to_owned())
            }
            ApiError::WorkerBadAnswer(_) => Some(
                "the worker at --worker-url does not speak the worker protocol as documented \
                 (run ids are 1-128 of [A-Za-z0-9._-]); see ralph.submit_rejected in HATCH"
                    .to_owned(),
            ),
            ApiError::OutOfRange(_) => Some(
                "the HATCH log names a run no console submits (over the protocol's prompt \
                 cap): check it with `console hatch verify`, and see the book's HATCH chapter"
                    .to_owned(),
            ),
            ApiError::PayloadTooLarge { .. }
            | ApiError::BadRequest(_)
            | ApiError::NotFound(_)
            | ApiError::Internal(_) => None,
        }
    }
}

/// Maps a hearth error to a status: hearth's own when it sent one, else by code.
fn hearth_status(code: &ErrorCode, http_status: Option<u16>) -> StatusCode {
    match code {
        ErrorCode::HearthUnreachable
        | ErrorCode::DockerUnavailable
        | ErrorCode::ImageUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        ErrorCode::InvalidSlug | ErrorCode::InvalidRequest => StatusCode::BAD_REQUEST,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Conflict | ErrorCode::TierMismatch => StatusCode::CONFLICT,
        ErrorCode::Unsupported => StatusCode::NOT_IMPLEMENTED,
        _ => match http_status.and_then(|s| StatusCode::from_u16(s).ok()) {
            Some(s) if s.is_client_error() => s,
            _ => StatusCode::BAD_GATEWAY,
        },
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                "internal error".to_owned()
            }
            other => other.to_string(),
        };
        let mut body = json!({
            "code": self.code(),
            "message": message,
            "retryable": self.retryable(),
        });
        if let Some(hint) = self.hint() {
            body["hint"] = hint.into();
        }
        (status, Json(json!({ "error": body }))).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hearth_codes_map_to_fitting_statuses() {
        let e = |code: &str| ApiError::Hearth {
            code: ErrorCode::parse(code),
            message: "m".into(),
            hint: None,
            http_status: Some(500),
        };
        assert_eq!(
            e("hearth_unreachable").status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            e("docker_unavailable").status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(e("deadline_exceeded").status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(e("tier_mismatch").status(), StatusCode::CONFLICT);
        assert_eq!(e("driver_failure").status(), StatusCode::BAD_GATEWAY);
        assert_eq!(e("docker_unavailable").code(), "docker_unavailable");
    }

    #[test]
    fn submit_rejected_names_key_drift() {
        let e = ApiError::SubmitRejected {
            status: 401,
            worker_code: "bad_signature".into(),
        };
        assert_eq!(e.status(), StatusCode::BAD_GATEWAY);
        assert!(e.hint().expect("hint").contains("--keys"));
    }
}
