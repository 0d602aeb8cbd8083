//! What the console refuses at the door, against the real binaries: a slug hearth would
//! refuse (a pool member's reserved form included), a run the worker would refuse, a
//! malformed `Last-Event-ID` — each answered 400 before anything reaches hearth, the worker
//! or the HATCH log; a delete of a slug hearth does not know, answered 404 with nothing
//! written; every error, the framework's own rejections included, in the documented JSON
//! shape; and a HATCH line whose fields hold a line break is refused as corrupt without
//! killing the live tail.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use common::{start_console, start_hearth, Answer, Api, Env, KEYS};
use futures::StreamExt;
use serde_json::{json, Value};

/// A "worker" that only counts who connects to it: a refused run must never reach it.
struct CountingWorker {
    listener: std::net::TcpListener,
}

impl CountingWorker {
    fn new() -> Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        Ok(CountingWorker { listener })
    }
    fn url(&self) -> Result<String> {
        Ok(format!("http://{}", self.listener.local_addr()?))
    }
    fn contacted(&self) -> bool {
        self.listener.accept().is_ok()
    }
}

/// Asserts the documented error shape and returns the code.
fn error_code(status: u16, body: &Value) -> Result<String> {
    let e = &body["error"];
    ensure!(
        e["code"].is_string() && e["message"].is_string() && e["retryable"].is_boolean(),
        "{status}: not the documented error shape: {body}"
    );
    Ok(e["code"].as_str().unwrap_or_default().to_owned())
}

/// The status and error code of an answer in the documented error shape.
fn code_of(Answer { status, body }: &Answer) -> Result<(u16, String)> {
    Ok((*status, error_code(*status, body)?))
}

/// One raw HTTP/1.1 request (no client-side path normalisation); the status and JSON body.
fn raw(base: &str, request_line: &str, headers: &str, body: &str) -> Result<(u16, Value)> {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{request_line}\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n{headers}\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    s.read_to_string(&mut answer)?;
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no status in {answer:?}"))?;
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    Ok((status, serde_json::from_str(body).unwrap_or_default()))
}

struct Stack {
    env: Env,
    api: Api,
    worker: CountingWorker,
    _hearth: common::Proc,
    _console: common::Proc,
}

fn stack() -> Result<Stack> {
    let env = Env::new()?;
    let keys = env.keys("keys", KEYS)?;
    let hearth = start_hearth(&env)?;
    let worker = CountingWorker::new()?;
    let console = start_console(&env, &worker.url()?, &keys, &[])?;
    let api = env.api(&console)?;
    Ok(Stack {
        env,
        api,
        worker,
        _hearth: hearth,
        _console: console,
    })
}

fn log_bytes(env: &Env) -> Vec<u8> {
    std::fs::read(env.hatch()).unwrap_or_default()
}

#[tokio::test]
async fn a_slug_hearth_would_refuse_writes_nothing() -> Result<()> {
    let s = stack()?;
    let Answer { status, .. } = s.api.provision("kept", "solo").await?;
    ensure!(status == 200, "provision kept: {status}");
    let before = log_bytes(&s.env);
    let long = "a".repeat(33);
    // The last is a warm-pool member's form, which hearth reserves.
    for slug in [
        long.as_str(),
        "-lead",
        "trail-",
        "Upper",
        "a_b",
        "pool-0123456789",
    ] {
        let refused = (400, "invalid_slug".to_owned());
        assert_eq!(
            code_of(&s.api.provision(slug, "solo").await?)?,
            refused,
            "POST {slug}"
        );
        let path = format!("/api/hearth/workspaces/{slug}");
        assert_eq!(
            code_of(&s.api.delete(&path).await?)?,
            refused,
            "DELETE {slug}"
        );
        let pause = s.api.post(&format!("{path}/pause"), json!({})).await?;
        assert_eq!(code_of(&pause)?, refused, "pause {slug}");
    }
    assert_eq!(
        log_bytes(&s.env),
        before,
        "a refused slug leaves the log as it was"
    );
    Ok(())
}

#[tokio::test]
async fn a_delete_of_a_slug_hearth_does_not_know_is_404_and_writes_nothing() -> Result<()> {
    let s = stack()?;
    let Answer { status, .. } = s.api.provision("gone", "solo").await?;
    ensure!(status == 200, "provision gone: {status}");
    let Answer { status, .. } = s.api.delete("/api/hearth/workspaces/gone").await?;
    ensure!(status == 200, "delete gone: {status}");
    let before = log_bytes(&s.env);
    for slug in ["never-was", "pool-a", "x"] {
        let answer = s
            .api
            .delete(&format!("/api/hearth/workspaces/{slug}"))
            .await?;
        assert_eq!(
            code_of(&answer)?,
            (404, "not_found".into()),
            "DELETE {slug}"
        );
    }
    // Already torn down: the act is in the log once; a retry answers as before and adds nothing.
    let Answer { status, body } = s.api.delete("/api/hearth/workspaces/gone").await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ok"], true);
    assert_eq!(
        log_bytes(&s.env),
        before,
        "a delete of nothing leaves the log as it was"
    );
    Ok(())
}

#[tokio::test]
async fn a_run_over_the_prompt_limit_is_refused_at_the_door() -> Result<()> {
    let s = stack()?;
    let Answer { status, .. } = s.api.provision("door", "solo").await?;
    ensure!(status == 200, "provision: {status}");
    let before = log_bytes(&s.env);
    let limit = hearth_protocol::limits::MAX_PROMPTS;
    for n in [100, limit + 1] {
        let prompts: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
        let Answer { status, body } = s
            .api
            .post(
                "/api/ralph/runs",
                json!({"workspace": "door", "prompts": prompts}),
            )
            .await?;
        assert_eq!(
            (status, error_code(status, &body)?.as_str()),
            (400, "invalid_request"),
            "{n}: {body}"
        );
        assert!(body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains(&limit.to_string()));
    }
    let long = "x".repeat(hearth_protocol::limits::MAX_PROMPT_BYTES + 1);
    let Answer { status, .. } = s
        .api
        .post(
            "/api/ralph/runs",
            json!({"workspace": "door", "prompts": [long]}),
        )
        .await?;
    assert_eq!(status, 400, "a prompt over the byte limit");
    assert!(!s.worker.contacted(), "nothing was sent to the worker");
    assert_eq!(log_bytes(&s.env), before, "nothing was written to HATCH");
    Ok(())
}

#[tokio::test]
async fn a_malformed_last_event_id_is_400() -> Result<()> {
    let s = stack()?;
    s.api.provision("tail", "solo").await?;
    for bad in ["abc", "-1", "1.5", "99999999999999999999999"] {
        let resp = s
            .api
            .http
            .get(s.api.url("/api/hatch/events"))
            .bearer_auth(&s.api.token)
            .header("last-event-id", bad)
            .send()
            .await?;
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or_default();
        assert_eq!(
            (status, error_code(status, &body)?.as_str()),
            (400, "invalid_request"),
            "{bad}"
        );
    }
    let resp = s
        .api
        .http
        .get(s.api.url("/api/hatch/events"))
        .bearer_auth(&s.api.token)
        .header("last-event-id", "1")
        .send()
        .await?;
    let events: Vec<Value> = resp.json().await?;
    assert_eq!(
        events.len(),
        1,
        "a good Last-Event-ID resumes after it: {events:?}"
    );
    assert_eq!(events[0]["seq"], 2);
    Ok(())
}

#[tokio::test]
async fn every_error_takes_the_documented_shape() -> Result<()> {
    let s = stack()?;
    let base = &s.api.base;
    let auth = format!("Authorization: Bearer {}\r\n", s.api.token);
    let json_ct = format!("{auth}Content-Type: application/json\r\n");
    let cases: [(&str, &str, &str, u16, &str); 6] = [
        (
            "GET /api/hearth/workspaces/%ff HTTP/1.1",
            &auth,
            "",
            400,
            "invalid_request",
        ),
        (
            "GET /api/hearth/workspaces/../etc HTTP/1.1",
            &auth,
            "",
            405,
            "method_not_allowed",
        ),
        (
            "POST /api/hearth/workspaces HTTP/1.1",
            &json_ct,
            "{not json",
            400,
            "invalid_request",
        ),
        (
            "POST /api/hearth/workspaces HTTP/1.1",
            &json_ct,
            r#"{"tier":"solo"}"#,
            400,
            "invalid_request",
        ),
        (
            "POST /api/hearth/workspaces HTTP/1.1",
            &auth,
            r#"{"slug":"a"}"#,
            400,
            "invalid_request",
        ),
        (
            "GET /api/hatch/events?after=x HTTP/1.1",
            &auth,
            "",
            400,
            "invalid_request",
        ),
    ];
    for (line, headers, body, status, code) in cases {
        let (got, answer) = raw(base, line, headers, body)?;
        assert_eq!(got, status, "{line}: {answer}");
        assert_eq!(error_code(got, &answer)?, code, "{line}");
    }
    let big = "x".repeat(crate_body_limit() + 1);
    let (got, answer) = raw(base, "POST /api/session HTTP/1.1", &json_ct, &big)?;
    assert_eq!(
        (got, error_code(got, &answer)?.as_str()),
        (413, "payload_too_large")
    );
    Ok(())
}

fn crate_body_limit() -> usize {
    console::DEFAULT_BODY_LIMIT
}

/// A HATCH line as an editor of the 0600 file could leave it: a `type` holding a line break.
fn forged_line(seq: u64) -> String {
    let mut e = hearth_protocol::hatch::HatchEvent::new(
        "forged",
        "urn:x",
        "hearth.paused\nevent: forged",
        "acme",
        seq,
        json!({}),
    );
    e.subject = "acme".into();
    e.to_line()
}

#[tokio::test]
async fn a_line_break_in_a_logged_field_never_kills_the_tail() -> Result<()> {
    let s = stack()?;
    s.api.provision("first", "solo").await?;
    let append = |text: &str| -> Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(s.env.hatch())?;
        f.write_all(text.as_bytes())?;
        Ok(())
    };
    // As the last line it reads as torn: the tail serves what precedes it.
    append(&forged_line(3))?;
    for _ in 0..2 {
        let resp = s
            .api
            .http
            .get(s.api.url("/api/hatch/events"))
            .bearer_auth(&s.api.token)
            .header("accept", "text/event-stream")
            .send()
            .await?;
        assert_eq!(resp.status().as_u16(), 200);
        let mut stream = resp.bytes_stream();
        let mut seen = String::new();
        let read = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(chunk) = stream.next().await {
                seen.push_str(&String::from_utf8_lossy(&chunk?));
                if seen.contains("id: 2") {
                    return Ok::<_, reqwest::Error>(());
                }
            }
            Ok(())
        })
        .await;
        assert!(read.is_ok(), "the tail stalled: {seen:?}");
        assert!(seen.contains("id: 2"), "the tail died: {seen:?}");
        assert!(!seen.contains("event: forged"), "{seen}");
    }
    // Followed by another line it is corruption, named by its line number; nothing panics.
    append(
        &forged_line(4)
            .replace("forged\"", "ok\"")
            .replace("\\nevent: ok", ""),
    )?;
    for _ in 0..2 {
        let Answer { status, body } = s.api.get("/api/hatch/events").await?;
        assert_eq!(error_code(status, &body)?, "hatch_unavailable", "{body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("line 3"), "{message}");
    }
    let Answer { status, .. } = s.api.get("/healthz").await?;
    assert_eq!(status, 200, "the console still serves");
    Ok(())
}
