//! How many verbs are on the engine right now, and since when none is: the warm pool waits
//! for a quiet moment before it builds or removes a member, so a refill never competes with
//! a caller's provision or teardown for the same engine.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// Verbs in flight, counted by the dispatcher, watched by the pool.
#[derive(Debug)]
pub struct InFlight {
    now: watch::Sender<Traffic>,
}

/// What [`InFlight`] holds: the verbs running and when the last one finished.
#[derive(Debug, Clone, Copy)]
struct Traffic {
    running: usize,
    settled: Instant,
}

impl Default for InFlight {
    fn default() -> Self {
        InFlight {
            now: watch::Sender::new(Traffic {
                running: 0,
                // Nothing ran yet: the engine has been quiet "forever".
                settled: Instant::now()
                    .checked_sub(Duration::from_secs(3600))
                    .unwrap_or_else(Instant::now),
            }),
        }
    }
}

/// One verb in flight; it counts until dropped (it moves into the verb's spawned task).
#[derive(Debug)]
pub struct Running(Arc<InFlight>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.now.send_modify(|t| {
            t.running = t.running.saturating_sub(1);
            t.settled = Instant::now();
        });
    }
}

impl InFlight {
    /// Counts a verb until the returned guard drops.
    pub fn enter(self: &Arc<Self>) -> Running {
        self.now.send_modify(|t| t.running += 1);
        Running(Arc::clone(self))
    }

    /// Verbs running now.
    pub fn running(&self) -> usize {
        self.now.borrow().running
    }

    /// Waits until no verb has run for `quiet`, but never longer than `at_most` (then it
    /// answers `false`): a refill defers to the callers' verbs, and is never starved by them.
    pub async fn quiet_for(&self, quiet: Duration, at_most: Duration) -> bool {
        let mut rx = self.now.subscribe();
        let wait = async {
            loop {
                let t = *rx.borrow_and_update();
                if t.running == 0 {
                    let since = t.settled.elapsed();
                    if since >= quiet {
                        return;
                    }
                    // Quiet so far: wait out the rest unless a verb starts meanwhile.
                    tokio::select! {
                        () = tokio::time::sleep(quiet - since) => {}
                        changed = rx.changed() => if changed.is_err() { return },
                    }
                } else if rx.changed().await.is_err() {
                    return;
                }
            }
        };
        tokio::time::timeout(at_most, wait).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waits_for_the_verbs_and_a_quiet_moment_but_not_for_ever() {
        let f = Arc::new(InFlight::default());
        assert!(
            f.quiet_for(Duration::from_millis(100), Duration::from_secs(1))
                .await,
            "nothing ran: quiet at once"
        );
        let running = f.enter();
        assert_eq!(f.running(), 1);
        let g = Arc::clone(&f);
        let waiter = tokio::spawn(async move {
            let start = tokio::time::Instant::now();
            let quiet = g
                .quiet_for(Duration::from_millis(100), Duration::from_secs(10))
                .await;
            (quiet, start.elapsed())
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        drop(running);
        assert_eq!(f.running(), 0);
        let (quiet, waited) = waiter.await.expect("waiter");
        assert!(quiet);
        assert!(
            waited >= Duration::from_millis(600),
            "the verb, then the quiet delay: {waited:?}"
        );
        let _busy = f.enter();
        assert!(
            !f.quiet_for(Duration::from_millis(100), Duration::from_secs(2))
                .await,
            "a verb that never ends does not starve the waiter for ever"
        );
    }
}
