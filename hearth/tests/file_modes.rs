//! Every file hearth writes gets an explicit mode, never one from the umask: run under
//! `umask 000`, the daemon's state directory is 0700 and every file in it 0600 (the socket
//! and its lock too), and `hearth lock --out` writes the lock 0644 — readable by a daemon of
//! another user, writable by its owner alone.

mod support;

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hearth_protocol::hearth::{ProvisioningProfile, Tier};

const BIN: &str = env!("CARGO_BIN_EXE_hearth");

/// `hearth ARGS` under `umask 000`.
fn under_umask_000(args: &[&str]) -> Command {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "umask 000; exec \"$0\" \"$@\"", BIN])
        .args(args)
        .stdin(Stdio::null());
    cmd
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o7777
}

/// Every entry under `dir` (itself included) as `(path, mode, is_dir)`.
fn walk(dir: &Path, out: &mut Vec<(String, u32, bool)>) {
    out.push((dir.display().to_string(), mode(dir), true));
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push((path.display().to_string(), mode(&path), false));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_files_are_private_under_umask_000() {
    let dir = support::short_tempdir();
    let (socket, state) = (dir.path().join("run/h.sock"), dir.path().join("state"));
    let mut child = under_umask_000(&["serve", "--driver", "fake", "--instance", "modes"])
        .arg("--socket")
        .arg(&socket)
        .arg("--state-dir")
        .arg(&state)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn hearth");
    let client = hearth::client::HearthClient::new(&socket);
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.healthz().await.is_err() {
        assert!(child.try_wait().expect("wait").is_none(), "hearth exited");
        assert!(Instant::now() < deadline, "hearth never answered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Every kind of state write: a record, its update, the pool's book.
    client
        .provision("modes", &ProvisioningProfile::for_tier(Tier::Solo))
        .await
        .expect("provision");
    client.pause("modes").await.expect("pause");
    client.teardown("modes").await.expect("teardown");

    let socket_meta = std::fs::metadata(&socket).expect("socket");
    assert!(socket_meta.file_type().is_socket());
    assert_eq!(mode(&socket), 0o600, "the socket");
    let mut entries = Vec::new();
    walk(&state, &mut entries);
    walk(socket.parent().expect("run dir"), &mut entries);
    assert!(entries.len() > 3, "state was written: {entries:?}");
    for (path, m, is_dir) in &entries {
        let want = if *is_dir { 0o700 } else { 0o600 };
        assert_eq!(*m, want, "{path} is {m:o}: {entries:?}");
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn hearth_lock_out_writes_0644_under_umask_000() {
    if !support::e2e("hearth_lock_out_writes_0644_under_umask_000") {
        return;
    }
    let dir = support::short_tempdir();
    let lock = dir.path().join("hearth.lock");
    // One there already, loose: the new one replaces it, 0644 all the same.
    std::fs::write(&lock, "{}").expect("old lock");
    std::fs::set_permissions(&lock, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let image = support::test_image();
    let out = under_umask_000(&["lock", "--cairnet-image", &image, "--lore-image", &image])
        .arg("--out")
        .arg(&lock)
        .output()
        .expect("hearth lock");
    assert!(
        out.status.success(),
        "hearth lock: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode(&lock), 0o644, "the lock");
    let text = std::fs::read_to_string(&lock).expect("read");
    assert!(text.contains("\"cairnet\""), "{text}");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(
        left,
        vec![std::ffi::OsString::from("hearth.lock")],
        "no temp file left"
    );
}
