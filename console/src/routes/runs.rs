//! `/api/ralph/runs`: submit a run to the worker (waking a hibernated workspace first) and
//! read back what the relay recorded.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::Json;
use hearth_protocol::hatch::payload::{Payload, RunStarted, SubmitRejected, Woken};
use hearth_protocol::hatch::types;
use hearth_protocol::hearth::{ErrorCode, Status};
use hearth_protocol::verb::Verb;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{detached, ApiJson};
use crate::error::ApiError;
use crate::relay::Relay;
use crate::runs::RunRecord;
use crate::worker::WorkerError;
use crate::AppState;

/// Most prompts one run may carry: the worker's own cap, so a run it would refuse is
/// refused here first, before anything is logged or sent.
pub(super) use hearth_protocol::limits::MAX_PROMPTS;
use hearth_protocol::limits::MAX_PROMPT_BYTES;
/// Longest `?wait=` honoured, in seconds.
pub(super) const MAX_WAIT_SECS: u64 = 300;

/// `POST /api/ralph/runs` body.
#[derive(Debug, Deserialize)]
pub(super) struct SubmitRun {
    workspace: String,
    prompts: Vec<String>,
}

/// `POST /api/ralph/runs {workspace, prompts}` → `{run_id}` once the worker accepts.
pub(super) async fn submit(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<SubmitRun>,
) -> Result<Json<Value>, ApiError> {
    check_run(&req)?;
    detached(&state, submit_act(state.clone(), req))
        .await
        .map(Json)
}

/// The limits the worker holds a run to, checked where the request enters: a run refused
/// here touches neither hearth, the worker nor HATCH.
fn check_run(req: &SubmitRun) -> Result<(), ApiError> {
    crate::extract::check_slug(&req.workspace)?;
    if req.prompts.is_empty() || req.prompts.len() > MAX_PROMPTS {
        return Err(ApiError::BadRequest(format!(
            "prompts must hold 1 to {MAX_PROMPTS} entries, got {}",
            req.prompts.len()
        )));
    }
    if let Some(i) = req.prompts.iter().position(|p| p.len() > MAX_PROMPT_BYTES) {
        return Err(ApiError::BadRequest(format!(
            "prompt {i} is longer than {MAX_PROMPT_BYTES} bytes"
        )));
    }
    Ok(())
}

/// Wake if needed, submit, record, start the relay.
async fn submit_act(state: AppState, req: SubmitRun) -> Result<Value, ApiError> {
    let workspace = req.workspace.as_str();
    let mut wref = state.hearth.get(workspace).await?;
    if wref.last_status == Status::Hibernated {
        match state.hearth.act(Verb::Resume, workspace).await {
            Ok(woken) => {
                wref = woken;
                state
                    .sink
                    .append(
                        types::WOKEN,
                        workspace,
                        Woken {
                            slug: workspace.to_owned(),
                            endpoint: wref.endpoint.clone(),
                            status: wref.last_status,
                            reason: "run submitted".to_owned(),
                        }
                        .to_data(),
                    )
                    .await?;
            }
            // Another submission woke it first (and recorded it): go on with what it woke.
            Err(e) if e.code == ErrorCode::Conflict => {
                wref = state.hearth.get(workspace).await?;
                if wref.last_status != Status::Ready {
                    return Err(e.into());
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    let prompts = req.prompts.len();
    let run_id = match state
        .worker
        .submit(workspace, &wref.endpoint, &req.prompts)
        .await
    {
        Ok(run_id) => run_id,
        Err(e) => return Err(rejected(&state, workspace, prompts, e).await),
    };
    state
        .sink
        .append(
            types::RUN_STARTED,
            &run_id,
            RunStarted {
                run_id: run_id.clone(),
                workspace: workspace.to_owned(),
                endpoint: wref.endpoint.clone(),
                prompts: Some(prompts as u64),
            }
            .to_data(),
        )
        .await?;
    tracing::info!(run_id = %run_id, workspace, prompts, "run accepted by the worker");
    let slot = state
        .runs
        .insert(RunRecord::new(&run_id, workspace, &wref.endpoint, prompts));
    let relay = Relay {
        sink: state.sink.clone(),
        worker: state.worker.clone(),
        slot,
        run_id: run_id.clone(),
        stopping: state.stopping.clone(),
    };
    state.tasks.spawn(relay.run());
    Ok(json!({ "run_id": run_id }))
}

/// Logs a refused or failed submit and turns it into the answer.
async fn rejected(state: &AppState, workspace: &str, prompts: usize, e: WorkerError) -> ApiError {
    let (status, code, message) = match &e {
        WorkerError::Rejected {
            status,
            code,
            message,
        } => (Some(*status), code.clone(), message.clone()),
        WorkerError::Unreachable(m) => (None, "worker_unreachable".to_owned(), m.clone()),
        WorkerError::BadAnswer(m) => (None, "bad_answer".to_owned(), m.clone()),
    };
    tracing::warn!(workspace, status = ?status, code = %code, "worker refused the run");
    let data = SubmitRejected {
        workspace: workspace.to_owned(),
        prompts: prompts as u64,
        status,
        code: code.clone(),
        message,
    }
    .to_data();
    if let Err(sink) = state
        .sink
        .append(types::SUBMIT_REJECTED, workspace, data)
        .await
    {
        return sink.into();
    }
    match e {
        WorkerError::Rejected { status, code, .. } => ApiError::SubmitRejected {
            status,
            worker_code: code,
        },
        WorkerError::Unreachable(m) => ApiError::WorkerUnreachable(m),
        WorkerError::BadAnswer(m) => ApiError::WorkerBadAnswer(m),
    }
}

/// `?wait=SECONDS`.
#[derive(Debug, Deserialize)]
pub(super) struct WaitQuery {
    #[serde(default)]
    wait: Option<u64>,
}

/// `GET /api/ralph/runs/{id}[?wait=SECONDS]`.
pub(super) async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<WaitQuery>,
) -> Result<Json<RunRecord>, ApiError> {
    let slot = state
        .runs
        .get(&id)
        .ok_or_else(|| ApiError::NotFound(format!("run {id:?}")))?;
    if let Some(secs) = q.wait.filter(|s| *s > 0) {
        slot.wait(Duration::from_secs(secs.min(MAX_WAIT_SECS)))
            .await;
    }
    slot.snapshot()
        .map(Json)
        .ok_or_else(|| ApiError::Internal(format!("run {id} record lock poisoned")))
}
