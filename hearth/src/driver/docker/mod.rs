//! The LocalDocker driver: each workspace is a bridge network, one data volume per role and
//! one container per role on a Docker engine, reached through bollard. The API version is
//! negotiated on first use (Debian's 20.10 engine speaks API 1.41) and the engine is found as
//! the docker CLI finds it (`driver::engine::resolve`). Everything is labelled with this daemon's instance and found by label.
//!
//! The room is split by concern: `images` (resolution, pull policy, lock), `pull` (pulls with
//! progress and a bound), `credentials` (registry logins, found as the docker CLI finds them;
//! `credential_helper` runs the helpers),
//! `pins` (what `hearth lock` pins), `create` (provision, upgrade, wake), `objects` (listing
//! and removal), `subnets` (hearth's own address pool). The engine connection
//! (`driver::engine`) and the HTTP readiness check (`driver::readiness`) belong to no single
//! driver, and so does telling Docker from Podman (`driver::flavor`).

pub(crate) mod create;
mod credential_helper;
pub mod credentials;
pub(crate) mod images;
pub(crate) mod objects;
pub mod pins;
mod pull;
mod role;
mod subnets;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use hearth_protocol::hearth::{
    DeploymentRef, DriverName, ProvisioningProfile, Status, StatusResponse,
};

use super::common::{local_roles, workspace_status, ContainerState};
use super::{Driver, Owned, SOLO_ROLES};
use crate::error::HearthError;
use crate::journal::Steps;
use crate::lockfile::LiveLock;
use crate::slug::Slug;
use crate::template::{Template, Templates};

pub use crate::driver::engine::Engine;
pub use crate::driver::flavor::{Capability, EngineKind, Flavor};
pub use credentials::registry_of;
pub use images::PullPolicy;
pub use pull::human_bytes;
pub use subnets::SubnetPool;

/// How LocalDocker builds a workspace.
#[derive(Debug, Clone)]
pub struct DockerConfig {
    /// The engine's address (`unix:///run/podman/podman.sock`), as the caller sets it;
    /// `None` means the engine the docker CLI would choose.
    pub host: Option<String>,
    /// The endpoint `hearth serve` chose at start (before `host`).
    pub endpoint: Option<crate::driver::engine::Endpoint>,
    /// The image per role (`cairnet`, `lore`).
    pub images: BTreeMap<String, String>,
    pub pull: PullPolicy,
    /// Bound on one pull: a registry that accepts the connection and stalls is
    /// `image_unavailable` after this, well inside the provision deadline.
    pub pull_timeout: Duration,
    /// Images pinned by `hearth lock`; when set, roles run the locked image ID. Followed on
    /// disk: a new lock applies from the next provision (and pool check) on.
    pub lock: Option<LiveLock>,
    /// The port each service listens on inside its container.
    pub service_port: u16,
    pub memory_bytes: i64,
    pub nano_cpus: i64,
    pub pids_limit: i64,
    /// How long one role may take to answer HTTP after it started.
    pub readiness_timeout: Duration,
    /// Seconds the engine waits after SIGTERM before it kills a service.
    pub stop_timeout_secs: i32,
    /// Labels the operator adds to every object (e.g. `dev.hearth.test=1`).
    pub extra_labels: Vec<(String, String)>,
    /// Where workspace networks go once the engine's default address pools are used up.
    pub subnet_pool: SubnetPool,
    /// The config file's `[tiers]`; a tier with none runs the default template (`images`
    /// on `service_port`).
    pub templates: Templates,
}

impl Default for DockerConfig {
    fn default() -> Self {
        DockerConfig {
            host: None,
            endpoint: None,
            images: SOLO_ROLES
                .iter()
                .map(|r| ((*r).to_owned(), "nginx:alpine".to_owned()))
                .collect(),
            pull: PullPolicy::IfMissing,
            pull_timeout: Duration::from_secs(60),
            lock: None,
            service_port: 80,
            memory_bytes: 256 * 1024 * 1024,
            nano_cpus: 500_000_000,
            pids_limit: 256,
            readiness_timeout: Duration::from_secs(30),
            stop_timeout_secs: 10,
            extra_labels: Vec::new(),
            subnet_pool: SubnetPool::default(),
            templates: Templates::default(),
        }
    }
}

impl DockerConfig {
    /// The workspace shape of `tier`: its `[tiers.<tier>]` template, or the default one.
    pub fn template(&self, tier: hearth_protocol::hearth::Tier) -> Template {
        self.templates
            .for_tier(tier, &self.images, self.service_port)
    }
}

/// The LocalDocker driver.
#[derive(Debug)]
pub struct LocalDocker {
    engine: Engine,
    config: DockerConfig,
    /// This daemon's instance id, stamped on (and required of) every object it touches.
    instance: String,
    /// Rollbacks of abandoned provisions still running in the background.
    rollbacks: create::Rollbacks,
}

impl LocalDocker {
    /// A driver talking to the engine the configuration names (see [`Engine::for_config`]).
    pub fn new(config: DockerConfig, instance: impl Into<String>) -> Self {
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
        objects::remove_in_order(
            docker,
            &self.instance,
            slug,
            self.config.stop_timeout_secs,
            &objects::StopOrder::of(&self.config),
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
        objects::owned(&self.engine, &self.instance).await
    }

    async fn image_digests(
        &self,
        profile: &ProvisioningProfile,
    ) -> Result<BTreeMap<String, String>, HearthError> {
        images::digests(&self.engine, &self.config, profile).await
    }
}
