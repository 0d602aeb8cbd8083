//! hearth's own record of its workspaces, kept in `STATE_DIR/workspaces.json`. It is written
//! before an operation touches the engine (so a daemon killed mid-provision knows, on its next
//! start, what to roll back) and again with the outcome. It also remembers torn-down slugs, so
//! status answers `tier_torn_down` after a restart.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use hearth_protocol::hearth::{DeploymentRef, ErrorBody, ProvisioningProfile, Status};
use serde::{Deserialize, Serialize};

use crate::error::HearthError;

/// One workspace as hearth last left it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// The ref as last returned to a caller; `last_status` mirrors `status`.
    pub reference: DeploymentRef,
    /// The profile it was provisioned (or last upgraded) with.
    pub profile: ProvisioningProfile,
    pub status: Status,
    /// Why it failed, when `status` is `failed`.
    #[serde(default)]
    pub error: Option<ErrorBody>,
    /// The action under way (`provision`, `wake`, `upgrade`, …), written before the engine is
    /// touched and cleared with the outcome: after a crash it says what was interrupted.
    #[serde(default)]
    pub pending: Option<crate::lifecycle::Action>,
    pub updated: DateTime<Utc>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    workspaces: BTreeMap<String, Record>,
}

/// The state file and its in-memory copy.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    /// The in-memory copy; every change is written through before the lock is released.
    state: Mutex<File>,
}

impl Store {
    /// Opens (or starts) the state file in `dir`.
    ///
    /// # Errors
    /// [`HearthError::State`] if the directory cannot be created or the file is unreadable.
    pub fn open(dir: &Path) -> Result<Store, HearthError> {
        let (path, state) = read_json(dir, "workspaces.json")?;
        Ok(Store {
            path,
            state: Mutex::new(state),
        })
    }

    /// The record of `slug`, if hearth has ever provisioned it.
    pub fn get(&self, slug: &str) -> Option<Record> {
        self.lock().workspaces.get(slug).cloned()
    }

    /// Every record.
    pub fn all(&self) -> Vec<Record> {
        self.lock().workspaces.values().cloned().collect()
    }

    /// Writes `record` (keyed by its slug) through to disk.
    ///
    /// # Errors
    /// [`HearthError::State`] if the file cannot be written; the in-memory copy is unchanged.
    pub fn put(&self, mut record: Record) -> Result<Record, HearthError> {
        record.reference.last_status = record.status;
        record.updated = Utc::now();
        let mut state = self.lock();
        let slug = record.reference.workspace_slug.clone();
        let previous = state.workspaces.insert(slug.clone(), record.clone());
        if let Err(e) = self.write(&state) {
            match previous {
                Some(p) => state.workspaces.insert(slug, p),
                None => state.workspaces.remove(&slug),
            };
            return Err(e);
        }
        Ok(record)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, File> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self, state: &File) -> Result<(), HearthError> {
        write_json(&self.path, state)
    }
}

/// Atomic replace of a JSON state file: write a temp file, fsync it, rename over the old one.
///
/// # Errors
/// [`HearthError::State`] naming the file.
/// Reads `dir/name` (an empty state when absent), the directory created 0700 or refused when
/// others could write it; returns the path with the state.
///
/// # Errors
/// [`HearthError::State`] if the directory is unsafe or the file unreadable or not JSON.
pub(crate) fn read_json<T: serde::de::DeserializeOwned + Default>(
    dir: &Path,
    name: &str,
) -> Result<(PathBuf, T), HearthError> {
    private_dir(dir)?;
    let path = dir.join(name);
    let state = match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| HearthError::State {
            attempted: "read".into(),
            detail: format!("{} is not valid JSON: {e}", path.display()),
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => T::default(),
        Err(e) => return Err(state_err("read", &path, e)),
    };
    Ok((path, state))
}

pub(crate) fn write_json(path: &Path, value: &impl Serialize) -> Result<(), HearthError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| HearthError::State {
        attempted: "encoded".into(),
        detail: e.to_string(),
    })?;
    // Atomic (temp file, fsync, rename) and 0600 whatever the umask.
    hearth_serve::private::write_atomic(path, &bytes).map_err(|e| HearthError::State {
        attempted: "written".into(),
        detail: e.to_string(),
    })
}

/// Held by a serving daemon: one daemon per state dir, or two would reconcile each other's
/// work away and overwrite one record from two copies.
#[derive(Debug)]
pub(crate) struct StateLock {
    /// The exclusive lock on `STATE_DIR/lock`; released when dropped.
    _lock: nix::fcntl::Flock<fs::File>,
}

/// Takes the state dir's lock.
///
/// # Errors
/// [`HearthError::State`] naming the other daemon's pid if it holds the lock.
pub(crate) fn lock_state_dir(dir: &Path) -> Result<StateLock, HearthError> {
    use std::io::{Read, Seek};
    use std::os::unix::fs::OpenOptionsExt;
    private_dir(dir)?;
    let path = dir.join("lock");
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| state_err("locked", &path, e))?;
    match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(mut lock) => {
            let _ = lock.set_len(0);
            let _ = lock.rewind();
            let _ = write!(lock, "{}", std::process::id());
            Ok(StateLock { _lock: lock })
        }
        Err((mut file, _)) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            Err(HearthError::State {
                attempted: "locked".into(),
                detail: format!(
                    "another hearth (pid {}) already uses state dir {}; give each daemon its own --state-dir",
                    pid.trim(),
                    dir.display()
                ),
            })
        }
    }
}

/// The state dir, created 0700 or refused when others could write it (they could rewrite
/// the record of what hearth owns).
///
/// # Errors
/// [`HearthError::State`] carrying the refusal and its hint.
pub(crate) fn private_dir(dir: &Path) -> Result<(), HearthError> {
    hearth_serve::private::private_dir(dir).map_err(|e| HearthError::State {
        attempted: "opened".into(),
        detail: e.to_string(),
    })
}

pub(crate) fn state_err(attempted: &str, path: &Path, e: std::io::Error) -> HearthError {
    HearthError::State {
        attempted: attempted.into(),
        detail: format!("{}: {e}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_protocol::hearth::{DriverName, Tier};

    fn record(slug: &str, status: Status) -> Record {
        Record {
            reference: DeploymentRef {
                workspace_slug: slug.into(),
                tier: Tier::Solo,
                driver: DriverName::Fake,
                endpoint: String::new(),
                secrets_vault_path: String::new(),
                created: Utc::now(),
                last_status: Status::Provisioning,
                resource_caps: None,
                services: vec![],
                pool: None,
            },
            profile: ProvisioningProfile::for_tier(Tier::Solo),
            status,
            error: None,
            pending: None,
            updated: Utc::now(),
        }
    }

    #[test]
    fn records_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let saved = store.put(record("a", Status::TierTornDown)).expect("put");
        assert_eq!(saved.reference.last_status, Status::TierTornDown);
        drop(store);
        let again = Store::open(dir.path()).expect("reopen");
        assert_eq!(again.get("a").map(|r| r.status), Some(Status::TierTornDown));
        assert!(again.get("b").is_none());
    }

    #[test]
    fn pending_is_written_by_name_and_old_files_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        store
            .put(Record {
                pending: Some(crate::lifecycle::Action::Wake),
                ..record("a", Status::Provisioning)
            })
            .expect("put");
        let path = dir.path().join("workspaces.json");
        let text = fs::read_to_string(&path).expect("read");
        assert!(text.contains(r#""pending": "wake""#), "{text}");
        // A file written before `pending` existed has no such key.
        let old: Vec<&str> = text.lines().filter(|l| !l.contains("pending")).collect();
        fs::write(&path, old.join("\n")).expect("write");
        let again = Store::open(dir.path()).expect("reopen");
        assert_eq!(again.get("a").and_then(|r| r.pending), None);
    }

    #[test]
    fn one_daemon_per_state_dir() {
        let dir = tempfile::tempdir().expect("tempdir");
        let held = lock_state_dir(dir.path()).expect("first");
        let err = lock_state_dir(dir.path()).expect_err("second");
        assert!(
            err.to_string().contains(&std::process::id().to_string()),
            "{err}"
        );
        drop(held);
        lock_state_dir(dir.path()).expect("free again");
    }

    #[test]
    fn a_corrupt_state_file_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join("workspaces.json"), b"{not json").expect("write");
        let err = Store::open(dir.path()).expect_err("corrupt");
        assert_eq!(err.code(), "state_unavailable");
        assert!(err.to_string().contains("not valid JSON"));
    }
}
