//! The RPC server on the unix socket: [`run`] serves a bound listener until `shutdown`
//! resolves, then stops accepting and lets in-flight requests, and the dispatcher's verbs
//! still running, finish within `drain`.

pub(crate) mod activation;
pub(crate) mod idle;
mod routes;
mod socket;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::dispatcher::Dispatcher;

pub(crate) use routes::router;

/// Serves the RPC on `listener` until `shutdown` resolves, each connection held to `limits`;
/// in-flight requests, and verbs that go on after their caller left, then get up to `drain`
/// to finish.
///
/// # Errors
/// If the listener fails.
pub(crate) async fn run<L>(
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
    let stop = CancellationToken::new();
    let stopping = stop.clone();
    tokio::spawn(async move {
        shutdown.await;
        info!("shutting down: no new requests, draining in-flight ones");
        stopping.cancel();
    });
    let verbs = dispatcher.tasks().clone();
    let app = router(dispatcher).layer(axum::middleware::map_response(hearth_serve::json_errors));
    let serving = tokio::spawn(hearth_serve::serve(
        listener,
        app,
        limits,
        stop.clone().cancelled_owned(),
    ));
    let finished = async {
        let served = serving
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        if served.is_ok() {
            verbs.close();
            verbs.wait().await;
        }
        served
    };
    // The drain bound starts with the shutdown signal.
    let bounded = async {
        stop.cancelled().await;
        tokio::time::sleep(drain).await;
    };
    tokio::select! {
        res = finished => res,
        () = bounded => {
            warn!(?drain, verbs = verbs.len(), "in-flight requests did not finish within the drain bound; exiting anyway");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatcher::Deadlines;
    use crate::driver::fake::{FakeDriver, FakeFaults};
    use crate::store::Store;
    use hearth_protocol::hearth::{ProvisioningProfile, Tier};

    fn paused(dispatcher: &Dispatcher) -> bool {
        let events = dispatcher.events("w").expect("events");
        events.iter().any(|e| e.step == "pause_done")
    }

    /// A pause goes on after its caller left; a shutdown then waits for it (within the drain
    /// bound) instead of exiting with the workspace between states.
    #[tokio::test]
    async fn the_drain_waits_for_a_verb_whose_caller_left() {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("h.sock");
        let faults = FakeFaults {
            delay: Duration::from_millis(600),
            ..FakeFaults::default()
        };
        let dispatcher = Dispatcher::new(
            Arc::new(FakeDriver::new(faults)),
            Store::open(&dir.path().join("state")).expect("store"),
            Deadlines::default(),
        );
        dispatcher
            .provision("w", ProvisioningProfile::for_tier(Tier::Solo))
            .await
            .expect("provision");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(run(
            tokio::net::UnixListener::bind(&socket).expect("bind"),
            Arc::clone(&dispatcher),
            async {
                let _ = stopped.await;
            },
            Duration::from_secs(30),
            hearth_serve::Limits::default(),
        ));
        let impatient =
            hearth_client::HearthClient::new(&socket).with_timeout(Duration::from_millis(100));
        assert!(impatient.pause("w").await.is_err(), "the caller gave up");
        assert!(!paused(&dispatcher), "the pause is still under way");
        let _ = stop.send(());
        server.await.expect("join").expect("served");
        assert!(
            paused(&dispatcher),
            "shutdown returned before the pause settled"
        );
    }
}
