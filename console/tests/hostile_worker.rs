//! A hostile worker against the real console binary (hearth on its Fake driver): run ids with
//! control characters, ESC, path tricks or 100 KB; 5,000 junk frames; hostile frame ids. None
//! of it reaches a URL, a log line or HATCH as sent, the audit log stays readable (the API,
//! `console hatch verify`, a restart), and rejected frames are capped per run. A console whose
//! log has a corrupt line refuses to start with a message naming the line and the recovery.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};
use common::{start_console, start_hearth, Answer, Api, Env, KEYS};
use hearth_protocol::hatch::types;
use serde_json::json;

/// What the hostile worker answers, and every path it was asked for.
#[derive(Clone, Default)]
struct Hostile {
    run_id: Arc<Mutex<String>>,
    events: Arc<Mutex<String>>,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Hostile {
    async fn start(&self) -> Result<String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let me = self.clone();
        let app = axum::Router::new().fallback(move |method: Method, uri: Uri| {
            let me = me.clone();
            async move { me.answer(&method, &uri) }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(url)
    }

    fn answer(&self, method: &Method, uri: &Uri) -> Response {
        let pq = uri.path_and_query().map_or("", |p| p.as_str()).to_owned();
        self.seen.lock().expect("seen").push(pq.clone());
        if method == Method::POST && pq == "/runs" {
            let id = self.run_id.lock().expect("id").clone();
            return axum::Json(json!({ "run_id": id })).into_response();
        }
        if method == Method::GET && pq.ends_with("/events") {
            let body = self.events.lock().expect("events").clone();
            return ([("content-type", "text/event-stream")], body).into_response();
        }
        (axum::http::StatusCode::NOT_FOUND, "no").into_response()
    }

    fn set_run_id(&self, id: &str) {
        *self.run_id.lock().expect("id") = id.to_owned();
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().expect("seen").clone()
    }
}

async fn provisioned(env: &Env, worker_url: &str) -> Result<(common::Proc, common::Proc, Api)> {
    let hearth = start_hearth(env)?;
    let keys = env.keys("keys", KEYS)?;
    let console = start_console(env, worker_url, &keys, &[])?;
    let api = env.api(&console)?;
    let Answer { status, body } = api.provision("acme", "solo").await?;
    assert_eq!(status, 200, "{body}");
    Ok((hearth, console, api))
}

/// The log is readable every way the console and its users read it.
async fn assert_log_readable(env: &Env, api: &Api) -> Result<()> {
    let Answer { status, body } = api.get("/api/hatch/events").await?;
    assert_eq!(status, 200, "GET /api/hatch/events: {body}");
    let Answer { status, body } = api.get("/api/ui/chain?workspace=acme").await?;
    assert_eq!(status, 200, "GET /api/ui/chain: {body}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_console"))
        .args(["hatch", "verify", "--prompts", "1"])
        .arg(env.hatch())
        .output()?;
    assert_ne!(
        out.status.code(),
        Some(2),
        "hatch verify could not judge the log: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(env.hatch())?;
    for (i, line) in text.lines().enumerate() {
        assert!(line.len() < 4096, "line {} is {} bytes", i + 1, line.len());
    }
    Ok(())
}

#[tokio::test]
async fn hostile_run_ids_are_refused_before_any_url_log_or_hatch_line() -> Result<()> {
    let env = Env::new()?;
    let worker = Hostile::default();
    let url = worker.start().await?;
    let (_hearth, console, api) = provisioned(&env, &url).await?;
    let huge = "a".repeat(100 * 1024);
    let long = "b".repeat(1000);
    let hostile = [
        "run-\u{7}-x",
        "run-\n-x",
        "run-\u{1b}[2J-x",
        "../../healthz?x=",
        "..",
        long.as_str(),
        huge.as_str(),
    ];
    for id in hostile {
        worker.set_run_id(id);
        let Answer { status, body } = api
            .post(
                "/api/ralph/runs",
                json!({"workspace": "acme", "prompts": ["p"]}),
            )
            .await?;
        assert_eq!(status, 502, "{body}");
        assert_eq!(body["error"]["code"], "bad_answer", "{body}");
        assert_log_readable(&env, &api).await?;
    }
    // The worker was only ever asked to submit: no hostile id became a request path.
    assert!(
        worker.seen().iter().all(|p| p == "/runs"),
        "{:?}",
        worker.seen()
    );
    let events = env.events()?;
    assert!(events.iter().all(|e| e.event_type != types::RUN_STARTED));
    let rejected: Vec<_> = events
        .iter()
        .filter(|e| e.event_type == types::SUBMIT_REJECTED)
        .collect();
    assert_eq!(rejected.len(), hostile.len());
    assert!(rejected
        .iter()
        .all(|e| e.subject == "acme" && e.data["code"] == "bad_answer"));
    // A restart reads the log back and starts.
    drop(console);
    let keys = env.path("keys");
    let again = start_console(&env, &url, &keys, &[])?;
    let api = env.api(&again)?;
    assert_log_readable(&env, &api).await?;
    Ok(())
}

/// `n` frames of junk (ids fine, data not KAHN), two with hostile ids, then the run's end.
fn junk_stream(run_id: &str, n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&format!("id: {i}\ndata: junk {i}\n\n"));
    }
    s.push_str("id: ../../healthz?x=\ndata: {}\n\n");
    s.push_str("id: \u{1b}[31mred\ndata: {}\n\n");
    s.push_str(&format!(
        "id: {n}\nevent: run_ended\ndata: {{\"kahn\":1,\"type\":\"run_ended\",\"run_id\":\"{run_id}\",\"outcome\":\"succeeded\",\"nodes_succeeded\":1,\"nodes_failed\":0}}\n\n"
    ));
    s
}

#[tokio::test]
async fn five_thousand_junk_frames_write_a_capped_number_of_lines() -> Result<()> {
    let env = Env::new()?;
    let worker = Hostile::default();
    worker.set_run_id("run-1");
    *worker.events.lock().expect("events") = junk_stream("run-1", 5000);
    let url = worker.start().await?;
    let (_hearth, _console, api) = provisioned(&env, &url).await?;
    let Answer { status, body } = api
        .post(
            "/api/ralph/runs",
            json!({"workspace": "acme", "prompts": ["p"]}),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    let Answer { status, body: run } = api.get("/api/ralph/runs/run-1?wait=60").await?;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["frames_rejected"], 5002, "{run}");
    let events = env.events()?;
    let rejected: Vec<_> = events
        .iter()
        .filter(|e| e.event_type == types::FRAME_REJECTED)
        .collect();
    // The first 16 one by one, then one summary with the count.
    assert_eq!(rejected.len(), 17, "{}", rejected.len());
    let summary = rejected.last().expect("summary");
    assert_eq!(summary.data["reason"], "rejections_suppressed");
    assert_eq!(summary.data["suppressed"], 5002 - 16);
    let ended = events
        .iter()
        .find(|e| e.event_type == types::RUN_ENDED)
        .expect("run ended");
    assert_eq!(ended.data["frames_rejected"], 5002);
    assert_eq!(ended.data["outcome"], "incomplete");
    assert!(summary.seq < ended.seq);
    let size = std::fs::metadata(env.hatch())?.len();
    assert!(size < 64 * 1024, "HATCH grew to {size} bytes");
    // A hostile frame id is never recorded as one (only quoted, escaped, in the message).
    for e in &events {
        let id = e.data["frame_id"].as_str().unwrap_or("0");
        assert!(hearth_protocol::ident::is_valid(id), "{e:?}");
    }
    assert_log_readable(&env, &api).await?;
    Ok(())
}

#[tokio::test]
async fn a_corrupt_hatch_line_stops_the_start_naming_the_line_and_the_recovery() -> Result<()> {
    let env = Env::new()?;
    let worker = Hostile::default();
    let url = worker.start().await?;
    let (hearth, console, _api) = provisioned(&env, &url).await?;
    drop(console);
    drop(hearth);
    // Something other than the console rewrote the log: line 2 of 3 is no longer an event.
    let text = std::fs::read_to_string(env.hatch())?;
    let mut lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 2, "{text}");
    lines.insert(1, "{\"not\": \"an event\"}");
    std::fs::write(env.hatch(), lines.join("\n") + "\n")?;
    let keys = env.path("keys");
    let mut cmd = common::console_command(&env, &url, &keys, &[]);
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::from(std::mem::replace(
            &mut cmd,
            std::process::Command::new("true"),
        ))
        .output(),
    )
    .await??;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started on a corrupt log: {stderr}");
    assert!(stderr.contains("line 2"), "{stderr}");
    assert!(
        stderr.contains("hatch_corrupt") || stderr.contains("is corrupt"),
        "{stderr}"
    );
    assert!(
        stderr.contains("mv ") && stderr.contains("head -n 1"),
        "{stderr}"
    );
    Ok(())
}
