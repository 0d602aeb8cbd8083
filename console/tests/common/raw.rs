//! Raw HTTP/1 against either server, for the bounds tests: one request on a fresh stream,
//! waiting for a close, and [`Door`], the console or hearth as one thing to connect to.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

use super::Api;

/// The header timeout the daemons run with here (the default is 10 s).
pub const BOUND: Duration = Duration::from_millis(1000);
/// Slack for scheduling on a loaded machine.
pub const SLACK: Duration = Duration::from_millis(2500);

pub fn bound_flag() -> String {
    BOUND.as_millis().to_string()
}

/// Reads until the peer closes (EOF or reset); when that happened.
pub async fn closed_at<S: AsyncRead + Unpin>(mut s: S) -> Instant {
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return Instant::now(),
            Ok(_) => {}
        }
    }
}

/// One whole request on a fresh stream; the status and body.
pub async fn request<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    head: &str,
    body: &[u8],
) -> Result<(u16, Value)> {
    // A server may answer (413, 431) and close before all is written: read what it said.
    let wrote = async {
        s.write_all(head.as_bytes()).await?;
        s.write_all(body).await
    }
    .await;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut answer))
        .await
        .context("no answer")??;
    if answer.is_empty() {
        wrote?;
    }
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no status in {text:?}"))?;
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    Ok((status, serde_json::from_str(body).unwrap_or_default()))
}

pub fn get(host: &str, path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
}

pub fn console_addr(api: &Api) -> String {
    api.base.trim_start_matches("http://").to_owned()
}

/// One of the two servers under test.
#[derive(Debug, Clone)]
pub enum Door {
    /// The console, at `host:port`.
    Console(String),
    /// hearth, at its socket.
    Hearth(std::path::PathBuf),
}

/// A connection to either server.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

impl Door {
    pub fn name(&self) -> &'static str {
        match self {
            Door::Console(_) => "console",
            Door::Hearth(_) => "hearth",
        }
    }
    pub fn host(&self) -> &str {
        match self {
            Door::Console(addr) => addr,
            Door::Hearth(_) => "hearth",
        }
    }
    pub async fn connect(&self) -> std::io::Result<Box<dyn Io>> {
        Ok(match self {
            Door::Console(addr) => Box::new(TcpStream::connect(addr).await?),
            Door::Hearth(socket) => Box::new(UnixStream::connect(socket).await?),
        })
    }
    pub async fn healthz(&self) -> Result<u16> {
        let path = match self {
            Door::Console(_) => "/healthz",
            Door::Hearth(_) => "/v1/healthz",
        };
        Ok(request(self.connect().await?, &get(self.host(), path), b"")
            .await?
            .0)
    }
    /// Opens `n` connections that each send `bytes` and then nothing, each watched by
    /// `watch`; then asks healthz, which must answer 200 within `within`. The watchers and
    /// how long healthz took.
    pub async fn hold<T, W, Fut>(
        &self,
        n: usize,
        bytes: &[u8],
        watch: W,
        within: Duration,
    ) -> Result<(Vec<tokio::task::JoinHandle<T>>, Duration)>
    where
        T: Send + 'static,
        W: Fn(Box<dyn Io>) -> Fut,
        Fut: std::future::Future<Output = T> + Send + 'static,
    {
        let what = self.name();
        let mut held = Vec::with_capacity(n);
        for _ in 0..n {
            let mut s = self.connect().await?;
            s.write_all(bytes).await?;
            held.push(tokio::spawn(watch(s)));
        }
        // Let the server take every one of them before the legitimate client comes.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let asked = Instant::now();
        let status = tokio::time::timeout(within, self.healthz())
            .await
            .with_context(|| {
                format!("{what}: healthz got no answer within {within:?} with {n} connections held")
            })??;
        ensure!(status == 200, "{what}: healthz answered {status}");
        Ok((held, asked.elapsed()))
    }
}

/// A live tail of the HATCH log, open.
pub async fn open_tail(api: &Api) -> Result<reqwest::Response> {
    let tail = api.tail(None).await?;
    ensure!(tail.status().as_u16() == 200, "tail: {}", tail.status());
    Ok(tail)
}
