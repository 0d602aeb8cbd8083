//! `console hatch verify`: a whole chain passes; each row of the failure table is named with
//! its cause; a torn last line is reported, not a crash; the binary's exit codes and JSON.

use std::path::Path;
use std::process::Command;

use console::verify::{check_events, check_file, Chain};
use hearth_protocol::hatch::{types, HatchEvent, CONSOLE_SOURCE};
use serde_json::{json, Value};

const RUN: &str = "run-1";

/// A log builder: appends events with the next seq.
#[derive(Default)]
struct Log(Vec<HatchEvent>);

impl Log {
    fn push(mut self, ty: &str, subject: &str, data: Value) -> Self {
        let seq = self.0.len() as u64 + 1;
        self.0.push(HatchEvent::new(
            format!("id-{seq}"),
            CONSOLE_SOURCE,
            ty,
            subject,
            seq,
            data,
        ));
        self
    }
    fn provisioned(self) -> Self {
        self.push(types::PROVISIONING_STARTED, "test", json!({}))
            .push(types::PROVISIONED, "test", json!({}))
    }
    fn run(self, nodes: usize) -> Self {
        let mut l = self.push(types::RUN_STARTED, RUN, json!({"prompts": 4}));
        for i in 0..nodes {
            l = l.push(types::NODE_SUCCEEDED, RUN, json!({"index": i}));
        }
        l.push(types::RUN_ENDED, RUN, json!({"outcome": "succeeded"}))
    }
    fn torn_down(self) -> Self {
        self.push(types::DECOMMISSION_STARTED, "test", json!({}))
            .push(types::DECOMMISSIONED, "test", json!({}))
    }
    fn text(&self) -> String {
        self.0.iter().map(HatchEvent::to_line).collect()
    }
}

fn whole() -> Log {
    Log::default().provisioned().run(4).torn_down()
}

#[test]
fn a_whole_chain_passes() {
    let v = check_events(&whole().0, Chain::ProvisionThenRalph, 4).expect("verdict");
    assert!(v.ok, "{v:?}");
    assert_eq!(v.matched.len(), 10);
    assert_eq!(v.acts, 10);
}

#[test]
fn failed_nodes_still_count_but_are_noted() {
    let log = Log::default()
        .provisioned()
        .push(types::RUN_STARTED, RUN, json!({}))
        .push(types::NODE_SUCCEEDED, RUN, json!({}))
        .push(types::NODE_FAILED, RUN, json!({}))
        .push(types::NODE_SUCCEEDED, RUN, json!({}))
        .push(types::NODE_SUCCEEDED, RUN, json!({}))
        .push(types::RUN_ENDED, RUN, json!({}))
        .torn_down();
    let v = check_events(&log.0, Chain::ProvisionThenRalph, 4).expect("verdict");
    assert!(v.ok);
    assert!(
        v.notes.iter().any(|n| n.contains("1 node(s) ended failed")),
        "{:?}",
        v.notes
    );
}

fn gap_code(log: &Log, prompts: usize) -> (String, String, usize) {
    let v = check_events(&log.0, Chain::ProvisionThenRalph, prompts).expect("verdict");
    let g = v.gap.expect("a gap");
    (g.code, g.cause, g.position)
}

#[test]
fn an_empty_log_means_nothing_ran() {
    let (code, cause, pos) = gap_code(&Log::default(), 4);
    assert_eq!((code.as_str(), pos), ("no_log", 1));
    assert!(cause.contains("hearth or console never ran"), "{cause}");
}

#[test]
fn docker_unavailable_is_named() {
    let log = Log::default()
        .push(types::PROVISIONING_STARTED, "test", json!({}))
        .push(
            types::FAILED,
            "test",
            json!({"code": "docker_unavailable", "message": "no engine"}),
        );
    let (code, cause, pos) = gap_code(&log, 4);
    assert_eq!((code.as_str(), pos), ("docker_unavailable", 2));
    assert_eq!(cause, "Docker engine not running");
}

#[test]
fn bearer_drift_is_named() {
    let log = Log::default().provisioned().push(
        types::SUBMIT_REJECTED,
        "test",
        json!({"status": 401, "code": "bad_signature"}),
    );
    let (code, cause, pos) = gap_code(&log, 4);
    assert_eq!((code.as_str(), pos), ("bearer_drift", 3));
    assert_eq!(cause, "worker bearer drift (keys differ)");
}

#[test]
fn kahn_schema_drift_is_named() {
    let log = Log::default()
        .provisioned()
        .push(types::RUN_STARTED, RUN, json!({}))
        .push(
            types::FRAME_REJECTED,
            RUN,
            json!({"reason": "unknown_version"}),
        )
        .push(types::NODE_SUCCEEDED, RUN, json!({}))
        .push(types::RUN_ENDED, RUN, json!({"outcome": "succeeded"}))
        .torn_down();
    let (code, cause, pos) = gap_code(&log, 4);
    assert_eq!((code.as_str(), pos), ("kahn_schema_drift", 5));
    assert!(cause.starts_with("KAHN schema drift"), "{cause}");
    assert!(cause.contains("1 of 4 nodes"), "{cause}");
}

#[test]
fn teardown_past_its_deadline_is_named() {
    let log = Log::default()
        .provisioned()
        .run(4)
        .push(types::DECOMMISSION_STARTED, "test", json!({}))
        .push(
            types::DECOMMISSION_FAILED,
            "test",
            json!({"code": "deadline_exceeded"}),
        );
    let (code, cause, pos) = gap_code(&log, 4);
    assert_eq!((code.as_str(), pos), ("teardown_deadline", 10));
    assert_eq!(cause, "teardown past its deadline");
}

#[test]
fn out_of_order_acts_are_named_with_what_was_found() {
    let log = Log::default()
        .provisioned()
        .push(types::DECOMMISSION_STARTED, "test", json!({}))
        .push(types::DECOMMISSIONED, "test", json!({}));
    let v = check_events(&log.0, Chain::ProvisionThenRalph, 4).expect("verdict");
    let g = v.gap.expect("gap");
    assert_eq!(g.act, "ralph.run.started");
    assert!(
        g.found
            .as_deref()
            .unwrap_or("")
            .contains("hearth.decommission_started"),
        "{g:?}"
    );
    assert_eq!(g.code, "no_run");
}

#[test]
fn more_nodes_than_prompts_and_a_second_run_break_the_chain() {
    let (code, _, pos) = gap_code(&whole(), 3);
    assert_eq!((code.as_str(), pos), ("extra_nodes", 7));
    let twice = Log::default().provisioned().run(4).run(4).torn_down();
    let (code, _, pos) = gap_code(&twice, 4);
    assert_eq!((code.as_str(), pos), ("unexpected_act", 9));
}

#[test]
fn other_workspaces_events_are_not_part_of_the_chain() {
    let log = Log::default()
        .push(types::PROVISIONING_STARTED, "test", json!({}))
        .push(types::PROVISIONING_STARTED, "other", json!({}))
        .push(types::PROVISIONED, "test", json!({}))
        .run(4)
        .torn_down();
    let v = check_events(&log.0, Chain::ProvisionThenRalph, 4).expect("verdict");
    assert!(v.ok, "{v:?}");
    assert!(v.notes.iter().any(|n| n.contains("other workspaces")));
}

#[test]
fn a_torn_last_line_is_reported_not_fatal() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("hatch.jsonl");
    let text = whole().text();
    std::fs::write(&path, format!("{text}{{\"specversion\":\"1.0\",\"id\":")).expect("write");
    let v = check_file(&path, Chain::ProvisionThenRalph, 4).expect("judged");
    assert!(v.ok);
    assert!(v.notes[0].contains("line 11 is torn"), "{:?}", v.notes);
}

#[test]
fn a_missing_file_is_a_verdict_and_a_corrupt_one_an_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let v =
        check_file(&dir.path().join("nope.jsonl"), Chain::ProvisionThenRalph, 4).expect("verdict");
    assert_eq!(v.gap.expect("gap").code, "no_log");
    let path = dir.path().join("corrupt.jsonl");
    std::fs::write(&path, format!("garbage\n{}", whole().text())).expect("write");
    let err = check_file(&path, Chain::ProvisionThenRalph, 4).expect_err("corrupt");
    assert_eq!(err.code(), "hatch_corrupt");
}

#[test]
fn a_prompt_count_past_the_protocol_cap_is_an_error_not_an_allocation() {
    let dir = tempfile::tempdir().expect("tmp");
    let good = dir.path().join("good.jsonl");
    std::fs::write(&good, whole().text()).expect("write");
    for n in ["65", "150000000", "1000000000000", "18446744073709551615"] {
        let out = Command::new(env!("CARGO_BIN_EXE_console"))
            .args(["hatch", "verify", "--prompts", n])
            .arg(&good)
            .output()
            .expect("run console");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{n}: {stderr}");
        assert!(
            stderr.contains("cap of 64") && stderr.contains("too_many_prompts"),
            "{n}: {stderr}"
        );
    }
    let err = check_file(&good, Chain::ProvisionThenRalph, usize::MAX).expect_err("over the cap");
    assert_eq!(err.code(), "too_many_prompts");
}

fn verify_bin(file: &Path, extra: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_console"))
        .args([
            "hatch",
            "verify",
            "--chain",
            "provision-then-ralph",
            "--prompts",
            "4",
        ])
        .args(extra)
        .arg(file)
        .output()
        .expect("run console");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn the_binary_exits_0_on_a_whole_chain_and_1_naming_the_gap() {
    let dir = tempfile::tempdir().expect("tmp");
    let good = dir.path().join("good.jsonl");
    std::fs::write(&good, whole().text()).expect("write");
    let (code, out) = verify_bin(&good, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("verdict: OK"), "{out}");

    let bad = dir.path().join("bad.jsonl");
    let log = Log::default().provisioned().push(
        types::SUBMIT_REJECTED,
        "test",
        json!({"status": 401, "code": "bad_signature"}),
    );
    std::fs::write(&bad, log.text()).expect("write");
    let (code, out) = verify_bin(&bad, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("cause: worker bearer drift (keys differ)"),
        "{out}"
    );
    assert!(out.contains("evidence: #3 ralph.submit_rejected"), "{out}");
    assert!(out.contains("hint: "), "{out}");
    assert!(
        out.contains("BROKEN at act 3 of 10: ralph.run.started (bearer_drift)"),
        "{out}"
    );

    let (code, out) = verify_bin(&bad, &["-o", "json"]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["ok"], false);
    assert_eq!(v["gap"]["code"], "bearer_drift");
    assert_eq!(v["gap"]["position"], 3);
}
