//! The console tests' own fixtures over [`hearth_testkit`]: the real binaries (console,
//! hearth, worker-stub) on port 0, temp sockets and temp state dirs as these tests start
//! them (each with its own flags and faults, stopped on drop), and the console's API client
//! for a started console.
#![allow(dead_code)]

pub mod raw;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{bail, Result};
use hearth_protocol::hatch::{read_log, HatchEvent};
use hearth_testkit::bins;
// Not every test binary names both.
#[allow(unused_imports)]
pub use hearth_testkit::console_api::{Answer, ConsoleApi as Api};
use hearth_testkit::daemon::{self, Serve};
pub use hearth_testkit::process::Proc;
use hearth_testkit::servers::{worker_serve, ConsoleServe};

/// The keys both sides share unless a test wants drift.
pub const KEYS: &str = "k1:console-and-worker-share-this-secret\n";
/// A different key, for bearer drift.
pub const OTHER_KEYS: &str = "k9:a-secret-the-console-does-not-have\n";

/// The directory holding the built binaries (next to the console's).
pub fn bin(name: &str) -> Result<PathBuf> {
    bins::binary_in(&bins::profile_dir()?, name)
}

/// Starts `cmd` and waits (bounded) for its first stdout line `listening http://…`; its
/// stderr is kept in `logs` (and shown when it does not start).
pub fn spawn_listening(cmd: Command, logs: &Path) -> Result<Proc> {
    let (proc, _) = Proc::spawn_listening(&log_name(&cmd), cmd, logs, Duration::from_secs(30))?;
    Ok(proc)
}

/// A name for `cmd`'s log files, unique in this test process.
fn log_name(cmd: &Command) -> String {
    static SPAWNED: AtomicUsize = AtomicUsize::new(0);
    let n = SPAWNED.fetch_add(1, Ordering::Relaxed);
    let program = Path::new(cmd.get_program());
    let name = program.file_name().unwrap_or(program.as_os_str());
    format!("{}-{n}", name.to_string_lossy())
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
    /// The API client for `console`, started on this env, with its admin token.
    pub fn api(&self, console: &Proc) -> Result<Api> {
        Api::new(&console.url, &self.token()?)
    }
}

/// Starts hearth with the Fake driver on the env's socket.
pub fn start_hearth(env: &Env) -> Result<Proc> {
    start_hearth_with(env, &[])
}

/// Starts hearth on the Fake driver with extra flags (e.g. `--fake-fault hang:teardown`).
pub fn start_hearth_with(env: &Env, extra: &[&str]) -> Result<Proc> {
    spawn_daemon(env, hearth_command(env, extra)?, &env.socket())
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

/// Starts a daemon and waits (bounded) until its unix socket accepts; its stderr is kept
/// in the env's directory.
pub fn spawn_daemon(env: &Env, mut cmd: Command, socket: &Path) -> Result<Proc> {
    cmd.env("RUST_LOG", "warn");
    let mut proc = Proc::spawn(&log_name(&cmd), cmd, env.dir.path())?;
    if let Err(e) = daemon::wait_for_socket_blocking(socket, Duration::from_secs(6)) {
        bail!("hearth {e}{}", proc.diagnose());
    }
    Ok(proc)
}

/// Starts worker-stub with `keys` and `faults`, its replay journal in a state dir of its own
/// beside the keys file (in the test's temp dir, never the user's state home).
pub fn start_worker(keys: &Path, faults: &[&str]) -> Result<Proc> {
    static WORKERS: AtomicUsize = AtomicUsize::new(0);
    let n = WORKERS.fetch_add(1, Ordering::Relaxed);
    let mut cmd = Command::new(bin("worker-stub")?);
    cmd.env("RUST_LOG", "warn");
    let state = keys.with_file_name(format!("worker-state-{n}"));
    worker_serve(&mut cmd, keys, &state, faults);
    spawn_listening(cmd, keys.parent().unwrap_or(Path::new(".")))
}

/// Starts the console against `worker_url` with `keys`.
pub fn start_console(env: &Env, worker_url: &str, keys: &Path, extra: &[&str]) -> Result<Proc> {
    spawn_listening(
        console_command(env, worker_url, keys, extra),
        env.dir.path(),
    )
}

/// The command [`start_console`] runs.
pub fn console_command(env: &Env, worker_url: &str, keys: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_console"));
    let serve = ConsoleServe {
        hearth_socket: env.socket(),
        worker_url: worker_url.to_owned(),
        keys: keys.to_owned(),
        hatch: env.hatch(),
        state_dir: env.state(),
    };
    serve.apply(&mut cmd);
    cmd.args(extra).env("RUST_LOG", "warn");
    cmd
}
