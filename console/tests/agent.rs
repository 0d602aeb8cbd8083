//! The agent projection end to end, on the real binaries: hearth (Fake driver) started with
//! `HEARTH_AGENT_HATCH_URL` pointing at the console's `POST /api/relay/agent`; the play's
//! chain is written with the agent events interleaved, and `console hatch verify` still
//! judges it whole.

mod common;

use std::time::{Duration, Instant};

use anyhow::Result;
use common::{hearth_command, spawn_daemon, start_console, start_worker, Answer, Env, KEYS};
use console::verify::{check_file, Chain};
use hearth_protocol::agent;
use hearth_protocol::hatch::{types, HatchEvent};
use serde_json::json;

fn agent_events(env: &Env) -> Result<Vec<HatchEvent>> {
    Ok(env
        .events()?
        .into_iter()
        .filter(|e| e.event_type.starts_with("agent."))
        .collect())
}

/// Waits (bounded) until the log holds `n` agent events.
async fn wait_for_agent_events(env: &Env, n: usize) -> Result<Vec<HatchEvent>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = agent_events(env)?;
        if got.len() >= n || Instant::now() > deadline {
            return Ok(got);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_play_with_the_agent_projection_still_verifies() -> Result<()> {
    let env = Env::new()?;
    let keys = env.keys("keys", KEYS)?;
    let worker = start_worker(&keys, &[])?;
    // The console first: hearth needs its address and token.
    let console = start_console(&env, &worker.url, &keys, &[])?;
    let api = env.api(&console)?;
    let mut cmd = hearth_command(&env, &[])?;
    cmd.env("HEARTH_AGENT_HATCH_URL", api.url("/api/relay/agent"))
        .env("HEARTH_AGENT_HATCH_TOKEN", &api.token);
    let _hearth = spawn_daemon(&env, cmd, &env.socket())?;

    let Answer { status, body } = api.provision("acme", "solo").await?;
    assert_eq!(status, 200, "{body}");
    let prompts: Vec<String> = (1..=4).map(|i| format!("step {i}")).collect();
    let submitted = api.submit_run("acme", &prompts).await?;
    assert_eq!(submitted.status, 200, "submit: {}", submitted.body);
    let run_id = submitted.body["run_id"].as_str().unwrap_or_default();
    let Answer { body: run, .. } = api.run_after(run_id, 30).await?;
    assert_eq!(run["status"], "succeeded", "{run}");
    let Answer { status, body } = api.delete("/api/hearth/workspaces/acme").await?;
    assert_eq!(status, 200, "{body}");

    // provision: registered, invoked, completed; teardown: invoked, completed.
    let got = wait_for_agent_events(&env, 5).await?;
    let kinds: Vec<&str> = got.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        kinds,
        [
            agent::REGISTERED,
            agent::INVOKED,
            agent::COMPLETED,
            agent::INVOKED,
            agent::COMPLETED
        ],
        "{got:?}"
    );
    for e in &got {
        assert_eq!(e.subject, "acme");
        assert_eq!(e.specversion, "1.0");
        assert_eq!(e.data["agent_id"], "acme-driver-fake");
        assert_eq!(e.data["type"], e.event_type.as_str());
    }
    assert_eq!(got[1].data["capability"], "driver.provision");
    assert_eq!(got[1].data["invocation_id"], got[2].data["invocation_id"]);
    assert_eq!(got[2].data["outcome"], "ok");
    assert!(got[2].data["duration_ms"].is_u64(), "{}", got[2].data);
    assert_eq!(got[3].data["capability"], "driver.teardown");
    assert_ne!(got[3].data["invocation_id"], got[1].data["invocation_id"]);

    // The chain is whole, with the agent events in between its acts.
    let all = env.types()?;
    assert!(all.len() > 10, "{all:?}");
    assert_eq!(all.iter().filter(|t| t.starts_with("agent.")).count(), 5);
    assert!(all.contains(&types::DECOMMISSIONED.to_owned()));
    let verdict = check_file(&env.hatch(), Chain::ProvisionThenRalph, 4)?;
    assert!(verdict.ok, "{verdict:?}");
    Ok(())
}

#[tokio::test]
async fn the_relay_route_is_authenticated_and_refuses_malformed_events() -> Result<()> {
    let env = Env::new()?;
    let keys = env.keys("keys", KEYS)?;
    let console = start_console(&env, "http://127.0.0.1:9", &keys, &[])?;
    let api = env.api(&console)?;
    let good = json!({
        "type": "agent.invoked", "agent_id": "acme-driver-kustomize",
        "workspace_slug": "acme", "driver": "kustomize", "capability": "driver.provision",
        "invocation_id": "0123", "time": "2026-01-02T03:04:05Z"
    });
    let anonymous = api
        .http
        .post(api.url("/api/relay/agent"))
        .json(&good)
        .send()
        .await?;
    assert_eq!(anonymous.status().as_u16(), 401);
    for (bad, names) in [
        (json!({"type": "hearth.provisioned"}), "missing field"),
        (
            {
                let mut b = good.clone();
                b["type"] = json!("hearth.provisioned");
                b
            },
            "not an agent event",
        ),
        (
            {
                let mut b = good.clone();
                b["agent_id"] = json!("someone-else");
                b
            },
            "agent_id",
        ),
        (
            {
                let mut b = good.clone();
                b["workspace_slug"] = json!("../x");
                b["agent_id"] = json!("../x-driver-kustomize");
                b
            },
            "slug",
        ),
    ] {
        let Answer { status, body } = api.post("/api/relay/agent", bad.clone()).await?;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body.to_string().contains(names), "{bad}: {body}");
    }
    assert!(
        env.events()?.is_empty(),
        "nothing written for refused events"
    );
    let Answer { status, body } = api.post("/api/relay/agent", good).await?;
    assert_eq!(status, 202, "{body}");
    let events = env.events()?;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, "agent.invoked");
    assert_eq!(events[0].subject, "acme");
    Ok(())
}
