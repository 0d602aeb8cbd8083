//! `GET /api/hatch/events`: the audit log as a JSON list, or with `Accept: text/event-stream`
//! a live tail (the backlog, then new events), resuming after `Last-Event-ID` (a seq).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::{stream, StreamExt};
use hearth_protocol::hatch::HatchEvent;
use serde::Deserialize;
use tokio_stream::wrappers::BroadcastStream;

use crate::error::ApiError;
use crate::gate::wants_event_stream;
use crate::AppState;

/// `?after=SEQ`: only events with a larger seq.
#[derive(Debug, Deserialize)]
pub(super) struct EventsQuery {
    #[serde(default)]
    after: Option<u64>,
}

/// The `Last-Event-ID` a reconnecting reader sends: a seq, or refused (as the worker does)
/// rather than read as "from the start", which would replay the whole log.
fn last_event_id(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(raw) = headers.get("last-event-id") else {
        return Ok(None);
    };
    raw.to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "Last-Event-ID {:?} is not a HATCH seq (a whole number)",
                String::from_utf8_lossy(raw.as_bytes())
            ))
        })
}

/// One event as an SSE frame. The reader already refused lines whose fields hold line
/// breaks; the event name is checked again here because axum panics on one, and a tail must
/// never die of a log line (the JSON data carries the type either way).
fn frame(e: &HatchEvent) -> Event {
    let frame = Event::default()
        .id(e.seq.to_string())
        .data(serde_json::to_string(e).unwrap_or_default());
    if hearth_protocol::hatch::is_field_text(&e.event_type) {
        frame.event(e.event_type.as_str())
    } else {
        frame
    }
}

/// The handler.
pub(super) async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Result<Response, ApiError> {
    let last_event_id = last_event_id(&headers)?;
    // A reconnecting EventSource repeats its URL (`?after=`) and adds a newer Last-Event-ID:
    // the later of the two is where the reader is.
    let after = q.after.max(last_event_id).unwrap_or(0);
    // Subscribe before reading the file so nothing appended in between is missed; the seq
    // filter drops what shows up in both.
    let live = state.sink.subscribe();
    let sink = state.sink.clone();
    let log = tokio::task::spawn_blocking(move || sink.read())
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    let backlog: Vec<HatchEvent> = log.events.into_iter().filter(|e| e.seq > after).collect();
    if !wants_event_stream(&headers) {
        return Ok(Json(backlog).into_response());
    }
    let mut last_sent = backlog.last().map_or(after, |e| e.seq);
    let live = BroadcastStream::new(live)
        // A lagging tail ends; the client reconnects with Last-Event-ID and loses nothing.
        .take_while(|item| std::future::ready(item.is_ok()))
        .filter_map(move |item| {
            let fresh = item.ok().filter(|e| e.seq > last_sent);
            if let Some(e) = &fresh {
                last_sent = e.seq;
            }
            std::future::ready(fresh)
        });
    let all = stream::iter(backlog)
        .chain(live)
        .take_until(state.stopping.clone().cancelled_owned())
        .map(|e| Ok::<_, Infallible>(frame(&e)));
    Ok(Sse::new(all)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}
