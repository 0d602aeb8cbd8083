//! The reusable GitHub Action (`action.yml`) and the workflow that uses it, checked as data:
//! a composite action with the inputs the README documents, every shell step naming its
//! shell (composite actions require it), the play run with the variables the harness reads,
//! both reports uploaded, the verdict written to the job summary, and `parity.yml` calling
//! the action from the repository root (`uses: ./`) so the project's own CI exercises it.
//! (actionlint is not packaged for Debian or installable from PyPI without a download, so
//! this is the check that runs everywhere.)

use serde_yaml_ng::Value;

fn load(rel: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{rel} is not YAML: {e}"))
}

fn steps(v: &Value) -> &Vec<Value> {
    v["runs"]["steps"]
        .as_sequence()
        .expect("runs.steps is a list")
}

#[test]
fn action_is_composite_with_the_documented_inputs() {
    let action = load("action.yml");
    assert_eq!(action["runs"]["using"].as_str(), Some("composite"));
    for input in [
        "cairnet-image",
        "lore-image",
        "prompts",
        "working-directory",
    ] {
        let i = &action["inputs"][input];
        assert!(
            i["description"].is_string(),
            "input {input} lacks a description"
        );
        assert!(i["default"].is_string(), "input {input} lacks a default");
    }
    assert_eq!(action["inputs"]["prompts"]["default"].as_str(), Some("4"));
}

#[test]
fn every_step_runs_a_shell_or_an_action_and_the_play_is_wired() {
    let action = load("action.yml");
    let steps = steps(&action);
    for (n, step) in steps.iter().enumerate() {
        match (step.get("run"), step.get("uses")) {
            (Some(_), None) => assert_eq!(
                step["shell"].as_str(),
                Some("bash"),
                "step {n} runs a script without `shell:`"
            ),
            (None, Some(uses)) => {
                let uses = uses.as_str().expect("uses is a string");
                assert!(
                    uses.contains('@'),
                    "step {n}: {uses} is not pinned to a version"
                );
            }
            other => panic!("step {n} must have exactly one of run/uses: {other:?}"),
        }
    }
    let uses: Vec<&str> = steps.iter().filter_map(|s| s["uses"].as_str()).collect();
    assert!(
        uses.iter().any(|u| u.starts_with("actions/cache@")),
        "{uses:?}"
    );
    let upload = steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/upload-artifact@"))
        })
        .expect("an upload step");
    let paths = upload["with"]["path"].as_str().expect("upload paths");
    assert!(paths.contains("target/e2e/hatch.jsonl") && paths.contains("target/e2e/junit.xml"));
    assert_eq!(
        upload["if"].as_str(),
        Some("always()"),
        "reports are kept on failure too"
    );

    let play = steps
        .iter()
        .find(|s| s["run"].as_str().is_some_and(|r| r.contains("make e2e")))
        .expect("a step running make e2e");
    for var in [
        "HEARTH_E2E",
        "HEARTH_TEST_IMAGE_CAIRNET",
        "HEARTH_TEST_IMAGE_LORE",
        "HEARTH_PLAY_PROMPTS",
    ] {
        assert!(
            play["env"][var].is_string(),
            "the play step does not set {var}"
        );
    }
    let summary = steps
        .iter()
        .filter_map(|s| s["run"].as_str())
        .find(|r| r.contains("GITHUB_STEP_SUMMARY"))
        .expect("a step writing the job summary");
    assert!(
        summary.contains("hatch verify --chain provision-then-ralph"),
        "{summary}"
    );
}

#[test]
fn parity_workflow_uses_the_action_from_the_repository_root() {
    let workflow = load(".github/workflows/parity.yml");
    let jobs = workflow["jobs"].as_mapping().expect("jobs");
    let calls: Vec<&Value> = jobs
        .values()
        .flat_map(|job| job["steps"].as_sequence().into_iter().flatten())
        .filter(|s| s["uses"].as_str() == Some("./"))
        .collect();
    assert_eq!(
        calls.len(),
        1,
        "parity.yml should call the action once with `uses: ./`"
    );
    assert!(calls[0]["with"]["prompts"].is_number() || calls[0]["with"]["prompts"].is_string());
}
