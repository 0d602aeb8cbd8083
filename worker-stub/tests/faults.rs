//! Each `--fault` switch makes its failure mode happen, and the real binary starts, prints its
//! address first and stops on SIGTERM.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{workspace, Worker};
use hearth_protocol::kahn::{Frame, NodeState, RunOutcome};

fn fault(s: &str) -> worker_stub::Fault {
    s.parse().expect("fault")
}

#[tokio::test]
async fn bad_frame_breaks_node_frames_but_the_run_still_ends() {
    let w = Worker::start(&[fault("bad-frame")]).await;
    let ws = workspace().await;
    let run_id = w.submit(&ws.url, &["a", "b"]).await;
    let frames = w.read_stream(&run_id, None).await;
    assert_eq!(frames.len(), 6);
    let parsed: Vec<Result<Frame, String>> = frames
        .iter()
        .map(|f| Frame::parse(&f.data).map_err(|e| e.code().to_owned()))
        .collect();
    assert!(matches!(parsed[0], Ok(Frame::RunStarted(_))));
    for i in [1, 3] {
        assert_eq!(parsed[i], Err("wrong_version".into()), "node_attempt {i}");
    }
    for i in [2, 4] {
        assert_eq!(
            parsed[i],
            Err("invalid_fields".into()),
            "node_transition {i}"
        );
    }
    assert!(matches!(parsed[5], Ok(Frame::RunEnded(_))));
}

#[tokio::test]
async fn fail_node_fails_exactly_that_node() {
    let w = Worker::start(&[fault("fail-node=1")]).await;
    let ws = workspace().await;
    let run_id = w.submit(&ws.url, &["a", "b", "c"]).await;
    let frames = w.read_stream(&run_id, None).await;
    let outcomes: Vec<(u32, NodeState)> = frames
        .iter()
        .filter_map(|f| match f.frame() {
            Frame::NodeTransition(t) => Some((t.index, t.to)),
            _ => None,
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            (0, NodeState::Succeeded),
            (1, NodeState::Failed),
            (2, NodeState::Succeeded)
        ]
    );
    let Frame::RunEnded(e) = frames[7].frame() else {
        panic!("run_ended last");
    };
    assert_eq!((e.outcome, e.nodes_failed), (RunOutcome::Failed, 1));
}

#[tokio::test]
async fn drop_stream_after_cuts_once_and_resume_completes_the_run() {
    let w = Worker::start(&[fault("drop-stream-after=3")]).await;
    let ws = workspace().await;
    let run_id = w.submit(&ws.url, &["a", "b", "c", "d"]).await;
    let first = w.read_stream(&run_id, None).await;
    assert_eq!(first.iter().map(|f| f.id).collect::<Vec<_>>(), [0, 1, 2]);
    let (all, connections) = w.read_all(&run_id).await;
    // read_all starts afresh: the drop was already spent, so one connection suffices.
    assert_eq!(connections, 1);
    assert_eq!(all.len(), 10);

    // A second run gets its own drop; a resuming client sees every id exactly once.
    let run2 = w.submit(&ws.url, &["a", "b"]).await;
    let (frames, connections) = w.read_all(&run2).await;
    assert_eq!(connections, 2);
    let ids: Vec<u64> = frames.iter().map(|f| f.id).collect();
    assert_eq!(ids, [0, 1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn slow_makes_each_node_take_its_time() {
    let w = Worker::start(&[fault("slow=120")]).await;
    let ws = workspace().await;
    let started = Instant::now();
    let run_id = w.submit(&ws.url, &["a", "b"]).await;
    let frames = w.read_stream(&run_id, None).await;
    assert!(started.elapsed() >= Duration::from_millis(240));
    for f in &frames {
        if let Frame::NodeTransition(t) = f.frame() {
            assert!(t.duration_ms >= 120, "{t:?}");
        }
    }
}

/// Kills the child if the test fails before handing it to the exit wait.
struct KillOnDrop(Option<std::process::Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn the_binary_prints_its_address_first_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = dir.path().join("keys");
    std::fs::write(&keys, common::KEYS).expect("keys");
    let mut child = KillOnDrop(Some(
        Command::new(env!("CARGO_BIN_EXE_worker-stub"))
            .args(["serve", "--listen", "127.0.0.1:0", "--keys"])
            .arg(&keys)
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .args(["--fault", "slow=10", "--fault", "fail-node=0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn worker-stub"),
    ));
    let mut line = String::new();
    BufReader::new(
        child
            .0
            .as_mut()
            .expect("child")
            .stdout
            .take()
            .expect("stdout"),
    )
    .read_line(&mut line)
    .expect("first line");
    let base = line
        .trim()
        .strip_prefix("listening ")
        .unwrap_or_else(|| panic!("first line was {line:?}"))
        .to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let health: serde_json::Value = rt.block_on(async {
        reqwest::get(format!("{base}/healthz"))
            .await
            .expect("healthz")
            .json()
            .await
            .expect("json")
    });
    assert_eq!(health["ok"], true);

    let status = Command::new("kill")
        .args(["-TERM", &child.0.as_ref().expect("child").id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    // Wait for the exit on a thread, bounded, rather than polling.
    let mut process = child.0.take().expect("child");
    let pid = process.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(process.wait());
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(status) => assert!(status.expect("wait").success(), "unclean exit"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("worker-stub ignored SIGTERM for 10 s");
        }
    }
}

#[test]
fn the_binary_refuses_a_bad_fault_and_a_bad_keys_file() {
    let out = Command::new(env!("CARGO_BIN_EXE_worker-stub"))
        .args(["serve", "--keys", "/nonexistent/keys", "--fault", "explode"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown fault 'explode'"));

    let out = Command::new(env!("CARGO_BIN_EXE_worker-stub"))
        .args(["serve", "--keys", "/nonexistent/keys"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/keys"));
}
