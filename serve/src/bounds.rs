//! The accept loop: one HTTP/1 connection per accepted stream, each held to [`Limits`], so a
//! slow, stalled or idle client costs a bounded slot for a bounded time and never starves the
//! others: at the cap, the connection that has waited on its client the longest makes room.

use std::future::Future;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};
use axum::serve::Listener;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;

use crate::intake::Intake;
use crate::slots::Slots;

/// What one client may hold, and for how long; and what every answer carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long a client may take to send a request's head. hyper starts this clock whenever
    /// the connection waits for a head, so it is also the idle keep-alive bound: a connection
    /// that sends nothing (half-open, slow-loris, or idle between requests) is closed after it.
    pub header_read_timeout: Duration,
    /// How long a request's body may take to arrive whole, counted from its head; past it the
    /// request is answered 408 and the connection closed. With the header timeout, this bounds
    /// the time a request can take before its handler has all of it.
    pub body_read_timeout: Duration,
    /// Largest request head (request line and headers) in bytes; a larger one is answered 431.
    pub max_header_bytes: usize,
    /// Most header lines in a request head; more are answered 431.
    pub max_headers: usize,
    /// Connections served at once. At the cap, a new client takes the slot of the connection
    /// that has waited on its own client the longest (see `slots`); when every connection is
    /// being worked for, it waits in the listen backlog until a slot frees.
    pub max_connections: usize,
    /// Headers put on every answer, whoever made it (the router, the framework, these bounds).
    pub answer_headers: &'static [(HeaderName, HeaderValue)],
}

impl Limits {
    /// Default header read (and idle) timeout.
    pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default body read timeout.
    pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default largest request head: 16 KiB.
    pub const MAX_HEADER_BYTES: usize = 16 * 1024;
    /// Default most header lines (hyper's own default).
    pub const MAX_HEADERS: usize = 100;
    /// Default connection cap.
    pub const MAX_CONNECTIONS: usize = 1024;
    /// hyper's own caps are this many times ours: a head between the two is refused by
    /// [`serve`] (an answer that carries [`Limits::answer_headers`]); one past hyper's is
    /// refused by hyper before any code of ours runs, with a bare 431 and the connection
    /// closed. The factor keeps hyper's per-connection buffer bounded all the same.
    pub const BACKSTOP: usize = 4;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Self::HEADER_READ_TIMEOUT,
            body_read_timeout: Self::BODY_READ_TIMEOUT,
            max_header_bytes: Self::MAX_HEADER_BYTES,
            max_headers: Self::MAX_HEADERS,
            max_connections: Self::MAX_CONNECTIONS,
            answer_headers: &[],
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
    let slots = Slots::new(limits.max_connections);
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(limits.max_header_bytes * Limits::BACKSTOP)
        .max_headers(limits.max_headers * Limits::BACKSTOP)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let free = slots.try_take();
        let (io, _addr) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let held = match free {
            Some(held) => held,
            None => {
                // At the cap with a client at the door: make room if someone is only
                // waiting; otherwise this client waits (and the rest in the backlog).
                if let Some(waited) = slots.evict_longest_waiting() {
                    tracing::debug!(
                        ?waited,
                        "at the connection cap: evicted the longest-waiting connection"
                    );
                }
                tokio::select! {
                    held = slots.take() => match held {
                        Some(held) => held,
                        None => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        let service = Intake {
            router: router.clone(),
            conn: held.conn.clone(),
            limits,
        };
        let conn = graceful.watch(http.serve_connection(TokioIo::new(io), service));
        tokio::spawn(async move {
            tokio::select! {
                // Timeouts, resets and malformed heads end here; hyper already answered what
                // could be answered, so there is nothing for the server to act on.
                ended = conn => if let Err(e) = ended {
                    tracing::debug!(error = %e, "connection ended with an error");
                },
                () = held.conn.evicted() => tracing::debug!("connection evicted"),
            }
            drop(held);
        });
    }
    graceful.shutdown().await;
    Ok(())
}
