//! The play with every check that needs no engine, shared by the plays on each backend
//! (`tests/play.rs`) and on the multi-node swarm (`tests/cluster.rs`).

use std::net::Ipv4Addr;

use anyhow::ensure;

use crate::engine;
use crate::hatch::{assert_play_chain, read_events, render};
use crate::netcheck::NetWatch;
use crate::play::{run_play, Step};
use crate::stack::Stack;

/// Runs the play on `stack` for `slug` (`HEARTH_PLAY_PROMPTS` prompts, four by default), telling
/// `progress` each act, and checks everything that can be checked without an engine: the run
/// succeeded, the HATCH chain is whole (from the file alone and by `console hatch verify`), no
/// node failed, no process followed the proxy variables, and none connected beyond loopback
/// but to `bridges` (a swarm node's `docker_gwbridge`, where relays reach their tasks).
///
/// # Errors
/// The first check that failed, with what was seen.
pub async fn checked_play(
    stack: &Stack,
    slug: &str,
    bridges: Vec<(Ipv4Addr, u8)>,
    progress: &mut dyn FnMut(Step<'_>),
) -> anyhow::Result<()> {
    let prompts = engine::play_prompts()?;
    let watch = NetWatch::start(stack.pids(), bridges);
    let report = run_play(stack, slug, prompts, progress).await;
    let net = watch.finish();
    let report = report?;

    ensure!(
        report.run["status"] == "succeeded",
        "the run ended {} (expected succeeded): {}",
        report.run["status"],
        report.run
    );
    let events = read_events(&stack.hatch)?;
    assert_play_chain(&events, slug, prompts)?;
    ensure!(
        events.iter().all(|e| e.event_type != "ralph.node.failed"),
        "a node failed:\n{}",
        render(&events)
    );

    let v = stack.verify(prompts, false)?;
    ensure!(
        v.code == 0,
        "console hatch verify exited {} on a whole chain:\n{}{}",
        v.code,
        v.stdout,
        v.stderr
    );

    ensure!(net.samples > 1, "the network watch never sampled: {net:?}");
    ensure!(
        net.sockets_seen > 0,
        "the network watch saw no socket of the play's processes (the console and worker \
         listen on TCP): {net:?}"
    );
    ensure!(
        crate::canary::hits() == 0,
        "a process of the play followed the proxy variables of its environment ({} \
         connection(s) to the proxy canary): it would send its traffic through a proxy",
        crate::canary::hits()
    );
    ensure!(
        net.violations.is_empty(),
        "a process of the play connected beyond loopback:\n{}",
        net.violations.join("\n")
    );
    Ok(())
}
