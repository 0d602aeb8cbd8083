//! The mock run: one node per prompt, in order, each touching the workspace's endpoint, with
//! every step written as a KAHN frame to the run's log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hearth_protocol::kahn::{
    node_name, Frame, NodeAttempt, NodeState, NodeTransition, RunEnded, RunOutcome, RunStarted,
};
use tracing::{info, warn};

use crate::config::Faults;
use crate::runs::{RunLog, WireFrame};

/// A run accepted by `POST /runs`, ready to execute.
#[derive(Debug, Clone)]
pub struct Job {
    pub run_id: String,
    pub workspace: String,
    /// The workspace's front door; every node sends it a GET.
    pub endpoint: String,
    pub prompts: Vec<String>,
}

/// Runs `job` to its end, writing frames to `log`. Never fails: a node's failure is a frame.
pub async fn execute(
    job: Job,
    log: Arc<RunLog>,
    client: reqwest::Client,
    timeout: Duration,
    faults: Faults,
) {
    let run_id = job.run_id.as_str();
    info!(run_id, workspace = %job.workspace, prompts = job.prompts.len(), "run started");
    emit(
        &log,
        &Frame::RunStarted(RunStarted {
            run_id: run_id.to_owned(),
            workspace: job.workspace.clone(),
            prompts: count(job.prompts.len()),
        }),
        false,
    );
    let (mut succeeded, mut failed) = (0u32, 0u32);
    for (i, prompt) in job.prompts.iter().enumerate() {
        let index = count(i);
        let node = node_name(index);
        emit(
            &log,
            &Frame::NodeAttempt(NodeAttempt {
                run_id: run_id.to_owned(),
                node: node.clone(),
                index,
                attempt: 1,
                prompt: prompt.clone(),
            }),
            faults.bad_frame,
        );
        let started = Instant::now();
        let mut result = touch(&client, &job.endpoint, timeout).await;
        if let Some(slow) = faults.slow {
            tokio::time::sleep(slow.saturating_sub(started.elapsed())).await;
        }
        if result.is_ok() && faults.fail_nodes.contains(&index) {
            result = Err(format!("fault injected: fail-node={index}"));
        }
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (to, error) = match result {
            Ok(()) => {
                succeeded += 1;
                (NodeState::Succeeded, None)
            }
            Err(e) => {
                failed += 1;
                warn!(run_id, node = %node, error = %e, "node failed");
                (NodeState::Failed, Some(e))
            }
        };
        emit(
            &log,
            &Frame::NodeTransition(NodeTransition {
                run_id: run_id.to_owned(),
                node,
                index,
                attempt: 1,
                from: NodeState::Running,
                to,
                duration_ms,
                error,
            }),
            faults.bad_frame,
        );
    }
    let outcome = if failed == 0 {
        RunOutcome::Succeeded
    } else {
        RunOutcome::Failed
    };
    info!(run_id, ?outcome, succeeded, failed, "run ended");
    emit(
        &log,
        &Frame::RunEnded(RunEnded {
            run_id: run_id.to_owned(),
            outcome,
            nodes_succeeded: succeeded,
            nodes_failed: failed,
        }),
        false,
    );
}

/// The node's mock work: the workspace must answer an HTTP GET (any status below 500).
async fn touch(client: &reqwest::Client, endpoint: &str, timeout: Duration) -> Result<(), String> {
    match client.get(endpoint).timeout(timeout).send().await {
        Ok(resp) if resp.status().is_server_error() => Err(format!(
            "workspace at {endpoint} answered {}",
            resp.status()
        )),
        Ok(_) => Ok(()),
        Err(e) if e.is_timeout() => Err(format!(
            "workspace at {endpoint} did not answer within {} ms",
            timeout.as_millis()
        )),
        Err(e) => Err(format!(
            "workspace at {endpoint} did not answer: {}",
            root_cause(&e)
        )),
    }
}

/// The innermost error's text (reqwest's own message only says "error sending request").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Writes a frame to the log; with `break_schema`, writes a version of it that a KAHN reader
/// must reject.
fn emit(log: &RunLog, frame: &Frame, break_schema: bool) {
    let mut data = frame.to_sse_data();
    if break_schema {
        data = broken(&data);
    }
    log.push(WireFrame {
        event: frame.event_type().to_owned(),
        data,
        last: frame.is_last(),
    });
}

/// The `bad-frame` fault: drops `to` from a transition, otherwise claims KAHN version 99.
fn broken(data: &str) -> String {
    let mut value: serde_json::Value = serde_json::from_str(data).expect("our own JSON");
    if let Some(obj) = value.as_object_mut() {
        if obj.remove("to").is_none() {
            obj.insert("kahn".into(), 99.into());
        }
    }
    value.to_string()
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_protocol::kahn::KahnError;

    #[test]
    fn broken_frames_are_rejected_by_the_reader() {
        let attempt = Frame::NodeAttempt(NodeAttempt {
            run_id: "r".into(),
            node: "n0".into(),
            index: 0,
            attempt: 1,
            prompt: "p".into(),
        });
        let e = Frame::parse(&broken(&attempt.to_sse_data())).unwrap_err();
        assert!(matches!(e, KahnError::WrongVersion { .. }), "{e}");
        let transition = Frame::NodeTransition(NodeTransition {
            run_id: "r".into(),
            node: "n0".into(),
            index: 0,
            attempt: 1,
            from: NodeState::Running,
            to: NodeState::Succeeded,
            duration_ms: 1,
            error: None,
        });
        let e = Frame::parse(&broken(&transition.to_sse_data())).unwrap_err();
        assert!(e.to_string().contains("missing field `to`"), "{e}");
    }
}
