//! The real `hearth` binary as a daemon process, and the crash every engine-backed driver must
//! survive: kill -9 in the middle of a provision — once enough of it is on the engine, or
//! right after a chosen boot event — then a restart whose reconcile removes what was
//! half-made (found by label) and records the provision failed.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use hearth::client::HearthClient;
use hearth_protocol::hearth::{LifecycleEvent, ProvisioningProfile, Status, Tier};
use hearth_testkit::daemon::Serve;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

pub const BIN: &str = env!("CARGO_BIN_EXE_hearth");

/// A daemon process, killed if the test ends without stopping it.
pub struct Daemon {
    pub child: Child,
    pub socket: PathBuf,
}

impl Daemon {
    pub fn spawn<S: AsRef<std::ffi::OsStr>>(socket: &Path, state: &Path, extra: &[S]) -> Daemon {
        Daemon::spawn_with(socket, state, extra, &[])
    }

    /// [`Daemon::spawn`] with `env` added to its environment (e.g. `DOCKER_HOST`).
    pub fn spawn_with<S: AsRef<std::ffi::OsStr>>(
        socket: &Path,
        state: &Path,
        extra: &[S],
        env: &[(String, String)],
    ) -> Daemon {
        let mut cmd = Serve::new(socket, state)
            .args(extra)
            .command(Path::new(BIN));
        let child = cmd
            .env_remove("RUST_LOG")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hearth");
        Daemon {
            child,
            socket: socket.to_owned(),
        }
    }

    pub fn client(&self) -> HearthClient {
        HearthClient::new(&self.socket).with_timeout(Duration::from_secs(120))
    }

    pub async fn ready(&self) -> HearthClient {
        hearth_testkit::daemon::answering(&self.socket, Duration::from_secs(20)).await;
        self.client()
    }

    pub fn signal(&self, sig: Signal) {
        let pid = i32::try_from(self.child.id()).expect("pid");
        kill(Pid::from_raw(pid), sig).expect("signal");
    }

    /// Kills the process and waits for it; its status and stderr.
    pub fn wait_killed(self) -> (std::process::ExitStatus, String) {
        self.signal(Signal::SIGKILL);
        self.wait()
    }

    /// Waits (bounded) for the process to exit; its status and stderr.
    pub fn wait(mut self) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                return (status, err);
            }
            assert!(Instant::now() < deadline, "hearth did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One crash: how the daemon is started, and what of its instance is where.
pub struct Crash<'a> {
    /// `hearth serve` flags that hold the provision in its middle (readiness that never
    /// passes), for the daemon that is killed.
    pub stuck: &'a [String],
    /// `hearth serve` flags for the daemon started after the crash.
    pub restart: &'a [String],
    /// Environment for both daemons.
    pub env: &'a [(String, String)],
    /// What of the instance is on the engine(s), asked of the engines themselves.
    pub left: &'a dyn Fn() -> Vec<String>,
    /// How long the restarted daemon may take to leave nothing once it answers: zero where
    /// reconcile is done before it serves; on a cluster a worker's volume goes by a job there.
    pub settle: Duration,
    /// When the provision is far enough along to crash in.
    pub midway: Midway<'a>,
}

/// When [`kill_9_mid_provision`] kills the daemon.
pub enum Midway<'a> {
    /// Once what `left` lists satisfies this (the engine polled every 50 ms); the crash must
    /// leave objects behind.
    Objects(&'a dyn Fn(&[String]) -> bool),
    /// As soon as the provision's boot events, followed live, satisfy this: the kill lands
    /// right after that step (or a step or two later, as fast as the daemon goes on); the
    /// engine may hold nothing yet.
    Events(&'a dyn Fn(&[LifecycleEvent]) -> bool),
}

/// What a crash saw, and the restarted daemon (torn-down workspace, nothing left), for more
/// checks.
pub struct Crashed {
    /// The daemon started after the crash.
    pub daemon: Daemon,
    /// The boot events the killed daemon had recorded when it was killed (empty for
    /// [`Midway::Objects`]).
    pub seen: Vec<LifecycleEvent>,
    /// What of the instance was on the engine right after the kill.
    pub left: Vec<String>,
    /// The daemon's socket and state dir, kept while it runs.
    pub dir: tempfile::TempDir,
}

/// Crashes a daemon with kill -9 once `c.midway` holds, restarts it, and checks that the
/// restart's reconcile left nothing (`c.left` empty once it answers, or within `c.settle`),
/// that the workspace is `failed`, and that a teardown then makes it `tier_torn_down` with
/// nothing left.
pub async fn kill_9_mid_provision(c: Crash<'_>) -> Crashed {
    let dir = super::short_tempdir();
    let socket = dir.path().join("h.sock");
    let state = dir.path().join("state");
    let first = Daemon::spawn_with(&socket, &state, c.stuck, c.env);
    let client = first.ready().await;
    let mut steps = Box::pin(client.follow_events("crash").await.expect("follow"));
    let mut call = tokio::spawn(async move {
        client
            .provision("crash", &ProvisioningProfile::for_tier(Tier::Solo))
            .await
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut seen = Vec::new();
    loop {
        let reached = match &c.midway {
            Midway::Objects(enough) => enough(&(c.left)()),
            Midway::Events(enough) => enough(&seen),
        };
        if reached {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "provision never got going: {:?}\nsteps: {seen:?}",
            (c.left)()
        );
        tokio::select! {
            answer = &mut call => {
                let (_, stderr) = first.wait_killed();
                panic!(
                    "the provision ended before its middle: {:?}\nsteps: {seen:?}\n\
                     hearth's stderr:\n{stderr}",
                    answer.expect("join")
                );
            }
            step = steps.next(), if matches!(c.midway, Midway::Events(_)) => {
                seen.push(step.expect("the event stream ended").expect("event"));
            }
            () = tokio::time::sleep(Duration::from_millis(50)),
                if matches!(c.midway, Midway::Objects(_)) => {}
        }
    }
    first.signal(Signal::SIGKILL);
    let _ = first.wait();
    assert!(
        call.await.expect("join").is_err(),
        "the caller saw the daemon die"
    );
    let left = (c.left)();
    if matches!(c.midway, Midway::Objects(_)) {
        assert!(!left.is_empty(), "the crash left objects behind");
    }
    let daemon = restart_reconciles(&c, &socket, &state).await;
    Crashed {
        daemon,
        seen,
        left,
        dir,
    }
}

/// The daemon started again after the crash: its reconcile leaves nothing, records the
/// workspace `failed`, and a teardown makes it `tier_torn_down`.
async fn restart_reconciles(c: &Crash<'_>, socket: &Path, state: &Path) -> Daemon {
    let second = Daemon::spawn_with(socket, state, c.restart, c.env);
    let client = second.ready().await;
    let settled = Instant::now() + c.settle;
    while !(c.left)().is_empty() {
        assert!(
            Instant::now() < settled,
            "not rolled back on restart: {:?}",
            (c.left)()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        client.status("crash").await.expect("status"),
        Status::Failed
    );
    client.teardown("crash").await.expect("teardown");
    assert_eq!(
        client.status("crash").await.expect("status"),
        Status::TierTornDown
    );
    assert!((c.left)().is_empty(), "{:?}", (c.left)());
    second
}
