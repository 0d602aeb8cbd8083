//! Follows one run's KAHN stream from the worker and writes what it sees to HATCH: one
//! `ralph.node.*` per node at its terminal transition, `ralph.frame_rejected` for frames that
//! break the schema, `ralph.run.ended` at the end. Reconnects with `Last-Event-ID` when the
//! stream drops (bounded, with backoff) and de-duplicates by frame id and node index anyway;
//! a run it cannot follow to its end is recorded as `lost`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use hearth_protocol::hatch::types;
use hearth_protocol::kahn::{Frame, NodeState};
use serde_json::json;

use crate::runs::{NodeRecord, RunSlot};
use crate::sink::{HatchSink, SinkError};
use crate::worker::{StreamError, WorkerClient};

/// Reconnects tried in a row without progress before the run is declared lost.
pub const MAX_RECONNECTS: u32 = 5;
/// First reconnect delay; doubles per failed try up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest delay between reconnects.
pub const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How much of a rejected frame goes into the log.
pub const RAW_FRAME_LOG_BYTES: usize = 512;
/// A worker stream that yields no event for this long is treated as dropped (and resumed with
/// `Last-Event-ID`): a half-open connection must not keep a run "running" forever.
pub const STREAM_IDLE: Duration = Duration::from_secs(300);

/// What one relay needs.
#[derive(Debug, Clone)]
pub struct Relay {
    pub sink: HatchSink,
    pub worker: WorkerClient,
    pub slot: Arc<RunSlot>,
    pub run_id: String,
    /// Cancelled at console shutdown: the run is then recorded as lost, not left open.
    pub stopping: tokio_util::sync::CancellationToken,
}

/// How reading one connection ended.
enum Pass {
    /// `run_ended` arrived and was recorded.
    Ended,
    /// The stream stopped early; try again.
    Dropped(String),
    /// Following the stream further is pointless (oversized frame) .
    Fatal(String),
}

/// What the relay remembers across reconnects.
#[derive(Debug, Default)]
struct Progress {
    last_id: Option<String>,
    seen_ids: HashSet<String>,
}

impl Relay {
    /// Follows the run to its end. Never panics; every outcome ends up in HATCH (unless HATCH
    /// itself fails, which is logged and marks the run `audit_failed`).
    pub async fn run(self) {
        let started = Instant::now();
        if let Err(e) = self.follow(started).await {
            tracing::error!(run_id = %self.run_id, error = %e, "HATCH stopped accepting events; run no longer relayed");
            self.slot.finish("audit_failed", Some(e.to_string()));
        }
    }

    async fn follow(&self, started: Instant) -> Result<(), SinkError> {
        let mut progress = Progress::default();
        let mut failures = 0u32;
        let mut backoff = FIRST_BACKOFF;
        loop {
            let seen_before = progress.seen_ids.len();
            let pass = match self
                .worker
                .events(&self.run_id, progress.last_id.as_deref())
                .await
            {
                Ok(stream) => self.read(stream, &mut progress, started).await?,
                Err(e) => Pass::Dropped(e.to_string()),
            };
            let reason = match pass {
                Pass::Ended => return Ok(()),
                Pass::Fatal(reason) => return self.lost(&reason, started).await,
                Pass::Dropped(reason) => reason,
            };
            if progress.seen_ids.len() > seen_before {
                failures = 0;
                backoff = FIRST_BACKOFF;
            }
            failures += 1;
            if failures > MAX_RECONNECTS {
                let reason =
                    format!("stream dropped {MAX_RECONNECTS} times in a row; last: {reason}");
                return self.lost(&reason, started).await;
            }
            tracing::warn!(run_id = %self.run_id, last_event_id = ?progress.last_id, attempt = failures, reason = %reason, "event stream dropped; reconnecting");
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = self.stopping.cancelled() => {
                    return self.lost("the console shut down before the run ended", started).await;
                }
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn read(
        &self,
        mut stream: crate::worker::EventStream,
        progress: &mut Progress,
        started: Instant,
    ) -> Result<Pass, SinkError> {
        // The id of the last event on this connection (see the id check below).
        let mut stream_prev_id: Option<String> = None;
        loop {
            let item = tokio::select! {
                item = tokio::time::timeout(STREAM_IDLE, stream.next()) => match item {
                    Ok(item) => item,
                    Err(_) => {
                        return Ok(Pass::Dropped(format!(
                            "the worker sent nothing for {STREAM_IDLE:?}"
                        )))
                    }
                },
                () = self.stopping.cancelled() => {
                    return Ok(Pass::Fatal("the console shut down before the run ended".to_owned()));
                }
            };
            let Some(item) = item else { break };
            let event = match item {
                Ok(event) => event,
                Err(StreamError::TooLarge { limit }) => {
                    self.reject(
                        progress.last_id.as_deref(),
                        "frame_too_large",
                        &format!("an event exceeded {limit} bytes"),
                        "",
                    )
                    .await?;
                    return Ok(Pass::Fatal(format!(
                        "the worker sent an event over {limit} bytes"
                    )));
                }
                Err(e) => return Ok(Pass::Dropped(e.to_string())),
            };
            // KAHN frames carry their own `id:`. An SSE parser hands an event without one the
            // previous event's id, so an id that did not move means the frame had none: it
            // cannot be placed in the run, and is rejected rather than taken for a replay.
            if event.id.is_empty() || stream_prev_id.as_deref() == Some(event.id.as_str()) {
                self.reject(None, "missing_id", "the frame has no id: line", &event.data)
                    .await?;
                continue;
            }
            stream_prev_id = Some(event.id.clone());
            if !progress.seen_ids.insert(event.id.clone()) {
                tracing::debug!(run_id = %self.run_id, frame_id = %event.id, "duplicate frame skipped");
                continue;
            }
            progress.last_id = Some(event.id.clone());
            let frame = match Frame::parse(&event.data) {
                Ok(frame) if frame.run_id() != self.run_id => {
                    let msg = format!("frame names run {}", frame.run_id());
                    self.reject(Some(&event.id), "run_id_mismatch", &msg, &event.data)
                        .await?;
                    continue;
                }
                Ok(frame) => frame,
                Err(e) => {
                    self.reject(Some(&event.id), e.code(), &e.to_string(), &event.data)
                        .await?;
                    continue;
                }
            };
            if let Frame::NodeTransition(t) = &frame {
                let expected = self.slot.snapshot().map_or(0, |r| r.prompts_expected);
                if usize::try_from(t.index).map_or(true, |i| i >= expected)
                    || t.node != hearth_protocol::kahn::node_name(t.index)
                {
                    let msg = format!(
                        "node {} (index {}) is not one of the run's {expected} nodes",
                        t.node, t.index
                    );
                    self.reject(Some(&event.id), "node_out_of_range", &msg, &event.data)
                        .await?;
                    continue;
                }
            }
            match frame {
                Frame::NodeTransition(t) if t.is_terminal() => {
                    let fresh = self
                        .slot
                        .update(|r| !r.nodes.contains_key(&t.index))
                        .unwrap_or(false);
                    if !fresh {
                        continue;
                    }
                    let ty = match t.to {
                        NodeState::Succeeded => types::NODE_SUCCEEDED,
                        NodeState::Failed | NodeState::Running => types::NODE_FAILED,
                    };
                    let data = json!({
                        "run_id": self.run_id, "node": t.node, "index": t.index,
                        "attempts": t.attempt, "duration_ms": t.duration_ms, "error": t.error,
                    });
                    self.sink.append(ty, &self.run_id, data).await?;
                    self.slot.update(|r| {
                        r.nodes.insert(
                            t.index,
                            NodeRecord {
                                node: t.node.clone(),
                                index: t.index,
                                state: t.to.as_str().to_owned(),
                                attempts: t.attempt,
                                duration_ms: t.duration_ms,
                                error: t.error.clone(),
                            },
                        )
                    });
                }
                Frame::RunEnded(end) => {
                    let worker_outcome = match end.outcome {
                        hearth_protocol::kahn::RunOutcome::Succeeded => "succeeded",
                        hearth_protocol::kahn::RunOutcome::Failed => "failed",
                    };
                    let mut data = self.counts(started);
                    // The worker's word is not taken for what the console could not see: a
                    // run whose nodes did not all arrive intact is incomplete.
                    let whole = data["nodes_recorded"] == data["prompts_expected"]
                        && data["frames_rejected"] == 0;
                    let outcome = if whole { worker_outcome } else { "incomplete" };
                    data["outcome"] = outcome.into();
                    data["worker_outcome"] = worker_outcome.into();
                    data["worker_nodes_succeeded"] = end.nodes_succeeded.into();
                    data["worker_nodes_failed"] = end.nodes_failed.into();
                    self.sink
                        .append(types::RUN_ENDED, &self.run_id, data)
                        .await?;
                    self.slot.finish(outcome, None);
                    tracing::info!(run_id = %self.run_id, outcome, "run ended");
                    return Ok(Pass::Ended);
                }
                Frame::RunStarted(_) | Frame::NodeAttempt(_) | Frame::NodeTransition(_) => {}
            }
        }
        Ok(Pass::Dropped("stream ended before run_ended".to_owned()))
    }

    /// Records a frame that is not counted.
    async fn reject(
        &self,
        frame_id: Option<&str>,
        reason: &str,
        message: &str,
        raw: &str,
    ) -> Result<(), SinkError> {
        tracing::warn!(run_id = %self.run_id, frame_id = ?frame_id, reason, "KAHN frame rejected");
        self.slot.update(|r| r.frames_rejected += 1);
        let data = json!({
            "run_id": self.run_id, "frame_id": frame_id, "reason": reason,
            "message": message, "raw": truncate(raw, RAW_FRAME_LOG_BYTES),
        });
        self.sink
            .append(types::FRAME_REJECTED, &self.run_id, data)
            .await
            .map(|_| ())
    }

    /// Records the run as lost.
    async fn lost(&self, reason: &str, started: Instant) -> Result<(), SinkError> {
        tracing::error!(run_id = %self.run_id, reason, "run lost");
        let mut data = self.counts(started);
        data["outcome"] = "lost".into();
        data["reason"] = reason.into();
        self.sink
            .append(types::RUN_ENDED, &self.run_id, data)
            .await?;
        self.slot.finish("lost", Some(reason.to_owned()));
        Ok(())
    }

    /// The counts every `ralph.run.ended` carries.
    fn counts(&self, started: Instant) -> serde_json::Value {
        let snap = self.slot.snapshot();
        let (expected, recorded, succeeded, failed, rejected) = snap.map_or((0, 0, 0, 0, 0), |r| {
            let ok = r.nodes.values().filter(|n| n.state == "succeeded").count();
            (
                r.prompts_expected,
                r.nodes.len(),
                ok,
                r.nodes.len() - ok,
                r.frames_rejected,
            )
        });
        json!({
            "run_id": self.run_id,
            "prompts_expected": expected,
            "nodes_recorded": recorded,
            "nodes_succeeded": succeeded,
            "nodes_failed": failed,
            "frames_rejected": rejected,
            "duration_ms": started.elapsed().as_millis() as u64,
        })
    }
}

/// At most `max` bytes of `s`, cut on a char boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("abc", 10), "abc");
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
    }
}
