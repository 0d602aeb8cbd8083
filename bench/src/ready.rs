//! HTTP readiness: a service is ready when it answers `200` on its published port. The same
//! probe serves the floor and the CLI path, so neither gets a faster or slower ruler.

use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use tokio::time::{sleep, timeout, Instant};

/// Pause after the first probe of a service that did not answer yet; it grows by half after
/// each miss up to [`MAX_POLL_INTERVAL`], as hearth's readiness does, so the probe does not
/// take CPU from the engine while it starts the containers.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(5);
/// The longest pause between two probes.
pub(crate) const MAX_POLL_INTERVAL: Duration = Duration::from_millis(50);
/// Bound on one probe request.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// A reusable HTTP prober.
#[derive(Debug, Clone)]
pub(crate) struct Prober {
    client: Client<HttpConnector, Empty<Bytes>>,
}

impl Default for Prober {
    fn default() -> Self {
        Self::new()
    }
}

impl Prober {
    /// A prober with no connection reuse (the stand-in closes every connection anyway).
    pub(crate) fn new() -> Self {
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build_http();
        Self { client }
    }

    /// Whether `url` answers `200` now.
    pub(crate) async fn answers(&self, url: &str) -> bool {
        let Ok(uri) = url.parse::<hyper::Uri>() else {
            return false;
        };
        matches!(
            timeout(PROBE_TIMEOUT, self.client.get(uri)).await,
            Ok(Ok(resp)) if resp.status() == hyper::StatusCode::OK
        )
    }

    /// Waits until `url` answers `200`, polling from every [`POLL_INTERVAL`] to every
    /// [`MAX_POLL_INTERVAL`].
    ///
    /// # Errors
    /// When `deadline` passes first.
    pub(crate) async fn wait(&self, url: &str, deadline: Duration) -> anyhow::Result<()> {
        let until = Instant::now() + deadline;
        let mut pause = POLL_INTERVAL;
        loop {
            if self.answers(url).await {
                return Ok(());
            }
            if Instant::now() >= until {
                bail!("{url} did not answer 200 within {deadline:?}");
            }
            sleep(pause).await;
            pause = (pause * 3 / 2).min(MAX_POLL_INTERVAL);
        }
    }
}

/// The URL of a service published on `127.0.0.1:port`.
pub(crate) fn url(port: u16) -> String {
    format!("http://127.0.0.1:{port}/")
}

/// Parses the host port out of `docker port` output such as `127.0.0.1:49153`.
///
/// # Errors
/// When no line carries a port.
pub(crate) fn parse_port(docker_port_output: &str) -> anyhow::Result<u16> {
    docker_port_output
        .lines()
        .find_map(|l| l.trim().rsplit_once(':').and_then(|(_, p)| p.parse().ok()))
        .with_context(|| format!("no host port in {docker_port_output:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    #[test]
    fn parses_docker_port_output() {
        assert_eq!(parse_port("127.0.0.1:49153\n").unwrap(), 49153);
        assert!(parse_port("").is_err());
    }

    #[tokio::test]
    async fn waits_until_a_real_server_answers() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        // First connection: dropped unanswered, like a published port whose service is not up.
        tokio::spawn(async move {
            let (first, _) = listener.accept().await.unwrap();
            drop(first);
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await;
            }
        });
        Prober::new()
            .wait(&url(port), Duration::from_secs(5))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn gives_up_at_the_deadline() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let err = Prober::new()
            .wait(&url(port), Duration::from_millis(50))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("did not answer"), "{err}");
    }
}
