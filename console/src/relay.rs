//! Follows one run's KAHN stream from the worker and writes what it sees to HATCH: one
//! `ralph.node.*` per node at its terminal transition, `ralph.frame_rejected` for frames that
//! break the schema, `ralph.run.ended` at the end. Reconnects with `Last-Event-ID` when the
//! stream drops (bounded, with backoff) and de-duplicates by frame id and node index anyway;
//! a run it cannot follow to its end is recorded as `lost`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventsource_stream::Event as SseEvent;
use futures::StreamExt;
use hearth_protocol::hatch::payload::{FrameRejected, NodeEnded, Payload, RunEnded};
use hearth_protocol::hatch::types;
use hearth_protocol::ident;
use hearth_protocol::kahn::{
    Frame, NodeState, NodeTransition, RunEnded as RunEndedFrame, RunOutcome,
};

use crate::runs::{NodeRecord, RunSlot};
use crate::sink::{HatchSink, SinkError};
use crate::worker::{StreamError, WorkerClient};

/// Reconnects tried in a row without progress before the run is declared lost.
pub const MAX_RECONNECTS: u32 = 5;
/// First reconnect delay; doubles per failed try up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest delay between reconnects.
pub const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How much of a rejected frame (and of the reason it was rejected) goes into the log.
pub const RAW_FRAME_LOG_BYTES: usize = 512;
/// Rejected frames logged one by one per run (HATCH and the console's log); the rest are
/// counted, and the count goes into one `rejections_suppressed` summary before the run's end,
/// so a worker sending junk cannot grow the audit log without bound.
pub const MAX_REJECTED_EVENTS: u32 = 16;
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

    /// Reads one connection until the run ends or the stream stops.
    async fn read(
        &self,
        mut stream: crate::worker::EventStream,
        progress: &mut Progress,
        started: Instant,
    ) -> Result<Pass, SinkError> {
        // The id of the last event on this connection (see [`Relay::frame_of`]).
        let mut stream_prev_id: Option<String> = None;
        loop {
            let event = match self.next_event(&mut stream, progress).await? {
                Ok(event) => event,
                Err(pass) => return Ok(pass),
            };
            let Some(frame) = self.frame_of(&event, &mut stream_prev_id, progress).await? else {
                continue;
            };
            if let Some(pass) = self.record_frame(frame, started).await? {
                return Ok(pass);
            }
        }
    }

    /// The next event on the connection, or how reading it ended: idle past
    /// [`STREAM_IDLE`], the console stopping, an oversized event (recorded as rejected), a
    /// broken or finished stream.
    async fn next_event(
        &self,
        stream: &mut crate::worker::EventStream,
        progress: &Progress,
    ) -> Result<Result<SseEvent, Pass>, SinkError> {
        let item = tokio::select! {
            item = tokio::time::timeout(STREAM_IDLE, stream.next()) => match item {
                Ok(item) => item,
                Err(_) => {
                    return Ok(Err(Pass::Dropped(format!(
                        "the worker sent nothing for {STREAM_IDLE:?}"
                    ))))
                }
            },
            () = self.stopping.cancelled() => {
                return Ok(Err(Pass::Fatal("the console shut down before the run ended".to_owned())));
            }
        };
        match item {
            None => Ok(Err(Pass::Dropped(
                "stream ended before run_ended".to_owned(),
            ))),
            Some(Ok(event)) => Ok(Ok(event)),
            Some(Err(StreamError::TooLarge { limit })) => {
                self.reject(
                    progress.last_id.as_deref(),
                    "frame_too_large",
                    &format!("an event exceeded {limit} bytes"),
                    "",
                )
                .await?;
                Ok(Err(Pass::Fatal(format!(
                    "the worker sent an event over {limit} bytes"
                ))))
            }
            Some(Err(e)) => Ok(Err(Pass::Dropped(e.to_string()))),
        }
    }

    /// The KAHN frame `event` carries, if it is new, whole and about this run; a frame that is
    /// not is recorded as rejected (a replayed one is skipped quietly).
    async fn frame_of(
        &self,
        event: &SseEvent,
        stream_prev_id: &mut Option<String>,
        progress: &mut Progress,
    ) -> Result<Option<Frame>, SinkError> {
        // KAHN frames carry their own `id:`. An SSE parser hands an event without one the
        // previous event's id, so an id that did not move means the frame had none: it
        // cannot be placed in the run, and is rejected rather than taken for a replay.
        if event.id.is_empty() || stream_prev_id.as_deref() == Some(event.id.as_str()) {
            self.reject(None, "missing_id", "the frame has no id: line", &event.data)
                .await?;
            return Ok(None);
        }
        *stream_prev_id = Some(event.id.clone());
        // The id goes back to the worker as Last-Event-ID and into HATCH and the log: one
        // that breaks the identifier rule is refused here, before it reaches any of them.
        if let Err(e) = ident::check("frame id", &event.id) {
            self.reject(None, "invalid_frame_id", &e.to_string(), &event.data)
                .await?;
            return Ok(None);
        }
        if !progress.seen_ids.insert(event.id.clone()) {
            tracing::debug!(run_id = %self.run_id, frame_id = %event.id, "duplicate frame skipped");
            return Ok(None);
        }
        progress.last_id = Some(event.id.clone());
        let frame = match Frame::parse(&event.data) {
            Ok(frame) if frame.run_id() != self.run_id => {
                let msg = format!("frame names run {}", ident::preview(frame.run_id()));
                self.reject(Some(&event.id), "run_id_mismatch", &msg, &event.data)
                    .await?;
                return Ok(None);
            }
            Ok(frame) => frame,
            Err(e) => {
                self.reject(Some(&event.id), e.code(), &e.to_string(), &event.data)
                    .await?;
                return Ok(None);
            }
        };
        if let Frame::NodeTransition(t) = &frame {
            if let Some(msg) = self.out_of_range(t) {
                self.reject(Some(&event.id), "node_out_of_range", &msg, &event.data)
                    .await?;
                return Ok(None);
            }
        }
        Ok(Some(frame))
    }

    /// Why node transition `t` is not one of the run's nodes, if it is not.
    fn out_of_range(&self, t: &NodeTransition) -> Option<String> {
        let expected = self.slot.snapshot().map_or(0, |r| r.prompts_expected);
        (usize::try_from(t.index).map_or(true, |i| i >= expected)
            || t.node != hearth_protocol::kahn::node_name(t.index))
        .then(|| {
            format!(
                "node {} (index {}) is not one of the run's {expected} nodes",
                ident::preview(&t.node),
                t.index
            )
        })
    }

    /// Writes what an accepted frame means to HATCH; [`Pass::Ended`] once the run ended.
    async fn record_frame(
        &self,
        frame: Frame,
        started: Instant,
    ) -> Result<Option<Pass>, SinkError> {
        match frame {
            Frame::NodeTransition(t) if t.is_terminal() => {
                self.record_node(&t).await?;
                Ok(None)
            }
            Frame::RunEnded(end) => {
                self.record_end(&end, started).await?;
                Ok(Some(Pass::Ended))
            }
            Frame::RunStarted(_) | Frame::NodeAttempt(_) | Frame::NodeTransition(_) => Ok(None),
        }
    }

    /// Records a node's terminal transition, once per node.
    async fn record_node(&self, t: &NodeTransition) -> Result<(), SinkError> {
        let fresh = self
            .slot
            .update(|r| !r.nodes.contains_key(&t.index))
            .unwrap_or(false);
        if !fresh {
            return Ok(());
        }
        let ty = match t.to {
            NodeState::Succeeded => types::NODE_SUCCEEDED,
            NodeState::Failed | NodeState::Running => types::NODE_FAILED,
        };
        let data = NodeEnded {
            run_id: self.run_id.clone(),
            node: t.node.clone(),
            index: t.index,
            attempts: t.attempt,
            duration_ms: t.duration_ms,
            error: t.error.clone(),
        };
        self.sink.append(ty, &self.run_id, data.to_data()).await?;
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
        Ok(())
    }

    /// Records the run's end, the worker's outcome checked against what the console counted.
    async fn record_end(&self, end: &RunEndedFrame, started: Instant) -> Result<(), SinkError> {
        let worker_outcome = match end.outcome {
            RunOutcome::Succeeded => "succeeded",
            RunOutcome::Failed => "failed",
        };
        self.summarise_rejections().await?;
        let mut data = self.counts(started);
        // The worker's word is not taken for what the console could not see: a run whose
        // nodes did not all arrive intact is incomplete.
        let whole = data.nodes_recorded == data.prompts_expected && data.frames_rejected == 0;
        let outcome = if whole { worker_outcome } else { "incomplete" };
        data.outcome = outcome.to_owned();
        data.worker_outcome = Some(worker_outcome.to_owned());
        data.worker_nodes_succeeded = Some(end.nodes_succeeded);
        data.worker_nodes_failed = Some(end.nodes_failed);
        self.sink
            .append(types::RUN_ENDED, &self.run_id, data.to_data())
            .await?;
        self.slot.finish(outcome, None);
        tracing::info!(run_id = %self.run_id, outcome, "run ended");
        Ok(())
    }

    /// Records a frame that is not counted: one `ralph.frame_rejected` each for the first
    /// [`MAX_REJECTED_EVENTS`], then only the count (see [`Relay::summarise_rejections`]).
    async fn reject(
        &self,
        frame_id: Option<&str>,
        reason: &str,
        message: &str,
        raw: &str,
    ) -> Result<(), SinkError> {
        let count = self
            .slot
            .update(|r| {
                r.frames_rejected = r.frames_rejected.saturating_add(1);
                r.frames_rejected
            })
            .unwrap_or(u32::MAX);
        if count > MAX_REJECTED_EVENTS {
            tracing::debug!(run_id = %self.run_id, reason, count, "KAHN frame rejected (past the cap: counted only)");
            return Ok(());
        }
        tracing::warn!(run_id = %self.run_id, frame_id = ?frame_id, reason, "KAHN frame rejected");
        let data = FrameRejected {
            run_id: self.run_id.clone(),
            frame_id: frame_id.map(str::to_owned),
            reason: reason.to_owned(),
            message: truncate(message, RAW_FRAME_LOG_BYTES).to_owned(),
            raw: truncate(raw, RAW_FRAME_LOG_BYTES).to_owned(),
            suppressed: None,
        };
        self.sink
            .append(types::FRAME_REJECTED, &self.run_id, data.to_data())
            .await
            .map(|_| ())
    }

    /// Writes the one summary of the rejected frames past the cap, if there were any; called
    /// right before the run's `ralph.run.ended`, whichever way it ends.
    async fn summarise_rejections(&self) -> Result<(), SinkError> {
        let total = self.slot.snapshot().map_or(0, |r| r.frames_rejected);
        let Some(suppressed) = total.checked_sub(MAX_REJECTED_EVENTS).filter(|n| *n > 0) else {
            return Ok(());
        };
        tracing::warn!(run_id = %self.run_id, total, suppressed, "KAHN frames rejected past the per-run cap");
        let data = FrameRejected {
            run_id: self.run_id.clone(),
            frame_id: None,
            reason: "rejections_suppressed".to_owned(),
            message: format!(
                "{suppressed} more rejected frames after the first {MAX_REJECTED_EVENTS} were \
                 counted but not logged one by one ({total} in all)"
            ),
            raw: String::new(),
            suppressed: Some(u64::from(suppressed)),
        };
        self.sink
            .append(types::FRAME_REJECTED, &self.run_id, data.to_data())
            .await
            .map(|_| ())
    }

    /// Records the run as lost.
    async fn lost(&self, reason: &str, started: Instant) -> Result<(), SinkError> {
        tracing::error!(run_id = %self.run_id, reason, "run lost");
        self.summarise_rejections().await?;
        let mut data = self.counts(started);
        data.outcome = "lost".to_owned();
        data.reason = Some(reason.to_owned());
        self.sink
            .append(types::RUN_ENDED, &self.run_id, data.to_data())
            .await?;
        self.slot.finish("lost", Some(reason.to_owned()));
        Ok(())
    }

    /// The counts every `ralph.run.ended` carries (its outcome still to be set).
    fn counts(&self, started: Instant) -> RunEnded {
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
        RunEnded {
            run_id: self.run_id.clone(),
            prompts_expected: expected as u64,
            nodes_recorded: recorded as u64,
            nodes_succeeded: succeeded as u64,
            nodes_failed: failed as u64,
            frames_rejected: rejected as u64,
            duration_ms: started.elapsed().as_millis() as u64,
            ..RunEnded::default()
        }
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
