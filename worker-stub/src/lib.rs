//! worker-stub: the stand-in for `ralph serve`. It accepts HMAC-signed run submissions, runs
//! one mock node per prompt against the workspace's endpoint, and streams KAHN frames over SSE.
//!
//! - [`config`]: keys, limits and the `--fault` switches.
//! - [`routes`]: the HTTP surface; `auth`: the bearer check and the worker's audiences.
//! - [`executor`]: the mock run that writes the frames.
//! - [`runs`]: each run's frames, kept for replay after `Last-Event-ID`.
//! - [`sse`]: a run's frames as an SSE stream.
//! - [`state`]: the state directory that keeps the replay journal across restarts.
//! - [`error`]: refusals as `{"error":{"code","message"}}`.

mod auth;
pub mod config;
pub mod error;
pub mod executor;
pub mod routes;
pub mod runs;
pub mod sse;
pub mod state;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hearth_protocol::bearer::Verifier;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::{Config, Fault, Faults};

/// How long a shutdown waits for runs under way before it ends their event streams.
const RUN_DRAIN: Duration = Duration::from_secs(5);

/// Serves the worker on `listener` until `shutdown` completes, then ends open event streams
/// and waits for in-flight requests to finish.
///
/// # Errors
/// The accept loop's I/O error, the HTTP client failing to build, or the replay journal
/// failing to open.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .build()
        .map_err(std::io::Error::other)?;
    let stop = CancellationToken::new();
    let tasks = TaskTracker::new();
    let audiences = auth::audiences(&config.audiences, listener.local_addr()?)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    tracing::info!(?audiences, "v2 bearers are accepted for these audiences");
    let mut verifier = Verifier::new(config.keys.clone()).with_audiences(audiences);
    match &config.replay_journal {
        Some(path) => {
            verifier = verifier
                .with_journal(path, hearth_protocol::bearer::unix_now())
                .map_err(|e| {
                    std::io::Error::new(e.kind(), format!("replay journal {}: {e}", path.display()))
                })?;
        }
        None => tracing::warn!(
            "no replay journal: replayed bearers are refused until a restart, not after it"
        ),
    }
    let state = Arc::new(routes::AppState {
        verifier,
        config,
        runs: runs::Runs::default(),
        client,
        stop: stop.clone(),
        tasks: tasks.clone(),
    });
    let app = routes::router(state);
    // TCP_NODELAY on every accepted connection: the event stream writes one small frame at a
    // time, and without it each frame after the first waits for the console's delayed ACK
    // (Nagle), ~40 ms a frame on Linux loopback.
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "could not set TCP_NODELAY");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!(bound = ?RUN_DRAIN, "shutting down: letting runs under way finish");
            // A run that ends within the bound ends its streams itself (with `run_ended`);
            // event streams never end on their own while a run is live, so the rest are told to.
            if !hearth_serve::shutdown::drain(&tasks, RUN_DRAIN).await {
                tracing::warn!(bound = ?RUN_DRAIN, "runs still going at shutdown: their streams end without run_ended");
            }
            stop.cancel();
        })
        .await
}
