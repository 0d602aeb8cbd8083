//! Runs relayed from the real worker-stub binary into HATCH, with hearth stood in by an
//! in-process stand-in (`StaticHearth`) behind the console's `Hearth` trait (the play against the real hearth
//! daemon lives in `play.rs`). Each test reads the JSONL file to check what was recorded.

mod common;

use std::sync::Arc;

use anyhow::Result;
use common::{start_worker, Env, KEYS, OTHER_KEYS};
use console::auth::LocalAuth;
use console::gate::GatePolicy;
use console::sink::HatchSink;
use console::static_hearth::StaticHearth;
use console::worker::WorkerClient;
use console::AppState;
use hearth_protocol::bearer::Keyring;
use hearth_protocol::hatch::types;
use serde_json::json;
use tokio::sync::oneshot;

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

/// A workspace front door: answers 200 to anything.
async fn workspace_endpoint() -> Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let app = axum::Router::new().fallback(|| async { "ok" });
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

/// An in-process console; stops when the returned sender drops.
struct Console {
    base: String,
    http: reqwest::Client,
    _stop: oneshot::Sender<()>,
}

impl Console {
    async fn start(env: &Env, worker_url: &str, keys: &str) -> Result<Console> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let state = AppState::new(
            HatchSink::open(env.hatch())?,
            Arc::new(StaticHearth::new(workspace_endpoint().await?)),
            WorkerClient::new(worker_url, Keyring::parse(keys)?).map_err(anyhow::Error::msg)?,
            LocalAuth::with_token(TOKEN.to_owned()),
            GatePolicy::for_port(port, &[], console::DEFAULT_BODY_LIMIT),
        );
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(console::serve(listener, state, async {
            let _ = stopped.await;
        }));
        Ok(Console {
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            _stop: stop,
        })
    }

    async fn submit(&self, prompts: usize) -> Result<(u16, serde_json::Value)> {
        let prompts: Vec<String> = (0..prompts).map(|i| format!("prompt {i}")).collect();
        let resp = self
            .http
            .post(format!("{}/api/ralph/runs", self.base))
            .bearer_auth(TOKEN)
            .json(&json!({"workspace": "acme", "prompts": prompts}))
            .send()
            .await?;
        Ok((resp.status().as_u16(), resp.json().await?))
    }

    async fn wait(&self, run_id: &str) -> Result<serde_json::Value> {
        let resp = self
            .http
            .get(format!("{}/api/ralph/runs/{run_id}?wait=30", self.base))
            .bearer_auth(TOKEN)
            .send()
            .await?;
        assert_eq!(resp.status().as_u16(), 200);
        Ok(resp.json().await?)
    }
}

fn node_indexes(env: &Env) -> Result<Vec<u64>> {
    Ok(env
        .events()?
        .iter()
        .filter(|e| e.event_type.starts_with("ralph.node."))
        .map(|e| e.data["index"].as_u64().unwrap_or(u64::MAX))
        .collect())
}

#[tokio::test]
async fn a_four_prompt_run_records_one_event_per_node() -> Result<()> {
    let env = Env::new()?;
    let keys = env.keys("keys", KEYS)?;
    let worker = start_worker(&keys, &[])?;
    let console = Console::start(&env, &worker.url, KEYS).await?;
    let (status, body) = console.submit(4).await?;
    assert_eq!(status, 200, "{body}");
    let run_id = body["run_id"].as_str().unwrap_or_default().to_owned();
    let run = console.wait(&run_id).await?;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["nodes"].as_object().map(|m| m.len()), Some(4));
    assert_eq!(
        env.types()?,
        vec![
            types::RUN_STARTED,
            types::NODE_SUCCEEDED,
            types::NODE_SUCCEEDED,
            types::NODE_SUCCEEDED,
            types::NODE_SUCCEEDED,
            types::RUN_ENDED
        ]
    );
    let events = env.events()?;
    assert!(events.iter().all(|e| e.subject == run_id));
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=6).collect::<Vec<_>>());
    let ended = &events[5].data;
    assert_eq!(ended["outcome"], "succeeded");
    assert_eq!(ended["prompts_expected"], 4);
    assert_eq!(ended["nodes_recorded"], 4);
    assert_eq!(node_indexes(&env)?, vec![0, 1, 2, 3]);
    Ok(())
}

#[tokio::test]
async fn a_dropped_stream_is_resumed_without_loss_or_doubles() -> Result<()> {
    let env = Env::new()?;
    let keys = env.keys("keys", KEYS)?;
    let worker = start_worker(&keys, &["drop-stream-after=3"])?;
    let console = Console::start(&env, &worker.url, KEYS).await?;
    let (status, body) = console.submit(4).await?;
    assert_eq!(status, 200, "{body}");
    let run = console
        .wait(body["run_id"].as_str().unwrap_or_default())
        .await?;
    assert_eq!(run["status"], "succeeded", "{run}");
    let mut idx = node_indexes(&env)?;
    idx.sort_unstable();
    assert_eq!(idx, vec![0, 1, 2, 3], "each node exactly once");
    let ended: Vec<_> = env
        .events()?
        .into_iter()
        .filter(|e| e.event_type == types::RUN_ENDED)
        .collect();
    assert_eq!(ended.len(), 1);
    Ok(())
}

#[tokio::test]
async fn bad_frames_are_rejected_and_never_counted() -> Result<()> {
    let env = Env::new()?;
    let keys = env.keys("keys", KEYS)?;
    let worker = start_worker(&keys, &["bad-frame"])?;
    let console = Console::start(&env, &worker.url, KEYS).await?;
    let (status, body) = console.submit(4).await?;
    assert_eq!(status, 200, "{body}");
    let run = console
        .wait(body["run_id"].as_str().unwrap_or_default())
        .await?;
    assert!(run["frames_rejected"].as_u64().unwrap_or(0) > 0, "{run}");
    let types_seen = env.types()?;
    assert!(types_seen.iter().any(|t| t == types::FRAME_REJECTED));
    let nodes = node_indexes(&env)?.len();
    assert!(
        nodes < 4,
        "node count {nodes} must stay under the prompt count"
    );
    let events = env.events()?;
    let ended = events
        .iter()
        .find(|e| e.event_type == types::RUN_ENDED)
        .expect("run ended");
    assert_eq!(ended.data["prompts_expected"], 4);
    assert_eq!(ended.data["nodes_recorded"], nodes);
    let rejected = events
        .iter()
        .find(|e| e.event_type == types::FRAME_REJECTED)
        .expect("rejected");
    assert!(rejected.data["reason"]
        .as_str()
        .is_some_and(|r| !r.is_empty()));
    assert!(rejected.data["raw"]
        .as_str()
        .is_some_and(|r| r.len() <= 512));
    Ok(())
}

#[tokio::test]
async fn a_failing_node_is_recorded_as_failed() -> Result<()> {
    let env = Env::new()?;
    let keys = env.keys("keys", KEYS)?;
    let worker = start_worker(&keys, &["fail-node=1"])?;
    let console = Console::start(&env, &worker.url, KEYS).await?;
    let (_, body) = console.submit(3).await?;
    let run = console
        .wait(body["run_id"].as_str().unwrap_or_default())
        .await?;
    assert_eq!(run["status"], "failed", "{run}");
    let failed: Vec<_> = env
        .events()?
        .into_iter()
        .filter(|e| e.event_type == types::NODE_FAILED)
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].data["index"], 1);
    Ok(())
}

#[tokio::test]
async fn key_drift_is_submit_rejected_and_no_run_starts() -> Result<()> {
    let env = Env::new()?;
    let worker_keys = env.keys("worker-keys", OTHER_KEYS)?;
    let worker = start_worker(&worker_keys, &[])?;
    let console = Console::start(&env, &worker.url, KEYS).await?;
    let (status, body) = console.submit(4).await?;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "submit_rejected");
    assert!(body["error"]["hint"]
        .as_str()
        .unwrap_or_default()
        .contains("keys"));
    let events = env.events()?;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, types::SUBMIT_REJECTED);
    assert_eq!(events[0].data["status"], 401);
    Ok(())
}

#[tokio::test]
async fn the_event_log_is_served_as_json_and_as_a_live_tail() -> Result<()> {
    use futures::StreamExt;
    let env = Env::new()?;
    let keys = env.keys("keys", KEYS)?;
    let worker = start_worker(&keys, &[])?;
    let console = Console::start(&env, &worker.url, KEYS).await?;
    let (_, body) = console.submit(1).await?;
    console
        .wait(body["run_id"].as_str().unwrap_or_default())
        .await?;

    let list: Vec<serde_json::Value> = console
        .http
        .get(format!("{}/api/hatch/events", console.base))
        .bearer_auth(TOKEN)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(list.len(), 3);

    // Live tail resuming after seq 1: the backlog from seq 2, then a new event.
    let resp = console
        .http
        .get(format!("{}/api/hatch/events", console.base))
        .bearer_auth(TOKEN)
        .header("accept", "text/event-stream")
        .header("last-event-id", "1")
        .send()
        .await?;
    assert_eq!(resp.status().as_u16(), 200);
    let mut stream = eventsource_stream::Eventsource::eventsource(resp.bytes_stream());
    let mut ids = Vec::new();
    while ids.len() < 2 {
        let ev = stream.next().await.expect("event")?;
        ids.push(ev.id);
    }
    assert_eq!(ids, vec!["2", "3"]);
    console.submit(1).await?;
    let ev = stream.next().await.expect("live event")?;
    assert_eq!(ev.id, "4");
    assert_eq!(ev.event, types::RUN_STARTED);
    Ok(())
}

/// A worker that answers one run with a fixed SSE body, checking nothing (the bearer is the
/// real worker's business; this one stands for a worker whose frames go wrong).
async fn scripted_worker(body: &'static str) -> Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let app = axum::Router::new()
        .route(
            "/runs",
            axum::routing::post(|| async { axum::Json(json!({"run_id": "r1"})) }),
        )
        .route(
            "/runs/r1/events",
            axum::routing::get(move || async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "text/event-stream")],
                    body,
                )
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

#[tokio::test]
async fn frames_without_an_id_or_outside_the_run_are_rejected_not_counted() -> Result<()> {
    let env = Env::new()?;
    let body = concat!(
        "id: 0\nevent: run_started\ndata: {\"kahn\":1,\"type\":\"run_started\",\"run_id\":\"r1\",\"workspace\":\"acme\",\"prompts\":1}\n\n",
        "event: node_transition\ndata: {\"kahn\":1,\"type\":\"node_transition\",\"run_id\":\"r1\",\"node\":\"n0\",\"index\":0,\"attempt\":1,\"from\":\"running\",\"to\":\"succeeded\",\"duration_ms\":1}\n\n",
        "id: 2\nevent: node_transition\ndata: {\"kahn\":1,\"type\":\"node_transition\",\"run_id\":\"r1\",\"node\":\"n9\",\"index\":9,\"attempt\":1,\"from\":\"running\",\"to\":\"succeeded\",\"duration_ms\":1}\n\n",
        "id: 3\nevent: node_transition\ndata: {\"kahn\":1,\"type\":\"node_transition\",\"run_id\":\"r1\",\"node\":\"n0\",\"index\":0,\"attempt\":1,\"from\":\"running\",\"to\":\"succeeded\",\"duration_ms\":1}\n\n",
        "id: 4\nevent: run_ended\ndata: {\"kahn\":1,\"type\":\"run_ended\",\"run_id\":\"r1\",\"outcome\":\"succeeded\",\"nodes_succeeded\":1,\"nodes_failed\":0}\n\n",
    );
    let worker = scripted_worker(body).await?;
    let console = Console::start(&env, &worker, KEYS).await?;
    let (status, body) = console.submit(1).await?;
    assert_eq!(status, 200, "{body}");
    let run = console.wait("r1").await?;
    assert_eq!(run["status"], "incomplete", "{run}");
    assert_eq!(
        env.types()?,
        vec![
            types::RUN_STARTED,
            types::FRAME_REJECTED,
            types::FRAME_REJECTED,
            types::NODE_SUCCEEDED,
            types::RUN_ENDED
        ]
    );
    let events = env.events()?;
    assert_eq!(events[1].data["reason"], "missing_id");
    assert_eq!(events[2].data["reason"], "node_out_of_range");
    assert_eq!(events[4].data["outcome"], "incomplete");
    assert_eq!(events[4].data["worker_outcome"], "succeeded");
    assert_eq!(node_indexes(&env)?, vec![0]);
    Ok(())
}
