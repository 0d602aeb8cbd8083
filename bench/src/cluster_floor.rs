//! The cluster floor: the default workspace spread over a multi-node swarm built straight
//! through the manager's API, doing the service and volume work hearth does there and nothing
//! else. Provision: an attachable overlay network; the door (one replica pinned to the
//! manager, forwarding a port per role to the role's service name); both role services in
//! parallel (`cairnet` on the manager, `lore` on the labelled worker; each volume made by the
//! engine of the node its task lands on), each waited for until its task runs, pinned to that
//! node, and answering HTTP through the door at the door's `docker_gwbridge` address.
//! Teardown: every service removed, the manager's volume removed once its task container is
//! gone, the worker's volume by a one-off job pinned to the worker (the manager's API cannot
//! remove it), the network once the swarm lets go of it.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{bail, Context};
use bollard::models::{
    EndpointSpec, EndpointSpecModeEnum, Mount, MountType, NetworkAttachmentConfig,
    NetworkCreateRequest, ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated,
    ServiceSpecModeReplicatedJob, TaskSpec, TaskSpecContainerSpec, TaskSpecPlacement,
    TaskSpecRestartPolicy, TaskSpecRestartPolicyConditionEnum, TaskState,
};
use bollard::query_parameters::{
    InspectServiceOptions, ListServicesOptions, ListTasksOptions, RemoveVolumeOptions,
    UpdateServiceOptions,
};
use bollard::Docker;
use futures::future::try_join_all;
use tokio::time::{sleep, Instant};

use crate::ready::Prober;
use crate::spec::{self, Names};

/// The door's first port; role `i` is forwarded from `DOOR_BASE + i` (as hearth's door).
const DOOR_BASE: u16 = 20_000;
/// How long one object may take to settle (a task to run, a network to be released).
const SETTLE: Duration = Duration::from_secs(60);
/// Polling interval of every wait.
const POLL: Duration = Duration::from_millis(20);

/// One role of the spread workspace: its name, the port it listens on, where it goes.
#[derive(Debug, Clone)]
pub(crate) struct SpreadRole {
    pub name: &'static str,
    pub port: u16,
    pub constraint: String,
}

/// The floor on one cluster.
#[derive(Debug, Clone)]
pub(crate) struct ClusterFloor {
    /// The manager's engine.
    pub docker: Docker,
    pub prober: Prober,
    pub image: String,
    pub labels: HashMap<String, String>,
    /// The manager's node ID (the door's node).
    pub manager: String,
    pub roles: Vec<SpreadRole>,
}

impl ClusterFloor {
    fn object_labels(&self, names: &Names) -> HashMap<String, String> {
        let mut labels = self.labels.clone();
        labels.insert(spec::HEARTH_WORKSPACE_LABEL.into(), names.slug.clone());
        labels
    }

    fn door_name(names: &Names) -> String {
        format!("{}__door", names.network())
    }

    /// One replica (or one completion, for a job) of `container` on the overlay `network`
    /// (none for a job) under `constraints`.
    fn service(
        &self,
        name: String,
        container: TaskSpecContainerSpec,
        constraints: Vec<String>,
        network: Option<&str>,
        job: bool,
    ) -> ServiceSpec {
        let mode = if job {
            ServiceSpecMode {
                replicated_job: Some(ServiceSpecModeReplicatedJob {
                    max_concurrent: Some(1),
                    total_completions: Some(1),
                }),
                ..Default::default()
            }
        } else {
            ServiceSpecMode {
                replicated: Some(ServiceSpecModeReplicated { replicas: Some(1) }),
                ..Default::default()
            }
        };
        ServiceSpec {
            name: Some(name),
            labels: Some(self.labels.clone()),
            task_template: Some(TaskSpec {
                container_spec: Some(container),
                placement: Some(TaskSpecPlacement {
                    constraints: Some(constraints),
                    ..Default::default()
                }),
                networks: network.map(|n| {
                    vec![NetworkAttachmentConfig {
                        target: Some(n.to_owned()),
                        ..Default::default()
                    }]
                }),
                restart_policy: job.then_some(TaskSpecRestartPolicy {
                    condition: Some(TaskSpecRestartPolicyConditionEnum::ON_FAILURE),
                    delay: Some(1_000_000_000),
                    max_attempts: Some(30),
                    window: None,
                }),
                ..Default::default()
            }),
            mode: Some(mode),
            endpoint_spec: (!job).then(|| EndpointSpec {
                mode: Some(EndpointSpecModeEnum::DNSRR),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn role_service(&self, names: &Names, role: &SpreadRole, network: &str) -> ServiceSpec {
        let labels = self.object_labels(names);
        let container = TaskSpecContainerSpec {
            image: Some(self.image.clone()),
            env: Some(vec![
                format!("HEARTH_ROLE={}", role.name),
                format!("PORT={}", role.port),
            ]),
            labels: Some(labels.clone()),
            init: Some(true),
            mounts: Some(vec![Mount {
                target: Some("/data".into()),
                source: Some(names.volume(role.name)),
                typ: Some(MountType::VOLUME),
                ..Default::default()
            }]),
            ..Default::default()
        };
        let mut s = self.service(
            names.container(role.name),
            container,
            vec![role.constraint.clone()],
            Some(network),
            false,
        );
        s.labels = Some(labels);
        s
    }

    fn door_service(&self, names: &Names, network: &str) -> ServiceSpec {
        let mut args = vec!["forward".to_owned()];
        args.extend(
            self.roles
                .iter()
                .zip(DOOR_BASE..)
                .map(|(role, port)| format!("{port}={}:{}", names.container(role.name), role.port)),
        );
        let labels = self.object_labels(names);
        let container = TaskSpecContainerSpec {
            image: Some(self.image.clone()),
            args: Some(args),
            labels: Some(labels.clone()),
            init: Some(true),
            ..Default::default()
        };
        let pin = vec![format!("node.id=={}", self.manager)];
        let mut s = self.service(Self::door_name(names), container, pin, Some(network), false);
        s.labels = Some(labels);
        s
    }

    /// Network, door, then both roles in parallel until each answers through the door.
    ///
    /// # Errors
    /// On any engine failure, or a task that does not run and answer in time.
    pub(crate) async fn provision(&self, names: &Names) -> anyhow::Result<()> {
        let net = self
            .docker
            .create_network(NetworkCreateRequest {
                name: names.network(),
                driver: Some("overlay".into()),
                attachable: Some(true),
                labels: Some(self.object_labels(names)),
                ..Default::default()
            })
            .await
            .context("create the overlay network")?;
        let door = self
            .docker
            .create_service(self.door_service(names, &net.id), None)
            .await
            .context("create the door")?
            .id
            .context("door id")?;
        try_join_all(
            self.roles
                .iter()
                .zip(DOOR_BASE..)
                .map(|(role, port)| self.start(names, role, &net.id, &door, port)),
        )
        .await?;
        Ok(())
    }

    /// One role: service, running task, pinned to its node, HTTP through the door.
    async fn start(
        &self,
        names: &Names,
        role: &SpreadRole,
        network: &str,
        door: &str,
        door_port: u16,
    ) -> anyhow::Result<()> {
        let id = self
            .docker
            .create_service(self.role_service(names, role, network), None)
            .await
            .with_context(|| format!("create the service of role {}", role.name))?
            .id
            .context("service id")?;
        let (_, node) = self.running_task(&id, role.name).await?;
        self.pin(&id, &role.constraint, &node).await?;
        let (door_container, _) = self.running_task(door, "door").await?;
        let ip = self.gwbridge_ip(&door_container).await?;
        let url = format!("http://{ip}:{door_port}/");
        self.prober.wait(&url, SETTLE).await
    }

    /// The container and node of `service`'s running task, once it runs.
    async fn running_task(&self, service: &str, what: &str) -> anyhow::Result<(String, String)> {
        let began = Instant::now();
        loop {
            let running = self.tasks(service).await?.into_iter().find_map(|t| {
                let s = t.status?;
                let container = (s.state == Some(TaskState::RUNNING))
                    .then_some(s.container_status?.container_id)
                    .flatten()?;
                Some((container, t.node_id?))
            });
            if let Some(found) = running {
                return Ok(found);
            }
            if began.elapsed() > SETTLE {
                bail!("the task of {what} did not run within {SETTLE:?}");
            }
            sleep(POLL).await;
        }
    }

    /// Adds `node.id==node` to the service's constraints (its running task stays).
    async fn pin(&self, id: &str, constraint: &str, node: &str) -> anyhow::Result<()> {
        let current = self
            .docker
            .inspect_service(id, None::<InspectServiceOptions>)
            .await?;
        let version = current
            .version
            .and_then(|v| v.index)
            .context("service version")?;
        let mut spec = current.spec.context("service spec")?;
        if let Some(t) = spec.task_template.as_mut() {
            t.placement = Some(TaskSpecPlacement {
                constraints: Some(vec![constraint.to_owned(), format!("node.id=={node}")]),
                ..Default::default()
            });
        }
        let options = UpdateServiceOptions {
            version: i32::try_from(version).context("service version")?,
            ..Default::default()
        };
        self.docker
            .update_service(id, spec, options, None)
            .await
            .context("pin the service to its node")?;
        Ok(())
    }

    /// `container`'s address on the manager's `docker_gwbridge`.
    async fn gwbridge_ip(&self, container: &str) -> anyhow::Result<String> {
        let began = Instant::now();
        loop {
            let net = self.docker.inspect_network("docker_gwbridge", None).await?;
            let ip = net
                .containers
                .unwrap_or_default()
                .get(container)
                .and_then(|e| e.ipv4_address.clone());
            if let Some(ip) = ip {
                return Ok(ip.split('/').next().unwrap_or_default().to_owned());
            }
            if began.elapsed() > SETTLE {
                bail!("the door's container is not on docker_gwbridge");
            }
            sleep(POLL).await;
        }
    }

    /// Services removed; the manager's volumes once free, the others' by a job on their
    /// node; the network once released.
    ///
    /// # Errors
    /// On an engine failure, or something the swarm does not let go of in time.
    pub(crate) async fn teardown(&self, names: &Names) -> anyhow::Result<()> {
        // Which node holds each role's volume is known only while its service exists.
        let mut remote: HashMap<String, Vec<String>> = HashMap::new();
        let mut here = Vec::new();
        for role in &self.roles {
            match self.node_of(&names.container(role.name)).await? {
                Some(node) if node != self.manager => {
                    remote
                        .entry(node)
                        .or_default()
                        .push(names.volume(role.name));
                }
                _ => here.push(names.volume(role.name)),
            }
        }
        for s in self.services(names).await? {
            self.docker.delete_service(&s).await?;
        }
        let jobs = try_join_all(
            remote
                .iter()
                .map(|(node, volumes)| self.remove_volumes_on(names, node, volumes)),
        );
        let local = try_join_all(here.iter().map(|v| self.remove_volume(v)));
        tokio::try_join!(jobs, local, self.remove_network(names))?;
        Ok(())
    }

    /// The node `service`'s tasks ran on.
    async fn node_of(&self, service: &str) -> anyhow::Result<Option<String>> {
        Ok(self
            .tasks(service)
            .await?
            .into_iter()
            .find_map(|t| t.node_id))
    }

    /// The tasks of `service`.
    async fn tasks(&self, service: &str) -> anyhow::Result<Vec<bollard::models::Task>> {
        let filters = HashMap::from([("service".to_owned(), vec![service.to_owned()])]);
        let options = ListTasksOptions {
            filters: Some(filters),
        };
        Ok(self.docker.list_tasks(Some(options)).await?)
    }

    /// The ids of the services of `names`' workspace.
    async fn services(&self, names: &Names) -> anyhow::Result<Vec<String>> {
        let filters = HashMap::from([(
            "label".to_owned(),
            vec![
                format!("{}={}", spec::RUN_LABEL, self.labels[spec::RUN_LABEL]),
                format!("{}={}", spec::HEARTH_WORKSPACE_LABEL, names.slug),
            ],
        )]);
        let list = self
            .docker
            .list_services(Some(ListServicesOptions {
                filters: Some(filters),
                ..Default::default()
            }))
            .await?;
        Ok(list.into_iter().filter_map(|s| s.id).collect())
    }

    /// Removes `volume` on the manager once no container holds it.
    async fn remove_volume(&self, volume: &str) -> anyhow::Result<()> {
        let began = Instant::now();
        loop {
            let options = Some(RemoveVolumeOptions { force: false });
            match self.docker.remove_volume(volume, options).await {
                Ok(()) => return Ok(()),
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => return Ok(()),
                Err(_) if began.elapsed() < SETTLE => sleep(POLL).await,
                Err(e) => return Err(e).with_context(|| format!("remove volume {volume}")),
            }
        }
    }

    /// A one-off job on `node` removing `volumes` through that node's engine socket; waits
    /// for it to complete, then removes it.
    async fn remove_volumes_on(
        &self,
        names: &Names,
        node: &str,
        volumes: &[String],
    ) -> anyhow::Result<()> {
        let mut args = vec!["remove-volumes".to_owned()];
        args.extend(volumes.iter().cloned());
        // The node's engine socket: its label, else the usual path (as hearth reads it).
        let socket = self
            .docker
            .inspect_node(node)
            .await?
            .spec
            .and_then(|s| s.labels)
            .and_then(|l| l.get(hearth_protocol::labels::ENGINE_SOCKET).cloned())
            .unwrap_or_else(|| "/var/run/docker.sock".to_owned());
        let container = TaskSpecContainerSpec {
            image: Some(self.image.clone()),
            args: Some(args),
            mounts: Some(vec![Mount {
                target: Some("/var/run/docker.sock".into()),
                source: Some(socket),
                typ: Some(MountType::BIND),
                ..Default::default()
            }]),
            ..Default::default()
        };
        let name = format!(
            "{}__cleanup-{}",
            names.network(),
            &node[..node.len().min(12)]
        );
        let pin = vec![format!("node.id=={node}")];
        let mut job = self.service(name, container, pin, None, true);
        job.labels = Some(self.object_labels(names));
        let id = self
            .docker
            .create_service(job, None)
            .await
            .context("create the cleanup job")?
            .id
            .context("job id")?;
        let began = Instant::now();
        loop {
            let tasks = self.tasks(&id).await?;
            let done = tasks
                .iter()
                .any(|t| t.status.as_ref().and_then(|s| s.state) == Some(TaskState::COMPLETE));
            if done {
                self.docker.delete_service(&id).await?;
                return Ok(());
            }
            if began.elapsed() > SETTLE {
                bail!("the cleanup job on node {node} did not complete within {SETTLE:?}");
            }
            sleep(POLL).await;
        }
    }

    /// Removes the overlay network once the swarm releases it.
    async fn remove_network(&self, names: &Names) -> anyhow::Result<()> {
        let began = Instant::now();
        loop {
            match self.docker.remove_network(&names.network()).await {
                Ok(()) => return Ok(()),
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => return Ok(()),
                Err(_) if began.elapsed() < SETTLE => sleep(POLL).await,
                Err(e) => return Err(e).context("remove the overlay network"),
            }
        }
    }
}

impl crate::swarm::Floor for ClusterFloor {
    async fn provision(&self, names: &Names) -> anyhow::Result<()> {
        ClusterFloor::provision(self, names).await
    }
    async fn teardown(&self, names: &Names) -> anyhow::Result<()> {
        ClusterFloor::teardown(self, names).await
    }
}
