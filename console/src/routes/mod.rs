//! The console's HTTP routes: the router, the JSON extractor that answers in the console's
//! error shape, and the small routes (health, session).

mod agent;
mod events;
mod runs;
#[cfg(test)]
mod tests;
mod workspaces;

pub use crate::extract::{ApiJson, ApiQuery};

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{session_set_cookie, SESSION_COOKIE};
use crate::error::ApiError;
use crate::gate::{gate, session_cookie};
use crate::sink::SinkError;
use crate::AppState;

/// The whole console API behind the gate.
pub fn router(state: AppState) -> Router {
    let body_limit = state.policy.body_limit;
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/session", post(open_session).delete(close_session))
        .route(
            "/api/hearth/workspaces",
            get(workspaces::list).post(workspaces::create),
        )
        .route(
            "/api/hearth/workspaces/{slug}",
            get(workspaces::show).delete(workspaces::delete),
        )
        .route(
            "/api/hearth/workspaces/{slug}/status",
            get(workspaces::status),
        )
        .route(
            "/api/hearth/workspaces/{slug}/{action}",
            post(workspaces::lifecycle),
        )
        .route("/api/ralph/runs", post(runs::submit))
        .route("/api/ralph/runs/{id}", get(runs::show))
        .route("/api/hatch/events", get(events::events))
        .route("/api/relay/agent", post(agent::relay))
        .merge(crate::ui::routes())
        .fallback(|| async { ApiError::NotFound("route".to_owned()) })
        .layer(axum::middleware::from_fn_with_state(state.clone(), gate))
        .layer(DefaultBodyLimit::max(body_limit))
        // Outermost: the framework's own rejections (a path that does not decode, a method a
        // route lacks) answer in the same shape as ours.
        .layer(axum::middleware::map_response(hearth_serve::json_errors))
        .with_state(state)
}

/// Runs an act to completion even if the caller hangs up: a hearth call and its outcome
/// event are one unit, so the log never misses what hearth did. Shutdown waits for it.
pub(crate) async fn detached<T: Send + 'static>(
    state: &AppState,
    act: impl std::future::Future<Output = Result<T, ApiError>> + Send + 'static,
) -> Result<T, ApiError> {
    state
        .tasks
        .spawn(act)
        .await
        .map_err(|e| ApiError::Internal(format!("act task failed: {e}")))?
}

impl From<SinkError> for ApiError {
    fn from(e: SinkError) -> Self {
        ApiError::HatchUnavailable(e.to_string())
    }
}

/// Healthy while the audit log accepts appends: a console that can no longer record what it
/// does answers 503 here, so a supervisor restarts it.
async fn healthz(State(state): State<AppState>) -> Result<Response, ApiError> {
    match state.sink.poisoned() {
        None => Ok(Json(json!({"ok": true})).into_response()),
        Some(reason) => Err(ApiError::Unhealthy(reason)),
    }
}

#[derive(Debug, Deserialize)]
struct SessionRequest {
    token: String,
}

/// `POST /api/session {token}`: opens an HttpOnly SameSite=Strict cookie session.
async fn open_session(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<SessionRequest>,
) -> Result<Response, ApiError> {
    if !state.auth.check_token(&req.token) {
        return Err(ApiError::Unauthorized);
    }
    let id = state.auth.open_session();
    Ok((
        [(header::SET_COOKIE, session_set_cookie(&id))],
        Json(json!({"ok": true})),
    )
        .into_response())
}

/// `DELETE /api/session`: ends the caller's session.
async fn close_session(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(id) = session_cookie(&headers) {
        state.auth.close_session(&id);
    }
    let cookie = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    ([(header::SET_COOKIE, cookie)], Json(json!({"ok": true}))).into_response()
}
