//! `hearth.lock`: each role's image pinned to what it resolved to (`repo@sha256:…` for a
//! registry image, the image ID `sha256:…` for a local build), so a merge is never broken by an
//! upstream tag moving. Written by `hearth lock`, read by `hearth serve`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

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
        std::fs::write(path, text).map_err(|e| HearthError::State {
            attempted: "written".into(),
            detail: format!("lock file {}: {e}", path.display()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
