//! The RPC routes, each a thin handler that parses the body, calls the dispatcher and shapes
//! the answer. Errors become the Go hearth's error body in one place ([`ApiError`]).

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::stream::{self, Stream, StreamExt};
use hearth_protocol::hearth::{
    ErrorResponse, EventsResponse, ListResponse, OkResponse, ProvisionRequest, RefRequest,
    StatusResponse, UpgradeRequest,
};
use hearth_protocol::verb::{Shape, Verb};
use serde::de::DeserializeOwned;
use tokio_stream::wrappers::BroadcastStream;

use crate::dispatcher::Dispatcher;
use crate::error::HearthError;

type Shared = State<Arc<Dispatcher>>;

/// The RPC's routes over `dispatcher`: one `POST` route per [`Verb`], and the reads.
pub(crate) fn router(dispatcher: Arc<Dispatcher>) -> Router {
    let mut router = Router::new()
        .route("/v1/healthz", get(healthz))
        .route("/v1/status", post(status))
        .route("/v1/get", post(get_ref))
        .route("/v1/events", post(events))
        .route("/v1/list", get(list))
        .route("/v1/pool", get(pool));
    for verb in Verb::ALL {
        router = router.route(
            verb.path(),
            post(move |state: Shared, body: Bytes| act(verb, state, body)),
        );
    }
    router.fallback(unknown_route).with_state(dispatcher)
}

/// An error on its way to the wire.
#[derive(Debug)]
pub(super) struct ApiError(HearthError);

impl From<HearthError> for ApiError {
    fn from(e: HearthError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        // Client errors are the caller's business; server-side ones were logged where they
        // were decided (the dispatcher), so nothing is logged twice here.
        (
            status,
            Json(ErrorResponse {
                error: self.0.to_body(),
            }),
        )
            .into_response()
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError(HearthError::InvalidRequest {
            message: format!("the body is not the expected JSON: {e}"),
        })
    })
}

/// `{"ok":true}`, as the Go hearth answers, plus hearth's `version` (for `hearth doctor`);
/// with a warm pool, also each pool's report, so a refill that stopped after repeated
/// failures shows where a health check looks.
async fn healthz(State(d): Shared) -> Response {
    let version = hearth_cli_kit::VERSION;
    match d.pool().filter(|p| p.enabled()) {
        None => Json(serde_json::json!({"ok": true, "version": version})).into_response(),
        Some(p) => Json(serde_json::json!({"ok": true, "version": version, "pool": p.report()}))
            .into_response(),
    }
}

async fn pool(State(d): Shared) -> Json<hearth_protocol::hearth::PoolResponse> {
    Json(hearth_protocol::hearth::PoolResponse {
        pools: d.pool().map(|p| p.report()).unwrap_or_default(),
    })
}

async fn status(State(d): Shared, body: Bytes) -> ApiResult<StatusResponse> {
    let req: RefRequest = parse(&body)?;
    Ok(Json(d.status_report(&req.reference.workspace_slug).await?))
}

async fn get_ref(
    State(d): Shared,
    body: Bytes,
) -> ApiResult<hearth_protocol::hearth::DeploymentRef> {
    let req: RefRequest = parse(&body)?;
    Ok(Json(d.get(&req.reference.workspace_slug).await?))
}

/// A verb's route: its request and answer as its [`Shape`] says.
async fn act(verb: Verb, State(d): Shared, body: Bytes) -> Result<Response, ApiError> {
    Ok(match verb.shape() {
        Shape::Provision => {
            let req: ProvisionRequest = parse(&body)?;
            Json(d.provision(&req.slug, req.profile).await?).into_response()
        }
        Shape::Upgrade => {
            let req: UpgradeRequest = parse(&body)?;
            Json(
                d.upgrade(&req.reference.workspace_slug, req.profile)
                    .await?,
            )
            .into_response()
        }
        Shape::Remove => {
            let req: RefRequest = parse(&body)?;
            d.teardown(&req.reference.workspace_slug).await?;
            Json(OkResponse { ok: true }).into_response()
        }
        Shape::Act => {
            let req: RefRequest = parse(&body)?;
            Json(d.act(verb, &req.reference.workspace_slug).await?).into_response()
        }
    })
}

async fn list(State(d): Shared) -> Json<ListResponse> {
    Json(ListResponse {
        workspaces: d.list(),
    })
}

/// The steps of a workspace: JSON, or with `Accept: text/event-stream` the backlog followed
/// by live steps as SSE.
async fn events(State(d): Shared, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let req: RefRequest = parse(&body)?;
    let slug = req.reference.workspace_slug;
    let wants_stream = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    if !wants_stream {
        let events = d.events(&slug)?;
        return Ok(Json(EventsResponse { events }).into_response());
    }
    let (backlog, live) = d.follow(&slug)?;
    let last_seen = backlog.last().map(|e| e.seq);
    let live = BroadcastStream::new(live).filter_map(move |item| async move {
        // A lagging follower skips what it missed rather than blocking the journal.
        item.ok()
            .filter(|e| last_seen.is_none_or(|seen| e.seq > seen))
    });
    let frames: std::pin::Pin<Box<dyn Stream<Item = Result<Event, Infallible>> + Send>> =
        Box::pin(stream::iter(backlog).chain(live).map(|e| {
            Ok(Event::default()
                .id(e.seq.to_string())
                .event(e.step.clone())
                .json_data(&e)
                .unwrap_or_else(|_| Event::default().comment("unencodable step")))
        }));
    Ok(Sse::new(frames)
        .keep_alive(KeepAlive::default())
        .into_response())
}

async fn unknown_route() -> Response {
    let posts: Vec<&str> = Verb::ALL
        .iter()
        .map(|v| v.as_str())
        .chain(["status", "get", "events"])
        .collect();
    let error = hearth_protocol::hearth::ErrorBody {
        code: hearth_protocol::hearth::ErrorCode::NotFound,
        message: "no such route".into(),
        retryable: false,
        hint: Some(format!(
            "hearth serves GET /v1/healthz, GET /v1/list, GET /v1/pool and POST /v1/{{{}}}",
            posts.join(",")
        )),
    };
    (StatusCode::NOT_FOUND, Json(ErrorResponse { error })).into_response()
}
