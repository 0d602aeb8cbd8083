//! LocalAuth and the gate, against the real console binary: tokens, sessions, Host and
//! Origin checks, the body cap, and the token file's mode and reuse across restarts.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use anyhow::Result;
use common::{start_console, Answer, Api, Env, KEYS};
use serde_json::json;

/// The console alone (no hearth, no worker): the gate answers before either is called.
fn console(env: &Env) -> Result<(common::Proc, Api)> {
    let keys = env.keys("keys", KEYS)?;
    let c = start_console(env, "http://127.0.0.1:9", &keys, &[])?;
    let api = env.api(&c)?;
    Ok((c, api))
}

async fn code_of(resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_owned(),
    )
}

#[tokio::test]
async fn missing_or_wrong_token_is_401_and_the_right_one_passes() -> Result<()> {
    let env = Env::new()?;
    let (_c, api) = console(&env)?;
    let events = api.url("/api/hatch/events");

    let resp = api.http.get(&events).send().await?;
    assert_eq!(code_of(resp).await, (401, "unauthorized".to_owned()));

    let resp = api
        .http
        .get(&events)
        .bearer_auth("0".repeat(64))
        .send()
        .await?;
    assert_eq!(code_of(resp).await, (401, "unauthorized".to_owned()));

    let resp = api.http.get(&events).bearer_auth(&api.token).send().await?;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.json::<serde_json::Value>().await?, json!([]));

    let resp = api.http.get(api.url("/healthz")).send().await?;
    assert_eq!(resp.status().as_u16(), 200, "healthz needs no token");
    assert!(resp.headers().get("access-control-allow-origin").is_none());
    Ok(())
}

#[tokio::test]
async fn a_cookie_session_opened_with_the_token_authenticates() -> Result<()> {
    let env = Env::new()?;
    let (_c, api) = console(&env)?;
    let resp = api
        .http
        .post(api.url("/api/session"))
        .json(&json!({"token": "wrong"}))
        .send()
        .await?;
    assert_eq!(resp.status().as_u16(), 401);

    let resp = api
        .http
        .post(api.url("/api/session"))
        .json(&json!({"token": api.token}))
        .send()
        .await?;
    assert_eq!(resp.status().as_u16(), 200);
    let cookie = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    let pair = cookie.split(';').next().unwrap_or_default().to_owned();

    let resp = api
        .http
        .get(api.url("/api/hatch/events"))
        .header("cookie", &pair)
        .send()
        .await?;
    assert_eq!(resp.status().as_u16(), 200);

    let forged = "hearth_console_session=00ff";
    let resp = api
        .http
        .get(api.url("/api/hatch/events"))
        .header("cookie", forged)
        .send()
        .await?;
    assert_eq!(resp.status().as_u16(), 401);
    Ok(())
}

#[tokio::test]
async fn foreign_host_and_cross_site_origin_are_403() -> Result<()> {
    let env = Env::new()?;
    let (_c, api) = console(&env)?;
    let resp = api
        .http
        .get(api.url("/api/hatch/events"))
        .bearer_auth(&api.token)
        .header("host", "evil.example")
        .send()
        .await?;
    assert_eq!(code_of(resp).await, (403, "forbidden_host".to_owned()));

    let resp = api
        .http
        .post(api.url("/api/hearth/workspaces"))
        .bearer_auth(&api.token)
        .header("origin", "http://evil.example")
        .json(&json!({"slug": "acme", "tier": "solo"}))
        .send()
        .await?;
    assert_eq!(code_of(resp).await, (403, "forbidden_origin".to_owned()));

    let resp = api
        .http
        .get(api.url("/api/hatch/events"))
        .bearer_auth(&api.token)
        .header("origin", "http://evil.example")
        .header("accept", "text/event-stream")
        .send()
        .await?;
    assert_eq!(code_of(resp).await, (403, "forbidden_origin".to_owned()));

    // Nothing refused reached the log.
    assert!(env.types()?.is_empty());
    Ok(())
}

#[tokio::test]
async fn oversized_body_is_413() -> Result<()> {
    let env = Env::new()?;
    let (_c, api) = console(&env)?;
    let big = "x".repeat(70 * 1024);
    let resp = api
        .http
        .post(api.url("/api/ralph/runs"))
        .bearer_auth(&api.token)
        .json(&json!({"workspace": "acme", "prompts": [big]}))
        .send()
        .await?;
    assert_eq!(code_of(resp).await, (413, "payload_too_large".to_owned()));
    Ok(())
}

#[tokio::test]
async fn token_file_is_0600_and_reused_across_restart() -> Result<()> {
    let env = Env::new()?;
    let (c, api) = console(&env)?;
    let path = env.state().join("console.token");
    let mode = std::fs::metadata(&path)?.permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(api.token.len() >= 32, "at least 128 bits as hex");
    drop(c);

    let (_c2, api2) = console(&env)?;
    assert_eq!(api2.token, api.token);
    let resp = api2
        .http
        .get(api2.url("/api/hatch/events"))
        .bearer_auth(&api.token)
        .send()
        .await?;
    assert_eq!(resp.status().as_u16(), 200, "the old token still works");
    Ok(())
}

#[test]
fn a_non_loopback_listen_is_refused_without_the_flag() -> Result<()> {
    let env = Env::new()?;
    let keys = env.keys("keys", KEYS)?;
    let out = Command::new(env!("CARGO_BIN_EXE_console"))
        .args([
            "serve",
            "--listen",
            "0.0.0.0:0",
            "--hearth-socket",
            "/nonexistent",
        ])
        .args(["--worker-url", "http://127.0.0.1:9", "--keys"])
        .arg(&keys)
        .arg("--state-dir")
        .arg(env.state())
        .output()?;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--allow-non-loopback"), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing listened");
    Ok(())
}

#[tokio::test]
async fn an_oversized_chunked_body_is_413_too() -> Result<()> {
    let env = Env::new()?;
    let (_c, api) = console(&env)?;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..80).map(|_| Ok(vec![b' '; 1024])).collect();
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let resp = api
        .http
        .post(api.url("/api/ralph/runs"))
        .bearer_auth(&api.token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    assert_eq!(code_of(resp).await, (413, "payload_too_large".to_owned()));
    Ok(())
}

#[tokio::test]
async fn unknown_runs_and_routes_are_404_json() -> Result<()> {
    let env = Env::new()?;
    let (_c, api) = console(&env)?;
    let Answer { status, body } = api.get("/api/ralph/runs/nope").await?;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let Answer { status, body } = api.get("/api/nothing-here").await?;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    Ok(())
}
