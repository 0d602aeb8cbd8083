//! The real `hearth` binary as a daemon process, and the crash every engine-backed driver must
//! survive: kill -9 in the middle of a provision, then a restart whose reconcile removes what
//! was half-made (found by label) and records the provision failed.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use hearth::client::HearthClient;
use hearth_protocol::hearth::{ProvisioningProfile, Status, Tier};
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
    /// Whether the provision is far enough along to crash in (given what `left` lists).
    pub midway: &'a dyn Fn(&[String]) -> bool,
}

/// Crashes a daemon with kill -9 once `c.midway` holds, restarts it, and checks that the
/// restart's reconcile left nothing (`c.left` empty once it answers, or within `c.settle`),
/// that the workspace is `failed`, and that a
/// teardown then makes it `tier_torn_down` with nothing left.
pub async fn kill_9_mid_provision(c: Crash<'_>) {
    let dir = super::short_tempdir();
    let socket = dir.path().join("h.sock");
    let state = dir.path().join("state");
    let first = Daemon::spawn_with(&socket, &state, c.stuck, c.env);
    let client = first.ready().await;
    let call = tokio::spawn(async move {
        client
            .provision("crash", &ProvisioningProfile::for_tier(Tier::Solo))
            .await
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    while !(c.midway)(&(c.left)()) {
        if call.is_finished() {
            let answer = call.await.expect("join");
            let (_, stderr) = first.wait_killed();
            panic!("the provision ended before its middle: {answer:?}\nhearth's stderr:\n{stderr}");
        }
        assert!(
            Instant::now() < deadline,
            "provision never got going: {:?}",
            (c.left)()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.signal(Signal::SIGKILL);
    let _ = first.wait();
    assert!(
        call.await.expect("join").is_err(),
        "the caller saw the daemon die"
    );
    assert!(!(c.left)().is_empty(), "the crash left objects behind");

    let second = Daemon::spawn_with(&socket, &state, c.restart, c.env);
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
}
