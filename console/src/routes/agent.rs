//! `POST /api/relay/agent`: hearth's agent projection (see [`hearth_protocol::agent`]) into
//! HATCH. Each event becomes one CloudEvent of its own type (`agent.registered`,
//! `agent.invoked`, `agent.completed`), subject its workspace slug, data the event as hearth
//! sent it. Authenticated like every other route (the gate); a malformed event is refused
//! with 400 naming what is wrong, and nothing is written.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use hearth_protocol::agent::AgentEvent;
use serde_json::json;

use crate::error::ApiError;
use crate::extract::{check_slug, ApiJson};
use crate::AppState;

/// The handler.
pub(super) async fn relay(
    State(state): State<AppState>,
    ApiJson(event): ApiJson<AgentEvent>,
) -> Result<Response, ApiError> {
    check_slug(&event.workspace_slug)?;
    if let Some(problem) = event.problem() {
        return Err(ApiError::BadRequest(problem));
    }
    let data = serde_json::to_value(&event).map_err(|e| ApiError::Internal(e.to_string()))?;
    let written = state
        .sink
        .append(&event.event_type, &event.workspace_slug, data)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"ok": true, "seq": written.seq})),
    )
        .into_response())
}
