//! The console's added latency per relayed KAHN frame, measured from outside with two
//! observers on one clock: the bench subscribes to the worker's signed event stream itself
//! (with the console's own `WorkerClient`, so both read the same SSE the same way) and to the
//! console's HATCH live tail. For every frame the console records — each terminal
//! `node_transition` and `run_ended` — the latency is the time from the frame reaching the
//! bench from the worker to its `ralph.node.*` / `ralph.run.ended` event reaching the bench
//! from the tail: the console's parse, bookkeeping, the HATCH append with its fsync, and the
//! tail's delivery. The worker runs with `--fault slow=MS` so nodes are spaced out: every
//! frame is measured live (not replayed from the worker's backlog to a late subscriber) and
//! none waits behind the previous one's fsync — the per-frame cost, not a queue.

use std::time::Duration;

use anyhow::{bail, Context};
use console::worker::WorkerClient;
use futures::StreamExt;
use hearth_protocol::bearer::Keyring;
use hearth_protocol::hatch::types;
use hearth_protocol::kahn::Frame;
use tokio::time::{timeout, Instant};

use crate::console_api::Console;
use crate::report::play::RelayFigures;
use crate::run::Bench;
use crate::stack::Stack;

/// Prompts per measured run.
pub(crate) const PROMPTS: usize = 8;
/// Minimum node duration the worker is told to take (`--fault slow=MS`).
pub(crate) const SLOW_MS: u64 = 30;
/// A frame that reaches the bench within this of its subscribing came from the backlog.
const BACKLOG_GUARD: Duration = Duration::from_millis(2);
/// Bound on one run.
const RUN_DEADLINE: Duration = Duration::from_secs(60);

/// Which recorded act a frame or an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Node(u64),
    End,
}

impl Bench<'_> {
    /// One workspace through the console, then a warm-up and `runs` runs of [`PROMPTS`]
    /// prompts on a worker slowed to [`SLOW_MS`] per node.
    ///
    /// # Errors
    /// When the stack or the workspace cannot be brought up; failed runs are recorded.
    pub(crate) async fn relay(&mut self) -> anyhow::Result<RelayFigures> {
        let bins = self.plan.play_bins.clone();
        let faults = [format!("slow={SLOW_MS}")];
        let (stack, _) = Stack::start(&self.launch, &bins, &faults).await?;
        let keys = Keyring::load(&stack.keys).context("load the play's keys")?;
        let worker = WorkerClient::new(&stack.worker_url, keys).map_err(anyhow::Error::msg)?;
        let slug = self.next_slug();
        stack.console.provision(&slug).await?;
        let mut figures = RelayFigures {
            prompts: PROMPTS,
            slow_ms: SLOW_MS,
            ..RelayFigures::default()
        };
        let prompts: Vec<String> = (1..=PROMPTS).map(|i| format!("relay prompt {i}")).collect();
        for round in 0..=self.plan.runs {
            let result = one_run(&stack.console, &worker, &slug, &prompts).await;
            if round == 0 {
                continue; // warm-up
            }
            match result {
                Ok((latencies, backlog)) => {
                    figures.latencies.extend(latencies);
                    figures.backlog_skipped += backlog;
                }
                Err(err) => {
                    tracing::warn!(round, error = %format!("{err:#}"), "relay run failed");
                    figures.failures += 1;
                    figures
                        .first_error
                        .get_or_insert_with(|| format!("{err:#}"));
                }
            }
        }
        stack.console.teardown(&slug).await?;
        stack.stop().await?;
        Ok(figures)
    }
}

/// One run: the per-frame latencies, and how many frames were skipped as backlog.
async fn one_run(
    console: &Console,
    worker: &WorkerClient,
    slug: &str,
    prompts: &[String],
) -> anyhow::Result<(Vec<Duration>, usize)> {
    let after = console.last_seq().await?;
    let mut tail = console.tail(after).await?;
    let recorded = tokio::spawn(async move {
        let mut seen: Vec<(Instant, Act, String)> = Vec::new();
        while let Some(event) = tail.next().await {
            let event = event?;
            let at = Instant::now();
            let act = match event.event_type.as_str() {
                types::NODE_SUCCEEDED | types::NODE_FAILED => event
                    .data
                    .get("index")
                    .and_then(|i| i.as_u64())
                    .map(Act::Node),
                types::RUN_ENDED => Some(Act::End),
                _ => None,
            };
            if let Some(act) = act {
                seen.push((at, act, event.subject.clone()));
                if act == Act::End {
                    return Ok(seen);
                }
            }
        }
        bail!("the HATCH tail ended before ralph.run.ended")
    });

    let run_id = console.submit(slug, prompts).await?;
    let mut stream = worker.events(&run_id, None).await?;
    let subscribed = Instant::now();
    let mut emitted: Vec<(Instant, Act)> = Vec::new();
    let until = subscribed + RUN_DEADLINE;
    loop {
        let item = timeout(until - Instant::now(), stream.next())
            .await
            .context("the worker's stream did not end in time")?
            .context("the worker's stream ended before run_ended")?;
        let event = item?;
        let at = Instant::now();
        match Frame::parse(&event.data)? {
            Frame::NodeTransition(t) if t.is_terminal() => {
                emitted.push((at, Act::Node(u64::from(t.index))));
            }
            Frame::RunEnded(_) => {
                emitted.push((at, Act::End));
                break;
            }
            _ => {}
        }
    }
    let seen = timeout(RUN_DEADLINE, recorded)
        .await
        .context("HATCH did not record the run's end in time")???;
    let seen: Vec<(Instant, Act)> = seen
        .into_iter()
        .filter(|(_, _, subject)| *subject == run_id)
        .map(|(at, act, _)| (at, act))
        .collect();
    pair(&emitted, &seen, subscribed)
}

/// Pairs each frame with its event; frames seen within [`BACKLOG_GUARD`] of subscribing are
/// skipped (counted) because the worker may have sent them before the bench was listening.
fn pair(
    emitted: &[(Instant, Act)],
    seen: &[(Instant, Act)],
    subscribed: Instant,
) -> anyhow::Result<(Vec<Duration>, usize)> {
    let mut latencies = Vec::new();
    let mut backlog = 0;
    for (sent, act) in emitted {
        let (got, _) = seen
            .iter()
            .find(|(_, a)| a == act)
            .with_context(|| format!("HATCH has no event for {act:?}"))?;
        if sent.duration_since(subscribed) < BACKLOG_GUARD {
            backlog += 1;
            continue;
        }
        latencies.push(got.saturating_duration_since(*sent));
    }
    Ok((latencies, backlog))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_frames_with_events_and_skips_the_backlog() {
        let t = Instant::now();
        let ms = Duration::from_millis;
        let emitted = [
            (t, Act::Node(0)),
            (t + ms(30), Act::Node(1)),
            (t + ms(31), Act::End),
        ];
        let seen = [
            (t + ms(2), Act::Node(0)),
            (t + ms(33), Act::Node(1)),
            (t + ms(35), Act::End),
        ];
        let (lat, backlog) = pair(&emitted, &seen, t).unwrap();
        assert_eq!(backlog, 1);
        assert_eq!(lat, vec![ms(3), ms(4)]);
        assert!(pair(&emitted, &seen[..1], t).is_err());
    }
}
