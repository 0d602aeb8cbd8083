//! The play: hearth → provision `test` (solo) → a run of mock prompts (four, or
//! `HEARTH_PLAY_PROMPTS`) → teardown →
//! `tier_torn_down`, asserted from the HATCH JSONL file alone and by `console hatch verify`,
//! under an empty environment and with every child's sockets watched for non-loopback peers.
//! The Fake-driver play always runs; the Docker play needs `HEARTH_E2E=1` (and then fails,
//! never skips, without an engine).

use anyhow::{bail, ensure, Context};
use hearth_e2e::checked::checked_play;
use hearth_e2e::engine::{self, find_instance};
use hearth_e2e::junit::{self, case, Outcome};
use hearth_e2e::stack::{Stack, StackConfig};

const SLUG: &str = "test";

/// Runs the play on `stack` and checks everything that can be checked without an engine;
/// beside loopback, only the node's own swarm bridge may be a peer (Swarm relays reach their
/// task containers there).
async fn play_and_check(stack: &Stack) -> anyhow::Result<()> {
    let bridges = hearth_e2e::netcheck::gwbridge_subnets();
    checked_play(stack, SLUG, bridges, &mut |_| {}).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn play_on_the_fake_driver() {
    case("play", "play_on_the_fake_driver", async {
        let stack = Stack::start(&StackConfig::fake("play-fake")).await?;
        play_and_check(&stack).await?;
        Ok(Outcome::Passed)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn play_on_docker() {
    case("play", "play_on_docker", async {
        let Some(docker) = engine::engine_for("play_on_docker").await? else {
            return Ok(Outcome::Skipped("HEARTH_E2E is not 1".into()));
        };
        play_on_engine(&docker, &StackConfig::docker("play-docker"), "hatch.jsonl").await
    })
    .await;
}

/// The same play, the same chain, with hearth on a swarm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn play_on_swarm() {
    case("play", "play_on_swarm", async {
        let Some(docker) = engine::engine_for("play_on_swarm").await? else {
            return Ok(Outcome::Skipped("HEARTH_E2E is not 1".into()));
        };
        if !engine::swarm_for("play_on_swarm", &docker).await? {
            return Ok(Outcome::Skipped("the engine is not a swarm manager".into()));
        }
        play_on_engine(
            &docker,
            &StackConfig::swarm("play-swarm"),
            "hatch-swarm.jsonl",
        )
        .await
    })
    .await;
}

/// Two whole plays, each with its own hearth, worker and console, both provisioning slug
/// `test` on one engine at the same moment: both green, each daemon's objects its own, and
/// nothing of either left after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_plays_share_one_engine() {
    case("play", "two_plays_share_one_engine", async {
        let Some(docker) = engine::engine_for("two_plays_share_one_engine").await? else {
            return Ok(Outcome::Skipped("HEARTH_E2E is not 1".into()));
        };
        let (ca, cb) = (StackConfig::docker("twin-a"), StackConfig::docker("twin-b"));
        let (a, b) = tokio::try_join!(Stack::start(&ca), Stack::start(&cb))?;
        ensure!(a.instance != b.instance, "two daemons, two instances");
        let (ra, rb) = tokio::join!(play_and_check(&a), play_and_check(&b));
        ra.context("the first play")?;
        rb.context("the second play")?;
        for stack in [&a, &b] {
            let left = find_instance(&docker, &stack.instance).await?;
            ensure!(
                left.is_empty(),
                "instance {} left objects on the engine: {left:?}",
                stack.instance
            );
        }
        Ok(Outcome::Passed)
    })
    .await;
}

/// Plays on an engine-backed stack, keeps its HATCH log as `kept` for CI, and checks that the
/// teardown left nothing of the stack's instance.
async fn play_on_engine(
    docker: &bollard::Docker,
    cfg: &StackConfig,
    kept: &str,
) -> anyhow::Result<Outcome> {
    let stack = Stack::start(cfg).await?;
    let result = play_and_check(&stack).await;
    // Keep the log for CI whatever happened.
    let kept = junit::e2e_dir()?.join(kept);
    if stack.hatch.exists() {
        std::fs::copy(&stack.hatch, &kept)
            .with_context(|| format!("cannot copy the HATCH log to {}", kept.display()))?;
    }
    result?;
    let left = find_instance(docker, &stack.instance).await?;
    if !left.is_empty() {
        bail!(
            "the teardown left objects labelled dev.hearth.instance={} on the engine: {left:?}",
            stack.instance
        );
    }
    Ok(Outcome::Passed)
}

#[tokio::test]
async fn docker_tests_fail_loudly_without_an_engine() {
    case(
        "play",
        "docker_tests_fail_loudly_without_an_engine",
        async {
            let dir = tempfile::tempdir()?;
            let host = format!("unix://{}", dir.path().join("no-engine.sock").display());
            let err = engine::require_engine_at(&host)
                .await
                .err()
                .context("an engine answered on a socket nobody serves")?;
            let msg = format!("{err:#}");
            ensure!(msg.contains("HEARTH_E2E=1"), "{msg}");
            ensure!(msg.contains("no-engine.sock"), "{msg}");
            ensure!(msg.contains("never skip"), "{msg}");
            Ok(Outcome::Passed)
        },
    )
    .await;
}
