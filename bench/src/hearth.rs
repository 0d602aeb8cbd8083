//! hearth as the bench drives it: the real `hearth serve` binary on a temp socket, called
//! with raw JSON over the unix socket exactly as any client would, and its memory read from
//! `/proc`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use hearth_testkit::daemon::Serve;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyperlocal::{UnixClientExt, UnixConnector};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::time::{sleep, timeout, Instant};

/// How the daemon is started.
#[derive(Debug, Clone)]
pub(crate) struct Launch {
    /// The `hearth` binary (release build for figures worth reading).
    pub bin: PathBuf,
    /// The image both roles use.
    pub image: String,
    /// `hearth serve --driver` (`local-docker`, or `swarm` for the Swarm section).
    pub driver: &'static str,
    /// Extra arguments after `serve …` (e.g. labels, if the daemon takes them).
    pub extra_args: Vec<String>,
    /// The engine the daemon talks to (`DOCKER_HOST`); `None` keeps the bench's own.
    pub docker_host: Option<String>,
    /// How long the daemon may take to accept on its socket.
    pub start_deadline: Duration,
    /// Bound on one RPC (provision includes HTTP-readiness).
    pub rpc_deadline: Duration,
}

/// A running daemon; stopped with SIGTERM on [`Daemon::stop`], killed if dropped.
#[derive(Debug)]
pub(crate) struct Daemon {
    child: Child,
    pid: i32,
    socket: PathBuf,
    client: Client<UnixConnector, Full<Bytes>>,
    rpc_deadline: Duration,
    /// Holds the socket and state directory; removed when the daemon is dropped.
    _dir: tempfile::TempDir,
}

impl Launch {
    /// Starts `hearth serve` and waits until its socket answers `GET /v1/healthz`.
    /// Returns the daemon and the time from spawn to that first answer.
    ///
    /// # Errors
    /// When the binary is missing, exits, or does not answer within the start deadline.
    pub(crate) async fn start(&self) -> anyhow::Result<(Daemon, Duration)> {
        if !self.bin.is_file() {
            bail!(
                "{} not found (build it: cargo build --release -p hearth)",
                self.bin.display()
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("hearth-bench.")
            .tempdir()
            .context("temp dir for the daemon")?;
        let socket = dir.path().join("hearth.sock");
        let state = dir.path().join("state");
        let began = Instant::now();
        let mut command = Command::new(&self.bin);
        if let Some(host) = &self.docker_host {
            command.env("DOCKER_HOST", host);
        }
        let serve = Serve::new(&socket, &state)
            .driver(self.driver)
            .images(&self.image, &self.image)
            .args(&self.extra_args);
        let child = command
            .args(serve.argv())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawn {}", self.bin.display()))?;
        let pid = child
            .id()
            .and_then(|p| i32::try_from(p).ok())
            .context("daemon pid")?;
        let mut daemon = Daemon {
            client: Client::unix(),
            child,
            pid,
            socket,
            rpc_deadline: self.rpc_deadline,
            _dir: dir,
        };
        let until = began + self.start_deadline;
        loop {
            if daemon.healthy().await {
                return Ok((daemon, began.elapsed()));
            }
            if let Some(status) = daemon.child.try_wait()? {
                bail!("hearth serve exited during start-up: {status}");
            }
            if Instant::now() >= until {
                bail!(
                    "hearth serve did not accept within {:?}",
                    self.start_deadline
                );
            }
            sleep(Duration::from_millis(1)).await;
        }
    }
}

impl Daemon {
    /// The daemon's unix socket.
    pub(crate) fn socket(&self) -> &Path {
        &self.socket
    }

    async fn healthy(&self) -> bool {
        if !self.socket.exists() {
            return false;
        }
        matches!(self.call("GET", "/v1/healthz", None).await, Ok((200, _)))
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<(u16, String)> {
        let uri: hyper::Uri = hyperlocal::Uri::new(&self.socket, path).into();
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let req = hyper::Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))?;
        let resp = timeout(self.rpc_deadline, self.client.request(req))
            .await
            .with_context(|| format!("{path} took over {:?}", self.rpc_deadline))?
            .with_context(|| format!("{path} over {}", self.socket.display()))?;
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await?.to_bytes();
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    }

    async fn verb(&self, path: &str, body: serde_json::Value) -> anyhow::Result<String> {
        let (status, text) = self.call("POST", path, Some(body)).await?;
        if status != 200 {
            bail!("{path} answered {status}: {text}");
        }
        Ok(text)
    }

    /// `POST /v1/provision` for a solo workspace; returns once hearth says it is ready.
    ///
    /// # Errors
    /// On a non-200 answer or a transport failure.
    pub(crate) async fn provision(&self, slug: &str) -> anyhow::Result<()> {
        self.provision_ref(slug).await.map(drop)
    }

    /// [`Daemon::provision`], answering hearth's ref (with its `pool` claim, if any).
    ///
    /// # Errors
    /// As [`Daemon::provision`].
    pub(crate) async fn provision_ref(&self, slug: &str) -> anyhow::Result<serde_json::Value> {
        let body = serde_json::json!({"slug": slug, "profile": {"tier": "solo"}});
        let text = self.verb("/v1/provision", body).await?;
        let v: serde_json::Value = serde_json::from_str(&text).context("provision answer")?;
        match v.get("last_status").and_then(|s| s.as_str()) {
            Some("ready") | None => Ok(v),
            Some(other) => bail!("provision of {slug} answered status {other}"),
        }
    }

    /// Ready members of the solo pool (`GET /v1/pool`).
    ///
    /// # Errors
    /// On a non-200 answer or a transport failure.
    pub(crate) async fn pool_ready(&self) -> anyhow::Result<u64> {
        let (status, text) = self.call("GET", "/v1/pool", None).await?;
        if status != 200 {
            bail!("/v1/pool answered {status}: {text}");
        }
        let v: serde_json::Value = serde_json::from_str(&text).context("pool answer")?;
        Ok(v["pools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["tier"] == "solo")
            .filter_map(|p| p["ready"].as_u64())
            .sum())
    }

    /// Waits (bounded) until the solo pool has `n` ready members.
    ///
    /// # Errors
    /// When it does not within `bound`.
    pub(crate) async fn wait_pool(&self, n: u64, bound: Duration) -> anyhow::Result<()> {
        let until = Instant::now() + bound;
        loop {
            if self.pool_ready().await? >= n {
                return Ok(());
            }
            if Instant::now() >= until {
                bail!("the pool did not reach {n} ready members within {bound:?}");
            }
            sleep(Duration::from_millis(20)).await;
        }
    }

    /// `POST /v1/teardown`; returns once hearth says it is torn down.
    ///
    /// # Errors
    /// On a non-200 answer or a transport failure.
    pub(crate) async fn teardown(&self, slug: &str) -> anyhow::Result<()> {
        let body = serde_json::json!({"ref": {"workspace_slug": slug}});
        self.verb("/v1/teardown", body).await.map(drop)
    }

    /// The daemon's resident set and its peak so far, in KiB.
    ///
    /// # Errors
    /// When `/proc` cannot be read.
    pub(crate) fn memory(&self) -> anyhow::Result<Memory> {
        memory_of(Path::new(&format!("/proc/{}/status", self.pid)))
    }

    /// SIGTERM, then waits up to `bound` for the exit before killing.
    ///
    /// # Errors
    /// When the process cannot be signalled or reaped.
    pub(crate) async fn stop(mut self, bound: Duration) -> anyhow::Result<()> {
        let _ = kill(Pid::from_raw(self.pid), Signal::SIGTERM);
        if timeout(bound, self.child.wait()).await.is_err() {
            self.child.kill().await.context("kill hearth")?;
        }
        Ok(())
    }
}

/// Resident memory of a process, from `/proc/PID/status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Memory {
    /// `VmRSS`: resident now, KiB.
    pub rss_kib: u64,
    /// `VmHWM`: peak resident since start, KiB.
    pub peak_kib: u64,
}

fn memory_of(status_file: &Path) -> anyhow::Result<Memory> {
    let text = std::fs::read_to_string(status_file)
        .with_context(|| format!("read {}", status_file.display()))?;
    Ok(parse_memory(&text))
}

fn parse_memory(status: &str) -> Memory {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    Memory {
        rss_kib: field("VmRSS:"),
        peak_kib: field("VmHWM:"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_status_memory() {
        let m = parse_memory("Name:\thearth\nVmHWM:\t   9120 kB\nVmRSS:\t    7004 kB\n");
        assert_eq!(
            m,
            Memory {
                rss_kib: 7004,
                peak_kib: 9120
            }
        );
    }

    #[test]
    fn reads_this_process_memory() {
        let m = memory_of(Path::new("/proc/self/status")).unwrap();
        assert!(m.rss_kib > 0 && m.peak_kib >= m.rss_kib, "{m:?}");
    }

    #[tokio::test]
    async fn a_missing_binary_is_named() {
        let launch = Launch {
            bin: PathBuf::from("/nonexistent/hearth"),
            image: "x".into(),
            driver: "local-docker",
            extra_args: vec![],
            docker_host: None,
            start_deadline: Duration::from_secs(1),
            rpc_deadline: Duration::from_secs(1),
        };
        let err = launch.start().await.unwrap_err().to_string();
        assert!(err.contains("/nonexistent/hearth not found"), "{err}");
    }
}
