//! File modes under a careless umask, against the real binaries: hearth and the console
//! create their directories 0700 and their files 0600 under `umask 000`, and refuse to start
//! on a directory others can write, naming the fix; and `console ui` sends the admin token
//! nowhere when `console.url` could have been written by someone else or names an address
//! off loopback.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use common::{
    console_command, hearth_command, spawn_daemon, spawn_listening, under_umask_000, Answer, Env,
    KEYS,
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
    let _hearth = spawn_daemon(&env, under_umask_000(&cmd), &socket)?;
    let keys = env.keys("keys", KEYS)?;
    let console = with_arg(
        &console_command(&env, "http://127.0.0.1:9", &keys, &[]),
        "--hearth-socket",
        &socket,
    );
    let console = spawn_listening(under_umask_000(&console), env.dir.path())?;
    let api = env.api(&console)?;
    // One act, so hearth writes its record and the console its log.
    let Answer { status, body } = api.provision("modes", "solo").await?;
    ensure!(status == 200, "provision: {status} {body}");

    // console.url is written just after the listening line: give it a moment.
    let url_file = env.state().join("console.url");
    for _ in 0..50 {
        if url_file.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

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
        url_file.clone(),
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

/// A loopback listener that records whether anyone connected (and hangs up on them).
struct Recorder {
    url: String,
    arrived: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Recorder {
    fn start() -> Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}", listener.local_addr()?);
        let arrived = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = arrived.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                drop(conn);
            }
        });
        Ok(Recorder { url, arrived })
    }
    fn arrived(&self) -> usize {
        self.arrived.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// `console ui --state-dir DIR`, run to its exit: whether it succeeded, and its stderr.
fn console_ui(dir: &Path) -> Result<(bool, String)> {
    let out = Command::new(env!("CARGO_BIN_EXE_console"))
        .arg("ui")
        .arg("--state-dir")
        .arg(dir)
        .env_remove("CONSOLE_URL")
        .env("RUST_LOG", "warn")
        .output()
        .context("run console ui")?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[test]
fn console_ui_sends_the_token_only_where_a_trusted_file_points_on_loopback() -> Result<()> {
    let env = Env::new()?;
    let dir = env.state();
    std::fs::create_dir(&dir)?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    let token = dir.join("console.token");
    std::fs::write(&token, format!("{}\n", "ab".repeat(32)))?;
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600))?;
    let url_file = dir.join("console.url");
    let listener = Recorder::start()?;
    let port = listener
        .url
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    let write = |url: &str, mode: u32| -> Result<()> {
        std::fs::write(&url_file, format!("{url}\n"))?;
        std::fs::set_permissions(&url_file, std::fs::Permissions::from_mode(mode))?;
        Ok(())
    };

    // A file others could have written: refused, whatever it names.
    for mode in [0o666, 0o620, 0o602] {
        write(&listener.url, mode)?;
        let (ok, err) = console_ui(&dir)?;
        ensure!(!ok, "console ui trusted console.url mode {mode:o}");
        ensure!(err.contains("chmod 600"), "mode {mode:o}: {err}");
    }
    // A file another user owns.
    write(&listener.url, 0o600)?;
    nix::unistd::chown(&url_file, Some(nix::unistd::Uid::from_raw(65534)), None)?;
    let (ok, err) = console_ui(&dir)?;
    ensure!(
        !ok,
        "console ui trusted a console.url owned by another user"
    );
    ensure!(err.contains("belongs to uid 65534"), "{err}");
    std::fs::remove_file(&url_file)?;
    // An address off loopback (0.0.0.0 would reach this machine's listeners on Linux).
    for url in [
        format!("http://0.0.0.0:{port}"),
        format!("http://127.0.0.1@0.0.0.0:{port}"),
    ] {
        write(&url, 0o600)?;
        let (ok, err) = console_ui(&dir)?;
        ensure!(!ok, "console ui sent the token to {url}");
        ensure!(err.contains("not a loopback address"), "{url}: {err}");
    }
    ensure!(
        listener.arrived() == 0,
        "the token was sent where an untrusted console.url pointed"
    );

    // The control: a trusted file naming the listener is followed.
    write(&listener.url, 0o600)?;
    let (ok, _) = console_ui(&dir)?;
    ensure!(!ok, "the recorder hangs up, so console ui fails");
    ensure!(
        listener.arrived() == 1,
        "console ui did not follow a trusted console.url"
    );
    Ok(())
}
