//! Socket hygiene: the RPC socket is created 0600 (0660 with a configured group) whatever the
//! umask; a lock file beside it refuses a second daemon on the same path; a socket left by a
//! dead daemon is replaced; the socket is removed on clean exit (when the guard drops).

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use nix::sys::stat::{umask, Mode};
use tokio::net::UnixListener;

/// Why the socket could not be bound.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SocketError {
    #[error("another daemon{} is already serving on {path}; stop it first or choose another --socket", pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    InUse { path: PathBuf, pid: Option<u32> },
    #[error("{path} exists and is not a socket; refusing to replace it")]
    NotASocket { path: PathBuf },
    #[error("cannot {attempted} {path}: {source}")]
    Io {
        attempted: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no group named {0:?}")]
    NoSuchGroup(String),
    /// The socket's directory is writable by others: they could move the socket aside and
    /// bind an impostor in its place.
    #[error(transparent)]
    InsecureDir(#[from] hearth_serve::private::PrivateError),
}

/// Holds the lock for as long as the daemon serves; removes the socket when dropped.
#[derive(Debug)]
pub(crate) struct SocketGuard {
    path: PathBuf,
    /// The exclusive lock on `<socket>.lock`; released when this guard drops.
    _lock: Flock<File>,
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// The lock file that guards `socket`.
pub(super) fn lock_path(socket: &Path) -> PathBuf {
    let mut p = socket.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

/// Binds the RPC socket at `path`, mode 0600 (0660 and group-owned with `group`).
///
/// # Errors
/// [`SocketError::InUse`] if another daemon holds the lock, and the others as named.
pub(super) fn bind(
    path: &Path,
    group: Option<&str>,
) -> Result<(UnixListener, SocketGuard), SocketError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        hearth_serve::private::private_dir(parent)?;
    }
    let mut lock = take_lock(path)?;
    remove_stale(path)?;
    let std_listener = bind_private(path, group)?;
    std_listener
        .set_nonblocking(true)
        .map_err(io("configure", path))?;
    let listener = UnixListener::from_std(std_listener).map_err(io("listen on", path))?;
    let _ = lock.set_len(0);
    let _ = lock.rewind();
    let _ = write!(lock, "{}", std::process::id());
    Ok((
        listener,
        SocketGuard {
            path: path.to_owned(),
            _lock: lock,
        },
    ))
}

/// What an I/O error becomes while `attempted` on `path`.
fn io(attempted: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SocketError {
    let path = path.to_owned();
    move |source| SocketError::Io {
        attempted,
        path,
        source,
    }
}

/// The exclusive lock on `<socket>.lock`, or [`SocketError::InUse`] with the pid the holder
/// wrote there.
fn take_lock(path: &Path) -> Result<Flock<File>, SocketError> {
    let lock_file = lock_path(path);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&lock_file)
        .map_err(io("open the lock file", &lock_file))?;
    Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(mut file, _)| {
        let mut text = String::new();
        let _ = file.read_to_string(&mut text);
        SocketError::InUse {
            path: path.to_owned(),
            pid: text.trim().parse().ok(),
        }
    })
}

/// Removes a socket nobody answers on any more. We hold the lock, so no hearth serves there;
/// but something else might (a daemon that does not use the lock, like the Go hearth).
fn remove_stale(path: &Path) -> Result<(), SocketError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(SocketError::InUse {
                    path: path.to_owned(),
                    pid: None,
                });
            }
            tracing::info!(socket = %path.display(), "replacing a stale socket left by a stopped hearth");
            fs::remove_file(path).map_err(io("remove the stale socket", path))
        }
        Ok(_) => Err(SocketError::NotASocket {
            path: path.to_owned(),
        }),
        Err(_) => Ok(()),
    }
}

/// Binds `path` mode 0600 (0660, group-owned, with `group`), never looser at any moment.
fn bind_private(
    path: &Path,
    group: Option<&str>,
) -> Result<std::os::unix::net::UnixListener, SocketError> {
    let mode = if group.is_some() { 0o660 } else { 0o600 };
    // The umask covers the window between bind and chmod: the socket is never looser.
    let old = umask(Mode::from_bits_truncate(0o777 & !mode));
    let bound = std::os::unix::net::UnixListener::bind(path);
    umask(old);
    let listener = bound.map_err(io("bind", path))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io("chmod", path))?;
    if let Some(name) = group {
        let gid = nix::unistd::Group::from_name(name)
            .ok()
            .flatten()
            .ok_or_else(|| SocketError::NoSuchGroup(name.to_owned()))?
            .gid;
        nix::unistd::chown(path, None, Some(gid)).map_err(|e| io("chown", path)(e.into()))?;
    }
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn socket_is_private_even_under_a_permissive_umask() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("h.sock");
        let old = umask(Mode::empty());
        let bound = bind(&path, None);
        umask(old);
        let (_l, guard) = bound.expect("bind");
        let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        drop(guard);
        assert!(!path.exists(), "socket removed on drop");
    }

    #[tokio::test]
    async fn a_second_bind_is_refused_and_a_stale_socket_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("h.sock");
        let (_l, _guard) = bind(&path, None).expect("first");
        let err = bind(&path, None).expect_err("second");
        assert!(matches!(err, SocketError::InUse { pid: Some(p), .. } if p == std::process::id()));
        assert!(path.exists(), "the first daemon's socket is untouched");
        // A socket file nobody listens on any more, as a killed daemon leaves it.
        let stale = dir.path().join("stale.sock");
        drop(std::os::unix::net::UnixListener::bind(&stale).expect("stale"));
        let (_l2, _g2) = bind(&stale, None).expect("replaces stale socket");
        // A socket someone still answers on is not stale, lock or no lock.
        let live = dir.path().join("live.sock");
        let _listening = std::os::unix::net::UnixListener::bind(&live).expect("live");
        let err = bind(&live, None).expect_err("live socket");
        assert!(matches!(err, SocketError::InUse { pid: None, .. }));
        assert!(live.exists());
    }

    #[test]
    fn refuses_to_replace_a_regular_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("h.sock");
        fs::write(&path, b"precious").expect("write");
        let err = bind(&path, None).expect_err("not a socket");
        assert!(matches!(err, SocketError::NotASocket { .. }));
        assert_eq!(fs::read(&path).expect("read"), b"precious");
    }
}
