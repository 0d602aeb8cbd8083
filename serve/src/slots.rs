//! Who holds the connection slots, and which of them are only waiting on their client.
//!
//! At the cap, a new client is let in by evicting the connection that has waited on its own
//! client the longest (for a request head, for the rest of a body, or idle between requests);
//! a connection the server is working for (a handler running, an answer or a live tail being
//! sent) is never evicted. Why eviction rather than a share of the cap for connections that
//! have not yet authenticated: a legitimate client's *new* connection has no credential yet
//! either (a `/healthz` probe, `console ui`, the page's first request), so a share held by
//! stalled strangers would lock it out all the same; the longest-waiting connection, by
//! contrast, is the one doing nothing, and a client that merely went idle reconnects.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// One served connection, as the slots see it.
#[derive(Debug)]
pub(crate) struct Conn {
    /// Since when the connection waits on its client; `None` while the server works for it.
    waiting_since: Mutex<Option<Instant>>,
    /// Cancelled to evict: the connection's task then drops it (closing the socket).
    evict: CancellationToken,
}

impl Conn {
    fn new() -> Self {
        Conn {
            waiting_since: Mutex::new(Some(Instant::now())),
            evict: CancellationToken::new(),
        }
    }

    /// The connection now waits on its client (for a head, or for the rest of a body).
    pub(crate) fn waiting(&self) {
        *self.lock() = Some(Instant::now());
    }

    /// The server now works for the connection: it may not be evicted.
    pub(crate) fn working(&self) {
        *self.lock() = None;
    }

    /// Resolves when the connection is evicted.
    pub(crate) async fn evicted(&self) {
        self.evict.cancelled().await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        // The value is a plain timestamp: a panic elsewhere cannot leave it half-written.
        self.waiting_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The cap and the connections holding it.
#[derive(Debug)]
pub(crate) struct Slots {
    permits: Arc<Semaphore>,
    /// Every connection holding a permit, by id.
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    next_id: AtomicU64,
}

/// A slot held by one connection; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct Held {
    pub(crate) conn: Arc<Conn>,
    id: u64,
    slots: Arc<Slots>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.slots.map().remove(&self.id);
    }
}

impl Slots {
    pub(crate) fn new(cap: usize) -> Arc<Self> {
        Arc::new(Slots {
            permits: Arc::new(Semaphore::new(cap.max(1))),
            conns: Mutex::default(),
            next_id: AtomicU64::new(0),
        })
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        // Inserts and removes are single calls: a poisoned map is still consistent.
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A free slot now, if there is one.
    pub(crate) fn try_take(self: &Arc<Self>) -> Option<Held> {
        let permit = self.permits.clone().try_acquire_owned().ok()?;
        Some(self.hold(permit))
    }

    /// The next slot to free up (`None` once the slots are closed).
    pub(crate) async fn take(self: &Arc<Self>) -> Option<Held> {
        let permit = self.permits.clone().acquire_owned().await.ok()?;
        Some(self.hold(permit))
    }

    fn hold(self: &Arc<Self>, permit: OwnedSemaphorePermit) -> Held {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn::new());
        self.map().insert(id, conn.clone());
        Held {
            conn,
            id,
            slots: self.clone(),
            _permit: permit,
        }
    }

    /// Evicts the connection that has waited on its client the longest, if any does; how long
    /// it had waited. Its slot frees once its task has dropped it.
    pub(crate) fn evict_longest_waiting(&self) -> Option<Duration> {
        let map = self.map();
        let (conn, since) = map
            .values()
            .filter_map(|c| c.lock().map(|since| (c, since)))
            .min_by_key(|(_, since)| *since)?;
        // Not waiting any more: a second newcomer must pick another victim.
        conn.working();
        conn.evict.cancel();
        Some(since.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_longest_waiting_connection_goes_first_and_working_ones_never() {
        let slots = Slots::new(3);
        let busy = slots.try_take().expect("slot");
        busy.conn.working();
        let old = slots.try_take().expect("slot");
        tokio::time::sleep(Duration::from_millis(5)).await;
        let young = slots.try_take().expect("slot");
        assert!(slots.try_take().is_none(), "at the cap");

        assert!(slots.evict_longest_waiting().is_some());
        assert!(
            old.conn.evict.is_cancelled(),
            "the oldest waiter is evicted"
        );
        assert!(!young.conn.evict.is_cancelled() && !busy.conn.evict.is_cancelled());
        drop(old);
        assert!(slots.try_take().is_some(), "its slot is free again");

        young.conn.working();
        assert_eq!(
            slots.evict_longest_waiting(),
            None,
            "nobody is only waiting"
        );
    }
}
