//! Golden tests for KAHN frames: literal JSON as it travels in SSE `data:` lines, parsed and
//! produced, and every kind of schema break rejected with a reason.

use hearth_protocol::kahn::{
    node_name, Frame, KahnError, NodeAttempt, NodeState, NodeTransition, RunEnded, RunOutcome,
    RunStarted,
};

fn golden() -> Vec<(&'static str, Frame)> {
    vec![
        (
            r#"{"kahn":1,"type":"run_started","run_id":"r-1","workspace":"demo","prompts":2}"#,
            Frame::RunStarted(RunStarted {
                run_id: "r-1".into(),
                workspace: "demo".into(),
                prompts: 2,
            }),
        ),
        (
            r#"{"kahn":1,"type":"node_attempt","run_id":"r-1","node":"n0","index":0,"attempt":1,"prompt":"say hi"}"#,
            Frame::NodeAttempt(NodeAttempt {
                run_id: "r-1".into(),
                node: "n0".into(),
                index: 0,
                attempt: 1,
                prompt: "say hi".into(),
            }),
        ),
        (
            r#"{"kahn":1,"type":"node_transition","run_id":"r-1","node":"n0","index":0,"attempt":1,"from":"running","to":"succeeded","duration_ms":12}"#,
            Frame::NodeTransition(NodeTransition {
                run_id: "r-1".into(),
                node: "n0".into(),
                index: 0,
                attempt: 1,
                from: NodeState::Running,
                to: NodeState::Succeeded,
                duration_ms: 12,
                error: None,
            }),
        ),
        (
            r#"{"kahn":1,"type":"node_transition","run_id":"r-1","node":"n1","index":1,"attempt":1,"from":"running","to":"failed","duration_ms":3,"error":"connection refused"}"#,
            Frame::NodeTransition(NodeTransition {
                run_id: "r-1".into(),
                node: "n1".into(),
                index: 1,
                attempt: 1,
                from: NodeState::Running,
                to: NodeState::Failed,
                duration_ms: 3,
                error: Some("connection refused".into()),
            }),
        ),
        (
            r#"{"kahn":1,"type":"run_ended","run_id":"r-1","outcome":"failed","nodes_succeeded":1,"nodes_failed":1}"#,
            Frame::RunEnded(RunEnded {
                run_id: "r-1".into(),
                outcome: RunOutcome::Failed,
                nodes_succeeded: 1,
                nodes_failed: 1,
            }),
        ),
    ]
}

#[test]
fn golden_json_parses_to_the_frame() {
    for (json, frame) in golden() {
        assert_eq!(Frame::parse(json).as_ref(), Ok(&frame), "{json}");
    }
}

#[test]
fn frames_serialize_to_the_golden_json() {
    for (json, frame) in golden() {
        assert_eq!(frame.to_sse_data(), json);
    }
}

#[test]
fn event_type_matches_the_type_tag() {
    for (json, frame) in golden() {
        let v: serde_json::Value = serde_json::from_str(json).expect("json");
        assert_eq!(v["type"], frame.event_type());
        assert_eq!(frame.run_id(), "r-1");
    }
    assert_eq!(node_name(3), "n3");
}

#[test]
fn terminal_and_last() {
    let frames: Vec<Frame> = golden().into_iter().map(|(_, f)| f).collect();
    let terminal: Vec<bool> = frames
        .iter()
        .map(|f| matches!(f, Frame::NodeTransition(t) if t.is_terminal()))
        .collect();
    assert_eq!(terminal, [false, false, true, true, false]);
    assert!(frames[4].is_last() && !frames[0].is_last());
    assert!(!NodeState::Running.is_terminal());
}

#[test]
fn unknown_fields_such_as_kiln_are_tolerated() {
    let json = r#"{"kahn":1,"type":"node_attempt","run_id":"r-1","node":"n0","index":0,"attempt":1,"prompt":"p","kiln":{"model":"x","tokens":[1,2]},"future":true}"#;
    let Ok(Frame::NodeAttempt(a)) = Frame::parse(json) else {
        panic!("KILN fields must be tolerated");
    };
    assert_eq!(a.prompt, "p");
}

#[test]
fn schema_breaks_are_rejected_with_a_reason() {
    let cases: [(&str, &str, &str); 9] = [
        ("not json", "not_json", "not JSON"),
        ("[1,2]", "not_object", "object"),
        (
            r#"{"type":"run_ended","run_id":"r","outcome":"failed","nodes_succeeded":0,"nodes_failed":0}"#,
            "missing_version",
            "kahn",
        ),
        (
            r#"{"kahn":99,"type":"run_ended","run_id":"r","outcome":"failed","nodes_succeeded":0,"nodes_failed":0}"#,
            "wrong_version",
            "99",
        ),
        (
            r#"{"kahn":"1","type":"run_ended","run_id":"r","outcome":"failed","nodes_succeeded":0,"nodes_failed":0}"#,
            "wrong_version",
            "\"1\"",
        ),
        (r#"{"kahn":1,"run_id":"r"}"#, "missing_type", "type"),
        (
            r#"{"kahn":1,"type":"node_exploded","run_id":"r"}"#,
            "unknown_type",
            "node_exploded",
        ),
        (
            r#"{"kahn":1,"type":"node_transition","run_id":"r","node":"n0","index":0,"attempt":1,"from":"running","duration_ms":1}"#,
            "invalid_fields",
            "missing field `to`",
        ),
        (
            r#"{"kahn":1,"type":"run_ended","run_id":"r","outcome":"maybe","nodes_succeeded":0,"nodes_failed":0}"#,
            "invalid_fields",
            "maybe",
        ),
    ];
    for (json, code, needle) in cases {
        let e: KahnError = Frame::parse(json).unwrap_err();
        assert_eq!(e.code(), code, "{json}");
        assert!(e.to_string().contains(needle), "{json}: {e}");
    }
}
