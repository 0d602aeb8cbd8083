//! The play — console, worker-stub and hearth, the whole HATCH chain — on a multi-node swarm of
//! private test hosts (testkit's `cluster`: three engines in network namespaces of this run's
//! own), with `lore` placed on a worker by the config file's template: the chain is whole,
//! `hearth status` names each role's node (lore's the worker's), and nothing of the play is
//! left on any node. Runs as root when HEARTH_E2E=1 (HEARTH_CLUSTER=1: "cannot run here"
//! fails instead of skipping).

use std::process::Output;

use anyhow::{ensure, Context};
use hearth_e2e::checked::checked_play;
use hearth_e2e::engine;
use hearth_e2e::junit::{case, Outcome};
use hearth_e2e::netcheck::gwbridge_subnets_at;
use hearth_e2e::play::Step;
use hearth_e2e::stack::{Stack, StackConfig};
use hearth_testkit::cluster::{self, run_in_netns, spread_config, Cluster};
use hearth_testkit::objects::instance_objects;
use serde_json::Value;

const SLUG: &str = "test";

/// Whether the cluster play runs here; `Err` when it was asked for (HEARTH_CLUSTER=1) and
/// cannot.
fn cluster_wanted(test: &str) -> anyhow::Result<Option<String>> {
    if !engine::docker_wanted() {
        return Ok(Some("HEARTH_E2E is not 1".into()));
    }
    match cluster::can_run() {
        Ok(()) => Ok(None),
        Err(why) if std::env::var("HEARTH_CLUSTER").as_deref() == Ok("1") => {
            anyhow::bail!("{test}: HEARTH_CLUSTER=1 but {why}")
        }
        Err(why) => {
            eprintln!("SKIPPED {test}: multi-node swarm: {why}");
            Ok(Some(format!("multi-node swarm: {why}")))
        }
    }
}

#[test]
fn play_on_the_cluster_with_a_role_on_a_worker() {
    const NAME: &str = "play_on_the_cluster_with_a_role_on_a_worker";
    let skip = cluster_wanted(NAME).expect("the cluster suite");
    let c = skip
        .is_none()
        .then(|| Cluster::start(3, &engine::test_image()).expect("a 3-node cluster starts"));
    let netns = c.as_ref().map(Cluster::manager_netns);
    let body = async {
        let Some(c) = &c else {
            return Ok(Outcome::Skipped(skip.clone().unwrap_or_default()));
        };
        play_on(c).await?;
        Ok(Outcome::Passed)
    };
    match netns {
        Some(ns) => run_in_netns(&ns, case("cluster", NAME, body)),
        None => tokio::runtime::Runtime::new()
            .expect("runtime")
            .block_on(case("cluster", NAME, body)),
    }
    if let Some(c) = c {
        c.stop();
    }
}

/// The play on `c` (this thread already in its manager's namespace), lore on worker 1.
async fn play_on(c: &Cluster) -> anyhow::Result<()> {
    c.label(1, "zone", "w1")?;
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("hearth.toml");
    std::fs::write(&config, spread_config(&engine::test_image(), "w1", true))?;
    let cfg = StackConfig {
        docker_host: Some(c.manager_host()),
        hearth_env: vec![(
            "HEARTH_CONFIG".to_owned(),
            config.to_string_lossy().into_owned(),
        )],
        ..StackConfig::swarm("play-cluster")
    };
    let stack = Stack::start(&cfg).await?;
    // Asked once the run is under way: the workspace is ready, its tasks placed.
    let mut seen: Option<anyhow::Result<(Output, Output)>> = None;
    let mut progress = |step: Step<'_>| {
        if matches!(step, Step::RunAccepted { .. }) && seen.is_none() {
            seen = Some(
                stack
                    .hearth_cli(&["status", SLUG, "-o", "json"])
                    .and_then(|json| Ok((json, stack.hearth_cli(&["status", SLUG])?))),
            );
        }
    };
    let bridges = gwbridge_subnets_at(Some(&c.manager_host()));
    checked_play(&stack, SLUG, bridges, &mut progress).await?;
    let (json, table) = seen.context("the play never reached its run")??;
    roles_on_their_nodes(c, &json, &table)?;

    for (n, node) in c.nodes.iter().enumerate() {
        let left = instance_objects(Some(&node.engine.host()), &stack.instance);
        ensure!(
            left.is_empty(),
            "the teardown left objects of instance {} on node {n}: {left:?}",
            stack.instance
        );
    }
    Ok(())
}

/// `hearth status` during the run named cairnet's node the manager and lore's the worker, in
/// its JSON and in its table.
fn roles_on_their_nodes(c: &Cluster, json: &Output, table: &Output) -> anyhow::Result<()> {
    let text = String::from_utf8_lossy(&json.stdout);
    let v: Value = serde_json::from_str(&text)
        .with_context(|| format!("`hearth status -o json` answered {text:?}"))?;
    ensure!(v["status"] == "ready", "status during the run: {v}");
    let node_of = |role: &str| {
        v["roles"]
            .as_array()
            .and_then(|roles| roles.iter().find(|r| r["role"] == role))
            .map(|r| (r["state"].clone(), r["node"]["id"].clone()))
    };
    for (role, n) in [("cairnet", 0), ("lore", 1)] {
        let want = c.nodes[n].node_id.as_str();
        let (state, node) = node_of(role).with_context(|| format!("no role {role} in {v}"))?;
        ensure!(
            state == "running" && node == want,
            "role {role}: {state} on node {node}, expected running on node {n} ({want}): {v}"
        );
    }
    let human = String::from_utf8_lossy(&table.stdout);
    let lore_id: String = c.nodes[1].node_id.chars().take(12).collect();
    ensure!(
        human
            .lines()
            .any(|l| l.trim_start().starts_with("lore") && l.contains(&lore_id)),
        "`hearth status` shows no row of lore on node {lore_id}:\n{human}"
    );
    Ok(())
}
