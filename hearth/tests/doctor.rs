//! `hearth doctor`, the real binary, each check driven to fail for its own reason: a dead
//! engine (a stale socket), one that accepts and never answers (the run stays bounded), a
//! socket this user may not use, a missing image, a dead registry, a drifted lock, a 0777
//! state dir; and all well on the machine's engine with the stand-in image.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_hearth");
/// What the issue promises: the whole run within 15 s, whatever is dead.
const WHOLE_RUN: Duration = Duration::from_secs(15);

/// A doctor run: its exit code and its JSON report.
struct Report {
    code: Option<i32>,
    json: Value,
}

impl Report {
    fn check(&self, name: &str) -> Value {
        self.json["checks"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["check"] == name).cloned())
            .unwrap_or_else(|| panic!("no {name} check in {}", self.json))
    }

    /// Asserts `name` failed and its detail says `why`.
    fn failed(&self, name: &str, why: &str) {
        let c = self.check(name);
        assert_eq!(c["status"], "fail", "{name}: {c}");
        let detail = c["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(why), "{name} should say {why:?}: {c}");
        assert!(c["hint"].as_str().is_some_and(|h| !h.is_empty()), "{c}");
        assert_eq!(self.code, Some(1), "a failed check exits 1: {}", self.json);
    }
}

/// `hearth doctor -o json ARGS` in `home` (its own state dir and socket unless given),
/// with no docker CLI settings but `env`; as `uid` when given.
fn doctor(home: &Path, args: &[&str], env: &[(&str, &str)], uid: Option<u32>) -> Report {
    let mut cmd = match uid {
        Some(uid) => {
            let mut c = Command::new("setpriv");
            c.args([
                format!("--reuid={uid}"),
                format!("--regid={uid}"),
                "--clear-groups".into(),
                BIN.into(),
            ]);
            c
        }
        None => Command::new(BIN),
    };
    cmd.args(["doctor", "-o", "json", "--instance", "t"]);
    if !args.contains(&"--state-dir") {
        cmd.args(["--state-dir", &home.join("state").display().to_string()]);
    }
    cmd.args(["--socket", &home.join("h.sock").display().to_string()])
        .args(args)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("HEARTH_LOCK")
        .env("HOME", home)
        .current_dir(home);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let out = cmd.output().expect("hearth doctor runs");
    assert!(
        started.elapsed() < WHOLE_RUN,
        "doctor took {:?}",
        started.elapsed()
    );
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor's output is not JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    Report {
        code: out.status.code(),
        json,
    }
}

fn host_of(path: &Path) -> String {
    format!("unix://{}", path.display())
}

#[test]
fn a_dead_engine_fails_the_socket_and_the_engine_and_skips_the_rest() {
    let home = tempfile::tempdir().expect("home");
    let sock = home.path().join("dead.sock");
    drop(UnixListener::bind(&sock).expect("bind"));
    let r = doctor(home.path(), &["--docker-host", &host_of(&sock)], &[], None);
    assert_eq!(r.check("engine")["status"], "ok", "the endpoint is found");
    r.failed("socket", "nobody listens on it");
    r.failed("engine-api", "not reachable");
    assert_eq!(r.check("images")["status"], "warn");
}

#[test]
fn an_engine_that_never_answers_keeps_the_run_bounded() {
    let home = tempfile::tempdir().expect("home");
    let sock = home.path().join("mute.sock");
    // Accepts connections (the kernel's backlog) and never answers.
    let _mute = UnixListener::bind(&sock).expect("bind");
    let r = doctor(home.path(), &["--docker-host", &host_of(&sock)], &[], None);
    r.failed("engine-api", "no answer within");
}

#[test]
fn a_socket_this_user_may_not_use_fails_with_the_group_hint() {
    let home = tempfile::tempdir().expect("home");
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let sock = home.path().join("root-only.sock");
    let _listener = UnixListener::bind(&sock).expect("bind");
    let root = nix::unistd::geteuid().is_root();
    // root passes every permission check: run the doctor as nobody then; otherwise take the
    // permission away from ourselves.
    let mode = if root { 0o600 } else { 0o000 };
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(mode)).expect("chmod");
    let state = home.path().join("state");
    let args = [
        "--docker-host",
        &host_of(&sock),
        "--state-dir",
        &state.display().to_string(),
    ];
    let r = doctor(home.path(), &args, &[], root.then_some(65534));
    r.failed("socket", "permission denied");
    let hint = r.check("socket")["hint"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        hint.contains("access to the socket") || hint.contains("docker group"),
        "{hint}"
    );
}

#[test]
fn a_state_dir_open_to_everyone_fails() {
    let home = tempfile::tempdir().expect("home");
    let state = home.path().join("state");
    std::fs::create_dir(&state).expect("mkdir");
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let r = doctor(home.path(), &["--driver", "fake"], &[], None);
    r.failed("state-dir", "mode 0777");
    assert!(r.check("state-dir")["hint"]
        .as_str()
        .is_some_and(|h| h.contains("chmod 700")));
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let r = doctor(home.path(), &["--driver", "fake"], &[], None);
    assert_eq!(r.check("state-dir")["status"], "ok");
    assert_eq!(r.code, Some(0), "{}", r.json);
}

#[test]
fn a_stale_daemon_socket_is_a_warning_and_a_running_daemon_is_named() {
    let home = tempfile::tempdir().expect("home");
    drop(UnixListener::bind(home.path().join("h.sock")).expect("bind"));
    let r = doctor(home.path(), &["--driver", "fake"], &[], None);
    assert_eq!(r.check("daemon")["status"], "warn", "{}", r.json);
    assert!(r.check("daemon")["detail"]
        .as_str()
        .unwrap_or_default()
        .contains("stale"));
    std::fs::remove_file(home.path().join("h.sock")).expect("rm");

    let serve =
        hearth_testkit::daemon::Serve::new(&home.path().join("h.sock"), &home.path().join("state"))
            .driver("fake")
            .instance("doc-1");
    let daemon = hearth_testkit::daemon::Daemon::spawn(
        serve.command(Path::new(BIN)),
        &home.path().join("h.sock"),
    );
    hearth_testkit::daemon::wait_for_socket_blocking(
        &home.path().join("h.sock"),
        Duration::from_secs(20),
    )
    .expect("hearth serves");
    let r = doctor(home.path(), &["--driver", "fake"], &[], None);
    let detail = r.check("daemon")["detail"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        detail.contains(&format!("hearth {}", hearth_cli_kit::VERSION)),
        "{detail}"
    );
    drop(daemon);
}

#[test]
fn all_is_well_on_the_machines_engine_with_the_stand_in() {
    const NAME: &str = "all_is_well_on_the_machines_engine_with_the_stand_in";
    if !support::e2e(NAME) {
        return;
    }
    let home = tempfile::tempdir().expect("home");
    let image = support::test_image();
    let images = ["--image-cairnet", &image, "--image-lore", &image];
    let r = doctor(home.path(), &images, &[], None);
    assert_eq!(r.code, Some(0), "{}", r.json);
    assert_eq!(r.check("engine-api")["status"], "ok");
    assert!(r.check("image cairnet")["detail"]
        .as_str()
        .unwrap_or_default()
        .contains("present"));
}

#[test]
fn a_missing_image_a_dead_registry_and_a_drifted_lock_each_fail() {
    const NAME: &str = "a_missing_image_a_dead_registry_and_a_drifted_lock_each_fail";
    if !support::e2e(NAME) {
        return;
    }
    let home = tempfile::tempdir().expect("home");
    let image = support::test_image();
    let missing = format!("hearth-doctor-absent-{}:none", support::test_run());
    let r = doctor(
        home.path(),
        &[
            "--image-cairnet",
            &missing,
            "--image-lore",
            &image,
            "--pull",
            "never",
        ],
        &[],
        None,
    );
    r.failed("image cairnet", "pull policy is never");
    assert_eq!(r.check("image lore")["status"], "ok");

    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let port = dead.local_addr().expect("addr").port();
    drop(dead);
    let remote = format!("127.0.0.1:{port}/hearth/app:v1");
    let r = doctor(
        home.path(),
        &["--image-cairnet", &remote, "--image-lore", &image],
        &[],
        None,
    );
    r.failed("image cairnet", "unreachable");

    let lock = home.path().join("hearth.lock");
    let pinned = serde_json::json!({
        "version": 1,
        "roles": {
            "cairnet": {"image": image, "digest": format!("sha256:{}", "0".repeat(64)), "id": "sha256:0"},
        }
    });
    std::fs::write(&lock, pinned.to_string()).expect("lock");
    let args = [
        "--image-cairnet",
        &image,
        "--image-lore",
        &image,
        "--lock",
        &lock.display().to_string(),
    ];
    let r = doctor(home.path(), &args, &[], None);
    r.failed("lock", "drifted");
}
