//! The accept loop: one HTTP/1 connection per accepted stream, each held to [`Limits`], so a
//! slow or idle client costs a bounded slot for a bounded time and never starves the others.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::Listener;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::sync::Semaphore;

/// What one client may hold, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long a client may take to send a request's head. hyper starts this clock whenever
    /// the connection waits for a head, so it is also the idle keep-alive bound: a connection
    /// that sends nothing (half-open, slow-loris, or idle between requests) is closed after it.
    pub header_read_timeout: Duration,
    /// Largest request head (request line and headers) in bytes; a larger one is answered 431.
    pub max_header_bytes: usize,
    /// Connections served at once; further ones wait in the listen backlog until a slot frees.
    pub max_connections: usize,
}

impl Limits {
    /// Default header read (and idle) timeout.
    pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default largest request head: 16 KiB.
    pub const MAX_HEADER_BYTES: usize = 16 * 1024;
    /// Default connection cap.
    pub const MAX_CONNECTIONS: usize = 1024;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Self::HEADER_READ_TIMEOUT,
            max_header_bytes: Self::MAX_HEADER_BYTES,
            max_connections: Self::MAX_CONNECTIONS,
        }
    }
}

/// Serves `router` on `listener` under `limits` until `shutdown` resolves; then stops
/// accepting and waits for the connections in flight to finish their current request
/// (callers bound that wait, as they bound their drain).
///
/// # Errors
/// None today (the listener retries failed accepts itself); the `Result` keeps the door open
/// for listeners that can fail for good.
pub async fn serve<L>(
    mut listener: L,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: Listener,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(limits.max_header_bytes)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        // A slot first, then the accept: over the cap, clients wait in the kernel's backlog
        // rather than costing a task each.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (io, _addr) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(router.clone());
        let conn = graceful.watch(http.serve_connection(TokioIo::new(io), service));
        tokio::spawn(async move {
            // Timeouts, resets and malformed heads end here; hyper already answered what
            // could be answered, so there is nothing for the server to act on.
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    graceful.shutdown().await;
    Ok(())
}
