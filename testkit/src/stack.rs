//! One play's processes: the real `hearth`, `worker-stub` and `console` binaries on a temp
//! socket, port 0 and temp state, each under an empty environment (PATH, a fresh HOME, and
//! only what is passed here), plus a client for the console's API ([`Stack::api`]). Dropping
//! a [`Stack`] stops the processes, then sweeps the engine by the stack's instance label.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;
use tempfile::TempDir;

use crate::bins;
use crate::console_api::ConsoleApi;
pub use crate::console_api::{run_ended, Answer};
use crate::daemon::{self, Serve};
use crate::objects::SweepGuard;
use crate::process::{clean_command, Proc};
use crate::run::{test_image_for, unique_instance};
use crate::servers::{secret, worker_serve, ConsoleServe};

/// How long a child may take to come up.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// Which hearth driver the stack runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverKind {
    /// In memory, with real local HTTP servers as services: needs no engine.
    Fake,
    /// The Docker engine (`DOCKER_HOST` or the local socket).
    Docker,
    /// Services on the swarm whose manager is that engine.
    Swarm,
}

/// How to start a stack.
#[derive(Debug, Clone)]
pub struct StackConfig {
    /// Names the instance id (and so every engine object) after the test.
    pub test: String,
    pub driver: DriverKind,
    /// Where the binaries are (default: the running executable's profile directory).
    pub bin_dir: Option<PathBuf>,
    /// `DOCKER_HOST` for hearth (default: the caller's, if set).
    pub docker_host: Option<String>,
    /// `hearth serve --teardown-timeout`.
    pub teardown_timeout: Option<u64>,
    /// `worker-stub --fault` switches.
    pub worker_faults: Vec<String>,
    /// Give the worker a key file that differs from the console's (bearer drift).
    pub worker_keys_differ: bool,
    /// `(cairnet, lore)` images for hearth instead of the stand-in (engine drivers only).
    pub hearth_images: Option<(String, String)>,
    /// Extra environment for hearth alone (e.g. a `PATH` with a credential helper on it).
    pub hearth_env: Vec<(String, String)>,
}

impl StackConfig {
    /// A stack on the Fake driver.
    pub fn fake(test: &str) -> Self {
        StackConfig {
            test: test.to_owned(),
            driver: DriverKind::Fake,
            bin_dir: None,
            docker_host: None,
            teardown_timeout: None,
            worker_faults: Vec::new(),
            worker_keys_differ: false,
            hearth_images: None,
            hearth_env: Vec::new(),
        }
    }

    /// A stack on the Docker engine.
    pub fn docker(test: &str) -> Self {
        StackConfig {
            driver: DriverKind::Docker,
            docker_host: std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()),
            ..StackConfig::fake(test)
        }
    }
}

impl StackConfig {
    /// A stack on the swarm whose manager is the Docker engine.
    pub fn swarm(test: &str) -> Self {
        StackConfig {
            driver: DriverKind::Swarm,
            ..StackConfig::docker(test)
        }
    }
}

/// What `console hatch verify` said.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// Its exit code (-1 if killed by a signal).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The running play. Field order is drop order: processes, then the sweep, then the files.
#[derive(Debug)]
pub struct Stack {
    console: Proc,
    worker: Proc,
    hearth: Proc,
    _sweep: Option<SweepGuard>,
    /// The daemon instance id, stamped on every engine object.
    pub instance: String,
    /// The HATCH log the console writes.
    pub hatch: PathBuf,
    /// hearth's socket.
    pub hearth_socket: PathBuf,
    pub console_url: String,
    pub worker_url: String,
    hearth_bin: PathBuf,
    console_bin: PathBuf,
    /// The console's `--state-dir` (token and URL files, for `console ui`).
    console_state: PathBuf,
    home: PathBuf,
    /// The console's API, with its admin token.
    pub api: ConsoleApi,
    dir: TempDir,
}

/// One start in the making: the config, the binaries, the temp directory (HOME of every
/// child, their logs, sockets and state) and the instance id.
struct Launch<'a> {
    cfg: &'a StackConfig,
    hearth_bin: PathBuf,
    worker_bin: PathBuf,
    console_bin: PathBuf,
    home: PathBuf,
    logs: PathBuf,
    instance: String,
    dir: TempDir,
}

impl<'a> Launch<'a> {
    /// Finds the binaries (failing before act 1, naming a missing one) and makes the temp dir.
    fn new(cfg: &'a StackConfig) -> anyhow::Result<Launch<'a>> {
        let bin_dir = match &cfg.bin_dir {
            Some(d) => d.clone(),
            None => bins::profile_dir()?,
        };
        let [hearth_bin, worker_bin, console_bin]: [PathBuf; 3] = bins::play_binaries_in(&bin_dir)?
            .try_into()
            .map_err(|_| anyhow::anyhow!("expected three binaries"))?;
        let dir = tempfile::Builder::new()
            .prefix("hearth-e2e-")
            .tempdir()
            .context("cannot make a temp dir")?;
        let home = dir.path().join("home");
        let logs = dir.path().join("logs");
        for d in [&home, &logs] {
            std::fs::create_dir_all(d)?;
        }
        Ok(Launch {
            cfg,
            hearth_bin,
            worker_bin,
            console_bin,
            home,
            logs,
            instance: unique_instance(&cfg.test),
            dir,
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `hearth serve` on the stack's socket, state and instance, with the config's driver.
    fn hearth_command(&self) -> Command {
        let driver = match self.cfg.driver {
            DriverKind::Fake => "fake",
            DriverKind::Docker => "local-docker",
            DriverKind::Swarm => "swarm",
        };
        let mut serve = Serve::new(&self.path("hearth.sock"), &self.path("hearth-state"))
            .driver(driver)
            .instance(&self.instance)
            .test_label();
        if self.cfg.driver != DriverKind::Fake {
            let (cairnet, lore) = self
                .cfg
                .hearth_images
                .clone()
                .unwrap_or_else(|| (test_image_for("cairnet"), test_image_for("lore")));
            serve = serve.images(&cairnet, &lore);
        }
        if let Some(secs) = self.cfg.teardown_timeout {
            serve = serve.args(["--teardown-timeout", &secs.to_string()]);
        }
        let mut cmd = clean_command(&self.hearth_bin, &self.home);
        cmd.args(serve.argv());
        if let Some(host) = &self.cfg.docker_host {
            cmd.env("DOCKER_HOST", host);
        }
        cmd.envs(self.cfg.hearth_env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Starts hearth and waits until its socket accepts.
    async fn hearth(&self) -> anyhow::Result<Proc> {
        let mut hearth = Proc::spawn("hearth", self.hearth_command(), &self.logs)?;
        let socket = self.path("hearth.sock");
        let serving =
            daemon::wait_for_socket(&socket, START_DEADLINE, || hearth.exited().is_some()).await;
        match serving {
            Ok(()) => Ok(hearth),
            Err(e) => bail!("hearth {e}{}", hearth.diagnose()),
        }
    }

    /// The console's key file and the worker's (the same one, unless they are to differ).
    fn keys(&self) -> anyhow::Result<(PathBuf, PathBuf)> {
        let keys = self.path("console.keys");
        std::fs::write(&keys, format!("e2e:{}\n", secret()))?;
        if !self.cfg.worker_keys_differ {
            return Ok((keys.clone(), keys));
        }
        let worker = self.path("worker.keys");
        std::fs::write(&worker, format!("e2e:{}\n", secret()))?;
        Ok((keys, worker))
    }

    /// Starts the worker with its keys and faults; the child and its URL.
    fn worker(&self, keys: &Path) -> anyhow::Result<(Proc, String)> {
        let mut cmd = clean_command(&self.worker_bin, &self.home);
        worker_serve(
            &mut cmd,
            keys,
            &self.path("worker-state"),
            &self.cfg.worker_faults,
        );
        Proc::spawn_listening("worker-stub", cmd, &self.logs, START_DEADLINE)
    }

    /// Starts the console against hearth and the worker; the child, its URL and its token.
    fn console(&self, worker_url: &str, keys: &Path) -> anyhow::Result<(Proc, String, String)> {
        let serve = ConsoleServe {
            hearth_socket: self.path("hearth.sock"),
            worker_url: worker_url.to_owned(),
            keys: keys.to_owned(),
            hatch: self.path("hatch.jsonl"),
            state_dir: self.path("console-state"),
        };
        let mut cmd = clean_command(&self.console_bin, &self.home);
        serve.apply(&mut cmd);
        let (mut console, url) = Proc::spawn_listening("console", cmd, &self.logs, START_DEADLINE)?;
        match serve.token() {
            Ok(t) => Ok((console, url, t)),
            Err(e) => bail!("the console wrote no token: {e}{}", console.diagnose()),
        }
    }
}

impl Stack {
    /// Starts hearth, the worker and the console; fails before act 1 naming a missing binary.
    ///
    /// # Errors
    /// A missing binary, or a child that does not come up (with its stderr).
    pub async fn start(cfg: &StackConfig) -> anyhow::Result<Stack> {
        let launch = Launch::new(cfg)?;
        // Declared after the launch and before the children: dropped after them, before the
        // temp dir.
        let sweep = (cfg.driver != DriverKind::Fake).then(|| SweepGuard::new(&launch.instance));
        let hearth = launch.hearth().await?;
        let (keys, worker_keys) = launch.keys()?;
        let (worker, worker_url) = launch.worker(&worker_keys)?;
        let (console, console_url, token) = launch.console(&worker_url, &keys)?;
        let api = ConsoleApi::new(&console_url, &token)?;
        Ok(Stack {
            console,
            worker,
            hearth,
            _sweep: sweep,
            hatch: launch.path("hatch.jsonl"),
            hearth_socket: launch.path("hearth.sock"),
            console_state: launch.path("console-state"),
            instance: launch.instance,
            console_url,
            worker_url,
            hearth_bin: launch.hearth_bin,
            console_bin: launch.console_bin,
            home: launch.home,
            api,
            dir: launch.dir,
        })
    }

    /// The children as `(name, pid)`, for the network watch.
    pub fn pids(&self) -> Vec<(String, u32)> {
        [&self.hearth, &self.worker, &self.console]
            .iter()
            .map(|p| (p.name.clone(), p.pid()))
            .collect()
    }

    /// The stack's temp directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The HOME every child runs with (`HOME/.docker/config.json` is hearth's docker config).
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// `hearth --socket S ARGS` (the client) under the stack's empty environment.
    ///
    /// # Errors
    /// When the binary cannot be run.
    pub fn hearth_cli(&self, args: &[&str]) -> anyhow::Result<std::process::Output> {
        clean_command(&self.hearth_bin, &self.home)
            .arg("--socket")
            .arg(&self.hearth_socket)
            .args(args)
            .output()
            .context("cannot run the hearth client")
    }

    /// Each child's exit status (if it died) and stderr tail, for failure messages.
    pub fn diagnose(&mut self) -> String {
        format!(
            "{}{}{}",
            self.hearth.diagnose(),
            self.worker.diagnose(),
            self.console.diagnose()
        )
    }

    /// The `ui http://…/login?code=…` line `console serve` printed after its `listening`
    /// line, waited for up to `deadline`; returns the URL.
    ///
    /// # Errors
    /// When no such line shows up in time.
    pub async fn ui_login_url(&self, deadline: Duration) -> anyhow::Result<String> {
        let path = self.dir.path().join("logs").join("console.stdout");
        let until = Instant::now() + deadline;
        loop {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if let Some(url) = text.lines().find_map(|l| l.strip_prefix("ui ")) {
                return Ok(url.trim().to_owned());
            }
            if Instant::now() > until {
                bail!(
                    "the console printed no `ui http://…/login?code=…` line after its \
                     `listening` line within {deadline:?}; its stdout after that line: {text:?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// `console ui --state-dir STATE` for this stack's console: its exit code and stdout.
    ///
    /// # Errors
    /// When the binary cannot be run.
    pub fn console_ui(&self) -> anyhow::Result<(i32, String)> {
        let out = clean_command(&self.console_bin, &self.home)
            .arg("ui")
            .arg("--state-dir")
            .arg(&self.console_state)
            .output()
            .context("cannot run `console ui`")?;
        Ok((
            out.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        ))
    }

    /// `hearth --socket S status SLUG -o json` → the status string.
    ///
    /// # Errors
    /// When the client fails or answers something else than `{"status": …}`.
    pub fn hearth_status(&self, slug: &str) -> anyhow::Result<String> {
        let out = clean_command(&self.hearth_bin, &self.home)
            .arg("--socket")
            .arg(&self.hearth_socket)
            .args(["status", slug, "-o", "json"])
            .output()
            .context("cannot run `hearth status`")?;
        let text = String::from_utf8_lossy(&out.stdout);
        let v: Value = serde_json::from_str(&text).with_context(|| {
            format!(
                "`hearth status {slug} -o json` answered {text:?} ({}; stderr {:?})",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
        v["status"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("`hearth status` answered {v} without a status"))
    }

    /// `console hatch verify --chain provision-then-ralph --prompts N` on this stack's log.
    ///
    /// # Errors
    /// When the console binary cannot be run.
    pub fn verify(&self, prompts: usize, json_out: bool) -> anyhow::Result<Verdict> {
        verify_file(
            &self.console_bin,
            &self.home,
            &self.hatch,
            prompts,
            json_out,
        )
    }
}

/// Runs `console hatch verify --chain provision-then-ralph --prompts N FILE` under an empty
/// environment.
///
/// # Errors
/// When the binary cannot be run.
pub fn verify_file(
    console_bin: &Path,
    home: &Path,
    file: &Path,
    prompts: usize,
    json_out: bool,
) -> anyhow::Result<Verdict> {
    let mut cmd: Command = clean_command(console_bin, home);
    cmd.args([
        "hatch",
        "verify",
        "--chain",
        "provision-then-ralph",
        "--prompts",
    ])
    .arg(prompts.to_string());
    if json_out {
        cmd.args(["-o", "json"]);
    }
    let out = cmd
        .arg(file)
        .output()
        .context("cannot run `console hatch verify`")?;
    Ok(Verdict {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// `n` mock prompts.
pub fn mock_prompts(n: usize) -> Vec<String> {
    (1..=n)
        .map(|i| format!("prompt {i} of {n}: touch the workspace and report"))
        .collect()
}
