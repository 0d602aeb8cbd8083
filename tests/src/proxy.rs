//! A unix-socket proxy in front of the Docker engine that forwards every request but holds
//! chosen ones forever (e.g. container stop and remove), so a drill can make a teardown
//! outlive its deadline against a real engine. Each request is parsed (keep-alive
//! connections carry many) and forwarded on a fresh engine connection.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

/// Decides which requests are held: `(method, path)` with any `/v1.xx` prefix removed.
pub type StallRule = Arc<dyn Fn(&Method, &str) -> bool + Send + Sync>;

/// Holds `POST /containers/{id}/stop|kill` and `DELETE /containers/{id}`: a teardown that
/// can list its objects but never get rid of a container.
pub fn stall_container_stop_and_remove() -> StallRule {
    Arc::new(|method: &Method, path: &str| {
        let Some(rest) = path.strip_prefix("/containers/") else {
            return false;
        };
        let parts: Vec<&str> = rest.split('/').collect();
        match (method, parts.as_slice()) {
            (&Method::DELETE, [_id]) => true,
            (&Method::POST, [_id, verb]) => *verb == "stop" || *verb == "kill",
            _ => false,
        }
    })
}

/// Strips the API version prefix (`/v1.41/containers/x` → `/containers/x`).
fn unversioned(path: &str) -> &str {
    if let Some(rest) = path.strip_prefix("/v") {
        if let Some(slash) = rest.find('/') {
            if rest[..slash]
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.')
            {
                return &rest[slash..];
            }
        }
    }
    path
}

/// What the proxy shares with its connections.
struct Shared {
    upstream: PathBuf,
    rule: StallRule,
    /// Requests held so far.
    stalled: AtomicUsize,
    /// Woken at every newly held request.
    stalled_changed: Notify,
}

/// The running proxy; stops (and drops every held request) when dropped.
pub struct StallingProxy {
    /// The proxy's socket; point `DOCKER_HOST=unix://…` at it.
    pub socket: PathBuf,
    shared: Arc<Shared>,
    /// The accept loop, which owns every connection task; aborting it ends them all.
    task: JoinHandle<()>,
}

impl std::fmt::Debug for StallingProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StallingProxy")
            .field("socket", &self.socket)
            .field("upstream", &self.shared.upstream)
            .field("stalled", &self.stalled())
            .finish()
    }
}

impl StallingProxy {
    /// Binds `dir/engine-proxy.sock` and forwards to `upstream`, holding what `rule` picks.
    ///
    /// # Errors
    /// When the socket cannot be bound.
    pub fn start(dir: &Path, upstream: PathBuf, rule: StallRule) -> anyhow::Result<Self> {
        let socket = dir.join("engine-proxy.sock");
        let listener = UnixListener::bind(&socket)
            .with_context(|| format!("cannot bind the engine proxy at {}", socket.display()))?;
        let shared = Arc::new(Shared {
            upstream,
            rule,
            stalled: AtomicUsize::new(0),
            stalled_changed: Notify::new(),
        });
        let task = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(StallingProxy {
            socket,
            shared,
            task,
        })
    }

    /// `unix://SOCKET`, for `DOCKER_HOST`.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// How many requests are being held.
    pub fn stalled(&self) -> usize {
        self.shared.stalled.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` requests are held, up to `deadline`; returns whether they are.
    pub async fn wait_stalled(&self, n: usize, deadline: Duration) -> bool {
        let wait = async {
            loop {
                let changed = self.shared.stalled_changed.notified();
                if self.stalled() >= n {
                    return;
                }
                changed.await;
            }
        };
        tokio::time::timeout(deadline, wait).await.is_ok()
    }
}

impl Drop for StallingProxy {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.socket);
    }
}

async fn accept_loop(listener: UnixListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => continue,
        };
        let shared = shared.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(shared.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
        // Reap finished connections so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
    }
}

type ProxyBody = BoxBody<Bytes, hyper::Error>;

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let path = unversioned(req.uri().path()).to_owned();
    if (shared.rule)(req.method(), &path) {
        shared.stalled.fetch_add(1, Ordering::SeqCst);
        shared.stalled_changed.notify_waiters();
        std::future::pending::<()>().await;
    }
    match forward(&shared.upstream, req).await {
        Ok(resp) => Ok(resp),
        Err(e) => {
            let body = Full::new(Bytes::from(format!(
                "{{\"message\":\"engine proxy: {e:#}\"}}"
            )))
            .map_err(|never| match never {})
            .boxed();
            let mut resp = Response::new(body);
            *resp.status_mut() = StatusCode::BAD_GATEWAY;
            Ok(resp)
        }
    }
}

async fn forward(upstream: &Path, req: Request<Incoming>) -> anyhow::Result<Response<ProxyBody>> {
    let stream = UnixStream::connect(upstream)
        .await
        .with_context(|| format!("cannot reach the engine at {}", upstream.display()))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("engine handshake")?;
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    let resp = sender.send_request(req).await.context("engine request")?;
    Ok(resp.map(BodyExt::boxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_prefix_is_stripped() {
        assert_eq!(
            unversioned("/v1.41/containers/abc/stop"),
            "/containers/abc/stop"
        );
        assert_eq!(unversioned("/containers/abc"), "/containers/abc");
        assert_eq!(unversioned("/volumes/x"), "/volumes/x");
    }

    #[test]
    fn the_rule_holds_stop_kill_and_remove_only() {
        let rule = stall_container_stop_and_remove();
        assert!(rule(&Method::POST, "/containers/abc/stop"));
        assert!(rule(&Method::POST, "/containers/abc/kill"));
        assert!(rule(&Method::DELETE, "/containers/abc"));
        assert!(!rule(&Method::GET, "/containers/json"));
        assert!(!rule(&Method::POST, "/containers/create"));
        assert!(!rule(&Method::POST, "/containers/abc/start"));
        assert!(!rule(&Method::DELETE, "/networks/abc"));
    }
}
