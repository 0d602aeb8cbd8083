//! Socket activation against the real protocol: the built `hearth` run by
//! `systemd-socket-activate` (Debian's `systemd` package), which binds the socket, waits for
//! the first connection and only then execs hearth with `LISTEN_FDS=1` and `LISTEN_PID` — no
//! systemd as PID 1 needed. Checks that the first RPC starts hearth and is answered, that the
//! socket is kept at 0600 and never unlinked, and that an idle hearth exits on its own; and
//! that `LISTEN_FDS` meant for another process is ignored. Both also check the log as it
//! lands in a pipe: no colour escapes in text, one JSON object per line with `--log-format
//! json`.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hearth::client::HearthClient;
use hearth_protocol::hearth::{ProvisioningProfile, Status, Tier};

const BIN: &str = env!("CARGO_BIN_EXE_hearth");
const ACTIVATOR: &str = "systemd-socket-activate";

/// The activator, or `None` (with a note) where it is absent and not required; with
/// `HEARTH_E2E=1` (CI) its absence fails the test.
fn activator(test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(ACTIVATOR))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            !support::e2e(test),
            "{test}: {ACTIVATOR} is not installed (Debian: apt-get install systemd); \
             HEARTH_E2E=1 requires it"
        );
        eprintln!("{test}: {ACTIVATOR} absent and HEARTH_E2E is not 1; not run");
    }
    found
}

/// A child killed (and reaped) if the test ends without it exiting.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn exe(pid: u32) -> PathBuf {
    std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("socket")
        .permissions()
        .mode()
        & 0o777
}

/// Waits without blocking the runtime: the client's connection tasks must run to close.
async fn wait_exit(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("wait") {
            return Some(status);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

#[tokio::test]
async fn the_first_rpc_starts_hearth_on_the_passed_socket() {
    let Some(activator) = activator("the_first_rpc_starts_hearth_on_the_passed_socket") else {
        return;
    };
    let dir = support::short_tempdir();
    let socket = dir.path().join("h.sock");
    // Under umask 022 the activator makes the socket 0644; hearth must tighten it.
    let script = format!(
        "umask 022; exec {} -l {} {BIN} serve --driver fake --state-dir {} --idle-exit 1 \
         --op-timeout 1 --teardown-timeout 1",
        activator.display(),
        socket.display(),
        dir.path().join("state").display()
    );
    let mut proc = Proc(
        Command::new("sh")
            .args(["-c", &script])
            .env_remove("NO_COLOR")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the activator"),
    );
    let pid = proc.0.id();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "the activator made no socket");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        exe(pid).ends_with(ACTIVATOR),
        "hearth ran before any connection: {:?}",
        exe(pid)
    );

    let client = HearthClient::new(&socket).with_timeout(Duration::from_secs(30));
    client.healthz().await.expect("the first RPC is answered");
    assert_eq!(
        exe(pid),
        Path::new(BIN),
        "hearth answered in the activator's place"
    );
    assert_eq!(mode(&socket), 0o600, "the passed socket is kept private");

    let r = client
        .provision("act", &ProvisioningProfile::for_tier(Tier::Solo))
        .await
        .expect("provision through the activated socket");
    assert_eq!(r.last_status, Status::Ready);
    client.teardown("act").await.expect("teardown");
    assert_eq!(
        client.status("act").await.expect("status"),
        Status::TierTornDown
    );
    drop(client);

    // Idle for the period (raised to the 1 s deadlines) with no connection open: it exits
    // by itself, cleanly, and leaves the socket — systemd's, not its own — in place.
    let status = wait_exit(&mut proc.0, Duration::from_secs(15))
        .await
        .expect("idle hearth exits");
    assert!(status.success(), "idle exit status {status}");
    assert!(
        socket.exists(),
        "hearth unlinked a socket it did not create"
    );
    assert_eq!(mode(&socket), 0o600);
}

#[tokio::test]
async fn listen_fds_meant_for_another_process_is_ignored() {
    let dir = support::short_tempdir();
    let socket = dir.path().join("own.sock");
    // As a child of an activated process would inherit them: LISTEN_PID is not ours.
    let mut proc = Proc(
        Command::new(BIN)
            .args([
                "--log-format",
                "json",
                "serve",
                "--driver",
                "fake",
                "--socket",
            ])
            .arg(&socket)
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .env("LISTEN_PID", "1")
            .env("LISTEN_FDS", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hearth"),
    );
    let client = HearthClient::new(&socket).with_timeout(Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.healthz().await.is_err() {
        assert!(
            Instant::now() < deadline,
            "hearth did not bind its own socket"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(mode(&socket), 0o600);
    let pid = nix::unistd::Pid::from_raw(i32::try_from(proc.0.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    let status = wait_exit(&mut proc.0, Duration::from_secs(15))
        .await
        .expect("exits on SIGTERM");
    assert!(status.success(), "{status}");
    assert!(
        !socket.exists(),
        "a socket hearth bound itself is removed on exit"
    );
}
