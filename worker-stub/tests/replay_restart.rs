//! Replay refusal survives a restart, against the real binary: a captured signed
//! `POST /runs` replayed against a worker killed (-9) and started again on the same state dir
//! is refused 401 `replayed`, while a fresh bearer still passes.

mod common;

use std::path::Path;
use std::process::Child;

use hearth_protocol::bearer::Keyring;

struct Worker {
    child: Child,
    base: String,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const AUDIENCE: &str = "http://replay.test:9000";

fn start(keys: &Path, state: &Path) -> Worker {
    // Both starts answer as one audience (a restart on another port is the same worker to
    // the console), so the captured v2 bearer is refused as a replay, not as meant for
    // another worker.
    let state = state.to_str().expect("utf-8 state dir");
    let extra = ["--state-dir", state, "--audience", AUDIENCE];
    let (child, base) = common::spawn_binary(keys, &extra, false);
    Worker { child, base }
}

async fn post(w: &Worker, auth: &str, body: &[u8]) -> (u16, String) {
    let resp = reqwest::Client::new()
        .post(format!("{}/runs", w.base))
        .header("authorization", auth)
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .expect("post");
    let status = resp.status().as_u16();
    let v: serde_json::Value = resp.json().await.unwrap_or_default();
    (status, v["error"]["code"].as_str().unwrap_or("").to_owned())
}

#[tokio::test]
async fn a_captured_submit_replayed_after_a_kill_9_restart_is_401() {
    let dir = tempfile::tempdir().expect("tmp");
    let keys_text = "k1:replay-across-restarts-secret\n";
    let keys_path = dir.path().join("keys");
    std::fs::write(&keys_path, keys_text).expect("keys");
    let keys = Keyring::parse(keys_text).expect("keys");
    let state = dir.path().join("state");
    let body = serde_json::to_vec(&serde_json::json!({
        "workspace": "acme", "endpoint": "http://127.0.0.1:9", "prompts": ["one"]
    }))
    .expect("json");
    let captured = keys.sign(AUDIENCE, "POST", "/runs", &body);

    let mut first = start(&keys_path, &state);
    assert_eq!(
        post(&first, &captured, &body).await.0,
        200,
        "the original is accepted"
    );
    // No clean shutdown: whatever was acknowledged must already be on disk.
    first.child.kill().expect("kill -9");
    first.child.wait().expect("reap");

    let second = start(&keys_path, &state);
    assert_eq!(
        post(&second, &captured, &body).await,
        (401, "replayed".to_owned()),
        "the captured bearer replayed after a restart"
    );
    let fresh = keys.sign(AUDIENCE, "POST", "/runs", &body);
    assert_eq!(
        post(&second, &fresh, &body).await.0,
        200,
        "a fresh bearer still passes"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&state.join("replay.log")), 0o600);
}
