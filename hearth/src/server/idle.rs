//! Idle exit for a socket-activated daemon: [`IdleListener`] counts open connections, and
//! [`IdleWatch::idle_for`] resolves once none has been open for the idle period. The service
//! manager keeps the socket and starts hearth again on the next connection; workspaces stay
//! on the engine and are reconciled at that start.
//!
//! A verb runs inside the request that asked for it, so an open connection is a verb in
//! flight; the few that finish after their caller left (all but provision) end within their
//! deadline, which is why the caller makes the idle period no shorter than the longest one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// Open connections, and since when there have been none.
#[derive(Debug, Clone)]
pub(crate) struct IdleWatch {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    open: AtomicUsize,
    /// When the last connection closed (or the watch started).
    quiet_since: Mutex<Instant>,
}

impl Default for IdleWatch {
    fn default() -> Self {
        IdleWatch {
            inner: Arc::new(Inner {
                open: AtomicUsize::new(0),
                quiet_since: Mutex::new(Instant::now()),
            }),
        }
    }
}

impl IdleWatch {
    fn opened(&self) {
        self.inner.open.fetch_add(1, Ordering::SeqCst);
    }

    fn closed(&self) {
        if self.inner.open.fetch_sub(1, Ordering::SeqCst) == 1 {
            *self
                .inner
                .quiet_since
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
        }
    }

    /// How long no connection has been open, or `None` while one is.
    fn quiet_for(&self) -> Option<Duration> {
        if self.inner.open.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let since = *self
            .inner
            .quiet_since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Some(since.elapsed())
    }

    /// Resolves once no connection has been open for `period`.
    pub(crate) async fn idle_for(self, period: Duration) {
        let tick = (period / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
        loop {
            match self.quiet_for() {
                Some(quiet) if quiet >= period => return,
                Some(quiet) => tokio::time::sleep((period - quiet).max(tick)).await,
                None => tokio::time::sleep(tick).await,
            }
        }
    }
}

/// A listener whose connections report to an [`IdleWatch`] while they are open.
#[derive(Debug)]
pub(crate) struct IdleListener<L> {
    inner: L,
    watch: IdleWatch,
}

impl<L> IdleListener<L> {
    /// Wraps `inner`, counting its connections in `watch`.
    pub(crate) fn new(inner: L, watch: IdleWatch) -> Self {
        IdleListener { inner, watch }
    }
}

impl<L: axum::serve::Listener> axum::serve::Listener for IdleListener<L> {
    type Io = Tracked<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = self.inner.accept().await;
        self.watch.opened();
        (
            Tracked {
                io,
                watch: self.watch.clone(),
            },
            addr,
        )
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection that counts as open until it is dropped.
#[derive(Debug)]
pub(crate) struct Tracked<T> {
    io: T,
    watch: IdleWatch,
}

impl<T> Drop for Tracked<T> {
    fn drop(&mut self) {
        self.watch.closed();
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::serve::Listener;

    #[tokio::test(start_paused = true)]
    async fn idle_only_after_the_last_connection_closed_for_the_period() {
        let watch = IdleWatch::default();
        let period = Duration::from_secs(60);
        watch.opened();
        // An open connection (a long provision, a follow stream) is never idle.
        let idle = tokio::spawn(watch.clone().idle_for(period));
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert!(!idle.is_finished(), "idle while a connection was open");
        watch.closed();
        tokio::time::sleep(Duration::from_secs(59)).await;
        assert!(!idle.is_finished(), "idle before the period had passed");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(idle.is_finished(), "not idle a period after the last close");
    }

    #[tokio::test]
    async fn a_real_connection_counts_until_it_is_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("i.sock");
        let watch = IdleWatch::default();
        let mut listener = IdleListener::new(
            tokio::net::UnixListener::bind(&path).expect("bind"),
            watch.clone(),
        );
        let _client = tokio::net::UnixStream::connect(&path)
            .await
            .expect("connect");
        let (conn, _) = listener.accept().await;
        assert_eq!(watch.quiet_for(), None);
        drop(conn);
        assert!(watch.quiet_for().is_some());
    }
}
