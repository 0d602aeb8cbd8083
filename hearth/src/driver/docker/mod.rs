//! The LocalDocker driver: each workspace is a bridge network, one data volume per role and
//! one container per role on a Docker engine, reached through bollard. The API version is
//! negotiated on first use (Debian's 20.10 engine speaks API 1.41) and the engine is found as
//! the docker CLI finds it (`driver::engine::resolve`). Everything is labelled with this
//! daemon's instance and found by label.
//!
//! The room holds what is the Docker driver's own: `create` (provision, upgrade, wake),
//! `role` (one role's container brought up and probed), `objects` (its containers, and pause,
//! resume and stop over a workspace). Everything it shares with the Swarm driver — the
//! connection, `EngineConfig`, image supply, pins, credentials, subnets, listing, removal,
//! readiness, telling Docker from Podman — is the engine room's (`driver::engine`).

pub(crate) mod create;
pub(crate) mod objects;
mod role;

use async_trait::async_trait;
use hearth_protocol::hearth::{
    DeploymentRef, DriverName, ProvisioningProfile, Status, StatusResponse,
};
use std::collections::BTreeMap;

use super::{local_roles, workspace_status, ContainerState, Driver, Owned};
use crate::error::HearthError;
use crate::journal::Steps;
use crate::slug::Slug;

use crate::driver::engine::{images, removal, Capability, Engine, EngineConfig};

/// The LocalDocker driver.
#[derive(Debug)]
pub struct LocalDocker {
    engine: Engine,
    config: EngineConfig,
    /// This daemon's instance id, stamped on (and required of) every object it touches.
    instance: String,
    /// Rollbacks of abandoned provisions still running in the background.
    rollbacks: create::Rollbacks,
}

impl LocalDocker {
    /// A driver talking to the engine the configuration names (see [`Engine::for_config`]).
    pub fn new(config: EngineConfig, instance: impl Into<String>) -> Self {
        LocalDocker {
            engine: Engine::for_config(&config),
            config,
            instance: instance.into(),
            rollbacks: create::Rollbacks::default(),
        }
    }

    /// The engine connection (shared with `hearth lock`).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

#[async_trait]
impl Driver for LocalDocker {
    fn name(&self) -> DriverName {
        DriverName::LocalDocker
    }

    async fn provision(
        &self,
        slug: &Slug,
        profile: &ProvisioningProfile,
        steps: &Steps,
    ) -> Result<DeploymentRef, HearthError> {
        create::provision(self, slug, profile, steps).await
    }

    async fn status(&self, r: &DeploymentRef) -> Result<Status, HearthError> {
        Ok(self.observe(r).await?.status)
    }

    async fn observe(&self, r: &DeploymentRef) -> Result<StatusResponse, HearthError> {
        let slug = Slug::parse(&r.workspace_slug)?;
        let containers = objects::containers(self, Some(&slug)).await?;
        // A one-shot that completed is not a stopped service: only services count.
        let template = self.config.template(r.tier);
        let services: Vec<_> = containers
            .iter()
            .filter(|c| !template.role(&c.role).is_some_and(|role| role.once))
            .collect();
        let found: Vec<(&str, ContainerState)> = services
            .iter()
            .map(|c| (c.role.as_str(), c.state))
            .collect();
        Ok(StatusResponse {
            status: workspace_status(
                services.len(),
                template.services().count(),
                services.iter().map(|c| c.state),
            ),
            roles: local_roles(template.services().map(|role| role.name.as_str()), &found),
        })
    }

    async fn upgrade(
        &self,
        r: &DeploymentRef,
        profile: &ProvisioningProfile,
        steps: &Steps,
    ) -> Result<DeploymentRef, HearthError> {
        create::upgrade(self, r, profile, steps).await
    }

    async fn teardown(&self, slug: &Slug, steps: &Steps) -> Result<(), HearthError> {
        let docker = self.engine.client().await?;
        create::settle_rollback(&self.rollbacks, slug).await;
        removal::remove_in_order(
            docker,
            &self.instance,
            slug,
            self.config.stop_timeout_secs,
            &removal::StopOrder::of(&self.config),
            steps,
        )
        .await
    }

    async fn pause(&self, r: &DeploymentRef, steps: &Steps) -> Result<DeploymentRef, HearthError> {
        self.engine.flavor().await?.require(Capability::Pause)?;
        objects::each_container(self, r, objects::Action::Pause, steps).await?;
        Ok(r.clone())
    }

    async fn resume(&self, r: &DeploymentRef, steps: &Steps) -> Result<DeploymentRef, HearthError> {
        self.engine.flavor().await?.require(Capability::Pause)?;
        objects::each_container(self, r, objects::Action::Unpause, steps).await?;
        Ok(r.clone())
    }

    async fn hibernate(
        &self,
        r: &DeploymentRef,
        steps: &Steps,
    ) -> Result<DeploymentRef, HearthError> {
        objects::each_container(self, r, objects::Action::Stop, steps).await?;
        Ok(r.clone())
    }

    async fn wake(&self, r: &DeploymentRef, steps: &Steps) -> Result<DeploymentRef, HearthError> {
        create::wake(self, r, steps).await
    }

    async fn owned(&self) -> Result<Vec<Owned>, HearthError> {
        removal::owned(&self.engine, &self.instance).await
    }

    async fn image_digests(
        &self,
        profile: &ProvisioningProfile,
    ) -> Result<BTreeMap<String, String>, HearthError> {
        images::digests(&self.engine, &self.config, profile).await
    }
}
