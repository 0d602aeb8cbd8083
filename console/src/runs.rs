//! The console's record of the runs it submitted: what each node did, how the run ended,
//! and a signal for `GET /api/ralph/runs/{id}?wait=…` to wait on.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;

/// A node's terminal result, as recorded in HATCH.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeRecord {
    pub node: String,
    pub index: u32,
    /// `succeeded` or `failed`.
    pub state: String,
    pub attempts: u32,
    pub duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What the console knows about one run.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    pub run_id: String,
    pub workspace: String,
    pub endpoint: String,
    pub prompts_expected: usize,
    /// `running`, then the worker's outcome (`succeeded`/`failed`), or `lost` when the stream
    /// could not be followed to its end, or `audit_failed` when HATCH stopped accepting.
    pub status: String,
    /// Terminal node results by index (one per node, never doubled).
    pub nodes: BTreeMap<u32, NodeRecord>,
    pub frames_rejected: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl RunRecord {
    /// A freshly accepted run.
    pub fn new(run_id: &str, workspace: &str, endpoint: &str, prompts: usize) -> Self {
        RunRecord {
            run_id: run_id.to_owned(),
            workspace: workspace.to_owned(),
            endpoint: endpoint.to_owned(),
            prompts_expected: prompts,
            status: "running".to_owned(),
            nodes: BTreeMap::new(),
            frames_rejected: 0,
            reason: None,
        }
    }

    /// True once the run has ended one way or another.
    pub fn is_done(&self) -> bool {
        self.status != "running"
    }
}

/// One run's shared slot: its record and the "ended" signal.
#[derive(Debug)]
pub struct RunSlot {
    record: Mutex<RunRecord>,
    /// Flips to `true` when the run ends; waiters watch it.
    done: watch::Sender<bool>,
}

impl RunSlot {
    /// Changes the record under its lock.
    pub fn update<T>(&self, f: impl FnOnce(&mut RunRecord) -> T) -> Option<T> {
        self.record.lock().ok().map(|mut r| f(&mut r))
    }

    /// A copy of the record.
    pub fn snapshot(&self) -> Option<RunRecord> {
        self.record.lock().ok().map(|r| r.clone())
    }

    /// Marks the run ended with `status` and wakes waiters.
    pub fn finish(&self, status: &str, reason: Option<String>) {
        self.update(|r| {
            r.status = status.to_owned();
            r.reason = reason;
        });
        self.done.send_replace(true);
    }

    /// Waits until the run ends or `limit` passes.
    pub async fn wait(&self, limit: Duration) {
        let mut rx = self.done.subscribe();
        let _ = tokio::time::timeout(limit, rx.wait_for(|done| *done)).await;
    }
}

/// Every run this console process submitted.
#[derive(Debug, Clone, Default)]
pub struct Runs {
    slots: Arc<Mutex<HashMap<String, Arc<RunSlot>>>>,
}

impl Runs {
    /// Registers an accepted run.
    pub fn insert(&self, record: RunRecord) -> Arc<RunSlot> {
        let (done, _) = watch::channel(false);
        let id = record.run_id.clone();
        let slot = Arc::new(RunSlot {
            record: Mutex::new(record),
            done,
        });
        if let Ok(mut slots) = self.slots.lock() {
            slots.insert(id, slot.clone());
        }
        slot
    }

    /// The run with this id.
    pub fn get(&self, run_id: &str) -> Option<Arc<RunSlot>> {
        self.slots.lock().ok()?.get(run_id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn wait_returns_when_the_run_finishes() {
        let runs = Runs::default();
        let slot = runs.insert(RunRecord::new("r1", "acme", "http://x", 2));
        let waiter = {
            let slot = slot.clone();
            tokio::spawn(async move { slot.wait(Duration::from_secs(60)).await })
        };
        slot.finish("succeeded", None);
        waiter.await.expect("join");
        let rec = runs.get("r1").and_then(|s| s.snapshot()).expect("rec");
        assert!(rec.is_done());
        assert_eq!(rec.status, "succeeded");
    }

    #[tokio::test(start_paused = true)]
    async fn wait_is_bounded() {
        let runs = Runs::default();
        let slot = runs.insert(RunRecord::new("r1", "acme", "http://x", 2));
        slot.wait(Duration::from_secs(5)).await;
        assert!(!slot.snapshot().expect("rec").is_done());
    }
}
