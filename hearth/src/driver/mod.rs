//! The driver contract: what turns a workspace slug into running services. The dispatcher is
//! the only caller; handlers never reach a driver directly.
//!
//! The contract, which every driver passes through the same conformance suite
//! (`hearth/tests/conformance.rs`):
//! - `provision` creates every service of the tier and returns only once each answers HTTP on
//!   its endpoint. If it fails, or its future is dropped, or the dispatcher's deadline passes,
//!   nothing it created is left behind (the driver rolls back; the dispatcher also calls
//!   `teardown`, which must be safe to repeat).
//! - `status` and `observe` are read-only: they observe, they never change anything.
//! - `upgrade` keeps the slug, the network and the data volumes.
//! - `teardown` is irreversible and idempotent: it removes every object of the slug that this
//!   daemon instance owns, and succeeds when there is nothing left to remove.
//! - `pause`/`resume` freeze and thaw the services; `hibernate` stops them but keeps the
//!   network and volumes; `wake` starts them again and waits until they answer.
//! - `owned` lists what the driver has created and not yet removed, found by label.
//!
//! The rooms: `engine/` holds what every Engine-API backend shares (the connection, the
//! flavor, the configuration, image supply, listing, removal, readiness, the shared create
//! shapes); `docker/` (Docker and Podman) and `swarm/` stand beside each other above it and
//! never import each other; `fake` and `kustomize` need no engine; `state` folds container
//! states into a status for every driver.

pub mod docker;
pub mod engine;
pub mod fake;
pub mod kustomize;
pub mod probe;
mod state;
pub mod swarm;

/// The drivers' own error type lives on hearth's ground floor (`crate::driver_error`), so
/// `crate::error` needs nothing from this room.
pub use crate::driver_error::DriverError;

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hearth_protocol::hearth::{
    DeploymentRef, DriverName, ProvisioningProfile, ResourceCaps, ServiceRef, Status,
    StatusResponse, Tier,
};
use serde::Serialize;

use crate::error::HearthError;
use crate::journal::Steps;
use crate::slug::Slug;

pub use crate::step::Step;
pub use state::{
    local_roles, missing_roles, role_state, status_from_states, workspace_status, ContainerState,
};

/// The roles of a solo-tier workspace, in the order they are listed.
pub const SOLO_ROLES: [&str; 2] = ["cairnet", "lore"];

/// The role whose endpoint is the workspace's front door.
pub const FRONT_DOOR: &str = "cairnet";

/// The workspace's front door: the endpoint of its [`FRONT_DOOR`] role (empty if it has none).
pub fn front_door(services: &[ServiceRef]) -> String {
    services
        .iter()
        .find(|s| s.role == FRONT_DOOR)
        .map(|s| s.endpoint.clone())
        .unwrap_or_default()
}

/// The ref of a workspace whose roles are all ready.
pub fn ready_ref(
    driver: DriverName,
    slug: &Slug,
    tier: Tier,
    caps: ResourceCaps,
    created: DateTime<Utc>,
    services: Vec<ServiceRef>,
) -> DeploymentRef {
    DeploymentRef {
        workspace_slug: slug.to_string(),
        tier,
        driver,
        endpoint: front_door(&services),
        secrets_vault_path: format!("file://hearth/{slug}"),
        created,
        last_status: Status::Ready,
        resource_caps: Some(caps),
        services,
        pool: None,
    }
}

/// A provisioning backend.
#[async_trait]
pub trait Driver: Send + Sync + std::fmt::Debug {
    /// Which driver this is (stamped on every ref).
    fn name(&self) -> DriverName;

    /// Creates the workspace and waits until every service answers.
    async fn provision(
        &self,
        slug: &Slug,
        profile: &ProvisioningProfile,
        steps: &Steps,
    ) -> Result<DeploymentRef, HearthError>;

    /// Observes the workspace's status on the engine. Read-only.
    async fn status(&self, r: &DeploymentRef) -> Result<Status, HearthError>;

    /// Observes the workspace's status and each role's state (and, where roles may run on
    /// other nodes, the node). Read-only. A driver that cannot tell roles apart answers none.
    async fn observe(&self, r: &DeploymentRef) -> Result<StatusResponse, HearthError> {
        Ok(StatusResponse {
            status: self.status(r).await?,
            roles: Vec::new(),
        })
    }

    /// Recreates the services for `profile`, keeping slug, network and volumes.
    async fn upgrade(
        &self,
        r: &DeploymentRef,
        profile: &ProvisioningProfile,
        steps: &Steps,
    ) -> Result<DeploymentRef, HearthError>;

    /// Removes everything of `slug`. Idempotent.
    async fn teardown(&self, slug: &Slug, steps: &Steps) -> Result<(), HearthError>;

    /// Freezes the services.
    async fn pause(&self, r: &DeploymentRef, steps: &Steps) -> Result<DeploymentRef, HearthError>;

    /// Thaws paused services.
    async fn resume(&self, r: &DeploymentRef, steps: &Steps) -> Result<DeploymentRef, HearthError>;

    /// Stops the services, keeping network and volumes.
    async fn hibernate(
        &self,
        r: &DeploymentRef,
        steps: &Steps,
    ) -> Result<DeploymentRef, HearthError>;

    /// Starts hibernated services and waits until they answer (endpoints may change).
    async fn wake(&self, r: &DeploymentRef, steps: &Steps) -> Result<DeploymentRef, HearthError>;

    /// Every object this driver instance created and has not removed.
    async fn owned(&self) -> Result<Vec<Owned>, HearthError>;

    /// What each role of `profile` would run now: role → image digest (the engine's image
    /// ID). The warm pool keys its members by this and drains those built from another; a
    /// driver that cannot tell answers an empty map (its pool then never goes stale by image).
    async fn image_digests(
        &self,
        _profile: &ProvisioningProfile,
    ) -> Result<BTreeMap<String, String>, HearthError> {
        Ok(BTreeMap::new())
    }
}

/// The `driver_flags` key that marks a provision as a warm-pool member: its value is the pool
/// key, which the driver puts on every object as the [`crate::labels::POOL`] label.
pub const POOL_FLAG: &str = "pool";

/// The pool key a profile carries, if it provisions a pool member.
pub fn pool_flag(profile: &ProvisioningProfile) -> Option<&str> {
    profile
        .driver_flags
        .get(POOL_FLAG)
        .and_then(serde_json::Value::as_str)
}

/// What kind of engine object an [`Owned`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    Container,
    Network,
    Volume,
    /// A Swarm service (its tasks' containers are listed as containers).
    Service,
    /// A manifest file the kustomize driver wrote (or a temp dir it left).
    Manifest,
}

/// One engine object a driver owns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Owned {
    pub slug: String,
    pub kind: ObjectKind,
    pub name: String,
    /// For containers: the engine's state (`running`, `paused`, `exited`, …).
    pub state: Option<String>,
}
