//! How the three binaries stop, one way for all: [`on_signal`] installs the SIGINT and
//! SIGTERM handlers once, at start, and hands back a [`CancellationToken`] the first signal
//! cancels; the library's `run(listener, shutdown)` takes that token's `cancelled_owned()`
//! (tests pass their own future) and fans it out as a token of its own. Work that must
//! outlive its request is spawned on a [`TaskTracker`], and [`drain`] gives it a bounded
//! time to finish.

use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Installs SIGINT and SIGTERM handlers now and returns a token the first of them cancels
/// (cancelling it otherwise, as an idle exit does, works the same and ends the watch).
/// Must be called inside a Tokio runtime.
///
/// # Errors
/// If a handler cannot be installed; the binaries refuse to start then, since a server that
/// cannot hear its stop signal cannot drain.
pub fn on_signal() -> std::io::Result<CancellationToken> {
    let installed = |kind: SignalKind, name: &str| {
        signal(kind).map_err(|e| std::io::Error::new(e.kind(), format!("cannot watch {name}: {e}")))
    };
    let mut term = installed(SignalKind::terminate(), "SIGTERM")?;
    let mut int = installed(SignalKind::interrupt(), "SIGINT")?;
    let token = CancellationToken::new();
    let stop = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM"),
            _ = int.recv() => tracing::info!("SIGINT"),
            () = stop.cancelled() => return,
        }
        stop.cancel();
    });
    Ok(token)
}

/// Closes `tasks` (so its wait can end once the last one does) and waits up to `bound` for
/// those still running. Returns whether they all finished.
pub async fn drain(tasks: &TaskTracker, bound: Duration) -> bool {
    tasks.close();
    tokio::time::timeout(bound, tasks.wait()).await.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_signal_cancels_the_token() {
        let token = on_signal().expect("handlers");
        assert!(!token.is_cancelled());
        nix::sys::signal::raise(nix::sys::signal::Signal::SIGTERM).expect("raise");
        tokio::time::timeout(Duration::from_secs(5), token.cancelled())
            .await
            .expect("cancelled by SIGTERM");
    }

    #[tokio::test]
    async fn the_drain_waits_for_tracked_tasks_up_to_its_bound() {
        let tasks = TaskTracker::new();
        tasks.spawn(tokio::time::sleep(Duration::from_millis(50)));
        assert!(
            drain(&tasks, Duration::from_secs(10)).await,
            "a short task is waited for"
        );
        tasks.spawn(tokio::time::sleep(Duration::from_secs(60)));
        assert!(
            !drain(&tasks, Duration::from_millis(50)).await,
            "a long one is not"
        );
    }
}
