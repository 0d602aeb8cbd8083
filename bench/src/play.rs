//! The whole play without builds, against the floor doing the same engine work: hearth, the
//! worker and the console started once (their start-up timed separately, over fresh stacks),
//! then per round a workspace created through the console, a four-prompt run, and the
//! workspace deleted; the floor provisions through the API, sends the same four HTTP
//! requests to the workspace's front door, and tears down. What the difference shows is what
//! the console, the worker and HATCH add.

use std::time::Duration;

use anyhow::Context;
use tokio::time::Instant;

use crate::report::play::{ActTimes, PlayFigures};
use crate::run::Bench;
use crate::spec::Names;
use crate::stack::Stack;

/// The play's job: four prompts, as in the design.
pub(crate) fn prompts() -> Vec<String> {
    (1..=4).map(|i| format!("bench prompt {i}")).collect()
}

/// Bound on one request of the floor's mock work (the worker's node timeout).
const TOUCH_TIMEOUT: Duration = Duration::from_secs(2);

/// The ways of running the play's acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    Play,
    Floor,
    /// The same stack's hearth over its own socket: what the console adds.
    Rpc,
}

/// Rounds of the play, the floor and the RPC at the least. The console's share over hearth's
/// own RPC is a ratio of two figures a few percent apart, while one teardown on this engine
/// swings by ±30 ms: medians of 5 made that ratio land on either side of its target from one
/// run to the next.
const PLAY_ROUNDS: usize = 11;

impl Bench<'_> {
    /// Start-up over `runs` fresh stacks, then at least [`PLAY_ROUNDS`] rounds (after a
    /// warm-up) of the play, the floor and the RPC, alternating.
    ///
    /// # Errors
    /// When the stack cannot start or the floor fails (a broken floor makes the ratio
    /// meaningless); failed play rounds are recorded instead.
    pub(crate) async fn play(&mut self) -> anyhow::Result<PlayFigures> {
        let bins = self.plan.play_bins.clone();
        let mut figures = PlayFigures::default();
        for _ in 0..self.plan.runs {
            let (stack, took) = Stack::start(&self.launch, &bins, &[]).await?;
            figures.startup.push(took);
            stack.stop().await?;
        }
        let (stack, _) = Stack::start(&self.launch, &bins, &[]).await?;
        let http = reqwest::Client::new();
        let ways = [Way::Play, Way::Floor, Way::Rpc];
        for round in 0..=self.plan.runs.max(PLAY_ROUNDS) {
            let mut order = ways;
            order.rotate_left(round % ways.len());
            for way in order {
                let slug = self.next_slug();
                let result = match way {
                    Way::Play => play_once(&stack, &slug).await,
                    Way::Floor => self.floor_once(&http, &slug).await,
                    Way::Rpc => rpc_once(&stack, &http, &slug).await,
                };
                if !self
                    .after_round(way, way == Way::Floor, round, &result)
                    .await?
                {
                    continue;
                }
                let times: &mut ActTimes = match way {
                    Way::Play => &mut figures.play,
                    Way::Floor => &mut figures.floor,
                    Way::Rpc => &mut figures.rpc,
                };
                times.record(result);
            }
        }
        stack.stop().await?;
        Ok(figures)
    }

    /// The floor's round: provision through the API, the four requests, teardown.
    async fn floor_once(
        &self,
        http: &reqwest::Client,
        slug: &str,
    ) -> anyhow::Result<[Duration; 3]> {
        let names = Names::new("hbf", slug);
        let t0 = Instant::now();
        let urls = self.floor.provision_endpoints(&names).await?;
        let provision = t0.elapsed();
        let front = urls.first().context("no front door")?;
        let run = touch(http, front).await?;
        let t2 = Instant::now();
        self.floor.teardown(&names).await?;
        Ok([provision, run, t2.elapsed()])
    }
}

/// The four requests of the floor's "run" to the workspace's front door; how long they took.
async fn touch(http: &reqwest::Client, front: &str) -> anyhow::Result<Duration> {
    let t1 = Instant::now();
    for _ in prompts() {
        let resp = http
            .get(front)
            .timeout(TOUCH_TIMEOUT)
            .send()
            .await
            .with_context(|| format!("GET {front}"))?;
        anyhow::ensure!(
            !resp.status().is_server_error(),
            "{front} answered {}",
            resp.status()
        );
    }
    Ok(t1.elapsed())
}

/// The acts through the stack's hearth directly: provision, the four requests, teardown.
async fn rpc_once(
    stack: &Stack,
    http: &reqwest::Client,
    slug: &str,
) -> anyhow::Result<[Duration; 3]> {
    let t0 = Instant::now();
    let r = stack.hearth().provision_ref(slug).await?;
    let provision = t0.elapsed();
    let front = r["endpoint"].as_str().context("no endpoint")?.to_owned();
    let run = touch(http, &front).await?;
    let t2 = Instant::now();
    stack.hearth().teardown(slug).await?;
    Ok([provision, run, t2.elapsed()])
}

/// The play's round through the console: provision, run (submit + wait), teardown.
pub(crate) async fn play_once(stack: &Stack, slug: &str) -> anyhow::Result<[Duration; 3]> {
    let prompts = prompts();
    let t0 = Instant::now();
    stack.console.provision(slug).await?;
    let provision = t0.elapsed();
    let t1 = Instant::now();
    let run_id = stack.console.submit(slug, &prompts).await?;
    stack.console.wait(&run_id, prompts.len()).await?;
    let run = t1.elapsed();
    let t2 = Instant::now();
    stack.console.teardown(slug).await?;
    Ok([provision, run, t2.elapsed()])
}
