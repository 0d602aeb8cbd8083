//! The play's processes as the bench runs them: the real `hearth`, `worker-stub` and `console`
//! release binaries on a temp socket, port 0 and temp state, each found by what it prints or
//! answers first and timed from spawn, stopped with SIGTERM (killed if dropped). Their
//! arguments and the console client are [`hearth_testkit`]'s; the timing is the bench's.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use hearth_testkit::listening;
use hearth_testkit::servers::{secret, worker_serve, ConsoleServe};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::time::{timeout, Instant};

use crate::console_api::Console;
use crate::hearth::{Daemon, Launch};

/// The binaries of the play besides hearth.
#[derive(Debug, Clone)]
pub(crate) struct PlayBins {
    /// `worker-stub`.
    pub worker: PathBuf,
    /// `console`.
    pub console: PathBuf,
}

/// A child that printed `listening http://…` as its first stdout line.
#[derive(Debug)]
pub(crate) struct Listening {
    child: Child,
    pid: i32,
    /// The base URL it printed.
    pub url: String,
}

/// How long each process took from spawn to accepting.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct StartTimes {
    /// hearth: spawn → first `/v1/healthz` answer.
    pub hearth: Duration,
    /// worker-stub: spawn → `listening` line.
    pub worker: Duration,
    /// console: spawn → `listening` line (it is spawned once the worker's URL is known).
    pub console: Duration,
    /// First spawn → all three accepting.
    pub all: Duration,
}

/// hearth, the worker and the console, running.
#[derive(Debug)]
pub(crate) struct Stack {
    /// The console's API, with its admin token.
    pub console: Console,
    /// The worker's base URL.
    pub worker_url: String,
    /// The keys file console and worker share (the bench signs with it to watch the worker).
    pub keys: PathBuf,
    console_proc: Listening,
    worker_proc: Listening,
    hearth: Daemon,
    /// Holds keys, state and the log; removed on drop.
    _dir: tempfile::TempDir,
}

/// Bound on a child's start-up.
const START_DEADLINE: Duration = Duration::from_secs(20);
/// Bound on a child's graceful stop.
const STOP_BOUND: Duration = Duration::from_secs(10);

impl Stack {
    /// The stack's hearth, for calls over its own socket.
    pub(crate) fn hearth(&self) -> &Daemon {
        &self.hearth
    }

    /// Starts hearth and the worker together, then the console pointed at both.
    ///
    /// # Errors
    /// A missing binary, or a child that exits or does not come up in time.
    pub(crate) async fn start(
        launch: &Launch,
        bins: &PlayBins,
        worker_faults: &[String],
    ) -> anyhow::Result<(Stack, StartTimes)> {
        for bin in [&bins.worker, &bins.console] {
            if !bin.is_file() {
                bail!(
                    "{} not found (build it: cargo build --release -p console -p worker-stub)",
                    bin.display()
                );
            }
        }
        let dir = tempfile::Builder::new()
            .prefix("hearth-bench-play.")
            .tempdir()
            .context("temp dir for the play")?;
        let keys = dir.path().join("play.keys");
        std::fs::write(&keys, format!("bench:{}\n", secret())).context("write the keys")?;

        let began = Instant::now();
        let mut worker = Command::new(&bins.worker);
        let worker_state = dir.path().join("worker-state");
        worker_serve(worker.as_std_mut(), &keys, &worker_state, worker_faults);
        let (hearth, worker) = tokio::join!(launch.start(), spawn_listening(worker));
        let ((hearth, hearth_took), (worker_proc, worker_took)) = (hearth?, worker?);

        let serve = ConsoleServe {
            hearth_socket: hearth.socket().to_owned(),
            worker_url: worker_proc.url.clone(),
            keys: keys.clone(),
            hatch: dir.path().join("hatch.jsonl"),
            state_dir: dir.path().join("console-state"),
        };
        let mut console = Command::new(&bins.console);
        serve.apply(console.as_std_mut());
        let console_began = Instant::now();
        let (console_proc, _) = spawn_listening(console).await?;
        let console_took = console_began.elapsed();
        let all = began.elapsed();
        let token = serve.token().context("read the console's admin token")?;
        let stack = Stack {
            console: Console::new(&console_proc.url, &token)?,
            worker_url: worker_proc.url.clone(),
            keys,
            console_proc,
            worker_proc,
            hearth,
            _dir: dir,
        };
        let times = StartTimes {
            hearth: hearth_took,
            worker: worker_took,
            console: console_took,
            all,
        };
        Ok((stack, times))
    }

    /// Stops the console, then the worker, then hearth, each with SIGTERM.
    ///
    /// # Errors
    /// When a process cannot be signalled or reaped.
    pub(crate) async fn stop(self) -> anyhow::Result<()> {
        self.console_proc.stop().await?;
        self.worker_proc.stop().await?;
        self.hearth.stop(STOP_BOUND).await
    }
}

/// Spawns `cmd` and waits for its `listening http://…` line; returns the child and the time
/// from spawn to that line.
async fn spawn_listening(mut cmd: Command) -> anyhow::Result<(Listening, Duration)> {
    let name = cmd.as_std().get_program().to_string_lossy().into_owned();
    let began = Instant::now();
    let mut child = cmd
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("spawn {name}"))?;
    let pid = child
        .id()
        .and_then(|p| i32::try_from(p).ok())
        .context("child pid")?;
    let stdout = child.stdout.take().context("child stdout")?;
    // The rest of stdout is drained so the child never blocks on a full pipe.
    let url = listening::wait_async(stdout, START_DEADLINE)
        .await
        .with_context(|| format!("{name} did not start"))?;
    Ok((Listening { child, pid, url }, began.elapsed()))
}

impl Listening {
    /// SIGTERM, then waits up to the stop bound before killing.
    async fn stop(mut self) -> anyhow::Result<()> {
        let _ = kill(Pid::from_raw(self.pid), Signal::SIGTERM);
        if timeout(STOP_BOUND, self.child.wait()).await.is_err() {
            self.child.kill().await.context("kill child")?;
        }
        Ok(())
    }
}
