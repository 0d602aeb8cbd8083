//! The shapes of bringing a role up that LocalDocker and Swarm share: its data volume, its
//! environment, the caps and images a woken workspace keeps.

use std::collections::HashMap;

use bollard::models::VolumeCreateRequest;
use bollard::Docker;
use hearth_protocol::hearth::{DeploymentRef, ResourceCaps};

use super::images::Resolved;
use super::map_err;
use crate::driver::Step;
use crate::error::HearthError;
use crate::journal::Steps;
use crate::slug::Slug;

/// Creates `role`'s data volume `volume` with `labels`. Creating a volume that exists is a
/// no-op on the engine: an upgrade keeps its data.
///
/// # Errors
/// `docker_unavailable` or a driver failure naming the volume.
pub(crate) async fn create_volume(
    docker: &Docker,
    volume: &str,
    labels: HashMap<String, String>,
    role: &str,
    steps: &Steps,
) -> Result<(), HearthError> {
    docker
        .create_volume(VolumeCreateRequest {
            name: Some(volume.to_owned()),
            labels: Some(labels),
            ..Default::default()
        })
        .await
        .map_err(|e| map_err(format!("create volume {volume} for role {role}"), e))?;
    steps.step(Step::VolumeCreated, Some(role), Some(volume.to_owned()));
    Ok(())
}

/// The caps a workspace keeps across a wake: those it was made with, or its tier's.
pub(crate) fn caps_of(r: &DeploymentRef) -> ResourceCaps {
    r.resource_caps
        .clone()
        .unwrap_or_else(|| r.tier.default_caps())
}

/// The image `role` ran before, as `r` recorded it (a wake starts the same image again).
pub(crate) fn recorded_image(r: &DeploymentRef, role: &str) -> Resolved {
    Resolved::recorded(r.services.iter().find(|s| s.role == role))
}

/// The environment of a role's container (Docker's and Swarm's).
pub(crate) fn env(slug: &Slug, role: &str, caps: &ResourceCaps) -> Vec<String> {
    vec![
        format!("HEARTH_WORKSPACE={slug}"),
        format!("HEARTH_ROLE={role}"),
        format!("ROCKY_CAIRNET_STORAGE_MB={}", caps.cairnet_storage_mb),
        format!("ROCKY_LORE_RETENTION_DAYS={}", caps.lore_retention_days),
        format!("ROCKY_SEATS={}", caps.seats),
        format!("ROCKY_VECTOR_INDEX={}", caps.vector_index),
    ]
}
