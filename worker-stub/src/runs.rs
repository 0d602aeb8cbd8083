//! The runs a worker-stub knows: each run's frames kept in memory in order, so a subscriber
//! can be given the backlog after any `Last-Event-ID` and then the live frames.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// One frame as it goes on the wire. Kept as text, not as a [`hearth_protocol::kahn::Frame`],
/// because the `bad-frame` fault must be able to store frames that break the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireFrame {
    /// The SSE `event:` name.
    pub event: String,
    /// The SSE `data:` JSON.
    pub data: String,
    /// True for `run_ended`: nothing follows it.
    pub last: bool,
}

/// One run's frames. A frame's SSE `id:` is its index here.
#[derive(Debug)]
pub struct RunLog {
    /// Every frame so far; subscribers wait on it for the next one. The sender lives as long
    /// as the log, so a subscriber's wait ends only with a new frame (or shutdown).
    frames: watch::Sender<Vec<WireFrame>>,
    /// Set once the `drop-stream-after` fault has cut a stream of this run (it cuts once).
    dropped: AtomicBool,
}

impl RunLog {
    fn new() -> RunLog {
        RunLog {
            frames: watch::Sender::new(Vec::new()),
            dropped: AtomicBool::new(false),
        }
    }

    /// Appends a frame and wakes every subscriber; returns its id.
    pub fn push(&self, frame: WireFrame) -> u64 {
        let mut id = 0;
        self.frames.send_modify(|frames| {
            id = frames.len() as u64;
            frames.push(frame);
        });
        id
    }

    /// A receiver to read frames from and wait on.
    pub fn subscribe(&self) -> watch::Receiver<Vec<WireFrame>> {
        self.frames.subscribe()
    }

    /// How many frames the run has so far.
    pub fn len(&self) -> usize {
        self.frames.borrow().len()
    }

    /// True before the first frame.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Claims this run's one stream drop; true only for the first caller.
    pub fn claim_drop(&self) -> bool {
        !self.dropped.swap(true, Ordering::SeqCst)
    }
}

/// All runs by id.
#[derive(Debug, Default)]
pub struct Runs {
    /// Runs are only added; the stub keeps them for its lifetime (it is a test double).
    by_id: Mutex<HashMap<String, Arc<RunLog>>>,
}

impl Runs {
    /// Registers a new, empty run.
    pub fn create(&self, run_id: &str) -> Arc<RunLog> {
        let log = Arc::new(RunLog::new());
        self.lock().insert(run_id.to_owned(), Arc::clone(&log));
        log
    }

    /// The run with this id.
    pub fn get(&self, run_id: &str) -> Option<Arc<RunLog>> {
        self.lock().get(run_id).cloned()
    }

    /// How many runs were accepted.
    pub fn count(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<RunLog>>> {
        self.by_id.lock().unwrap_or_else(|e| e.into_inner())
    }
}
