//! What the page watches live, as server-sent events: the workspace list (hearth's, sent
//! whenever it changes) and one workspace's boot and lifecycle steps (hearth's own step
//! stream, relayed). Read-only: nothing here calls a lifecycle verb.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{stream, Stream, StreamExt};
use serde_json::json;
use tokio::sync::broadcast;

use crate::error::ApiError;
use crate::extract::check_slug;
use crate::AppState;

/// How often the list is asked for when nothing in HATCH says it changed: a status hearth
/// reaches by itself (provisioning → ready) shows within this.
pub(super) const LIST_EVERY: Duration = Duration::from_secs(1);
/// Comment lines that keep idle streams open through proxies.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The list stream's state between two events.
struct Watch {
    state: AppState,
    /// The last list sent (as JSON), so an unchanged list is not sent again.
    last: Option<String>,
    /// New HATCH events: an act the console recorded (provisioned, paused, …) changes the
    /// list now, not at the next tick.
    hatch: broadcast::Receiver<hearth_protocol::hatch::HatchEvent>,
    first: bool,
}

/// `GET /api/ui/workspaces/live`: SSE `workspaces` events carrying hearth's list (every
/// workspace with its status, services and digests) each time it changes; `hearth_error`
/// events, with the error's code, message and hint, while hearth does not answer.
pub(super) async fn workspaces(State(state): State<AppState>) -> Response {
    let watch = Watch {
        hatch: state.sink.subscribe(),
        state: state.clone(),
        last: None,
        first: true,
    };
    let events = stream::unfold(watch, |mut w| async move {
        loop {
            if !w.first {
                tokio::select! {
                    () = tokio::time::sleep(LIST_EVERY) => {}
                    r = w.hatch.recv() => {
                        if let Err(broadcast::error::RecvError::Closed) = r {
                            return None;
                        }
                    }
                }
            }
            w.first = false;
            let event = match w.state.hearth.list().await {
                Ok(list) => {
                    let body = serde_json::to_string(&list).unwrap_or_default();
                    if w.last.as_deref() == Some(body.as_str()) {
                        continue;
                    }
                    w.last = Some(body.clone());
                    Event::default().event("workspaces").data(body)
                }
                Err(e) => {
                    // Sent again once hearth answers, whatever the list is then.
                    w.last = None;
                    let err = ApiError::from(e);
                    Event::default().event("hearth_error").data(
                        json!({"code": err.code(), "message": err.to_string(), "hint": err.hint()})
                            .to_string(),
                    )
                }
            };
            return Some((Ok::<_, Infallible>(event), w));
        }
    });
    sse(events, &state)
}

/// `GET /api/ui/workspaces/{slug}/steps`: SSE `step` events, hearth's steps for the
/// workspace so far and then each new one (`provision_started`, `network_created`,
/// `container_started`, `role_ready`, … each with its role and `elapsed_ms`).
pub(super) async fn steps(
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Response, ApiError> {
    check_slug(&slug)?;
    let steps = state.hearth.follow_steps(&slug).await?;
    let events = steps
        // A broken hearth stream ends this one; the page's EventSource reconnects and gets
        // the backlog again (it keeps steps by seq, so nothing doubles).
        .take_while(|item| std::future::ready(item.is_ok()))
        .filter_map(|item| async move {
            let step = item.ok()?;
            Some(Ok::<_, Infallible>(
                Event::default()
                    .event("step")
                    .id(step.seq.to_string())
                    .data(serde_json::to_string(&step).unwrap_or_default()),
            ))
        });
    Ok(sse(events, &state))
}

/// An SSE answer that ends when the console shuts down.
fn sse(
    events: impl Stream<Item = Result<Event, Infallible>> + Send + 'static,
    state: &AppState,
) -> Response {
    Sse::new(events.take_until(state.stopping.clone().cancelled_owned()))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}
