//! The play's chain for the page: `hatch verify`'s own verdict (the checker in
//! [`crate::verify`], not a second one) over one workspace's acts, and the HATCH log and the
//! JUnit report as downloads.

use std::collections::HashSet;
use std::path::PathBuf;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use hearth_protocol::hatch::payload::{Payload, RunStarted};
use hearth_protocol::hatch::{types, HatchEvent};
use hearth_protocol::play;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::extract::{check_slug, ApiQuery};
use crate::verify::{self, Chain};
use crate::AppState;

/// Prompts assumed when the log holds no run yet (the play's four).
const DEFAULT_PROMPTS: usize = 4;

/// `?workspace=SLUG`.
#[derive(Debug, Deserialize)]
pub(super) struct ChainQuery {
    #[serde(default)]
    workspace: Option<String>,
}

/// The events that belong to `slug`'s chain: its own (`hearth.*`, `ralph.submit_rejected`)
/// and those of the runs submitted to it. Other workspaces' plays in the same log are left
/// out, so each workspace gets the verdict its own play earns.
pub(super) fn of_workspace(events: &[HatchEvent], slug: &str) -> Vec<HatchEvent> {
    let runs: HashSet<&str> = events
        .iter()
        .filter(|e| {
            e.event_type == types::RUN_STARTED
                && RunStarted::of(e).is_some_and(|r| r.workspace == slug)
        })
        .map(|e| e.subject.as_str())
        .collect();
    events
        .iter()
        .filter(|e| e.subject == slug || runs.contains(e.subject.as_str()))
        .cloned()
        .collect()
}

/// The prompt count the first run in `events` declared, checked against the protocol's cap
/// before a chain is built for it (a log is outside data: its number is not taken on trust).
fn prompts_of(events: &[HatchEvent]) -> Result<usize, ApiError> {
    let Some((seq, declared)) = events
        .iter()
        .find(|e| e.event_type == types::RUN_STARTED)
        .and_then(|e| Some((e.seq, RunStarted::of(e)?.prompts?)))
    else {
        return Ok(DEFAULT_PROMPTS);
    };
    play::prompt_count(declared).map_err(|e| {
        ApiError::OutOfRange(format!(
            "HATCH line #{seq} ({}) is out of range: {e}",
            types::RUN_STARTED
        ))
    })
}

/// `GET /api/ui/chain[?workspace=SLUG]` → `{workspace, workspaces, summary, verdict, junit}`:
/// the verdict of `console hatch verify --chain provision-then-ralph` over the workspace's
/// events (the whole log without `workspace`), its one-line summary as `verify` prints it,
/// the workspaces the log knows, and whether a JUnit report is there to download.
pub(super) async fn chain(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ChainQuery>,
) -> Result<Json<Value>, ApiError> {
    if let Some(slug) = &q.workspace {
        check_slug(slug)?;
    }
    let sink = state.sink.clone();
    let log = tokio::task::spawn_blocking(move || sink.read())
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    let mut workspaces: Vec<&str> = Vec::new();
    for e in &log.events {
        if e.event_type == types::PROVISIONING_STARTED && !workspaces.contains(&e.subject.as_str())
        {
            workspaces.push(&e.subject);
        }
    }
    let events = match &q.workspace {
        Some(slug) => of_workspace(&log.events, slug),
        None => log.events.clone(),
    };
    let prompts = prompts_of(&events)?;
    let mut verdict = verify::check_events(&events, Chain::ProvisionThenRalph, prompts)
        .map_err(|e| ApiError::OutOfRange(e.to_string()))?;
    verdict.file = state.sink.path().to_owned();
    Ok(Json(json!({
        "workspace": q.workspace,
        "workspaces": workspaces,
        "summary": verify::summary(&verdict),
        "verdict": verdict,
        "junit": junit_path(&state).is_file(),
    })))
}

/// Where a JUnit report is looked for: `junit.xml` beside the HATCH log, as `make e2e`
/// leaves them in `target/e2e/`.
fn junit_path(state: &AppState) -> PathBuf {
    state.sink.path().with_file_name("junit.xml")
}

/// `GET /api/hatch/log`: the HATCH log as a file download.
pub(super) async fn download_log(State(state): State<AppState>) -> Result<Response, ApiError> {
    download(
        state.sink.path().to_owned(),
        "hatch.jsonl",
        "application/jsonl",
    )
    .await
}

/// `GET /api/hatch/junit`: the JUnit report beside the log, when there is one.
pub(super) async fn download_junit(State(state): State<AppState>) -> Result<Response, ApiError> {
    let path = junit_path(&state);
    if !path.is_file() {
        return Err(ApiError::NotFound(format!(
            "JUnit report (looked for {})",
            path.display()
        )));
    }
    download(path, "junit.xml", "application/xml").await
}

async fn download(
    path: PathBuf,
    name: &'static str,
    content_type: &'static str,
) -> Result<Response, ApiError> {
    let bytes = tokio::task::spawn_blocking(move || std::fs::read(&path))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::Internal(format!("cannot read {name}: {e}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(seq: u64, ty: &str, subject: &str, data: Value) -> HatchEvent {
        HatchEvent::new(format!("id{seq}"), "urn:t", ty, subject, seq, data)
    }

    #[test]
    fn a_workspace_chain_keeps_its_own_runs_and_drops_others() {
        let events = vec![
            ev(1, types::PROVISIONING_STARTED, "a", json!({})),
            ev(2, types::PROVISIONING_STARTED, "b", json!({})),
            ev(3, types::PROVISIONED, "a", json!({})),
            ev(
                4,
                types::RUN_STARTED,
                "r-b",
                json!({"workspace": "b", "prompts": 9}),
            ),
            ev(
                5,
                types::RUN_STARTED,
                "r-a",
                json!({"workspace": "a", "prompts": 1}),
            ),
            ev(6, types::NODE_SUCCEEDED, "r-b", json!({})),
            ev(7, types::NODE_SUCCEEDED, "r-a", json!({})),
            ev(8, types::RUN_ENDED, "r-a", json!({})),
            ev(9, types::DECOMMISSION_STARTED, "a", json!({})),
            ev(10, types::DECOMMISSIONED, "a", json!({})),
        ];
        let mine = of_workspace(&events, "a");
        let seqs: Vec<u64> = mine.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [1, 3, 5, 7, 8, 9, 10]);
        assert_eq!(prompts_of(&mine).expect("in range"), 1);
        let v = verify::check_events(&mine, Chain::ProvisionThenRalph, 1).expect("verdict");
        assert_eq!(verify::summary(&v), "OK — all 7 acts in order");
        let theirs = of_workspace(&events, "b");
        let n = prompts_of(&theirs).expect("in range");
        let v = verify::check_events(&theirs, Chain::ProvisionThenRalph, n).expect("verdict");
        assert!(!v.ok);
        assert!(verify::summary(&v).starts_with("BROKEN at act 2 of 15"));
    }

    #[test]
    fn a_log_declaring_more_prompts_than_the_cap_is_an_error_not_an_allocation() {
        for n in [65u64, 150_000_000, 1_000_000_000_000, u64::MAX] {
            let events = vec![ev(
                7,
                types::RUN_STARTED,
                "r",
                json!({"workspace": "a", "prompts": n}),
            )];
            let e = prompts_of(&events).expect_err("out of range");
            assert_eq!(e.code(), "out_of_range");
            assert!(
                e.to_string().contains("#7") && e.to_string().contains("cap of 64"),
                "{e}"
            );
        }
    }
}
