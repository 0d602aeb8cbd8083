//! Replay refusal survives a restart, against the real binary: a captured signed
//! `POST /runs` replayed against a worker killed (-9) and started again on the same state dir
//! is refused 401 `replayed`, while a fresh bearer still passes — also with no `--state-dir`
//! at all (the default under the XDG state home); a worker that cannot make its state dir
//! refuses to start.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

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

/// Where a worker keeps its state: a `--state-dir`, or its defaults under this `HOME` and
/// `XDG_STATE_HOME` (unset when `None`).
enum State<'a> {
    Dir(&'a Path),
    Defaults {
        home: &'a Path,
        xdg: Option<&'a Path>,
    },
}

fn command(keys: &Path, state: &State<'_>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_worker-stub"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--keys"])
        .arg(keys)
        .env("RUST_LOG", "warn")
        .env_remove("WORKER_STUB_STATE_DIR")
        // Every start answers as one audience (a restart on another port is the same worker
        // to the console), so a captured v2 bearer is refused as a replay, not as meant for
        // another worker.
        .args(["--audience", AUDIENCE]);
    match state {
        State::Dir(dir) => {
            cmd.arg("--state-dir").arg(dir);
        }
        State::Defaults { home, xdg } => {
            cmd.env("HOME", home);
            match xdg {
                Some(x) => cmd.env("XDG_STATE_HOME", x),
                None => cmd.env_remove("XDG_STATE_HOME"),
            };
        }
    }
    cmd
}

fn start(keys: &Path, state: &State<'_>) -> Worker {
    let mut child = command(keys, state)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn worker-stub");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("listening line");
    let base = line
        .trim()
        .strip_prefix("listening ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
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

/// The keys file and keyring of one test.
fn keys(dir: &Path) -> (std::path::PathBuf, Keyring) {
    let keys_text = "k1:replay-across-restarts-secret\n";
    let keys_path = dir.join("keys");
    std::fs::write(&keys_path, keys_text).expect("keys");
    (keys_path, Keyring::parse(keys_text).expect("keys"))
}

/// Accepts a submit, kills the worker with -9, starts it again the same way and replays the
/// captured bearer: it must be 401 `replayed`, and a fresh bearer 200.
async fn replay_across_a_kill_9(keys_path: &Path, keys: &Keyring, state: &State<'_>) {
    let body = serde_json::to_vec(&serde_json::json!({
        "workspace": "acme", "endpoint": "http://127.0.0.1:9", "prompts": ["one"]
    }))
    .expect("json");
    let captured = keys.sign(AUDIENCE, "POST", "/runs", &body);

    let mut first = start(keys_path, state);
    assert_eq!(
        post(&first, &captured, &body).await.0,
        200,
        "the original is accepted"
    );
    // No clean shutdown: whatever was acknowledged must already be on disk.
    first.child.kill().expect("kill -9");
    first.child.wait().expect("reap");

    let second = start(keys_path, state);
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
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn a_captured_submit_replayed_after_a_kill_9_restart_is_401() {
    let dir = tempfile::tempdir().expect("tmp");
    let (keys_path, keys) = keys(dir.path());
    let state = dir.path().join("state");
    replay_across_a_kill_9(&keys_path, &keys, &State::Dir(&state)).await;
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&state.join("replay.log")), 0o600);
}

#[tokio::test]
async fn with_no_state_dir_a_replay_after_a_restart_is_still_401() {
    let dir = tempfile::tempdir().expect("tmp");
    let (keys_path, keys) = keys(dir.path());
    let home = dir.path().join("home");
    std::fs::create_dir(&home).expect("home");
    let defaults = State::Defaults {
        home: &home,
        xdg: None,
    };
    replay_across_a_kill_9(&keys_path, &keys, &defaults).await;
    let state = home.join(".local/state/hearth-worker");
    assert_eq!(mode(&state), 0o700, "the default state dir is private");
    assert_eq!(mode(&state.join("replay.log")), 0o600);

    // XDG_STATE_HOME, when set, is where the default lives instead.
    let xdg = dir.path().join("xdg");
    let defaults = State::Defaults {
        home: &home,
        xdg: Some(&xdg),
    };
    replay_across_a_kill_9(&keys_path, &keys, &defaults).await;
    assert_eq!(mode(&xdg.join("hearth-worker")), 0o700);
}

#[test]
fn a_worker_whose_state_dir_cannot_be_made_refuses_to_start() {
    let dir = tempfile::tempdir().expect("tmp");
    let (keys_path, _) = keys(dir.path());
    // A home that is a file: nothing can be made under it.
    let home = dir.path().join("not-a-dir");
    std::fs::write(&home, b"").expect("file");
    let defaults = State::Defaults {
        home: &home,
        xdg: None,
    };
    let mut child = command(&keys_path, &defaults)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn worker-stub");
    // A worker that starts anyway never exits by itself: bound the wait, then fail.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("worker-stub started with a state dir it cannot make");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    assert!(!out.status.success(), "it must not start");
    assert!(
        out.stdout.is_empty(),
        "no listening line: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "refuses to start",
        "not-a-dir/.local/state/hearth-worker",
        "--state-dir DIR",
    ] {
        assert!(err.contains(needle), "stderr lacks {needle:?}: {err}");
    }
}
