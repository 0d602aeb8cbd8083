//! `hearth serve` as the tests and the bench start it: the argument list ([`Serve`]), a child
//! killed on drop ([`Daemon`]), and the two ways to wait for it — its socket accepts
//! ([`wait_for_socket`]), or it answers `GET /v1/healthz` ([`answering`]).

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hearth_client::HearthClient;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// How often a waiting test looks again.
const POLL: Duration = Duration::from_millis(20);

/// The arguments of one `hearth serve`: socket and state dir, then what is added.
#[derive(Debug, Clone)]
pub struct Serve {
    argv: Vec<OsString>,
}

impl Serve {
    /// `serve --socket SOCKET --state-dir STATE`.
    pub fn new(socket: &Path, state_dir: &Path) -> Serve {
        Serve {
            argv: vec![
                "serve".into(),
                "--socket".into(),
                socket.into(),
                "--state-dir".into(),
                state_dir.into(),
            ],
        }
    }

    /// `--driver DRIVER` (`fake`, `local-docker`, `swarm`).
    #[must_use]
    pub fn driver(self, driver: &str) -> Serve {
        self.args(["--driver", driver])
    }

    /// `--instance ID`: the label value on every object the daemon makes.
    #[must_use]
    pub fn instance(self, id: &str) -> Serve {
        self.args(["--instance", id])
    }

    /// `--label dev.hearth.test=<run>`, so this run's sweep finds the daemon's objects.
    #[must_use]
    pub fn test_label(self) -> Serve {
        self.args(["--label".to_owned(), crate::run::test_label()])
    }

    /// `--image-cairnet CAIRNET --image-lore LORE`.
    #[must_use]
    pub fn images(self, cairnet: &str, lore: &str) -> Serve {
        self.args(["--image-cairnet", cairnet, "--image-lore", lore])
    }

    /// Any further arguments.
    #[must_use]
    pub fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Serve {
        self.argv
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// The whole argument list, for a command of the caller's own.
    pub fn argv(&self) -> &[OsString] {
        &self.argv
    }

    /// `BIN serve …` with `RUST_LOG=warn`, stdout discarded and stderr inherited (change
    /// either on the command as a test needs).
    pub fn command(&self, bin: &Path) -> Command {
        let mut cmd = Command::new(bin);
        cmd.args(&self.argv)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        cmd
    }
}

/// A hearth process, killed (`-9`) and reaped when dropped.
#[derive(Debug)]
pub struct Daemon {
    /// The process.
    pub child: Child,
    /// Where it serves.
    pub socket: PathBuf,
}

impl Daemon {
    /// Spawns `cmd`, a daemon that will serve on `socket`.
    ///
    /// # Panics
    /// When the program cannot be started.
    pub fn spawn(mut cmd: Command, socket: &Path) -> Daemon {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn hearth ({:?}): {e}", cmd.get_program()));
        Daemon {
            child,
            socket: socket.to_owned(),
        }
    }

    /// A client once the daemon answers, waiting up to `within` (see [`answering`]).
    pub async fn ready(&self, within: Duration) -> HearthClient {
        answering(&self.socket, within).await
    }

    /// Sends `sig` to the process.
    ///
    /// # Panics
    /// When it cannot be signalled.
    pub fn signal(&self, sig: Signal) {
        let pid = i32::try_from(self.child.id()).expect("pid");
        kill(Pid::from_raw(pid), sig).expect("signal");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client of the daemon on `socket` once it answers `GET /v1/healthz` (it reconciles
/// before it serves), waiting up to `within`.
///
/// # Panics
/// When it does not answer in time.
pub async fn answering(socket: &Path, within: Duration) -> HearthClient {
    let client = HearthClient::new(socket);
    let deadline = Instant::now() + within;
    while client.healthz().await.is_err() {
        assert!(
            Instant::now() < deadline,
            "hearth never answered on {}",
            socket.display()
        );
        tokio::time::sleep(POLL).await;
    }
    client
}

/// Why a daemon is not serving.
#[derive(Debug)]
pub enum NotServing {
    /// It exited first.
    Exited(PathBuf),
    /// Its socket did not accept in time.
    Late(PathBuf, Duration),
}

impl std::fmt::Display for NotServing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotServing::Exited(s) => write!(f, "exited before serving on {}", s.display()),
            NotServing::Late(s, d) => write!(f, "did not serve on {} within {d:?}", s.display()),
        }
    }
}

impl std::error::Error for NotServing {}

/// Waits until `socket` accepts a connection, up to `within`, giving up early once
/// `exited()` says the daemon is gone.
///
/// # Errors
/// When the daemon exits first or the deadline passes.
pub async fn wait_for_socket(
    socket: &Path,
    within: Duration,
    mut exited: impl FnMut() -> bool,
) -> Result<(), NotServing> {
    let deadline = Instant::now() + within;
    loop {
        if tokio::net::UnixStream::connect(socket).await.is_ok() {
            return Ok(());
        }
        if exited() {
            return Err(NotServing::Exited(socket.to_owned()));
        }
        if Instant::now() > deadline {
            return Err(NotServing::Late(socket.to_owned(), within));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// [`wait_for_socket`] for a caller outside a runtime.
///
/// # Errors
/// When the deadline passes.
pub fn wait_for_socket_blocking(socket: &Path, within: Duration) -> Result<(), NotServing> {
    let deadline = Instant::now() + within;
    while std::os::unix::net::UnixStream::connect(socket).is_err() {
        if Instant::now() > deadline {
            return Err(NotServing::Late(socket.to_owned(), within));
        }
        std::thread::sleep(POLL);
    }
    Ok(())
}
