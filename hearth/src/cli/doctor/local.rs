//! The doctor's local checks: the state dir (there, 0700, owned by this user) and the daemon
//! (a hearth answering on the socket, its version and instance; a stale socket left by one
//! that died).

use std::io::ErrorKind;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use hearth_client::HearthClient;

use super::{Check, ONE_CHECK};
use crate::cli::settings::Settings;

/// The local checks.
pub(super) async fn checks(settings: &Settings) -> Vec<Check> {
    vec![
        state_dir(settings),
        Check::bounded("daemon", ONE_CHECK, daemon(settings)).await,
    ]
}

fn state_dir(settings: &Settings) -> Check {
    let dir = &settings.state_dir;
    let meta = match std::fs::metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Check::ok(
                "state-dir",
                format!("{} absent: `hearth serve` makes it (0700)", dir.display()),
            )
        }
        Err(e) => {
            return Check::fail(
                "state-dir",
                format!("{}: {e}", dir.display()),
                "check the path and its parents' permissions",
            )
        }
    };
    let mode = meta.permissions().mode() & 0o7777;
    let me = nix::unistd::geteuid().as_raw();
    if !meta.is_dir() {
        return Check::fail(
            "state-dir",
            format!("{} is not a directory", dir.display()),
            "remove it, or point --state-dir elsewhere",
        );
    }
    if meta.uid() != me {
        return Check::fail(
            "state-dir",
            format!(
                "{} belongs to uid {}, not to this user (uid {me})",
                dir.display(),
                meta.uid()
            ),
            format!(
                "`sudo chown -R {me} {}`, or use a state dir of your own",
                dir.display()
            ),
        );
    }
    if mode & 0o077 != 0 {
        return Check::fail(
            "state-dir",
            format!(
                "{} has mode {mode:04o}: other users can read (or change) hearth's record",
                dir.display()
            ),
            format!("`chmod 700 {}`", dir.display()),
        );
    }
    Check::ok(
        "state-dir",
        format!("{}: mode {mode:04o}, this user's", dir.display()),
    )
}

async fn daemon(settings: &Settings) -> Check {
    let socket = &settings.socket;
    if !socket.exists() {
        return Check::ok(
            "daemon",
            format!("none on {} (`hearth serve` starts one)", socket.display()),
        );
    }
    if let Err(e) = tokio::net::UnixStream::connect(socket).await {
        if e.kind() == ErrorKind::ConnectionRefused {
            return Check::warn(
                "daemon",
                format!(
                    "{}: a stale socket, nobody listens (a daemon died)",
                    socket.display()
                ),
                "the next `hearth serve` replaces it; or remove the file",
            );
        }
        return Check::fail(
            "daemon",
            format!("{}: {e}", socket.display()),
            "check the socket's permissions (--socket-group)",
        );
    }
    let client = HearthClient::new(socket.clone()).with_timeout(ONE_CHECK);
    match client.health().await {
        Ok(body) => {
            let version = body["version"]
                .as_str()
                .unwrap_or("a version that does not say");
            let instance = std::fs::read_to_string(settings.state_dir.join("instance"))
                .map(|i| format!(", instance {} (from the state dir)", i.trim()))
                .unwrap_or_default();
            Check::ok(
                "daemon",
                format!("hearth {version} answers on {}{instance}", socket.display()),
            )
        }
        Err(e) => Check::fail(
            "daemon",
            format!(
                "{}: something listens but is not hearth: {}",
                socket.display(),
                e.message()
            ),
            "another program holds hearth's socket: stop it, or use --socket",
        ),
    }
}
