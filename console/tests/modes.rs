//! File modes under a careless umask, against the real binaries: hearth and the console
//! create their directories 0700 and their files 0600 under `umask 000`, and refuse to start
//! on a directory others can write, naming the fix.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use common::{
    console_command, hearth_command, spawn_daemon, spawn_listening, under_umask_000, Api, Env, KEYS,
};

/// `cmd` with the value of `flag` replaced by `value`.
fn with_arg(cmd: &Command, flag: &str, value: &Path) -> Command {
    let mut out = Command::new(cmd.get_program());
    let mut args = cmd.get_args();
    while let Some(a) = args.next() {
        out.arg(a);
        if a == flag {
            args.next();
            out.arg(value);
        }
    }
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            out.env(k, v);
        }
    }
    out
}

fn mode(p: &Path) -> Result<u32> {
    Ok(std::fs::metadata(p)
        .with_context(|| format!("stat {}", p.display()))?
        .permissions()
        .mode()
        & 0o7777)
}

/// Runs `cmd` to its exit (bounded) and returns its stderr; it must fail.
fn refused(mut cmd: Command) -> Result<String> {
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("spawn")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = rx
        .recv_timeout(Duration::from_secs(20))
        .context("the daemon did not exit: it started on an unsafe directory")??;
    ensure!(!out.status.success(), "it started on an unsafe directory");
    Ok(String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test]
async fn under_umask_000_directories_are_0700_and_files_0600() -> Result<()> {
    let env = Env::new()?;
    // The socket's directory does not exist yet: hearth creates it.
    let socket_dir = env.path("run/hearth");
    let socket = socket_dir.join("hearth.sock");
    let cmd = with_arg(&hearth_command(&env, &[])?, "--socket", &socket);
    let _hearth = spawn_daemon(under_umask_000(&cmd), &socket)?;
    let keys = env.keys("keys", KEYS)?;
    let console = with_arg(
        &console_command(&env, "http://127.0.0.1:9", &keys, &[]),
        "--hearth-socket",
        &socket,
    );
    let console = spawn_listening(under_umask_000(&console))?;
    let api = Api::new(&console, &env)?;
    // One act, so hearth writes its record and the console its log.
    let (status, body) = api.provision("modes").await?;
    ensure!(status == 200, "provision: {status} {body}");

    let hearth_state = env.path("hearth-state");
    for dir in [&socket_dir, &env.path("run"), &hearth_state, &env.state()] {
        assert_eq!(mode(dir)?, 0o700, "{}", dir.display());
    }
    for file in [
        socket.clone(),
        socket_dir.join("hearth.sock.lock"),
        hearth_state.join("workspaces.json"),
        hearth_state.join("instance"),
        hearth_state.join("lock"),
        env.state().join("console.token"),
        env.hatch(),
    ] {
        assert_eq!(mode(&file)?, 0o600, "{}", file.display());
    }
    Ok(())
}

#[test]
fn a_directory_others_can_write_is_refused_with_the_fix() -> Result<()> {
    let env = Env::new()?;
    let keys = env.keys("keys", KEYS)?;
    let loose = |p: &Path| -> Result<()> {
        std::fs::create_dir_all(p)?;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o777))?;
        Ok(())
    };
    // hearth's state dir.
    loose(&env.path("hearth-state"))?;
    let err = refused(hearth_command(&env, &[])?)?;
    assert!(err.contains("chmod 700"), "hearth said: {err}");
    assert!(!env.socket().exists(), "no socket bound on refusal");
    std::fs::set_permissions(
        env.path("hearth-state"),
        std::fs::Permissions::from_mode(0o700),
    )?;

    // The socket's directory.
    let socket_dir = env.path("sock");
    loose(&socket_dir)?;
    let cmd = with_arg(
        &hearth_command(&env, &[])?,
        "--socket",
        &socket_dir.join("h.sock"),
    );
    let err = refused(cmd)?;
    assert!(err.contains("chmod 700"), "hearth said: {err}");

    // The console's state dir (where its token lives).
    loose(&env.state())?;
    let err = refused(console_command(&env, "http://127.0.0.1:9", &keys, &[]))?;
    assert!(err.contains("chmod 700"), "console said: {err}");
    assert!(
        !env.state().join("console.token").exists(),
        "no token minted"
    );
    Ok(())
}
