//! The RPC server on the unix socket: [`run`] serves a bound listener until `shutdown`
//! resolves, then stops accepting and lets in-flight requests finish within `drain`.

pub mod activation;
pub mod idle;
mod routes;
pub mod socket;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use crate::dispatcher::Dispatcher;

pub use routes::router;

/// Serves the RPC on `listener` until `shutdown` resolves, each connection held to `limits`;
/// in-flight requests then get up to `drain` to finish.
///
/// # Errors
/// If the listener fails.
pub async fn run<L>(
    listener: L,
    dispatcher: Arc<Dispatcher>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain: Duration,
    limits: hearth_serve::Limits,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (drain_tx, drain_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        shutdown.await;
        info!("shutting down: no new requests, draining in-flight ones");
        let _ = stop_tx.send(());
        let _ = drain_tx.send(());
    });
    let app = router(dispatcher).layer(axum::middleware::map_response(hearth_serve::json_errors));
    let server = hearth_serve::serve(listener, app, limits, async {
        let _ = stop_rx.await;
    });
    let serving = tokio::spawn(server);
    let bounded = async {
        // Wait for the shutdown signal, then for the drain bound.
        if drain_rx.await.is_ok() {
            tokio::time::sleep(drain).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        res = serving => match res {
            Ok(r) => r,
            Err(e) => Err(std::io::Error::other(e)),
        },
        () = bounded => {
            warn!(?drain, "in-flight requests did not finish within the drain bound; exiting anyway");
            Ok(())
        }
    }
}
