//! The play against the real binaries: hearth (Fake driver), worker-stub and console, each on
//! temp sockets, port 0 and temp state dirs. The chain is asserted from the JSONL file.

mod common;

use anyhow::Result;
use common::{start_console, start_hearth, start_worker, Answer, Env, KEYS};
use hearth_protocol::hatch::types;
use serde_json::json;

#[tokio::test]
async fn provision_run_four_prompts_decommission_writes_the_whole_chain() -> Result<()> {
    let env = Env::new()?;
    let keys = env.keys("keys", KEYS)?;
    let _hearth = start_hearth(&env)?;
    let worker = start_worker(&keys, &[])?;
    let console = start_console(&env, &worker.url, &keys, &[])?;
    let api = env.api(&console)?;

    let Answer { status, body: wref } = api.provision("acme", "solo").await?;
    assert_eq!(status, 200, "{wref}");
    assert_eq!(wref["workspace_slug"], "acme");
    assert!(wref["endpoint"]
        .as_str()
        .is_some_and(|e| e.starts_with("http://127.0.0.1:")));

    let Answer { status, body: list } = api.get("/api/hearth/workspaces").await?;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    let Answer { status, body: one } = api.get("/api/hearth/workspaces/acme").await?;
    assert_eq!((status, one["last_status"].as_str()), (200, Some("ready")));
    // The status relayed as hearth answers it: each serving role, running, on hearth's own
    // engine (no node).
    let Answer {
        status,
        body: report,
    } = api.get("/api/hearth/workspaces/acme/status").await?;
    assert_eq!((status, report["status"].as_str()), (200, Some("ready")));
    let mut roles: Vec<(&str, &str)> = report["roles"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    (
                        r["role"].as_str().unwrap_or_default(),
                        r["state"].as_str().unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    roles.sort_unstable();
    assert_eq!(
        roles,
        vec![("cairnet", "running"), ("lore", "running")],
        "{report}"
    );
    assert!(report["roles"][0].get("node").is_none(), "{report}");
    let types_before = env.types()?.len();
    let Answer { status, .. } = api.get("/api/hearth/workspaces/nobody/status").await?;
    assert_eq!(status, 404, "an unknown slug is hearth's not_found");
    assert_eq!(env.types()?.len(), types_before, "a read writes no event");

    let prompts: Vec<String> = (1..=4).map(|i| format!("step {i}")).collect();
    let Answer { status, body } = api
        .post(
            "/api/ralph/runs",
            json!({"workspace": "acme", "prompts": prompts}),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    let run_id = body["run_id"].as_str().unwrap_or_default().to_owned();
    let Answer { status, body: run } = api
        .get(&format!("/api/ralph/runs/{run_id}?wait=30"))
        .await?;
    assert_eq!(status, 200);
    assert_eq!(run["status"], "succeeded", "{run}");

    let Answer { status, body } = api.delete("/api/hearth/workspaces/acme").await?;
    assert_eq!(status, 200, "{body}");

    assert_eq!(
        env.types()?,
        vec![
            types::PROVISIONING_STARTED,
            types::PROVISIONED,
            types::RUN_STARTED,
            types::NODE_SUCCEEDED,
            types::NODE_SUCCEEDED,
            types::NODE_SUCCEEDED,
            types::NODE_SUCCEEDED,
            types::RUN_ENDED,
            types::DECOMMISSION_STARTED,
            types::DECOMMISSIONED,
        ]
    );
    let events = env.events()?;
    assert_eq!(events[1].data["endpoint"], wref["endpoint"]);
    assert_eq!(events[2].subject, run_id);
    assert_eq!(events[7].data["nodes_recorded"], 4);
    assert_eq!(events[9].subject, "acme");
    Ok(())
}

#[tokio::test]
async fn hearth_down_is_hearth_failed_with_hearth_unreachable() -> Result<()> {
    let env = Env::new()?;
    let keys = env.keys("keys", KEYS)?;
    let console = start_console(&env, "http://127.0.0.1:9", &keys, &[])?;
    let api = env.api(&console)?;
    let Answer { status, body } = api.provision("acme", "solo").await?;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "hearth_unreachable");
    let events = env.events()?;
    let kinds: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(kinds, vec![types::PROVISIONING_STARTED, types::FAILED]);
    assert_eq!(events[1].data["code"], "hearth_unreachable");
    Ok(())
}

#[tokio::test]
async fn teardown_past_its_deadline_is_decommission_failed() -> Result<()> {
    let env = Env::new()?;
    let keys = env.keys("keys", KEYS)?;
    let _hearth = common::start_hearth_with(&env, &["--fake-fault", "hang:teardown"])?;
    let console = start_console(
        &env,
        "http://127.0.0.1:9",
        &keys,
        &["--hearth-timeout", "1"],
    )?;
    let api = env.api(&console)?;
    let Answer { status, .. } = api.provision("slowpoke", "solo").await?;
    assert_eq!(status, 200);
    let Answer { status, body } = api.delete("/api/hearth/workspaces/slowpoke").await?;
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["error"]["code"], "deadline_exceeded");
    let events = env.events()?;
    let kinds: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        kinds,
        vec![
            types::PROVISIONING_STARTED,
            types::PROVISIONED,
            types::DECOMMISSION_STARTED,
            types::DECOMMISSION_FAILED
        ]
    );
    assert_eq!(events[3].data["code"], "deadline_exceeded");
    Ok(())
}

#[tokio::test]
async fn a_run_wakes_a_hibernated_workspace_first() -> Result<()> {
    let env = Env::new()?;
    let keys = env.keys("keys", KEYS)?;
    let _hearth = start_hearth(&env)?;
    let worker = start_worker(&keys, &[])?;
    let console = start_console(&env, &worker.url, &keys, &[])?;
    let api = env.api(&console)?;
    let Answer { status, .. } = api.provision("sleepy", "solo").await?;
    assert_eq!(status, 200);
    let Answer { status, body } = api
        .post("/api/hearth/workspaces/sleepy/hibernate", json!({}))
        .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["last_status"], "hibernated");

    let Answer { status, body } = api
        .post(
            "/api/ralph/runs",
            json!({"workspace": "sleepy", "prompts": ["one"]}),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    let run_id = body["run_id"].as_str().unwrap_or_default().to_owned();
    let Answer { body: run, .. } = api
        .get(&format!("/api/ralph/runs/{run_id}?wait=30"))
        .await?;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(
        env.types()?,
        vec![
            types::PROVISIONING_STARTED,
            types::PROVISIONED,
            types::HIBERNATED,
            types::WOKEN,
            types::RUN_STARTED,
            types::NODE_SUCCEEDED,
            types::RUN_ENDED,
        ]
    );
    Ok(())
}

#[tokio::test]
async fn shutdown_ends_live_tails_and_records_unfinished_runs_as_lost() -> Result<()> {
    use futures::StreamExt;
    let env = Env::new()?;
    let keys = env.keys("keys", KEYS)?;
    let _hearth = start_hearth(&env)?;
    let worker = start_worker(&keys, &["slow=20000"])?;
    let mut console = start_console(&env, &worker.url, &keys, &[])?;
    let api = env.api(&console)?;
    let Answer { status, .. } = api.provision("acme", "solo").await?;
    assert_eq!(status, 200);
    let Answer { status, body } = api
        .post(
            "/api/ralph/runs",
            json!({"workspace": "acme", "prompts": ["a", "b"]}),
        )
        .await?;
    assert_eq!(status, 200, "{body}");

    let resp = api.tail(None).await?;
    let mut tail = eventsource_stream::Eventsource::eventsource(resp.bytes_stream());
    for _ in 0..3 {
        tail.next().await.expect("backlog event")?;
    }

    let pid = console.pid().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()?;
    assert!(killed.success());
    let mut child = std::mem::replace(
        console.child_mut(),
        std::process::Command::new("true").spawn()?,
    );
    let exited = tokio::time::timeout(
        std::time::Duration::from_secs(15),
        tokio::task::spawn_blocking(move || child.wait()),
    )
    .await;
    let status = exited.expect("console exits despite an open live tail")??;
    assert!(status.success(), "{status}");

    let events = env.events()?;
    let last = events.last().expect("events");
    assert_eq!(last.event_type, types::RUN_ENDED);
    assert_eq!(last.data["outcome"], "lost");
    assert!(last.data["reason"]
        .as_str()
        .unwrap_or_default()
        .contains("shut down"));
    Ok(())
}

/// Provisions `acme` on a real hearth, runs four prompts against a worker started with
/// `worker_keys` and `faults`, waits for the run, and returns the submit's status.
async fn drill(env: &Env, worker_keys: &str, faults: &[&str]) -> Result<u16> {
    let keys = env.keys("keys", KEYS)?;
    let wkeys = env.keys("worker-keys", worker_keys)?;
    let _hearth = start_hearth(env)?;
    let worker = start_worker(&wkeys, faults)?;
    let console = start_console(env, &worker.url, &keys, &[])?;
    let api = env.api(&console)?;
    let Answer { status, .. } = api.provision("acme", "solo").await?;
    assert_eq!(status, 200);
    let Answer { status, body } = api
        .post(
            "/api/ralph/runs",
            json!({"workspace": "acme", "prompts": ["a", "b", "c", "d"]}),
        )
        .await?;
    if status == 200 {
        let run_id = body["run_id"].as_str().unwrap_or_default();
        let Answer { body: run, .. } = api
            .get(&format!("/api/ralph/runs/{run_id}?wait=30"))
            .await?;
        assert_ne!(run["status"], "running", "{run}");
    }
    Ok(status)
}

fn count(env: &Env, ty: &str) -> Result<usize> {
    Ok(env.types()?.iter().filter(|t| *t == ty).count())
}

#[tokio::test]
async fn drill_bearer_drift_is_submit_rejected_without_run_started() -> Result<()> {
    let env = Env::new()?;
    let status = drill(&env, common::OTHER_KEYS, &[]).await?;
    assert_eq!(status, 502);
    assert_eq!(
        env.types()?,
        vec![
            types::PROVISIONING_STARTED,
            types::PROVISIONED,
            types::SUBMIT_REJECTED
        ]
    );
    assert_eq!(env.events()?[2].data["status"], 401);
    Ok(())
}

#[tokio::test]
async fn drill_kahn_schema_drift_rejects_frames_and_counts_fewer_nodes() -> Result<()> {
    let env = Env::new()?;
    assert_eq!(drill(&env, KEYS, &["bad-frame"]).await?, 200);
    assert!(count(&env, types::FRAME_REJECTED)? > 0);
    let nodes = count(&env, types::NODE_SUCCEEDED)? + count(&env, types::NODE_FAILED)?;
    assert!(nodes < 4, "{nodes} node events for 4 prompts");
    assert_eq!(count(&env, types::RUN_ENDED)?, 1);
    Ok(())
}

#[tokio::test]
async fn drill_dropped_stream_loses_and_doubles_no_node() -> Result<()> {
    let env = Env::new()?;
    assert_eq!(drill(&env, KEYS, &["drop-stream-after=3"]).await?, 200);
    let mut indexes: Vec<u64> = env
        .events()?
        .iter()
        .filter(|e| e.event_type.starts_with("ralph.node."))
        .filter_map(|e| e.data["index"].as_u64())
        .collect();
    indexes.sort_unstable();
    assert_eq!(indexes, vec![0, 1, 2, 3]);
    assert_eq!(count(&env, types::RUN_ENDED)?, 1);
    Ok(())
}

#[tokio::test]
async fn hearth_errors_pass_through_with_their_code_into_the_log_and_the_answer() -> Result<()> {
    let env = Env::new()?;
    let keys = env.keys("keys", KEYS)?;
    let _hearth = common::start_hearth_with(&env, &["--fake-fault", "fail:provision"])?;
    let console = start_console(&env, "http://127.0.0.1:9", &keys, &[])?;
    let api = env.api(&console)?;
    let Answer { status, body } = api.provision("acme", "solo").await?;
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(status >= 500, "{status} {body}");
    assert!(!code.is_empty() && code != "internal", "{body}");
    let events = env.events()?;
    let kinds: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(kinds, vec![types::PROVISIONING_STARTED, types::FAILED]);
    assert_eq!(events[1].data["code"], code.as_str());

    let Answer { status, body } = api.provision("Not A Slug", "solo").await?;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_slug"))
    );
    assert_eq!(
        env.events()?.len(),
        2,
        "a refused slug never reaches the log"
    );
    Ok(())
}

#[tokio::test]
async fn lifecycle_verbs_are_recorded_and_refusals_are_typed() -> Result<()> {
    let env = Env::new()?;
    let keys = env.keys("keys", KEYS)?;
    let _hearth = start_hearth(&env)?;
    let worker = start_worker(&keys, &[])?;
    let console = start_console(&env, &worker.url, &keys, &[])?;
    let api = env.api(&console)?;
    let Answer { status, .. } = api.provision("cycle", "solo").await?;
    assert_eq!(status, 200);
    for (verb, expect) in [("pause", "paused"), ("resume", "ready")] {
        let Answer { status, body } = api
            .post(&format!("/api/hearth/workspaces/cycle/{verb}"), json!({}))
            .await?;
        assert_eq!(status, 200, "{verb}: {body}");
        assert_eq!(body["last_status"], expect, "{verb}");
    }
    let Answer { status, body } = api
        .post(
            "/api/hearth/workspaces/cycle/upgrade",
            json!({"tier": "team"}),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tier"], "team");
    assert_eq!(body["workspace_slug"], "cycle");
    // Resuming a ready workspace is refused with a code, and nothing is recorded for it.
    let Answer { status, body } = api
        .post("/api/hearth/workspaces/cycle/resume", json!({}))
        .await?;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "conflict", "{body}");
    assert_eq!(
        env.types()?,
        vec![
            types::PROVISIONING_STARTED,
            types::PROVISIONED,
            types::PAUSED,
            types::RESUMED,
            types::UPGRADED,
        ]
    );
    Ok(())
}

/// A workspace claimed from hearth's warm pool: the console answers hearth's ref with its
/// `pool` claim, `hearth.provisioned` records the same member and age, and the log still
/// verifies as the whole chain.
#[tokio::test]
async fn a_workspace_from_the_warm_pool_is_recorded_with_its_claim_and_verifies() -> Result<()> {
    let env = Env::new()?;
    let keys = env.keys("keys", KEYS)?;
    let _hearth = common::start_hearth_with(&env, &["--pool", "solo=1"])?;
    // Wait (bounded) until the pool has its member.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let out = std::process::Command::new(common::bin("hearth")?)
            .arg("--socket")
            .arg(env.socket())
            .args(["pool", "-o", "json"])
            .output()?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if v["pools"][0]["ready"] == 1 {
            break;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the pool never filled: {v}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let worker = start_worker(&keys, &[])?;
    let console = start_console(&env, &worker.url, &keys, &[])?;
    let api = env.api(&console)?;

    let Answer { status, body: wref } = api.provision("warm", "solo").await?;
    assert_eq!(status, 200, "{wref}");
    let member = wref["pool"]["member"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(member.starts_with("pool-"), "claimed from the pool: {wref}");
    let prompts: Vec<String> = (1..=4).map(|i| format!("step {i}")).collect();
    let Answer { status, body } = api
        .post(
            "/api/ralph/runs",
            json!({"workspace": "warm", "prompts": prompts}),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    let run_id = body["run_id"].as_str().unwrap_or_default().to_owned();
    let Answer { body: run, .. } = api
        .get(&format!("/api/ralph/runs/{run_id}?wait=30"))
        .await?;
    assert_eq!(run["status"], "succeeded", "{run}");
    let Answer { status, body } = api.delete("/api/hearth/workspaces/warm").await?;
    assert_eq!(status, 200, "{body}");

    let events = env.events()?;
    assert_eq!(events[1].event_type, types::PROVISIONED);
    assert_eq!(events[1].data["pool"]["member"], member.as_str());
    assert!(
        events[1].data["pool"]["age_ms"].is_u64(),
        "{:?}",
        events[1].data
    );
    let out = std::process::Command::new(common::bin("console")?)
        .args([
            "hatch",
            "verify",
            "--chain",
            "provision-then-ralph",
            "--prompts",
            "4",
        ])
        .arg(env.hatch())
        .output()?;
    assert!(
        out.status.success(),
        "the chain verifies: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    Ok(())
}
