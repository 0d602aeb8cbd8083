//! Boot and lifecycle steps of each workspace, with timings: what `POST /v1/events` and
//! `hearth events SLUG` show, so a slow or stuck operation shows where it is.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::Utc;
use hearth_protocol::hearth::LifecycleEvent;
use tokio::sync::broadcast;

use crate::driver::Step;
use crate::slug::Slug;

/// Steps kept per workspace; older ones are dropped first.
const KEEP: usize = 512;

#[derive(Debug)]
struct Journal {
    events: Vec<LifecycleEvent>,
    next_seq: u64,
    /// Live followers (`hearth events --follow`).
    tx: broadcast::Sender<LifecycleEvent>,
}

/// Every workspace's steps, in memory.
#[derive(Debug, Clone, Default)]
pub struct EventLog {
    inner: Arc<Mutex<HashMap<Slug, Journal>>>,
}

impl EventLog {
    /// A recorder for one operation on `slug`; timings count from now.
    pub fn steps(&self, slug: &Slug) -> Steps {
        Steps {
            slug: slug.clone(),
            log: self.clone(),
            started: Instant::now(),
        }
    }

    /// The steps recorded for `slug` so far.
    pub fn snapshot(&self, slug: &Slug) -> Vec<LifecycleEvent> {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.get(slug).map(|j| j.events.clone()).unwrap_or_default()
    }

    /// The steps so far and a receiver for the ones to come, taken atomically.
    pub fn follow(
        &self,
        slug: &Slug,
    ) -> (Vec<LifecycleEvent>, broadcast::Receiver<LifecycleEvent>) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let journal = map.entry(slug.clone()).or_insert_with(Journal::new);
        (journal.events.clone(), journal.tx.subscribe())
    }

    /// The last step recorded for `slug`, if any.
    pub fn last_step(&self, slug: &Slug) -> Option<String> {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.get(slug)
            .and_then(|j| j.events.last())
            .map(|e| match &e.role {
                Some(role) => format!("{} ({role})", e.step),
                None => e.step.clone(),
            })
    }

    fn push(&self, slug: &Slug, mut event: LifecycleEvent) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let journal = map.entry(slug.clone()).or_insert_with(Journal::new);
        event.seq = journal.next_seq;
        journal.next_seq += 1;
        if journal.events.len() >= KEEP {
            journal.events.remove(0);
        }
        journal.events.push(event.clone());
        // No follower is not an error.
        let _ = journal.tx.send(event);
    }
}

impl Journal {
    fn new() -> Self {
        Journal {
            events: Vec::new(),
            next_seq: 0,
            tx: broadcast::channel(KEEP).0,
        }
    }
}

/// Records the steps of one operation on one workspace.
#[derive(Debug, Clone)]
pub struct Steps {
    slug: Slug,
    log: EventLog,
    started: Instant,
}

impl Steps {
    /// Records `step` (for `role`, if it concerns one service) with its time since the
    /// operation began.
    pub fn record(&self, step: &str, role: Option<&str>, detail: Option<String>) {
        let elapsed_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        tracing::debug!(workspace = %self.slug, step, role, elapsed_ms, detail = detail.as_deref(), "step");
        self.log.push(
            &self.slug,
            LifecycleEvent {
                seq: 0,
                at: Utc::now(),
                step: step.to_owned(),
                role: role.map(str::to_owned),
                elapsed_ms,
                detail,
            },
        );
    }

    /// Records a driver's `step`: every driver names its steps with the one [`Step`] enum.
    pub fn step(&self, step: Step, role: Option<&str>, detail: Option<String>) {
        self.record(step.as_str(), role, detail);
    }

    /// A recorder that keeps nothing (for rollbacks nobody will read).
    pub fn detached(slug: &Slug) -> Steps {
        EventLog::default().steps(slug)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_numbered_and_followable() {
        let log = EventLog::default();
        let slug = Slug::parse("a").expect("slug");
        let steps = log.steps(&slug);
        steps.record("provision_started", None, None);
        let (backlog, mut rx) = log.follow(&slug);
        steps.record("role_ready", Some("lore"), None);
        assert_eq!(backlog.len(), 1);
        let next = rx.try_recv().expect("live step");
        assert_eq!((next.seq, next.step.as_str()), (1, "role_ready"));
        assert_eq!(log.last_step(&slug).as_deref(), Some("role_ready (lore)"));
    }
}
