//! The Swarm driver: each workspace is an attachable overlay network, one service per role (one
//! replica, reached by name: `dnsrr`) with its data volume, and a door, on a Docker Swarm of
//! one node or many whose manager is the engine at `DOCKER_HOST` (hearth talks to nothing
//! else). It shares the Docker driver's engine connection, image resolution and lock,
//! readiness probe, labels and removal of containers, networks and volumes.
//!
//! A role runs where its template's placement (or the swarm) puts it; its volume is made on
//! that node and the role is pinned there (`create`). It is reached through a loopback relay
//! of hearth's own (`relay`) to the workspace's door on hearth's node (`door`), which forwards
//! over the overlay: Swarm can only publish on every address, and a workspace must not be
//! reachable from outside the machine. A torn-down workspace's volumes on other nodes are
//! removed by one-off jobs there (`cleanup`).
//!
//! Pause: Swarm has no pause. pause freezes each role's task container on hearth's node (the
//! swarm keeps counting it as running, and does not replace it); a role on another node
//! answers `unsupported`.
//!
//! Warm pool: a member is a workspace like any other, its objects also labelled
//! `dev.hearth.pool`; each service pins the image ID it was resolved to, which is what
//! `image_digests` compares with the IDs the role's image resolves to now.
//!
//! Templates: the tier's template runs as on Docker — one service per role, reached on the
//! overlay by its role name (its alias), started in dependency order; a one-shot is a
//! replicated job of one completion; readiness goes through the shared probes, their ports
//! relayed through the door (`target`).
//!
//! The room: `spec` (a role's service spec), `role` (one role brought up and waited for),
//! `create` (provision), `lifecycle` (upgrade, hibernate, wake, the ordered stop), `target`
//! (a task as the probes see it), `tasks` (waiting for a task, its gwbridge address),
//! `status` (each role's state and node), `relay`, `door`, `objects` (listing, removal),
//! `cleanup` (volumes on other nodes).

mod cleanup;
mod create;
mod door;
mod lifecycle;
mod objects;
mod relay;
mod role;
mod spec;
mod status;
mod target;
mod tasks;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bollard::models::LocalNodeState;
use hearth_protocol::hearth::{
    DeploymentRef, DriverName, ProvisioningProfile, Status, StatusResponse, Tier,
};
use tokio::sync::OnceCell;
use tracing::{info, warn};

use super::engine::objects::list_containers;
use super::engine::Engine;
use super::engine::EngineConfig;
use super::engine::{map_err, map_refusal};
use super::DriverError;
use super::{ContainerState, Step};
use super::{Driver, Owned};
use crate::error::HearthError;
use crate::journal::Steps;
use crate::labels;
use crate::names::Names;
use crate::slug::Slug;

pub use door::DEFAULT_DOOR_IMAGE;
pub use relay::Relays;

/// The Swarm driver.
#[derive(Debug)]
pub struct Swarm {
    engine: Engine,
    /// Images, lock, limits, timeouts and labels: the same settings as LocalDocker.
    config: EngineConfig,
    /// This daemon's instance id, stamped on (and required of) every object it touches.
    instance: String,
    /// The loopback endpoint of every live role.
    relays: Relays,
    /// The swarm node ID of the engine hearth talks to, asked once.
    node: OnceCell<String>,
    /// Set once the relays of workspaces that were live before a restart are open again.
    restored: OnceCell<()>,
    /// The image of each workspace's door and of the volume cleanup jobs (on every node that
    /// runs them): one with the stand-in's `forward` and `remove-volumes` modes.
    door_image: String,
}

impl Swarm {
    /// A driver for the swarm whose manager is the engine the configuration names (see
    /// [`Engine::for_config`]).
    pub fn new(config: EngineConfig, instance: impl Into<String>) -> Self {
        Swarm {
            engine: Engine::for_config(&config),
            config,
            instance: instance.into(),
            relays: Relays::default(),
            node: OnceCell::new(),
            restored: OnceCell::new(),
            door_image: DEFAULT_DOOR_IMAGE.to_owned(),
        }
    }

    /// The same driver with another door image (`HEARTH_SWARM_DOOR_IMAGE`).
    #[must_use]
    pub fn with_door_image(mut self, image: impl Into<String>) -> Self {
        self.door_image = image.into();
        self
    }

    fn names(&self, slug: &Slug) -> Names {
        Names::new(&self.instance, slug)
    }

    /// The swarm node ID of the engine hearth talks to.
    ///
    /// # Errors
    /// A driver failure saying how to make the engine a manager if it is not one.
    pub async fn node_id(&self) -> Result<String, HearthError> {
        self.node
            .get_or_try_init(|| async {
                let docker = self.engine.client().await?;
                let info = docker
                    .info()
                    .await
                    .map_err(|e| map_err("ask the engine about its swarm", e))?;
                let swarm = info.swarm.unwrap_or_default();
                let state = swarm.local_node_state.unwrap_or(LocalNodeState::INACTIVE);
                match (state, swarm.control_available, swarm.node_id) {
                    (LocalNodeState::ACTIVE, Some(true), Some(id)) if !id.is_empty() => Ok(id),
                    (state, manager, _) => Err(HearthError::driver(
                        "use the engine as a swarm manager",
                        format!(
                            "it is not one (swarm state {:?}, manager {}): run `docker swarm \
                             init --advertise-addr 127.0.0.1` on it, or serve with --driver \
                             local-docker",
                            state.to_string(),
                            manager.unwrap_or(false)
                        ),
                    )),
                }
            })
            .await
            .cloned()
    }

    /// The task containers of `slug` on this node, with their engine state.
    async fn containers(
        &self,
        slug: &Slug,
    ) -> Result<HashMap<String, ContainerState>, HearthError> {
        let docker = self.engine.client().await?;
        let list = list_containers(docker, &self.instance, Some(slug)).await?;
        Ok(list.into_iter().map(|c| (c.id, c.state)).collect())
    }

    /// Waits until `slug` has no task container left (after a scale to 0) but those of
    /// `kept` roles (one-shots: the swarm keeps a completed job's container in its task
    /// history).
    async fn wait_no_containers(&self, slug: &Slug, kept: &[&str]) -> Result<(), HearthError> {
        let bound = Duration::from_secs(u64::try_from(self.config.stop_timeout_secs).unwrap_or(10))
            + Duration::from_secs(30);
        let started = Instant::now();
        let docker = self.engine.client().await?;
        loop {
            let mut left = list_containers(docker, &self.instance, Some(slug)).await?;
            left.retain(|c| !kept.contains(&c.role.as_str()));
            if left.is_empty() {
                return Ok(());
            }
            if started.elapsed() >= bound {
                return Err(HearthError::driver(
                    format!("stop the tasks of {slug}"),
                    format!("{} container(s) still there after {bound:?}", left.len()),
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until no service of `services` has a running task, wherever it ran (after a
    /// scale to 0).
    async fn wait_no_tasks(&self, services: &[objects::Svc]) -> Result<(), HearthError> {
        let docker = self.engine.client().await?;
        let bound = Duration::from_secs(u64::try_from(self.config.stop_timeout_secs).unwrap_or(10))
            + Duration::from_secs(30);
        let started = Instant::now();
        for s in services {
            while tasks::list(docker, &s.id).await?.iter().any(|t| {
                t.status.as_ref().and_then(|st| st.state)
                    == Some(bollard::models::TaskState::RUNNING)
            }) {
                if started.elapsed() >= bound {
                    return Err(HearthError::driver(
                        format!("stop the task of role {}", s.role),
                        format!("still running after {bound:?}"),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }

    /// Freezes or thaws each role's running task container.
    async fn each_task(
        &self,
        r: &DeploymentRef,
        pause: bool,
        steps: &Steps,
    ) -> Result<(), HearthError> {
        let slug = Slug::parse(&r.workspace_slug)?;
        let docker = self.engine.client().await?;
        let node = self.node_id().await?;
        let services = objects::services(docker, &self.instance, Some(&slug)).await?;
        if services.is_empty() {
            return Err(HearthError::driver(
                format!("find the services of {slug}"),
                "none exist; they were removed outside hearth",
            ));
        }
        let verb = if pause { "pause" } else { "resume" };
        let mut running = Vec::new();
        // A one-shot's job has completed: nothing of it runs to freeze.
        for s in services.iter().filter(|s| !spec::is_job(&s.spec)) {
            let task = tasks::running(&tasks::list(docker, &s.id).await?).ok_or_else(|| {
                HearthError::driver(format!("{verb} role {}", s.role), "it has no running task")
            })?;
            if task.node_id != node {
                return Err(HearthError::Driver(DriverError::Unsupported {
                    engine: "swarm".into(),
                    what: format!("{verb} role {} on node {}", s.role, task.node_id),
                    reason: "Swarm has no pause; hearth freezes containers on its own node only"
                        .into(),
                }));
            }
            running.push((s.role.clone(), task.container_id));
        }
        // Every role is acted on, even when the engine refuses one (see the lifecycle table).
        let done = futures::future::join_all(running.iter().map(|(role, id)| async move {
            let res = if pause {
                docker.pause_container(id).await
            } else {
                docker.unpause_container(id).await
            };
            // The engine saying no (already paused, not paused) changes nothing: a refusal.
            res.map_err(|e| map_refusal(format!("{verb} role {role}"), e))?;
            let step = if pause { Step::Paused } else { Step::Resumed };
            steps.step(step, Some(role), None);
            Ok::<(), HearthError>(())
        }))
        .await;
        done.into_iter().collect()
    }

    /// Opens again the relays of workspaces that were live when the daemon last stopped, on
    /// the ports their services recorded, so their endpoints stay true.
    async fn restore_relays(&self) -> Result<(), HearthError> {
        let docker = self.engine.client().await?;
        for s in objects::services(docker, &self.instance, None).await? {
            let (Some(port), 1) = (s.relay_port(), s.replicas()) else {
                continue;
            };
            let Ok(slug) = Slug::parse(&s.slug) else {
                continue;
            };
            self.relays.open(&s.slug, &s.role, Some(port)).await?;
            let tier = s
                .spec
                .labels
                .as_ref()
                .and_then(|l| l.get(labels::TIER))
                .and_then(|t| t.parse::<Tier>().ok())
                .unwrap_or(Tier::Solo);
            let template = self.config.template(tier);
            let Some(index) = template
                .role(&s.role)
                .and_then(|r| r.port)
                .and_then(|p| door::slot(&template, &s.role, p))
            else {
                warn!(workspace = %s.slug, role = %s.role, "relay not restored: its template has no such port");
                continue;
            };
            match door::addr(self, docker, &slug, index, Duration::from_secs(5)).await {
                Ok(addr) => {
                    self.relays.point(&s.slug, &s.role, Some(addr));
                    info!(workspace = %s.slug, role = %s.role, port, "relay restored");
                }
                Err(e) => {
                    warn!(workspace = %s.slug, role = %s.role, error = %e, "relay not restored")
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Driver for Swarm {
    fn name(&self) -> DriverName {
        DriverName::Swarm
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
        status::observe(self, r).await
    }

    async fn upgrade(
        &self,
        r: &DeploymentRef,
        profile: &ProvisioningProfile,
        steps: &Steps,
    ) -> Result<DeploymentRef, HearthError> {
        lifecycle::upgrade(self, r, profile, steps).await
    }

    async fn teardown(&self, slug: &Slug, steps: &Steps) -> Result<(), HearthError> {
        // The relays close on every path: a teardown that fails to list leaves no listener.
        let closing = |e: HearthError| {
            self.relays.close(slug.as_str());
            e
        };
        let docker = self.engine.client().await.map_err(closing)?;
        // Which other nodes hold the roles' volumes is known only while the services exist.
        let roles = objects::services(docker, &self.instance, Some(slug))
            .await
            .map_err(closing)?;
        lifecycle::stop_dependents_first(self, slug, &roles, steps).await;
        self.relays.close(slug.as_str());
        let remote = cleanup::remote_volumes(self, docker, slug, &roles).await?;
        objects::remove_all(
            docker,
            &self.instance,
            slug,
            self.config.stop_timeout_secs,
            steps,
        )
        .await?;
        cleanup::submit(self, docker, slug, &remote).await?;
        // What a lost node holds is recorded (steps, log) and left to its job.
        cleanup::settle(self, docker, slug, steps).await?;
        Ok(())
    }

    async fn pause(&self, r: &DeploymentRef, steps: &Steps) -> Result<DeploymentRef, HearthError> {
        self.each_task(r, true, steps).await?;
        Ok(r.clone())
    }

    async fn resume(&self, r: &DeploymentRef, steps: &Steps) -> Result<DeploymentRef, HearthError> {
        self.each_task(r, false, steps).await?;
        Ok(r.clone())
    }

    async fn hibernate(
        &self,
        r: &DeploymentRef,
        steps: &Steps,
    ) -> Result<DeploymentRef, HearthError> {
        lifecycle::hibernate(self, r, steps).await?;
        Ok(r.clone())
    }

    async fn wake(&self, r: &DeploymentRef, steps: &Steps) -> Result<DeploymentRef, HearthError> {
        lifecycle::wake(self, r, steps).await
    }

    async fn owned(&self) -> Result<Vec<Owned>, HearthError> {
        // The first listing is the start's reconciliation: the moment to reopen relays.
        self.restored
            .get_or_try_init(|| self.restore_relays())
            .await?;
        objects::owned(&self.engine, &self.instance).await
    }

    /// The image ID each role would run now, resolved as a provision resolves it; a service
    /// runs the ID it was created with (pinned in its spec), so a member whose IDs differ
    /// from these is stale.
    async fn image_digests(
        &self,
        profile: &ProvisioningProfile,
    ) -> Result<BTreeMap<String, String>, HearthError> {
        super::engine::images::digests(&self.engine, &self.config, profile).await
    }
}
