//! systemd socket activation: when started with `LISTEN_FDS`/`LISTEN_PID` naming this
//! process, hearth serves on the socket it was handed (fd 3) instead of binding its own, and
//! tells the service manager when it is ready (`sd_notify`). The socket file belongs to the
//! manager: hearth checks its mode (tightening a loose one) and never unlinks it. Otherwise it
//! binds as always (`socket::bind`).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tokio::net::UnixListener;

use super::socket::{self, SocketError, SocketGuard};

/// Why a passed socket could not be served on.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ActivationError {
    #[error(
        "LISTEN_FDS={0} names no socket hearth can serve on (it expects exactly one, from a \
         .socket unit with one ListenStream=)"
    )]
    FdCount(String),
    #[error("the socket passed by the service manager is not a unix stream socket: {0}")]
    NotAUnixStream(std::io::Error),
    #[error(
        "the activated socket {path} has mode {mode:o} and cannot be tightened to {want:o}: \
         {source}; set SocketMode={want:o} in hearth.socket"
    )]
    Mode {
        path: PathBuf,
        mode: u32,
        want: u32,
        source: std::io::Error,
    },
    #[error("cannot use the activated socket: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Bind(#[from] SocketError),
}

/// What keeps the listening socket as it should be for as long as hearth serves.
#[derive(Debug)]
pub(crate) enum ListenGuard {
    /// hearth bound the socket: the guard holds its lock and removes it on drop (kept for
    /// its `Drop`, never read).
    Bound(#[allow(dead_code)] SocketGuard),
    /// The service manager passed the socket: it owns the file, hearth leaves it in place.
    Activated {
        /// The socket's path, as the manager bound it (none for an abstract socket).
        path: Option<PathBuf>,
    },
}

impl ListenGuard {
    /// Whether the socket came from the service manager (which starts hearth again on the
    /// next connection, so an idle exit is safe).
    pub(crate) fn activated(&self) -> bool {
        matches!(self, ListenGuard::Activated { .. })
    }

    /// Where hearth serves: the passed socket's path, else `configured`.
    pub(crate) fn served_on<'a>(&'a self, configured: &'a Path) -> &'a Path {
        match self {
            ListenGuard::Activated { path: Some(p) } => p,
            ListenGuard::Activated { path: None } | ListenGuard::Bound(_) => configured,
        }
    }
}

/// Serves on the socket systemd passed, if it passed one to this process, else binds `path`
/// (mode 0600, or 0660 with `group`).
///
/// # Errors
/// [`ActivationError`] if a passed socket is unusable, or the bind error.
pub(crate) fn listen(
    path: &Path,
    group: Option<&str>,
) -> Result<(UnixListener, ListenGuard), ActivationError> {
    let Some(std_listener) = passed_listener(
        std::env::var("LISTEN_PID").ok().as_deref(),
        std::env::var("LISTEN_FDS").ok().as_deref(),
    )?
    else {
        let (listener, guard) = socket::bind(path, group)?;
        return Ok((listener, ListenGuard::Bound(guard)));
    };
    let actual = std_listener
        .local_addr()?
        .as_pathname()
        .map(Path::to_path_buf);
    if let Some(actual) = &actual {
        keep_private(actual, group.is_some())?;
        if actual != path {
            tracing::info!(
                socket = %actual.display(),
                configured = %path.display(),
                "serving on the socket the service manager passed, not the configured one"
            );
        }
    }
    std_listener.set_nonblocking(true)?;
    let listener = UnixListener::from_std(std_listener)?;
    Ok((listener, ListenGuard::Activated { path: actual }))
}

/// The passed listener, if `LISTEN_PID` names this process (systemd's protocol: an
/// inherited `LISTEN_FDS` meant for a parent is not ours) and `LISTEN_FDS` is 1.
fn passed_listener(
    listen_pid: Option<&str>,
    listen_fds: Option<&str>,
) -> Result<Option<std::os::unix::net::UnixListener>, ActivationError> {
    let (Some(pid), Some(fds)) = (listen_pid, listen_fds) else {
        return Ok(None);
    };
    if pid.trim().parse::<u32>().ok() != Some(std::process::id()) {
        tracing::debug!(
            listen_pid = pid,
            "LISTEN_PID names another process; binding"
        );
        return Ok(None);
    }
    if fds.trim() != "1" {
        return Err(ActivationError::FdCount(fds.to_owned()));
    }
    // Takes fd 3 (and clears LISTEN_PID/LISTEN_FDS so nothing hearth starts inherits them).
    listenfd::ListenFd::from_env()
        .take_unix_listener(0)
        .map_err(ActivationError::NotAUnixStream)?
        .map(Some)
        .ok_or_else(|| ActivationError::FdCount(fds.to_owned()))
}

/// The same promise a bound socket makes: 0600 (0660 with a group), never looser. A looser
/// mode (a unit without `SocketMode=0600`) is tightened, and refused if it cannot be.
fn keep_private(path: &Path, group: bool) -> Result<(), ActivationError> {
    let want = if group { 0o660 } else { 0o600 };
    let mode = fs::metadata(path)?.permissions().mode() & 0o777;
    if mode & !want == 0 {
        return Ok(());
    }
    fs::set_permissions(path, fs::Permissions::from_mode(want)).map_err(|source| {
        ActivationError::Mode {
            path: path.to_owned(),
            mode,
            want,
            source,
        }
    })?;
    tracing::warn!(
        socket = %path.display(),
        was = format!("{mode:o}"),
        now = format!("{want:o}"),
        "the activated socket was looser than hearth allows; tightened it (set SocketMode=0600 in the unit)"
    );
    Ok(())
}

/// Tells the service manager hearth is ready (`READY=1`), when it runs under one
/// (`NOTIFY_SOCKET` set; otherwise nothing happens). Called after the state is open and the
/// engine reconciled, so `Type=notify` units start their dependants only then.
pub(crate) fn notify_ready() {
    if let Err(e) = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]) {
        tracing::warn!(error = %e, "could not tell the service manager hearth is ready");
    }
}

/// Tells the service manager hearth is stopping (`STOPPING=1`), so it queues connections for
/// the next start instead of counting this one as failed.
pub(crate) fn notify_stopping() {
    if let Err(e) = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]) {
        tracing::debug!(error = %e, "could not tell the service manager hearth is stopping");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_fds_for_another_process_or_none_is_not_ours() {
        assert!(passed_listener(None, None).expect("none").is_none());
        assert!(passed_listener(None, Some("1")).expect("no pid").is_none());
        let parent = (std::process::id() + 1).to_string();
        assert!(passed_listener(Some(&parent), Some("1"))
            .expect("another pid")
            .is_none());
    }

    #[test]
    fn more_than_one_passed_socket_is_refused() {
        let ours = std::process::id().to_string();
        let err = passed_listener(Some(&ours), Some("2")).expect_err("two fds");
        assert!(
            matches!(err, ActivationError::FdCount(ref n) if n == "2"),
            "{err}"
        );
    }

    #[test]
    fn a_loose_activated_socket_is_tightened_and_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("h.sock");
        let _l = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).expect("chmod");
        keep_private(&path, false).expect("tighten");
        let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o660)).expect("chmod");
        keep_private(&path, true).expect("a group socket may be 0660");
        let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
    }
}
