//! The fault drills: one per row of the design's failure table, each made real (a missing
//! binary, a socket with no engine behind it, key files that differ, the worker's fault
//! switch, a proxy that stalls container removal) and each asserting its precise gap in the
//! HATCH log and `console hatch verify`'s diagnosis of it.

use std::time::Duration;

use anyhow::{ensure, Context};
use hearth_e2e::bins;
use hearth_e2e::engine::{self, find_instance, sweep_instance};
use hearth_e2e::hatch::{count, first, read_events, render, NODE_PREFIX};
use hearth_e2e::junit::{case, Outcome};
use hearth_e2e::proxy::{stall_container_stop_and_remove, StallingProxy};
use hearth_e2e::stack::{mock_prompts, verify_file, Stack, StackConfig, Verdict};
use hearth_protocol::hatch::types;

const PROMPTS: usize = 4;

/// Asserts verify exits 1 and names `cause` (and the stable `code`).
fn assert_diagnosis(v: &Verdict, code: &str, cause: &str) -> anyhow::Result<()> {
    ensure!(
        v.code == 1,
        "console hatch verify exited {} (expected 1):\n{}{}",
        v.code,
        v.stdout,
        v.stderr
    );
    ensure!(
        v.stdout.contains(&format!("cause: {cause}")),
        "verify did not name the cause {cause:?}:\n{}",
        v.stdout
    );
    ensure!(
        v.stdout.contains(&format!("({code})")),
        "verify did not give the code {code}:\n{}",
        v.stdout
    );
    Ok(())
}

#[tokio::test]
async fn drill_hearth_binary_missing() {
    case("drills", "drill_hearth_binary_missing", async {
        let empty = tempfile::tempdir()?;
        let cfg = StackConfig {
            bin_dir: Some(empty.path().to_path_buf()),
            ..StackConfig::fake("missing-bin")
        };
        let err = Stack::start(&cfg)
            .await
            .err()
            .context("the stack started without a hearth binary")?;
        let msg = format!("{err:#}");
        ensure!(msg.contains("`hearth` binary is missing"), "{msg}");
        ensure!(msg.contains("make build"), "{msg}");
        // Nothing ran, so there is no log; verify says so.
        let console = bins::binary_in(&bins::profile_dir()?, "console")?;
        let v = verify_file(
            &console,
            empty.path(),
            &empty.path().join("hatch.jsonl"),
            PROMPTS,
            false,
        )?;
        assert_diagnosis(
            &v,
            "no_log",
            "hearth or console never ran: the log is empty or missing",
        )?;
        Ok(Outcome::Passed)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_docker_engine_unreachable() {
    case("drills", "drill_docker_engine_unreachable", async {
        // A socket nobody serves (left by an engine that stopped): hearth starts, and the
        // provision finds the engine down. A socket path with no file at all is refused at
        // start instead (`hearth/tests/engines.rs`).
        let nowhere = tempfile::tempdir()?;
        let stale = nowhere.path().join("no-engine.sock");
        drop(std::os::unix::net::UnixListener::bind(&stale)?);
        let cfg = StackConfig {
            docker_host: Some(format!("unix://{}", stale.display())),
            ..StackConfig::docker("no-engine")
        };
        let stack = Stack::start(&cfg).await?;
        let a = stack.api.provision("test", "solo").await?;
        ensure!(!a.ok(), "provision succeeded with no engine: {}", a.body);
        let events = read_events(&stack.hatch)?;
        let failed = first(&events, types::FAILED)
            .with_context(|| format!("no hearth.failed:\n{}", render(&events)))?;
        ensure!(
            failed.data["code"] == "docker_unavailable",
            "hearth.failed is {} (expected docker_unavailable)",
            failed.data
        );
        ensure!(
            count(&events, types::PROVISIONED) == 0,
            "{}",
            render(&events)
        );
        assert_diagnosis(
            &stack.verify(PROMPTS, false)?,
            "docker_unavailable",
            "Docker engine not running",
        )?;
        Ok(Outcome::Passed)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_bearer_drift() {
    case("drills", "drill_bearer_drift", async {
        let cfg = StackConfig {
            worker_keys_differ: true,
            ..StackConfig::fake("bearer-drift")
        };
        let stack = Stack::start(&cfg).await?;
        let a = stack.api.provision("test", "solo").await?;
        ensure!(a.ok(), "provision: {} {}", a.status, a.body);
        let a = stack.api.submit_run("test", &mock_prompts(PROMPTS)).await?;
        ensure!(
            !a.ok(),
            "the worker accepted a run signed with another key: {}",
            a.body
        );
        let events = read_events(&stack.hatch)?;
        let rejected = first(&events, types::SUBMIT_REJECTED)
            .with_context(|| format!("no ralph.submit_rejected:\n{}", render(&events)))?;
        ensure!(
            rejected.data["status"] == 401,
            "submit_rejected {}",
            rejected.data
        );
        ensure!(
            count(&events, types::RUN_STARTED) == 0,
            "{}",
            render(&events)
        );
        stack.api.decommission("test").await?;
        assert_diagnosis(
            &stack.verify(PROMPTS, false)?,
            "bearer_drift",
            "worker bearer drift (keys differ)",
        )?;
        Ok(Outcome::Passed)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_kahn_schema_drift() {
    case("drills", "drill_kahn_schema_drift", async {
        let cfg = StackConfig {
            worker_faults: vec!["bad-frame".into()],
            ..StackConfig::fake("kahn-drift")
        };
        let stack = Stack::start(&cfg).await?;
        let a = stack.api.provision("test", "solo").await?;
        ensure!(a.ok(), "provision: {} {}", a.status, a.body);
        let a = stack.api.submit_run("test", &mock_prompts(PROMPTS)).await?;
        ensure!(a.ok(), "submit: {} {}", a.status, a.body);
        let run_id = a.body["run_id"].as_str().context("no run_id")?.to_owned();
        stack
            .api
            .wait_run(&run_id, Duration::from_secs(300))
            .await?;
        stack.api.decommission("test").await?;
        let events = read_events(&stack.hatch)?;
        ensure!(
            count(&events, types::FRAME_REJECTED) > 0,
            "no ralph.frame_rejected:\n{}",
            render(&events)
        );
        let nodes = count(&events, NODE_PREFIX);
        ensure!(
            nodes < PROMPTS,
            "{nodes} node events despite bad frames:\n{}",
            render(&events)
        );
        let v = stack.verify(PROMPTS, false)?;
        assert_diagnosis(&v, "kahn_schema_drift", "KAHN schema drift")?;
        Ok(Outcome::Passed)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_teardown_past_its_deadline() {
    case("drills", "drill_teardown_past_its_deadline", async {
        let Some(docker) = engine::engine_for("drill_teardown_past_its_deadline").await? else {
            return Ok(Outcome::Skipped("HEARTH_E2E is not 1".into()));
        };
        let proxy_dir = tempfile::tempdir()?;
        let proxy = StallingProxy::start(
            proxy_dir.path(),
            engine::engine_socket(),
            stall_container_stop_and_remove(),
        )?;
        let cfg = StackConfig {
            docker_host: Some(proxy.docker_host()),
            teardown_timeout: Some(3),
            ..StackConfig::docker("teardown-deadline")
        };
        let stack = Stack::start(&cfg).await?;
        let instance = stack.instance.clone();
        let slug = "drill-teardown";
        let result = async {
            let a = stack.api.provision(slug, "solo").await?;
            ensure!(a.ok(), "provision through the proxy: {} {}", a.status, a.body);
            let a = stack.api.submit_run(slug, &mock_prompts(PROMPTS)).await?;
            ensure!(a.ok(), "submit: {} {}", a.status, a.body);
            let run_id = a.body["run_id"].as_str().context("no run_id")?.to_owned();
            stack.api.wait_run(&run_id, Duration::from_secs(300)).await?;
            let a = stack.api.decommission(slug).await?;
            ensure!(!a.ok(), "the teardown succeeded although the proxy held every container stop and remove: {}", a.body);
            ensure!(proxy.stalled() > 0, "the proxy held no request");
            let events = read_events(&stack.hatch)?;
            let failed = first(&events, types::DECOMMISSION_FAILED)
                .with_context(|| format!("no hearth.decommission_failed:\n{}", render(&events)))?;
            ensure!(failed.data["code"] == "deadline_exceeded", "decommission_failed {}", failed.data);
            ensure!(count(&events, types::DECOMMISSIONED) == 0, "{}", render(&events));
            assert_diagnosis(&stack.verify(PROMPTS, false)?, "teardown_deadline", "teardown past its deadline")
        }
        .await;
        drop(stack);
        drop(proxy);
        // The stuck workspace is cleaned up with the real engine, by label.
        sweep_instance(&docker, &instance).await?;
        let left = find_instance(&docker, &instance).await?;
        ensure!(left.is_empty(), "objects of {instance} survived the sweep: {left:?}");
        result?;
        Ok(Outcome::Passed)
    })
    .await;
}

/// The engine goes away in the middle of a provision (the proxy in front of it dies while a
/// container start is in flight): the provision answers `docker_unavailable` with a hint,
/// hearth records `failed` (never `ready`), and once the engine is back a teardown leaves
/// nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_engine_vanishes_mid_provision() {
    case("drills", "drill_engine_vanishes_mid_provision", async {
        let Some(docker) = engine::engine_for("drill_engine_vanishes_mid_provision").await? else {
            return Ok(Outcome::Skipped("HEARTH_E2E is not 1".into()));
        };
        let proxy_dir = tempfile::tempdir()?;
        let hold_starts: hearth_e2e::proxy::StallRule =
            std::sync::Arc::new(|method: &hyper::Method, path: &str| {
                method == hyper::Method::POST
                    && path.starts_with("/containers/")
                    && path.ends_with("/start")
            });
        let proxy = StallingProxy::start(proxy_dir.path(), engine::engine_socket(), hold_starts)?;
        let cfg = StackConfig {
            docker_host: Some(proxy.docker_host()),
            ..StackConfig::docker("engine-vanishes")
        };
        let stack = Stack::start(&cfg).await?;
        let instance = stack.instance.clone();
        let slug = "drill-vanish";
        let result = async {
            // The engine goes away once a container start is in flight.
            let (answer, held) = tokio::join!(stack.api.provision(slug, "solo"), async move {
                proxy.wait_stalled(1, Duration::from_secs(60)).await;
                proxy.stalled()
            });
            ensure!(held > 0, "no container start reached the proxy");
            let a = answer?;
            ensure!(
                !a.ok(),
                "provision succeeded with the engine gone: {}",
                a.body
            );
            ensure!(
                a.body["error"]["code"] == "docker_unavailable",
                "expected docker_unavailable: {}",
                a.body
            );
            ensure!(a.body["error"]["hint"].is_string(), "a hint: {}", a.body);
            let status = stack.hearth_status(slug)?;
            ensure!(status == "failed", "recorded {status}, not failed");
            // The engine is back (the same socket path, nothing held any more).
            let back = StallingProxy::start(
                proxy_dir.path(),
                engine::engine_socket(),
                std::sync::Arc::new(|_: &hyper::Method, _: &str| false),
            )?;
            let a = stack.api.decommission(slug).await?;
            ensure!(
                a.ok(),
                "teardown once the engine is back: {} {}",
                a.status,
                a.body
            );
            let left = find_instance(&docker, &instance).await?;
            ensure!(left.is_empty(), "objects left after the teardown: {left:?}");
            drop(back);
            Ok(())
        }
        .await;
        drop(stack);
        sweep_instance(&docker, &instance).await?;
        result?;
        Ok(Outcome::Passed)
    })
    .await;
}
