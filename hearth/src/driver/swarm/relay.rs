//! Loopback relays: each role's endpoint on the node hearth runs on. Swarm can only publish a
//! service on every address (ingress, whose routing mesh also does not work on every host) or
//! on 0.0.0.0 of the task's node (host mode), and a workspace must not be reachable from
//! outside the machine. So hearth listens on 127.0.0.1 itself and copies bytes to the task's
//! container at its address on the node's `docker_gwbridge` bridge.
//!
//! A relay keeps its port for the workspace's whole life: hibernate points it at nothing
//! (connections close at once), wake and upgrade point it at the new task's container. The
//! port is also written on the service (label [`crate::labels::RELAY_PORT`]), so a restarted
//! daemon binds the same port again and the recorded endpoint stays true.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::error::HearthError;

/// How long connecting to the task's container may take before the client's connection is
/// closed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One role's relay.
#[derive(Debug)]
struct Relay {
    port: u16,
    /// Where new connections go; `None` while the role has no running task.
    target: watch::Sender<Option<SocketAddr>>,
    /// Cancelled when the relay closes: stops accepting and cuts open connections.
    stop: CancellationToken,
}

/// The relays of this daemon, by (workspace, role).
#[derive(Debug, Default)]
pub struct Relays {
    /// Held only to look up or insert; never across an await.
    map: Mutex<HashMap<(String, String), Relay>>,
}

impl Relays {
    /// The loopback port of `role`'s relay, opening one if there is none. A new relay binds
    /// `wanted` if given (a restarted daemon keeping its endpoints), else any free port.
    ///
    /// # Errors
    /// A driver failure if no loopback port can be bound.
    pub async fn open(
        &self,
        slug: &str,
        role: &str,
        wanted: Option<u16>,
    ) -> Result<u16, HearthError> {
        if let Some(port) = self.port(slug, role) {
            return Ok(port);
        }
        let listener = match wanted {
            Some(p) => match TcpListener::bind((Ipv4Addr::LOCALHOST, p)).await {
                Ok(l) => l,
                Err(e) => {
                    warn!(workspace = slug, role, port = p, error = %e, "the relay's former port is taken; the endpoint changes");
                    bind_any(role).await?
                }
            },
            None => bind_any(role).await?,
        };
        let port = listener
            .local_addr()
            .map_err(|e| HearthError::driver(format!("read the relay port of role {role}"), e))?
            .port();
        let (target, rx) = watch::channel(None);
        let stop = CancellationToken::new();
        tokio::spawn(accept_loop(listener, rx, stop.clone()));
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let key = (slug.to_owned(), role.to_owned());
        if let Some(existing) = map.get(&key) {
            // Another verb opened it meanwhile: keep that one.
            stop.cancel();
            return Ok(existing.port);
        }
        map.insert(key, Relay { port, target, stop });
        Ok(port)
    }

    /// The port of `role`'s relay, if it is open.
    pub fn port(&self, slug: &str, role: &str) -> Option<u16> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&(slug.to_owned(), role.to_owned())).map(|r| r.port)
    }

    /// Points `role`'s relay at `target` (or at nothing).
    pub fn point(&self, slug: &str, role: &str, target: Option<SocketAddr>) {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = map.get(&(slug.to_owned(), role.to_owned())) {
            r.target.send_replace(target);
        }
    }

    /// Points every relay of `slug` at nothing.
    pub fn point_nowhere(&self, slug: &str) {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        for ((s, _), r) in map.iter() {
            if s == slug {
                r.target.send_replace(None);
            }
        }
    }

    /// Closes every relay of `slug`: its ports stop listening and open connections end.
    pub fn close(&self, slug: &str) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|(s, _), r| {
            if s == slug {
                r.stop.cancel();
                false
            } else {
                true
            }
        });
    }
}

impl Drop for Relays {
    /// A driver that goes away (a daemon stopping, a test's backend) closes its ports.
    fn drop(&mut self) {
        let map = self.map.get_mut().unwrap_or_else(|p| p.into_inner());
        for r in map.values() {
            r.stop.cancel();
        }
    }
}

async fn bind_any(role: &str) -> Result<TcpListener, HearthError> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .map_err(|e| HearthError::driver(format!("bind a loopback relay for role {role}"), e))
}

async fn accept_loop(
    listener: TcpListener,
    target: watch::Receiver<Option<SocketAddr>>,
    stop: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            a = listener.accept() => a,
        };
        let inbound = match accepted {
            Ok((s, _)) => s,
            Err(e) => {
                // Out of file descriptors and the like: back off rather than spin.
                warn!(error = %e, "relay accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let to = *target.borrow();
        tokio::spawn(relay_one(inbound, to, stop.clone()));
    }
}

async fn relay_one(mut inbound: TcpStream, to: Option<SocketAddr>, stop: CancellationToken) {
    // No running task: dropping the stream closes the client's connection at once.
    let Some(addr) = to else { return };
    let mut outbound = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            debug!(%addr, error = %e, "relay could not reach the task");
            return;
        }
        Err(_) => {
            debug!(%addr, "relay connect timed out");
            return;
        }
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    tokio::select! {
        () = stop.cancelled() => {}
        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn relays_bytes_on_loopback_then_retargets_and_closes() {
        // An echo server standing in for the task's container.
        let echo = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind");
        let echo_addr = echo.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = echo.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        let relays = Relays::default();
        let port = relays.open("ws", "cairnet", None).await.expect("open");
        assert_eq!(
            relays.open("ws", "cairnet", None).await.expect("again"),
            port
        );

        // Pointed at nothing: the connection is accepted and closed.
        let mut c = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .expect("connect");
        let mut buf = [0u8; 4];
        assert_eq!(c.read(&mut buf).await.expect("read"), 0, "closed at once");

        relays.point("ws", "cairnet", Some(echo_addr));
        let mut c = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .expect("connect");
        c.write_all(b"ping").await.expect("write");
        c.read_exact(&mut buf).await.expect("read");
        assert_eq!(&buf, b"ping");

        relays.close("ws");
        assert_eq!(relays.port("ws", "cairnet"), None);
        let mut cut = [0u8; 1];
        assert_eq!(
            c.read(&mut cut).await.expect("read"),
            0,
            "open connection cut"
        );
        // The listener is gone: nothing answers on the port any more.
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .is_err());
    }
}
