//! The worker's state directory: where its replay journal lives, so a bearer captured in
//! flight stays refused after a restart. There is always one (`--state-dir`, else
//! `$XDG_STATE_HOME/hearth-worker`, else `~/.local/state/hearth-worker`), made 0700, and held
//! under a lock: two workers appending to one journal would each compact it at start and lose
//! the other's records.

use hearth_protocol::hearth::ErrorCode;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use hearth_serve::private::{private_dir, PrivateError, FILE_MODE};
use nix::fcntl::{Flock, FlockArg};

/// The directory's name under the XDG state home.
const DEFAULT_NAME: &str = "hearth-worker";
/// The replay journal's file name in the directory.
const JOURNAL: &str = "replay.log";
/// The lock file's name; it holds the pid of the worker using the directory.
const LOCK: &str = "lock";

/// Why the state directory cannot be used; the worker then refuses to start.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// It cannot be created, or is open to others.
    #[error("state dir {}: {source} (hint: pass --state-dir DIR, or set WORKER_STUB_STATE_DIR, naming a directory this user may create)", dir.display())]
    Unusable {
        dir: PathBuf,
        #[source]
        source: PrivateError,
    },
    /// Its lock file cannot be opened.
    #[error("state dir {}: cannot open the lock file: {source}", dir.display())]
    Lock {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Another worker holds it.
    #[error("state dir {} is in use by another worker-stub (pid {pid}); give each worker its own --state-dir", dir.display())]
    InUse { dir: PathBuf, pid: String },
}

impl StateError {
    /// Stable machine-readable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            StateError::Unusable { source, .. } => source.code(),
            StateError::Lock { .. } => ErrorCode::Io,
            StateError::InUse { .. } => ErrorCode::StateDirInUse,
        }
    }
}

/// The worker's state directory, locked for as long as this value lives.
#[derive(Debug)]
pub struct StateDir {
    dir: PathBuf,
    /// The exclusive lock on `DIR/lock`; released when dropped.
    _lock: Flock<File>,
}

impl StateDir {
    /// Where the state lives when `--state-dir` is not given.
    pub fn default_path() -> PathBuf {
        hearth_serve::private::default_state_dir(DEFAULT_NAME)
    }

    /// Creates `dir` 0700 (or checks an existing one) and takes its lock.
    ///
    /// # Errors
    /// [`StateError`]: the directory cannot be made or is loose, or another worker holds it.
    pub fn open(dir: &Path) -> Result<StateDir, StateError> {
        private_dir(dir).map_err(|source| StateError::Unusable {
            dir: dir.to_owned(),
            source,
        })?;
        let lock_err = |source| StateError::Lock {
            dir: dir.to_owned(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(FILE_MODE)
            .open(dir.join(LOCK))
            .map_err(lock_err)?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(mut lock) => {
                // The pid is for the message another worker prints; losing it loses nothing.
                let _ = lock.set_len(0);
                let _ = lock.rewind();
                let _ = write!(lock, "{}", std::process::id());
                Ok(StateDir {
                    dir: dir.to_owned(),
                    _lock: lock,
                })
            }
            Err((mut file, _)) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                Err(StateError::InUse {
                    dir: dir.to_owned(),
                    pid: pid.trim().to_owned(),
                })
            }
        }
    }

    /// The replay journal's path.
    pub fn journal(&self) -> PathBuf {
        self.dir.join(JOURNAL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_worker_per_directory() {
        let root = tempfile::tempdir().expect("tmp");
        let dir = root.path().join("state");
        let first = StateDir::open(&dir).expect("first");
        assert_eq!(first.journal(), dir.join("replay.log"));
        let err = StateDir::open(&dir).expect_err("second");
        assert_eq!(err.code(), "state_dir_in_use");
        assert!(
            err.to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        StateDir::open(&dir).expect("free again once the first is gone");
    }

    #[test]
    fn a_directory_that_cannot_be_made_is_refused_with_a_hint() {
        let root = tempfile::tempdir().expect("tmp");
        let file = root.path().join("a-file");
        std::fs::write(&file, b"").expect("file");
        let err = StateDir::open(&file.join("state")).expect_err("under a file");
        assert_eq!(err.code(), "io");
        assert!(err.to_string().contains("--state-dir DIR"), "{err}");
    }
}
