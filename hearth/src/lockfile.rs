//! `hearth.lock`: each role's image pinned to what it resolved to (`repo@sha256:…` for a
//! registry image, the image ID `sha256:…` for a local build), so a merge is never broken by an
//! upstream tag moving. Written by `hearth lock`, read by `hearth serve` — and read again by
//! a running daemon whenever the file changes ([`LiveLock`]), so a new lock takes effect
//! without a restart: the next provision runs the new pins and the warm pool drains members
//! built from the old ones.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::error::HearthError;

/// The lock file's content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageLock {
    /// Format version; 1.
    pub version: u32,
    /// Role → pinned image.
    pub roles: BTreeMap<String, LockedImage>,
}

/// One role's pinned image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedImage {
    /// The reference it was resolved from (`nginx:alpine`).
    pub image: String,
    /// What it resolved to: `repo@sha256:…` or `sha256:…`.
    pub digest: String,
    /// The image ID at lock time (what `services[].image_digest` reports).
    pub id: String,
}

impl ImageLock {
    /// Reads a lock file.
    ///
    /// # Errors
    /// [`HearthError::State`] naming the file if it is unreadable or malformed.
    pub fn load(path: &Path) -> Result<ImageLock, HearthError> {
        trusted(path)?;
        let bytes = std::fs::read(path).map_err(|e| HearthError::State {
            attempted: "read".into(),
            detail: format!("lock file {}: {e}", path.display()),
        })?;
        let lock: ImageLock = serde_json::from_slice(&bytes).map_err(|e| HearthError::State {
            attempted: "read".into(),
            detail: format!("lock file {} is not a hearth lock: {e}", path.display()),
        })?;
        if lock.version != 1 {
            return Err(HearthError::State {
                attempted: "read".into(),
                detail: format!(
                    "lock file {} has version {}; this hearth reads version 1",
                    path.display(),
                    lock.version
                ),
            });
        }
        Ok(lock)
    }

    /// Writes the lock file (pretty JSON, one role per block, stable order).
    ///
    /// # Errors
    /// [`HearthError::State`] if it cannot be written.
    pub fn save(&self, path: &Path) -> Result<(), HearthError> {
        let mut text = serde_json::to_string_pretty(self).map_err(|e| HearthError::State {
            attempted: "encoded".into(),
            detail: e.to_string(),
        })?;
        text.push('\n');
        // Written aside and renamed over, so a running daemon never reads half a lock; 0644
        // by explicit mode, whatever the umask: whoever can write the lock picks the images.
        hearth_serve::private::write_atomic_mode(
            path,
            text.as_bytes(),
            hearth_serve::private::SHARED_FILE_MODE,
        )
        .map_err(|e| HearthError::State {
            attempted: "written".into(),
            detail: format!("lock file {}: {e}", path.display()),
        })
    }
}

/// Refuses a lock file someone else could have written: one writable by its group or by
/// others, or owned by another user than this one (or root). A daemon following such a file
/// would run whatever images that someone picked.
///
/// # Errors
/// [`HearthError::UntrustedLock`] naming the file and the fix.
fn trusted(path: &Path) -> Result<(), HearthError> {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(path) else {
        // A missing or unreadable file is reported by the read that follows.
        return Ok(());
    };
    let me = nix::unistd::geteuid().as_raw();
    let refuse = |why: String, fix: String| HearthError::UntrustedLock {
        path: path.to_owned(),
        why,
        fix,
    };
    if meta.uid() != me && meta.uid() != 0 {
        return Err(refuse(
            format!(
                "belongs to uid {}, not to this user (uid {me}) or root",
                meta.uid()
            ),
            format!(
                "check who wrote it, then write it again as this user: `hearth lock --out {}`",
                path.display()
            ),
        ));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o022 != 0 {
        return Err(refuse(
            format!("is writable by its group or by others (mode {mode:o})"),
            format!("check its pins, then `chmod go-w {}`", path.display()),
        ));
    }
    Ok(())
}

/// What a file looked like when it was last read: a change to any of these means read it
/// again (the content decides whether the lock really changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl Stamp {
    fn of(path: &Path) -> Option<Stamp> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some(Stamp {
            modified: m.modified().ok(),
            len: m.len(),
            inode: m.ino(),
        })
    }
}

/// The lock a daemon runs with, followed on disk: every [`LiveLock::current`] checks the
/// file's stamp (one `stat`) and reads it again if it changed. A lock that became unreadable
/// or malformed (or was removed) keeps the last good pins, with one warning per change.
#[derive(Debug, Clone)]
pub struct LiveLock {
    path: PathBuf,
    seen: Arc<Mutex<Seen>>,
}

#[derive(Debug)]
struct Seen {
    lock: Arc<ImageLock>,
    bytes: Vec<u8>,
    stamp: Option<Stamp>,
}

impl LiveLock {
    /// Reads the lock at `path`, to follow it from now on.
    ///
    /// # Errors
    /// As [`ImageLock::load`].
    pub fn open(path: &Path) -> Result<LiveLock, HearthError> {
        let stamp = Stamp::of(path);
        let bytes = std::fs::read(path).unwrap_or_default();
        let lock = ImageLock::load(path)?;
        Ok(LiveLock {
            path: path.to_owned(),
            seen: Arc::new(Mutex::new(Seen {
                lock: Arc::new(lock),
                bytes,
                stamp,
            })),
        })
    }

    /// The file followed.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pins now: the file's, read again if it changed since the last call.
    pub fn current(&self) -> Arc<ImageLock> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let stamp = Stamp::of(&self.path);
        if stamp == seen.stamp {
            return Arc::clone(&seen.lock);
        }
        seen.stamp = stamp;
        let bytes = std::fs::read(&self.path).unwrap_or_default();
        if bytes == seen.bytes {
            return Arc::clone(&seen.lock);
        }
        match ImageLock::load(&self.path) {
            Ok(lock) => {
                info!(lock = %self.path.display(), roles = ?lock.roles.iter().map(|(r, l)| (r, &l.digest)).collect::<Vec<_>>(), "the image lock changed: provisions and the pool use the new pins");
                seen.lock = Arc::new(lock);
                seen.bytes = bytes;
            }
            Err(e) => {
                warn!(lock = %self.path.display(), error = %e, hint = %e.hint().unwrap_or_default(), "the image lock changed but cannot be read or is not trusted; keeping the pins it had");
            }
        }
        Arc::clone(&seen.lock)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn round_trips_and_refuses_other_versions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("hearth.lock");
        let mut lock = ImageLock {
            version: 1,
            roles: BTreeMap::new(),
        };
        lock.roles.insert(
            "lore".into(),
            LockedImage {
                image: "nginx:alpine".into(),
                digest: "sha256:abc".into(),
                id: "sha256:abc".into(),
            },
        );
        lock.save(&path).expect("save");
        assert_eq!(ImageLock::load(&path).expect("load"), lock);
        std::fs::write(&path, r#"{"version":2,"roles":{}}"#).expect("write");
        let err = ImageLock::load(&path).expect_err("v2");
        assert!(err.to_string().contains("version 2"));
    }

    #[test]
    fn a_lock_others_can_write_is_refused_and_a_live_lock_keeps_its_pins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("hearth.lock");
        ImageLock {
            version: 1,
            roles: BTreeMap::new(),
        }
        .save(&path)
        .expect("save");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        let live = LiveLock::open(&path).expect("a 0644 lock is trusted");
        for loose in [0o666, 0o664, 0o646] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(loose)).expect("chmod");
            let err = ImageLock::load(&path).expect_err("loose");
            let text = format!("{err} {}", err.hint().unwrap_or_default());
            assert!(text.contains("chmod go-w"), "{text}");
            assert!(text.contains(&path.display().to_string()), "{text}");
        }
        // Rewritten with other pins while loose: the daemon keeps the ones it trusted.
        std::fs::write(&path, r#"{"version":1,"roles":{"lore":{"image":"evil","digest":"sha256:e","id":"sha256:e"}}}"#).expect("rewrite");
        assert!(
            live.current().roles.is_empty(),
            "the loose lock is not followed"
        );
    }

    #[test]
    fn a_live_lock_follows_the_file_and_keeps_its_pins_when_the_file_breaks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("hearth.lock");
        let pinned = |digest: &str| ImageLock {
            version: 1,
            roles: BTreeMap::from([(
                "lore".to_owned(),
                LockedImage {
                    image: "app:v1".into(),
                    digest: digest.into(),
                    id: digest.into(),
                },
            )]),
        };
        pinned("sha256:a").save(&path).expect("save");
        let live = LiveLock::open(&path).expect("open");
        assert_eq!(*live.current(), pinned("sha256:a"));
        pinned("sha256:b").save(&path).expect("relock");
        assert_eq!(*live.current(), pinned("sha256:b"), "a new lock is read");
        std::fs::write(&path, "{ half a lo").expect("break");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert_eq!(
            *live.current(),
            pinned("sha256:b"),
            "a broken lock keeps the pins"
        );
        std::fs::remove_file(&path).expect("remove");
        assert_eq!(*live.current(), pinned("sha256:b"), "so does a removed one");
        pinned("sha256:c").save(&path).expect("lock again");
        assert_eq!(*live.current(), pinned("sha256:c"));
    }
}
