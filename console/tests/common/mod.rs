//! Spawns the real binaries (console, hearth, worker-stub) on port 0, temp sockets and temp
//! state dirs, and kills them on drop.
#![allow(dead_code)]

pub mod raw;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use hearth_protocol::hatch::{read_log, HatchEvent};
use hearth_testkit::daemon::{self, Serve};
use hearth_testkit::listening;

/// The keys both sides share unless a test wants drift.
pub const KEYS: &str = "k1:console-and-worker-share-this-secret\n";
/// A different key, for bearer drift.
pub const OTHER_KEYS: &str = "k9:a-secret-the-console-does-not-have\n";

/// A child process killed (and reaped) on drop.
#[derive(Debug)]
pub struct Proc {
    pub child: Child,
    pub url: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The directory holding the built binaries (next to the console's).
pub fn bin(name: &str) -> Result<PathBuf> {
    let console = PathBuf::from(env!("CARGO_BIN_EXE_console"));
    let path = console
        .parent()
        .context("console binary has no parent dir")?
        .join(name);
    if !path.exists() {
        bail!(
            "{} is missing: build it first with `cargo build -p hearth -p worker-stub`",
            path.display()
        );
    }
    Ok(path)
}

/// Starts `cmd` and waits (bounded) for its first stdout line `listening http://…`.
pub fn spawn_listening(mut cmd: Command) -> Result<Proc> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut child = cmd.spawn().with_context(|| format!("spawn {cmd:?}"))?;
    let stdout = child.stdout.take().context("no stdout")?;
    // The rest is drained so the child never blocks on a full pipe.
    match listening::wait(stdout, std::io::sink(), Duration::from_secs(30)) {
        Ok(url) => Ok(Proc { child, url }),
        Err(e) => {
            let _ = child.kill();
            let status = child.wait();
            bail!("{cmd:?} {e}; exit: {status:?}");
        }
    }
}

/// A temp dir with the files one play needs.
#[derive(Debug)]
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Result<Self> {
        Ok(Env {
            dir: tempfile::tempdir()?,
        })
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    pub fn socket(&self) -> PathBuf {
        self.path("hearth.sock")
    }
    pub fn hatch(&self) -> PathBuf {
        self.path("hatch.jsonl")
    }
    pub fn state(&self) -> PathBuf {
        self.path("console-state")
    }
    /// Writes a keys file and returns its path.
    pub fn keys(&self, name: &str, text: &str) -> Result<PathBuf> {
        let p = self.path(name);
        std::fs::write(&p, text)?;
        Ok(p)
    }
    /// The events in the HATCH log, torn tail tolerated.
    pub fn events(&self) -> Result<Vec<HatchEvent>> {
        let bytes = std::fs::read(self.hatch()).unwrap_or_default();
        Ok(read_log(&bytes)?.events)
    }
    pub fn types(&self) -> Result<Vec<String>> {
        Ok(self.events()?.into_iter().map(|e| e.event_type).collect())
    }
    pub fn token(&self) -> Result<String> {
        Ok(std::fs::read_to_string(self.state().join("console.token"))?
            .trim()
            .to_owned())
    }
}

/// Starts hearth with the Fake driver on the env's socket.
pub fn start_hearth(env: &Env) -> Result<Proc> {
    start_hearth_with(env, &[])
}

/// Starts hearth on the Fake driver with extra flags (e.g. `--fake-fault hang:teardown`).
pub fn start_hearth_with(env: &Env, extra: &[&str]) -> Result<Proc> {
    spawn_daemon(hearth_command(env, extra)?, &env.socket())
}

/// The command [`start_hearth_with`] runs.
pub fn hearth_command(env: &Env, extra: &[&str]) -> Result<Command> {
    let serve = Serve::new(&env.socket(), &env.path("hearth-state"))
        .driver("fake")
        .args(extra);
    Ok(serve.command(&bin("hearth")?))
}

/// `cmd` run under `umask 000`, as a careless service manager would start it.
pub fn under_umask_000(cmd: &Command) -> Command {
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg("umask 000; exec \"$@\"")
        .arg("sh")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    sh
}

/// Starts a daemon and waits (bounded) until its unix socket accepts.
pub fn spawn_daemon(mut cmd: Command, socket: &Path) -> Result<Proc> {
    let child = cmd
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("spawn {cmd:?}"))?;
    let proc = Proc {
        child,
        url: String::new(),
    };
    daemon::wait_for_socket_blocking(socket, Duration::from_secs(6))
        .map_err(|e| anyhow::anyhow!("hearth {e}"))?;
    Ok(proc)
}

/// Starts worker-stub with `keys` and `faults`, its replay journal in a state dir of its own
/// beside the keys file (in the test's temp dir, never the user's state home).
pub fn start_worker(keys: &Path, faults: &[&str]) -> Result<Proc> {
    static WORKERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = WORKERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut cmd = Command::new(bin("worker-stub")?);
    cmd.env("RUST_LOG", "warn")
        .args(["serve", "--listen", "127.0.0.1:0", "--keys"])
        .arg(keys)
        .arg("--state-dir")
        .arg(keys.with_file_name(format!("worker-state-{n}")));
    for f in faults {
        cmd.args(["--fault", f]);
    }
    spawn_listening(cmd)
}

/// Starts the console against `worker_url` with `keys`.
pub fn start_console(env: &Env, worker_url: &str, keys: &Path, extra: &[&str]) -> Result<Proc> {
    spawn_listening(console_command(env, worker_url, keys, extra))
}

/// The command [`start_console`] runs.
pub fn console_command(env: &Env, worker_url: &str, keys: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_console"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--hearth-socket"])
        .arg(env.socket())
        .args(["--worker-url", worker_url, "--keys"])
        .arg(keys)
        .arg("--hatch")
        .arg(env.hatch())
        .arg("--state-dir")
        .arg(env.state())
        .args(extra)
        .env("RUST_LOG", "warn");
    cmd
}

/// A reqwest client and the console's token.
#[derive(Debug, Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Api {
    pub fn new(console: &Proc, env: &Env) -> Result<Self> {
        Ok(Api {
            http: reqwest::Client::new(),
            base: console.url.clone(),
            token: env.token()?,
        })
    }
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
    pub async fn post(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> Result<(u16, serde_json::Value)> {
        self.send(self.http.post(self.url(path)).json(&body)).await
    }
    /// `POST /api/hearth/workspaces {slug, tier: solo}`.
    pub async fn provision(&self, slug: &str) -> Result<(u16, serde_json::Value)> {
        self.post(
            "/api/hearth/workspaces",
            serde_json::json!({"slug": slug, "tier": "solo"}),
        )
        .await
    }
    /// Runs `n` prompts on `slug`'s workspace and waits (bounded) for the run's end: its id
    /// and its final state.
    pub async fn run_prompts(&self, slug: &str, n: usize) -> Result<(String, serde_json::Value)> {
        let prompts: Vec<String> = (1..=n).map(|i| format!("step {i}")).collect();
        let (status, body) = self
            .post(
                "/api/ralph/runs",
                serde_json::json!({"workspace": slug, "prompts": prompts}),
            )
            .await?;
        anyhow::ensure!(status == 200, "submit answered {status}: {body}");
        let run_id = body["run_id"].as_str().unwrap_or_default().to_owned();
        let (_, run) = self
            .get(&format!("/api/ralph/runs/{run_id}?wait=30"))
            .await?;
        Ok((run_id, run))
    }
    /// Opens a live tail of the HATCH log (`GET /api/hatch/events` as SSE).
    pub async fn tail(&self) -> Result<reqwest::Response> {
        Ok(self
            .http
            .get(self.url("/api/hatch/events"))
            .bearer_auth(&self.token)
            .header("accept", "text/event-stream")
            .send()
            .await?)
    }
    pub async fn get(&self, path: &str) -> Result<(u16, serde_json::Value)> {
        self.send(self.http.get(self.url(path))).await
    }
    pub async fn delete(&self, path: &str) -> Result<(u16, serde_json::Value)> {
        self.send(self.http.delete(self.url(path))).await
    }
    /// Sends with the admin token; the status and the JSON answer (null if none).
    async fn send(&self, req: reqwest::RequestBuilder) -> Result<(u16, serde_json::Value)> {
        let resp = req.bearer_auth(&self.token).send().await?;
        Ok((
            resp.status().as_u16(),
            resp.json().await.unwrap_or_default(),
        ))
    }
}
