//! Files and directories only their owner may touch, whatever the umask: state directories
//! are created 0700 and refused (as ssh refuses a loose `~/.ssh`) when someone else could
//! write in them, since whoever can write a daemon's directory can move its socket aside or
//! rewrite its state; state files are written 0600, atomically where they are replaced; and
//! a file trusted with where a secret goes is read only when its owner alone may write it.

use hearth_protocol::hearth::ErrorCode;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Mode of a directory hearth creates.
pub const DIR_MODE: u32 = 0o700;
/// Mode of a file hearth creates.
pub const FILE_MODE: u32 = 0o600;
/// Mode of a file written for others to read but only its owner to change (the image lock
/// `hearth lock --out` writes, which a daemon of another user may follow).
pub const SHARED_FILE_MODE: u32 = 0o644;

/// Why a private directory or file could not be had.
#[derive(Debug, thiserror::Error)]
pub enum PrivateError {
    /// Someone besides the owner may write in the directory (and it is not sticky like /tmp).
    #[error("{} is writable by others (mode {mode:o}); refusing to keep state or a socket there (hint: chmod 700 {})", path.display(), path.display())]
    OpenToOthers { path: PathBuf, mode: u32 },
    /// The directory belongs to another user, who could loosen it at any time.
    #[error("{} belongs to uid {owner}, not to this user (uid {me}); refusing to keep state or a socket there (hint: chown it, or choose another directory)", path.display())]
    ForeignOwner { path: PathBuf, owner: u32, me: u32 },
    /// A file whose contents decide where a secret goes is writable by someone else.
    #[error("{} is writable by group or others (mode {mode:o}); refusing to trust it (hint: chmod 600 {})", path.display(), path.display())]
    FileOpenToOthers { path: PathBuf, mode: u32 },
    /// A file whose contents decide where a secret goes belongs to another user.
    #[error("{} belongs to uid {owner}, not to this user (uid {me}); refusing to trust it (hint: remove it and restart its writer)", path.display())]
    FileForeignOwner { path: PathBuf, owner: u32, me: u32 },
    #[error("cannot {attempted} {}: {source}", path.display())]
    Io {
        attempted: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl PrivateError {
    /// Stable machine-readable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            PrivateError::OpenToOthers { .. } | PrivateError::ForeignOwner { .. } => {
                ErrorCode::InsecureDirectory
            }
            PrivateError::FileOpenToOthers { .. } | PrivateError::FileForeignOwner { .. } => {
                ErrorCode::InsecureFile
            }
            PrivateError::Io { .. } => ErrorCode::Io,
        }
    }
}

fn io(attempted: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> PrivateError {
    let path = path.to_owned();
    move |source| PrivateError::Io {
        attempted,
        path,
        source,
    }
}

/// Creates `dir` (and missing parents) mode 0700, or checks that an existing one is safe: owned
/// by this user (or root) and writable by nobody else unless sticky (as /tmp is, where others
/// cannot move what is ours).
///
/// # Errors
/// [`PrivateError::OpenToOthers`] or [`PrivateError::ForeignOwner`] for an unsafe directory,
/// [`PrivateError::Io`] when it cannot be created or read.
pub fn private_dir(dir: &Path) -> Result<(), PrivateError> {
    if !dir.exists() {
        DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)
            .map_err(io("create the directory", dir))?;
    }
    check_dir(dir)
}

/// Checks an existing directory as [`private_dir`] does, without creating it.
///
/// # Errors
/// As [`private_dir`].
pub fn check_dir(dir: &Path) -> Result<(), PrivateError> {
    let meta = fs::metadata(dir).map_err(io("read the mode of", dir))?;
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(PrivateError::ForeignOwner {
            path: dir.to_owned(),
            owner: meta.uid(),
            me,
        });
    }
    let mode = meta.mode() & 0o7777;
    let sticky = mode & 0o1000 != 0;
    if mode & 0o022 != 0 && !sticky {
        return Err(PrivateError::OpenToOthers {
            path: dir.to_owned(),
            mode: mode & 0o777,
        });
    }
    Ok(())
}

/// Reads a file only if this user owns it and nobody else may write it: for files whose
/// contents are trusted with a secret (where to send a token). The checks and the read are
/// on one open file, so it cannot be swapped between them.
///
/// # Errors
/// [`PrivateError::FileForeignOwner`], [`PrivateError::FileOpenToOthers`], or
/// [`PrivateError::Io`] when it cannot be opened or read.
pub fn read_owned(path: &Path) -> Result<String, PrivateError> {
    use std::io::Read;
    let mut file = File::open(path).map_err(io("open", path))?;
    let meta = file.metadata().map_err(io("read the mode of", path))?;
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        return Err(PrivateError::FileForeignOwner {
            path: path.to_owned(),
            owner: meta.uid(),
            me,
        });
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o022 != 0 {
        return Err(PrivateError::FileOpenToOthers {
            path: path.to_owned(),
            mode,
        });
    }
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(io("read", path))?;
    Ok(text)
}

/// Where a binary's state lives when nobody says: `$XDG_STATE_HOME/NAME`, else
/// `~/.local/state/NAME` (the XDG base directory default; `./.local/state/NAME` with no `HOME`).
pub fn default_state_dir(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join(name);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".local/state").join(name)
}

/// Opens `path` for appending, creating it 0600.
///
/// # Errors
/// [`PrivateError::Io`].
pub fn open_append(path: &Path) -> Result<File, PrivateError> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(FILE_MODE)
        .open(path)
        .map_err(io("open", path))
}

/// Replaces `path` with `bytes` atomically (a 0600 temp file beside it, fsynced, renamed
/// over), so a crash leaves the old contents or the new, never a mix, and never a looser mode.
///
/// # Errors
/// [`PrivateError::Io`].
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PrivateError> {
    write_atomic_mode(path, bytes, FILE_MODE)
}

/// As [`write_atomic`], the file getting exactly `mode`: set on the open file before a byte
/// is written, so neither the umask (which only ever removes bits) nor a file of the same
/// name that was there decides it.
///
/// # Errors
/// [`PrivateError::Io`].
pub fn write_atomic_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<(), PrivateError> {
    use std::os::unix::fs::PermissionsExt;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let _ = fs::remove_file(&tmp);
    // Created 0600 (never looser than the owner alone while it is being written), then
    // given its mode.
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(&tmp)
        .map_err(io("create", &tmp))?;
    f.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io("set the mode of", &tmp))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(io("write", &tmp))?;
    fs::rename(&tmp, path).map_err(io("replace", path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).expect("meta").permissions().mode() & 0o7777
    }

    #[test]
    fn creates_private_and_refuses_loose_directories() {
        let root = tempfile::tempdir().expect("tmp");
        let dir = root.path().join("a/b");
        private_dir(&dir).expect("create");
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&root.path().join("a")), 0o700, "parents too");

        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).expect("chmod");
        let err = private_dir(&dir).expect_err("loose");
        assert_eq!(err.code(), "insecure_directory");
        assert!(err.to_string().contains("chmod 700"), "{err}");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o775)).expect("chmod");
        assert!(private_dir(&dir).is_err(), "group-writable is loose too");
        // Sticky and world-writable, as /tmp: others cannot move what is ours.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o1777)).expect("chmod");
        private_dir(&dir).expect("sticky is fine");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod");
        private_dir(&dir).expect("readable by others is fine");
    }

    #[test]
    fn an_owned_file_is_read_only_while_nobody_else_may_write_it() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("console.url");
        write_atomic(&p, b"http://127.0.0.1:1\n").expect("write");
        assert_eq!(read_owned(&p).expect("read"), "http://127.0.0.1:1\n");
        for loose in [0o620, 0o602, 0o666] {
            fs::set_permissions(&p, fs::Permissions::from_mode(loose)).expect("chmod");
            let err = read_owned(&p).expect_err("loose");
            assert_eq!(err.code(), "insecure_file", "{loose:o}");
            assert!(err.to_string().contains("chmod 600"), "{err}");
        }
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).expect("chmod");
        read_owned(&p).expect("readable by others is fine");
    }

    #[test]
    fn files_are_0600_whatever_was_there() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("state.json");
        fs::write(&p, b"old").expect("write");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o666)).expect("chmod");
        write_atomic(&p, b"new").expect("replace");
        assert_eq!(fs::read(&p).expect("read"), b"new");
        assert_eq!(mode(&p), 0o600);
        let log = dir.path().join("log");
        drop(open_append(&log).expect("append"));
        assert_eq!(mode(&log), 0o600);
    }

    #[test]
    fn a_shared_file_gets_its_mode_exactly() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("hearth.lock");
        fs::write(&p, b"old").expect("write");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o666)).expect("chmod");
        write_atomic_mode(&p, b"new", SHARED_FILE_MODE).expect("replace");
        assert_eq!(fs::read(&p).expect("read"), b"new");
        assert_eq!(mode(&p), 0o644);
    }
}
