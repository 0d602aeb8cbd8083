//! The worker-stub's HTTP surface: `POST /runs`, `GET /runs/{id}/events` (both behind the HMAC
//! bearer) and `GET /healthz`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hearth_protocol::bearer::Verifier;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::info;

use crate::config::Config;
use crate::error::ApiError;
use crate::executor::{execute, Job};
use crate::runs::Runs;
use crate::sse;

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    pub config: Config,
    pub verifier: Verifier,
    pub runs: Runs,
    /// Reused for every endpoint touch (connection pooling).
    pub client: reqwest::Client,
    /// Cancelled at shutdown so open event streams end.
    pub stop: CancellationToken,
    /// Every run's task, so a shutdown lets the ones under way finish (bounded).
    pub tasks: TaskTracker,
}

/// The body of `POST /runs`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubmitRun {
    pub workspace: String,
    /// The workspace's front door, from hearth's `DeploymentRef.endpoint`.
    pub endpoint: String,
    pub prompts: Vec<String>,
}

/// The answer to `POST /runs`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Submitted {
    pub run_id: String,
}

/// The router with its state.
pub fn router(state: Arc<AppState>) -> Router {
    // The body limit is enforced by hand in `body_bytes` so the refusal is our JSON error;
    // axum's own limit is set above it as a backstop.
    let backstop = state.config.max_body_bytes.saturating_mul(2);
    Router::new()
        .route("/runs", post(submit))
        .route("/runs/{id}/events", get(events))
        .route("/healthz", get(healthz))
        .layer(DefaultBodyLimit::max(backstop))
        .with_state(state)
}

fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
    uri: &Uri,
    body: &[u8],
) -> Result<String, ApiError> {
    crate::auth::authorize(&state.verifier, headers, method, uri, body)
}

fn body_bytes(state: &AppState, body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    let limit = state.config.max_body_bytes;
    match body {
        Ok(b) if b.len() <= limit => Ok(b),
        Ok(_) => Err(ApiError::TooLarge(limit)),
        Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
            Err(ApiError::TooLarge(limit))
        }
        Err(e) => Err(ApiError::BadRequest(e.body_text())),
    }
}

async fn submit(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Submitted>, ApiError> {
    let body = body_bytes(&state, body)?;
    let key_id = authorize(&state, &headers, &method, &uri, &body)?;
    let req: SubmitRun = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("body is not a run: {e}")))?;
    validate(&state.config, &req)?;
    let run_id = uuid::Uuid::new_v4().to_string();
    let log = state.runs.create(&run_id);
    info!(run_id, key_id, workspace = %req.workspace, prompts = req.prompts.len(), "run accepted");
    let job = Job {
        run_id: run_id.clone(),
        workspace: req.workspace,
        endpoint: req.endpoint,
        prompts: req.prompts,
    };
    state.tasks.spawn(execute(
        job,
        log,
        state.client.clone(),
        state.config.node_timeout,
        state.config.faults.clone(),
    ));
    Ok(Json(Submitted { run_id }))
}

fn validate(config: &Config, req: &SubmitRun) -> Result<(), ApiError> {
    let bad = |m: String| Err(ApiError::BadRequest(m));
    if req.workspace.trim().is_empty() {
        return bad("workspace is empty".into());
    }
    if req.prompts.is_empty() {
        return bad("prompts is empty; a run needs at least one".into());
    }
    if req.prompts.len() > config.max_prompts {
        return bad(format!(
            "{} prompts is over the cap of {}",
            req.prompts.len(),
            config.max_prompts
        ));
    }
    if let Some(i) = req
        .prompts
        .iter()
        .position(|p| p.len() > config.max_prompt_bytes)
    {
        return bad(format!(
            "prompt {i} is over {} bytes",
            config.max_prompt_bytes
        ));
    }
    match reqwest::Url::parse(&req.endpoint) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(()),
        _ => bad(format!("endpoint '{}' is not an http(s) URL", req.endpoint)),
    }
}

async fn events(
    State(state): State<Arc<AppState>>,
    Path(run_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, &method, &uri, b"")?;
    let log = state
        .runs
        .get(&run_id)
        .ok_or_else(|| ApiError::NotFound(run_id.clone()))?;
    let first = match headers.get("last-event-id") {
        None => 0,
        Some(v) => {
            let id = v
                .to_str()
                .ok()
                .and_then(|s| s.trim().parse::<usize>().ok())
                .ok_or_else(|| ApiError::BadRequest("Last-Event-ID is not a frame id".into()))?;
            id.saturating_add(1)
        }
    };
    info!(run_id, first, "event stream opened");
    let stream = sse::frames(
        log,
        first,
        state.config.faults.drop_stream_after,
        state.stop.clone(),
    );
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

async fn healthz(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    Json(json!({"ok": true, "runs": state.runs.count()}))
}
