//! A run's frames as an SSE stream: the backlog after `Last-Event-ID`, then live frames, ending
//! after `run_ended` (or early, once, under the `drop-stream-after` fault, or at shutdown).

use std::convert::Infallible;
use std::sync::Arc;

use axum::response::sse::Event;
use futures::Stream;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::runs::{RunLog, WireFrame};

/// Where one subscriber is in a run.
struct Cursor {
    log: Arc<RunLog>,
    frames: watch::Receiver<Vec<WireFrame>>,
    /// Cancelled when the server shuts down, so open streams end and the drain finishes.
    stop: CancellationToken,
    /// The id of the next frame to send.
    next: usize,
    /// Frames sent on this connection (for `drop-stream-after`).
    sent: usize,
    drop_after: Option<usize>,
    /// Set after `run_ended` went out.
    done: bool,
}

/// Streams `log` from frame `first` on.
pub fn frames(
    log: Arc<RunLog>,
    first: usize,
    drop_after: Option<usize>,
    stop: CancellationToken,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
    let cursor = Cursor {
        frames: log.subscribe(),
        log,
        stop,
        next: first,
        sent: 0,
        drop_after,
        done: false,
    };
    futures::stream::unfold(cursor, |mut c| async move {
        let frame = c.next_frame().await?;
        let event = Event::default()
            .event(frame.event)
            .id(c.next.to_string())
            .data(frame.data);
        c.next += 1;
        c.sent += 1;
        c.done = frame.last;
        Some((Ok(event), c))
    })
}

impl Cursor {
    /// The next frame to send, waiting for it if needed; `None` ends the stream.
    async fn next_frame(&mut self) -> Option<WireFrame> {
        if self.done || self.stop.is_cancelled() {
            return None;
        }
        if let Some(n) = self.drop_after {
            if self.sent >= n && self.log.claim_drop() {
                tracing::info!(
                    frames = self.sent,
                    "fault drop-stream-after: closing the stream"
                );
                return None;
            }
        }
        loop {
            {
                let frames = self.frames.borrow_and_update();
                if let Some(frame) = frames.get(self.next) {
                    return Some(frame.clone());
                }
                // Resumed past the end of a finished run: nothing more will come.
                if frames.last().is_some_and(|f| f.last) {
                    return None;
                }
            }
            tokio::select! {
                changed = self.frames.changed() => changed.ok()?,
                () = self.stop.cancelled() => return None,
            }
        }
    }
}
