//! A signed run end to end: frames in order with ids, the workspace touched once per node, a
//! dead workspace failing visibly, and Last-Event-ID resuming with no gap and no duplicate.

mod common;

use std::sync::atomic::Ordering;

use common::{dead_endpoint, workspace, Worker};
use hearth_protocol::kahn::{Frame, NodeState, RunOutcome};

#[tokio::test]
async fn a_signed_run_streams_every_frame_in_order() {
    let w = Worker::start(&[]).await;
    let ws = workspace().await;
    let prompts = ["plan", "build", "test", "ship"];
    let run_id = w.submit(&ws.url, &prompts).await;
    let frames = w.read_stream(&run_id, None).await;

    // run_started, (node_attempt, node_transition) per prompt, run_ended; ids 0..n.
    assert_eq!(frames.len(), 2 + 2 * prompts.len());
    let ids: Vec<u64> = frames.iter().map(|f| f.id).collect();
    assert_eq!(ids, (0..frames.len() as u64).collect::<Vec<_>>());
    for f in &frames {
        assert_eq!(f.event, f.frame().event_type(), "event name is the type");
        assert_eq!(f.frame().run_id(), run_id);
    }
    let Frame::RunStarted(s) = frames[0].frame() else {
        panic!("first frame must be run_started");
    };
    assert_eq!((s.workspace.as_str(), s.prompts), ("demo", 4));
    for (i, prompt) in prompts.iter().enumerate() {
        let Frame::NodeAttempt(a) = frames[1 + 2 * i].frame() else {
            panic!("frame {} must be node_attempt", 1 + 2 * i);
        };
        assert_eq!((a.node, a.index, a.attempt), (format!("n{i}"), i as u32, 1));
        assert_eq!(a.prompt, *prompt);
        let Frame::NodeTransition(t) = frames[2 + 2 * i].frame() else {
            panic!("frame {} must be node_transition", 2 + 2 * i);
        };
        assert_eq!(
            (t.from, t.to, t.error),
            (NodeState::Running, NodeState::Succeeded, None)
        );
    }
    let Frame::RunEnded(e) = frames.last().expect("frames").frame() else {
        panic!("last frame must be run_ended");
    };
    assert_eq!(
        (e.outcome, e.nodes_succeeded, e.nodes_failed),
        (RunOutcome::Succeeded, 4, 0)
    );
    assert_eq!(
        ws.hits.load(Ordering::SeqCst),
        4,
        "each node touches the workspace once"
    );
}

#[tokio::test]
async fn a_dead_workspace_fails_every_node_visibly() {
    let w = Worker::start(&[]).await;
    let dead = dead_endpoint();
    let run_id = w.submit(&dead, &["a", "b"]).await;
    let frames = w.read_stream(&run_id, None).await;
    let failures: Vec<String> = frames
        .iter()
        .filter_map(|f| match f.frame() {
            Frame::NodeTransition(t) if t.to == NodeState::Failed => t.error,
            _ => None,
        })
        .collect();
    assert_eq!(failures.len(), 2);
    assert!(
        failures[0].contains(&dead) && failures[0].contains("did not answer"),
        "{failures:?}"
    );
    let Frame::RunEnded(e) = frames.last().expect("frames").frame() else {
        panic!("last frame must be run_ended");
    };
    assert_eq!(
        (e.outcome, e.nodes_succeeded, e.nodes_failed),
        (RunOutcome::Failed, 0, 2)
    );
}

#[tokio::test]
async fn last_event_id_resumes_with_no_gap_and_no_duplicate() {
    let w = Worker::start(&[]).await;
    let ws = workspace().await;
    let run_id = w.submit(&ws.url, &["a", "b", "c"]).await;
    let whole = w.read_stream(&run_id, None).await;
    assert_eq!(whole.len(), 8);
    for last in [0u64, 3, 6] {
        let rest = w.read_stream(&run_id, Some(last)).await;
        assert_eq!(rest, whole[(last as usize + 1)..], "resume after {last}");
    }
    // Resuming after the final frame yields nothing and ends at once.
    assert!(w.read_stream(&run_id, Some(7)).await.is_empty());
    assert!(w.read_stream(&run_id, Some(1000)).await.is_empty());
}

#[tokio::test]
async fn a_live_subscriber_gets_backlog_then_live_frames() {
    // slow=150: the stream is opened while nodes are still running.
    let w = Worker::start(&["slow=150".parse().expect("fault")]).await;
    let ws = workspace().await;
    let run_id = w.submit(&ws.url, &["a", "b"]).await;
    let frames = w.read_stream(&run_id, Some(0)).await;
    let ids: Vec<u64> = frames.iter().map(|f| f.id).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5]);
    assert_eq!(frames[4].event, "run_ended");
}

#[tokio::test]
async fn unknown_run_is_404_and_bad_last_event_id_is_400() {
    let w = Worker::start(&[]).await;
    let resp = w.events_response("no-such-run", None).await;
    assert_eq!(resp.status(), 404);
    let v: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(v["error"]["code"], "not_found");

    let run_id = w.submit(&dead_endpoint(), &["a"]).await;
    let path = format!("/runs/{run_id}/events");
    let resp = reqwest::Client::new()
        .get(format!("{}{path}", w.base))
        .header("authorization", w.keys.sign(&w.base, "GET", &path, b""))
        .header("last-event-id", "seven")
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn shutdown_lets_a_run_under_way_finish_its_stream() {
    let w = Worker::start(&["slow=300".parse().expect("fault")]).await;
    let ws = workspace().await;
    let run_id = w.submit(&ws.url, &["short"]).await;
    let resp = w.events_response(&run_id, None).await;
    assert_eq!(resp.status(), 200);
    tokio::time::timeout(std::time::Duration::from_secs(10), w.shutdown())
        .await
        .expect("shutdown within bound")
        .expect("clean exit");
    // The run ended within the drain, so its stream carried run_ended before closing.
    let body = resp.text().await.expect("stream closed");
    assert!(body.contains("event: run_ended"), "{body}");
}

#[tokio::test]
async fn shutdown_ends_open_streams_and_returns() {
    let w = Worker::start(&["slow=60000".parse().expect("fault")]).await;
    let ws = workspace().await;
    let run_id = w.submit(&ws.url, &["forever"]).await;
    let resp = w.events_response(&run_id, None).await;
    assert_eq!(resp.status(), 200);
    let shutdown = tokio::time::timeout(std::time::Duration::from_secs(10), w.shutdown());
    shutdown
        .await
        .expect("shutdown within bound")
        .expect("clean exit");
    // The stream ended when the server stopped (no run_ended: the run never finished).
    let body = resp.text().await.expect("stream closed");
    assert!(
        body.contains("event: run_started") && !body.contains("run_ended"),
        "{body}"
    );
}
