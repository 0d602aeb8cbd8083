//! `hearth serve` refuses, at start and before it serves, what it must not run with: a limit
//! out of range (config file, flag or environment — the key named with its range, never a
//! panic nor a wrapped value) and an image lock someone else could have written (the path
//! named with the fix). Every daemon is the real binary, started under `umask 000`.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hearth");

/// `hearth serve --driver fake` on a socket in `dir`, under `umask 000`, with `args` and
/// `env`; its output once it exits (or a panic if it is still serving after 20 s).
fn serve_exits(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let child = Command::new("sh")
        .args([
            "-c",
            "umask 000; exec \"$0\" \"$@\"",
            BIN,
            "serve",
            "--driver",
            "fake",
        ])
        .arg("--socket")
        .arg(dir.join("h.sock"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .args(["--instance", "bounds"])
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_LOG", "warn")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hearth");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut child = child;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("hearth serve {args:?} is still running: it should have refused to start");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

fn refused(out: &Output, wants: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "exit code; stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "a panic: {stderr}");
    for w in wants {
        assert!(stderr.contains(w), "stderr names {w:?}: {stderr}");
    }
}

#[test]
fn out_of_range_limits_are_refused_naming_the_key_and_the_range() {
    let dir = support::short_tempdir();
    let config = dir.path().join("hearth.toml");
    for (toml, wants) in [
        (
            "[limits]\nmemory_mb = 17592186044416\n",
            &["limits.memory_mb", "17592186044416", "6 to 1048576 MiB"][..],
        ),
        ("[limits]\nmemory_mb = 0\n", &["limits.memory_mb"][..]),
        ("[limits]\ncpus = 1e300\n", &["limits.cpus", "1024"][..]),
        ("[limits]\npids = -1\n", &["limits.pids", "4194304"][..]),
        ("[timeouts]\nprovision = 0\n", &["timeouts.provision"][..]),
        ("[pool]\nsolo = 100000\n", &["pool.solo", "64"][..]),
        ("service_port = 0\n", &["service_port", "65535"][..]),
    ] {
        std::fs::write(&config, toml).expect("write config");
        let out = serve_exits(
            dir.path(),
            &["--config", config.to_str().expect("utf-8")],
            &[],
        );
        refused(&out, wants);
    }
    let out = serve_exits(dir.path(), &["--op-timeout", "18446744073709551615"], &[]);
    refused(&out, &["--op-timeout", "86400"]);
    let out = serve_exits(dir.path(), &["--pool", "solo=1000"], &[]);
    refused(&out, &["HEARTH_POOL", "64"]);
    let out = serve_exits(dir.path(), &[], &[("HEARTH_MAX_CONNECTIONS", "0")]);
    refused(&out, &["HEARTH_MAX_CONNECTIONS", "65536"]);
    let out = serve_exits(dir.path(), &[], &[("HEARTH_IDLE_EXIT", "99999999999")]);
    refused(&out, &["HEARTH_IDLE_EXIT", "604800"]);
}

/// A lock file as `hearth lock` writes one, with no roles pinned.
fn write_lock(path: &Path, mode: u32) {
    std::fs::write(path, "{\n  \"version\": 1,\n  \"roles\": {}\n}\n").expect("write lock");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[test]
fn a_lock_others_can_write_or_own_is_refused_naming_the_fix() {
    let dir = support::short_tempdir();
    let lock = dir.path().join("hearth.lock");
    let lock_arg = lock.to_str().expect("utf-8");
    for mode in [0o666, 0o664, 0o646] {
        write_lock(&lock, mode);
        let out = serve_exits(dir.path(), &["--lock", lock_arg], &[]);
        refused(
            &out,
            &[lock_arg, "writable", &format!("chmod go-w {lock_arg}")],
        );
        // The lock found in the working directory is held to the same rule.
        let out = serve_exits(dir.path(), &[], &[]);
        refused(&out, &["hearth.lock", "chmod go-w"]);
    }
    // Owned by someone else (hearth runs as root here, so: nobody).
    write_lock(&lock, 0o644);
    if nix::unistd::geteuid().is_root() {
        nix::unistd::chown(&lock, Some(nix::unistd::Uid::from_raw(65_534)), None).expect("chown");
        let out = serve_exits(dir.path(), &["--lock", lock_arg], &[]);
        refused(&out, &[lock_arg, "belongs to uid 65534"]);
    }
}

/// A trusted lock (0644, this user's) is served with, so the refusals above are about the
/// file's mode and owner and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_only_its_owner_can_write_is_served_with() {
    let dir = support::short_tempdir();
    let lock = dir.path().join("hearth.lock");
    write_lock(&lock, 0o644);
    let socket = dir.path().join("h.sock");
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--driver",
            "fake",
            "--instance",
            "trusted",
            "--lock",
        ])
        .arg(&lock)
        .arg("--socket")
        .arg(&socket)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let client = hearth::client::HearthClient::new(&socket);
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.healthz().await.is_err() {
        assert!(child.try_wait().expect("wait").is_none(), "hearth exited");
        assert!(Instant::now() < deadline, "hearth never answered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A template `hearth config check` refuses, `hearth serve` refuses at start with the same
/// key path, before it serves anything.
#[test]
fn a_bad_template_is_refused_at_start_naming_the_key_path() {
    let dir = support::short_tempdir();
    let config = dir.path().join("hearth.toml");
    std::fs::write(
        &config,
        "[tiers.solo.roles.web]\nimage = \"w:1\"\nport = 80\ndepends_on = { db = \"ready\" }\n",
    )
    .expect("write config");
    let out = serve_exits(
        dir.path(),
        &["--config", config.to_str().expect("utf-8")],
        &[],
    );
    refused(
        &out,
        &[
            "hearth.toml",
            "tiers.solo.roles.web.depends_on.db: db is not a role of this tier",
        ],
    );
    assert!(!dir.path().join("h.sock").exists(), "nothing served");
}
