//! The shapes of bringing a role up that LocalDocker and Swarm share: its data volume, the
//! wait until it answers HTTP, the service ref it ends in, the caps a woken workspace keeps.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::VolumeCreateRequest;
use bollard::Docker;
use hearth_protocol::hearth::{DeploymentRef, ResourceCaps, ServiceRef};

use super::objects::ensure_running;
use super::Step;
use crate::driver::docker::images::Resolved;
use crate::driver::engine::{map_err, Engine};
use crate::driver::readiness;
use crate::error::HearthError;
use crate::journal::Steps;

/// Creates `role`'s data volume `volume` with `labels`. Creating a volume that exists is a
/// no-op on the engine: an upgrade keeps its data.
///
/// # Errors
/// `docker_unavailable` or a driver failure naming the volume.
pub async fn create_volume(
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

/// Where a started role is reached and what it runs.
#[derive(Debug)]
pub struct Started {
    pub role: String,
    pub container_id: String,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    pub image: Resolved,
}

/// Waits until the started role answers HTTP on its endpoint (failing early if its container
/// stops), records it ready and returns its service ref.
///
/// # Errors
/// `deadline_exceeded` past `timeout`, a driver failure if the container stopped.
pub async fn await_ready(
    engine: &Engine,
    timeout: Duration,
    started: Started,
    steps: &Steps,
) -> Result<ServiceRef, HearthError> {
    let Started {
        role,
        container_id,
        endpoint,
        image,
    } = started;
    readiness::wait_http(&role, &endpoint, timeout, || {
        ensure_running(engine, &container_id, &role)
    })
    .await?;
    steps.step(Step::RoleReady, Some(&role), Some(endpoint.clone()));
    Ok(ServiceRef {
        role,
        image: image.image,
        image_digest: image.id,
        container_id,
        endpoint,
    })
}

/// The caps a workspace keeps across a wake: those it was made with, or its tier's.
pub fn caps_of(r: &DeploymentRef) -> ResourceCaps {
    r.resource_caps
        .clone()
        .unwrap_or_else(|| r.tier.default_caps())
}

/// The image `role` ran before, as `r` recorded it (a wake starts the same image again).
pub fn recorded_image(r: &DeploymentRef, role: &str) -> Resolved {
    Resolved::recorded(r.services.iter().find(|s| s.role == role))
}
