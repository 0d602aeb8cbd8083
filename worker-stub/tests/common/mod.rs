//! Test harness: a worker-stub on port 0 driven through its library `run`, a tiny workspace
//! server, a dead port, and a signed client that reads SSE frames.

#![allow(dead_code)]

use std::net::SocketAddr;

use eventsource_stream::Eventsource;
use futures::StreamExt;
use hearth_protocol::bearer::Keyring;
use hearth_protocol::kahn::Frame;
use tokio::sync::oneshot;
use worker_stub::{Config, Fault};

/// Spawns the worker-stub binary (`serve --listen 127.0.0.1:0 --keys KEYS` and `extra`) and
/// reads its `listening` line: the child and its base URL. Its log (stderr) is piped when
/// `capture_log` is set, for the test to read after a kill, and inherited otherwise. Unless
/// `extra` names a `--state-dir`, each worker gets one of its own beside the keys file: a
/// state dir holds one worker at a time, so two workers on the default one would not start.
pub fn spawn_binary(
    keys: &std::path::Path,
    extra: &[&str],
    capture_log: bool,
) -> (std::process::Child, String) {
    use std::io::BufRead;
    use std::process::Stdio;
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_worker-stub"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--keys"])
        .arg(keys)
        .args(extra);
    if !extra.contains(&"--state-dir") {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = keys
            .parent()
            .expect("keys in a dir")
            .join(format!("state-{n}"));
        cmd.arg("--state-dir").arg(dir);
    }
    let mut child = cmd
        .env("RUST_LOG", "warn")
        .env_remove("WORKER_STUB_AUDIENCE")
        .stdout(Stdio::piped())
        .stderr(if capture_log {
            Stdio::piped()
        } else {
            Stdio::inherit()
        })
        .spawn()
        .expect("spawn worker-stub");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("listening line");
    let base = line
        .trim()
        .strip_prefix("listening ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (child, base)
}

/// How many runs the worker at `base` holds (its `/healthz`).
pub async fn runs_at(base: &str) -> u64 {
    let v: serde_json::Value = reqwest::get(format!("{base}/healthz"))
        .await
        .expect("healthz")
        .json()
        .await
        .expect("json");
    assert_eq!(v["ok"], true);
    v["runs"].as_u64().expect("runs")
}

/// Two live keys, as during a rotation: `test-key` (new, signs) and `old-key` (still accepted).
pub const KEYS: &str = "test-key:test-secret-0123456789\nold-key:old-secret\n";

/// A running worker-stub; stops when dropped.
pub struct Worker {
    pub base: String,
    pub keys: Keyring,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Worker {
    pub async fn start(faults: &[Fault]) -> Worker {
        let keys = Keyring::parse(KEYS).expect("keys");
        let mut config = Config::new(keys.clone()).with_faults(faults);
        config.node_timeout = std::time::Duration::from_secs(2);
        config.max_prompts = 8;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(worker_stub::run(listener, config, async move {
            let _ = rx.await;
        }));
        Worker {
            base: format!("http://{addr}"),
            keys,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Signals shutdown and waits for `run` to return.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        let _ = self.stop.take().expect("stop").send(());
        self.task.take().expect("task").await.expect("join")
    }

    pub async fn runs_count(&self) -> u64 {
        runs_at(&self.base).await
    }

    /// POST /runs signed with `keys`, returning the response.
    pub async fn submit_with(&self, keys: &Keyring, body: &serde_json::Value) -> reqwest::Response {
        let body = serde_json::to_vec(body).expect("json");
        let auth = keys.sign(&self.base, "POST", "/runs", &body);
        reqwest::Client::new()
            .post(format!("{}/runs", self.base))
            .header("authorization", auth)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("submit")
    }

    /// Submits a run and returns its id.
    pub async fn submit(&self, endpoint: &str, prompts: &[&str]) -> String {
        let resp = self
            .submit_with(&self.keys, &run_body(endpoint, prompts))
            .await;
        assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
        let v: serde_json::Value = resp.json().await.expect("json");
        v["run_id"].as_str().expect("run_id").to_owned()
    }

    /// GET /runs/{id}/events, signed, with an optional Last-Event-ID.
    pub async fn events_response(&self, run_id: &str, last_id: Option<u64>) -> reqwest::Response {
        let path = format!("/runs/{run_id}/events");
        let mut req = reqwest::Client::new()
            .get(format!("{}{path}", self.base))
            .header(
                "authorization",
                self.keys.sign(&self.base, "GET", &path, b""),
            );
        if let Some(id) = last_id {
            req = req.header("last-event-id", id.to_string());
        }
        req.send().await.expect("events")
    }

    /// Reads one connection's frames until the server ends the stream.
    pub async fn read_stream(&self, run_id: &str, last_id: Option<u64>) -> Vec<SseFrame> {
        let resp = self.events_response(run_id, last_id).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()["content-type"].to_str().expect("ct"),
            "text/event-stream"
        );
        let mut out = Vec::new();
        let mut events = resp.bytes_stream().eventsource();
        while let Some(ev) = events.next().await {
            let ev = ev.expect("sse event");
            out.push(SseFrame {
                id: ev.id.parse().expect("numeric id"),
                event: ev.event,
                data: ev.data,
            });
        }
        out
    }

    /// Reads all of a run's frames, reconnecting with Last-Event-ID until `run_ended`;
    /// returns the frames and how many connections it took.
    pub async fn read_all(&self, run_id: &str) -> (Vec<SseFrame>, usize) {
        let mut all: Vec<SseFrame> = Vec::new();
        for connections in 1..=10 {
            let last = all.last().map(|f| f.id);
            all.extend(self.read_stream(run_id, last).await);
            if all.last().is_some_and(|f| f.event == "run_ended") {
                return (all, connections);
            }
        }
        panic!("run {run_id} did not end within 10 connections: {all:?}");
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// One SSE event as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseFrame {
    pub id: u64,
    pub event: String,
    pub data: String,
}

impl SseFrame {
    pub fn frame(&self) -> Frame {
        Frame::parse(&self.data).unwrap_or_else(|e| panic!("frame {} rejected: {e}", self.id))
    }
}

pub fn run_body(endpoint: &str, prompts: &[&str]) -> serde_json::Value {
    serde_json::json!({"workspace": "demo", "endpoint": endpoint, "prompts": prompts})
}

/// A stand-in workspace front door on port 0 that counts the requests it answers.
pub struct Workspace {
    pub url: String,
    pub hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

pub async fn workspace() -> Workspace {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async { "cairnet" }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    Workspace {
        url: format!("http://{addr}/"),
        hits,
    }
}

/// A loopback URL where nothing listens (a port bound, then released).
pub fn dead_endpoint() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    format!("http://{addr}/")
}
