//! What is on disk for a workspace, read back: its kustomization (which lists every other
//! file, and carries the workspace's tier, owner and creation time), and the status the
//! files make — all there: `ready`; some: `provisioning`; none: `tier_torn_down` (the Go
//! hearth's rule).

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use hearth_protocol::hearth::{Status, Tier};
use serde::Deserialize;

use super::emit::{CREATED, KUSTOMIZATION};
use crate::error::HearthError;
use crate::labels::{INSTANCE, TIER};

/// The parts of `kustomization.yaml` hearth reads back.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Kustomization {
    #[serde(rename = "commonLabels", default)]
    pub labels: BTreeMap<String, String>,
    #[serde(rename = "commonAnnotations", default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub resources: Vec<String>,
}

impl Kustomization {
    /// Reads `dir/kustomization.yaml`; `None` when there is none.
    ///
    /// # Errors
    /// The driver's error when it exists but cannot be read or is not a kustomization.
    pub fn read(dir: &Path) -> Result<Option<Kustomization>, HearthError> {
        let path = dir.join(KUSTOMIZATION);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(HearthError::driver(format!("read {}", path.display()), e)),
        };
        serde_yaml_ng::from_str(&text)
            .map(Some)
            .map_err(|e| HearthError::driver(format!("read {}", path.display()), e))
    }

    /// The daemon instance that wrote it.
    pub fn instance(&self) -> Option<&str> {
        self.labels.get(INSTANCE).map(String::as_str)
    }

    /// The tier it was written for.
    pub fn tier(&self) -> Option<Tier> {
        self.labels.get(TIER).and_then(|t| t.parse().ok())
    }

    /// When the workspace was first provisioned.
    pub fn created(&self) -> Option<DateTime<Utc>> {
        self.annotations
            .get(CREATED)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    }
}

/// The status of the workspace in `dir`, from its files.
///
/// # Errors
/// The driver's error when the directory or its kustomization cannot be read.
pub fn of_dir(dir: &Path) -> Result<Status, HearthError> {
    let present = super::write::entries(dir)?;
    if present.is_empty() {
        return Ok(Status::TierTornDown);
    }
    let Some(k) = Kustomization::read(dir)? else {
        return Ok(Status::Provisioning);
    };
    let all = k.resources.iter().all(|r| present.contains(r));
    Ok(if all {
        Status::Ready
    } else {
        Status::Provisioning
    })
}
