//! The step journal: boot and lifecycle steps of each workspace, with timings — what
//! `POST /v1/events` and `hearth events SLUG` show (the wire calls them events), so a slow
//! or stuck operation shows where it is. [`Journal`] holds every workspace's steps; a
//! [`Steps`] records one operation's into it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::Utc;
use hearth_protocol::hearth::{LifecycleEvent, Phase};
use hearth_protocol::verb::Verb;
use tokio::sync::broadcast;

use crate::slug::Slug;
use crate::step::Step;

/// Steps kept per workspace; older ones are dropped first.
const KEEP: usize = 512;

/// One workspace's steps and its live followers.
#[derive(Debug)]
struct History {
    events: Vec<LifecycleEvent>,
    next_seq: u64,
    /// Live followers (`hearth events --follow`).
    tx: broadcast::Sender<LifecycleEvent>,
}

/// Every workspace's steps, in memory.
#[derive(Debug, Clone, Default)]
pub struct Journal {
    inner: Arc<Mutex<HashMap<Slug, History>>>,
}

impl Journal {
    /// A recorder for steps on `slug` outside any verb (a pool member's build, a reconcile);
    /// timings count from now.
    pub fn steps(&self, slug: &Slug) -> Steps {
        Steps {
            slug: slug.clone(),
            journal: self.clone(),
            started: Instant::now(),
            verb: None,
        }
    }

    /// A recorder for one `verb` on `slug`: every step it records carries the verb as its
    /// operation. Timings count from now.
    pub fn operation(&self, slug: &Slug, verb: Verb) -> Steps {
        Steps {
            verb: Some(verb),
            ..self.steps(slug)
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
        let history = map.entry(slug.clone()).or_insert_with(History::new);
        (history.events.clone(), history.tx.subscribe())
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
        let history = map.entry(slug.clone()).or_insert_with(History::new);
        event.seq = history.next_seq;
        history.next_seq += 1;
        if history.events.len() >= KEEP {
            history.events.remove(0);
        }
        history.events.push(event.clone());
        // No follower is not an error.
        let _ = history.tx.send(event);
    }
}

impl History {
    fn new() -> Self {
        History {
            events: Vec::new(),
            next_seq: 0,
            tx: broadcast::channel(KEEP).0,
        }
    }
}

/// Records the steps of one operation on one workspace into the [`Journal`].
#[derive(Debug, Clone)]
pub struct Steps {
    slug: Slug,
    journal: Journal,
    started: Instant,
    /// The verb whose operation this records, if any.
    verb: Option<Verb>,
}

impl Steps {
    /// Records `step` (for `role`, if it concerns one service) with its time since the
    /// operation began: every step is named by the one [`Step`] enum.
    pub fn step(&self, step: Step, role: Option<&str>, detail: Option<String>) {
        self.push(step.as_str().to_owned(), step.phase(), role, detail);
    }

    /// Records that the operation began (`provision_started`).
    pub fn begin(&self) {
        self.edge(Phase::Started, None);
    }

    /// Records that the operation succeeded (`provision_done`).
    pub fn done(&self) {
        self.edge(Phase::Done, None);
    }

    /// Records that the operation failed (`provision_failed`), with why.
    pub fn failed(&self, why: String) {
        self.edge(Phase::Failed, Some(why));
    }

    /// An operation's start or end, named `<verb>_<phase>`; a recorder outside any verb has
    /// none to record.
    fn edge(&self, phase: Phase, detail: Option<String>) {
        if let Some(verb) = self.verb {
            self.push(format!("{verb}_{}", phase.as_str()), phase, None, detail);
        }
    }

    fn push(&self, step: String, phase: Phase, role: Option<&str>, detail: Option<String>) {
        let elapsed_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        tracing::debug!(workspace = %self.slug, step, role, elapsed_ms, detail = detail.as_deref(), "step");
        self.journal.push(
            &self.slug,
            LifecycleEvent {
                seq: 0,
                at: Utc::now(),
                step,
                role: role.map(str::to_owned),
                elapsed_ms,
                detail,
                op: self.verb,
                phase: Some(phase),
            },
        );
    }

    /// A recorder that keeps nothing (for rollbacks nobody will read).
    pub fn detached(slug: &Slug) -> Steps {
        Journal::default().steps(slug)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_numbered_and_followable() {
        let journal = Journal::default();
        let slug = Slug::parse("a").expect("slug");
        let steps = journal.operation(&slug, Verb::Provision);
        steps.begin();
        let (backlog, mut rx) = journal.follow(&slug);
        steps.step(Step::RoleReady, Some("lore"), None);
        assert_eq!(backlog.len(), 1);
        assert_eq!(backlog[0].step, "provision_started");
        assert_eq!(
            (backlog[0].op, backlog[0].phase),
            (Some(Verb::Provision), Some(Phase::Started))
        );
        let next = rx.try_recv().expect("live step");
        assert_eq!((next.seq, next.step.as_str()), (1, "role_ready"));
        assert_eq!(
            (next.op, next.phase),
            (Some(Verb::Provision), Some(Phase::Step))
        );
        assert_eq!(
            journal.last_step(&slug).as_deref(),
            Some("role_ready (lore)")
        );
        steps.failed("boom".into());
        let last = journal.snapshot(&slug).pop().expect("failed step");
        assert_eq!(
            (last.step.as_str(), last.phase, last.detail.as_deref()),
            ("provision_failed", Some(Phase::Failed), Some("boom"))
        );
    }

    #[test]
    fn a_recorder_outside_a_verb_records_steps_but_no_edges() {
        let journal = Journal::default();
        let slug = Slug::parse("m").expect("slug");
        let steps = journal.steps(&slug);
        steps.begin();
        steps.step(Step::RolledBack, None, None);
        steps.done();
        let all = journal.snapshot(&slug);
        assert_eq!(all.len(), 1, "{all:?}");
        assert_eq!((all[0].op, all[0].phase), (None, Some(Phase::Rollback)));
    }
}
