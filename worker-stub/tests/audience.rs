//! Bearers bound to their audience (v2): a bearer captured on its way to one worker is refused
//! by another worker holding the same keys file; a legacy v1 bearer is still accepted for one
//! release, with one warning per key id in the worker's log. Against the real binary.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::Child;

use hearth_protocol::bearer::Keyring;

const KEYS: &str = "shared:one-keys-file-for-two-workers\n";

struct Worker {
    child: Child,
    base: String,
}

impl Worker {
    fn start(keys: &Path) -> Worker {
        let (child, base) = common::spawn_binary(keys, &[], true);
        Worker { child, base }
    }

    async fn post(&self, auth: &str, body: &[u8]) -> (u16, String) {
        let resp = reqwest::Client::new()
            .post(format!("{}/runs", self.base))
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

    /// Stops the worker and answers what it logged.
    fn stop(mut self) -> String {
        self.child.kill().expect("kill");
        self.child.wait().expect("reap");
        let mut log = String::new();
        self.child
            .stderr
            .take()
            .expect("stderr")
            .read_to_string(&mut log)
            .expect("read log");
        log
    }
}

fn body() -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "workspace": "acme", "endpoint": "http://127.0.0.1:9", "prompts": ["one"]
    }))
    .expect("json")
}

#[tokio::test]
async fn a_bearer_captured_for_worker_a_is_refused_by_worker_b_with_the_same_keys() {
    let dir = tempfile::tempdir().expect("tmp");
    let keys_path = dir.path().join("keys");
    std::fs::write(&keys_path, KEYS).expect("keys");
    let keys = Keyring::parse(KEYS).expect("keys");
    let (a, b) = (Worker::start(&keys_path), Worker::start(&keys_path));
    let body = body();

    // Captured on its way to A, replayed at B within the window: B refuses it, runs nothing.
    let captured = keys.sign(&a.base, "POST", "/runs", &body);
    assert_eq!(
        b.post(&captured, &body).await,
        (401, "bad_signature".to_owned()),
        "worker B accepted a bearer meant for worker A"
    );
    assert_eq!(common::runs_at(&b.base).await, 0);
    // A, its audience, accepts it; B accepts its own.
    assert_eq!(a.post(&captured, &body).await.0, 200);
    let for_b = keys.sign(&b.base, "POST", "/runs", &body);
    assert_eq!(b.post(&for_b, &body).await.0, 200);
    // The console may address a loopback worker as localhost too.
    let localhost = b.base.replace("127.0.0.1", "localhost");
    let for_b = keys.sign(&localhost, "POST", "/runs", &body);
    assert_eq!(b.post(&for_b, &body).await.0, 200);

    let log_a = a.stop();
    assert!(!log_a.contains("legacy v1"), "{log_a}");
    let log_b = b.stop();
    assert!(log_b.contains("bad_signature"), "{log_b}");
}

#[tokio::test]
async fn a_legacy_v1_bearer_still_verifies_with_one_warning_per_key_id() {
    let dir = tempfile::tempdir().expect("tmp");
    let keys_path = dir.path().join("keys");
    std::fs::write(&keys_path, KEYS).expect("keys");
    let keys = Keyring::parse(KEYS).expect("keys");
    let w = Worker::start(&keys_path);
    let body = body();
    for _ in 0..3 {
        let v1 = keys.sign_v1("POST", "/runs", &body);
        assert_eq!(
            w.post(&v1, &body).await.0,
            200,
            "v1 is verified this release"
        );
    }
    let log = w.stop();
    assert_eq!(
        log.matches("legacy v1 bearer").count(),
        1,
        "one warning per key id, not per request: {log}"
    );
    assert!(
        log.contains("shared"),
        "the warning names the key id: {log}"
    );
}
