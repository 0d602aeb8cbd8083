//! The Swarm section: one solo workspace provisioned to HTTP-ready and torn down by hearth
//! (`hearth serve --driver swarm`, over its RPC) against the Swarm floor — the same objects
//! built straight through the API: an attachable overlay network and the volumes together,
//! then both services (one replica, init, limits, pinned to this node) in parallel, each
//! waited for until its task runs and its container answers HTTP on the node's
//! `docker_gwbridge`; torn down by removing the services, stopping and removing their task
//! containers, then the network (once the swarm lets go of it) and the volumes.
//! Runs only when the engine is a swarm manager.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{bail, Context};
use bollard::models::{
    Limit, LocalNodeState, Mount, MountType, NetworkAttachmentConfig, NetworkCreateRequest,
    ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated, TaskSpec, TaskSpecContainerSpec,
    TaskSpecPlacement, TaskSpecResources, TaskState, VolumeCreateRequest,
};
use bollard::query_parameters::{
    ListContainersOptions, ListNetworksOptions, ListServicesOptions, ListTasksOptions,
    RemoveContainerOptions, RemoveVolumeOptions, StopContainerOptions,
};
use bollard::Docker;
use futures::future::{join_all, try_join_all};
use tokio::time::{sleep, Instant};

use crate::engine::Scope;
use crate::hearth::{Daemon, Launch};
use crate::ready::Prober;
use crate::section::Markers;
use crate::spec::{self, Names, ROLES, SERVICE_PORT};
use crate::stats::{median, ms, ratio, times};

/// The floor's objects are named under this prefix.
const PREFIX: &str = "hbs";

/// Medians of the two paths.
#[derive(Debug, Clone, Default)]
pub(crate) struct SwarmFigures {
    pub hearth_provision: Vec<Duration>,
    pub hearth_teardown: Vec<Duration>,
    pub floor_provision: Vec<Duration>,
    pub floor_teardown: Vec<Duration>,
    pub hearth_failures: usize,
}

/// The swarm node ID of the engine, if it is a manager.
///
/// # Errors
/// When the engine does not answer.
pub(crate) async fn manager_node(docker: &Docker) -> anyhow::Result<Option<String>> {
    let swarm = docker.info().await.context("docker info")?.swarm;
    let swarm = swarm.unwrap_or_default();
    let manager = swarm.local_node_state == Some(LocalNodeState::ACTIVE)
        && swarm.control_available == Some(true);
    Ok(manager.then_some(swarm.node_id).flatten())
}

/// The Swarm floor.
#[derive(Debug, Clone)]
pub(crate) struct SwarmFloor {
    pub docker: Docker,
    pub prober: Prober,
    pub image: String,
    pub labels: HashMap<String, String>,
    pub node: String,
    pub ready_deadline: Duration,
}

impl SwarmFloor {
    fn label_filter(&self, names: &Names) -> HashMap<String, Vec<String>> {
        HashMap::from([(
            "label".to_owned(),
            vec![
                format!("{}={}", spec::RUN_LABEL, self.labels[spec::RUN_LABEL]),
                format!("{}={}", spec::HEARTH_WORKSPACE_LABEL, names.slug),
            ],
        )])
    }

    fn service_spec(&self, names: &Names, role: &str, network: &str) -> ServiceSpec {
        let mut labels = self.labels.clone();
        labels.insert(spec::HEARTH_WORKSPACE_LABEL.into(), names.slug.clone());
        ServiceSpec {
            name: Some(names.container(role)),
            labels: Some(labels.clone()),
            task_template: Some(TaskSpec {
                container_spec: Some(TaskSpecContainerSpec {
                    image: Some(self.image.clone()),
                    env: Some(vec![format!("HEARTH_ROLE={role}")]),
                    labels: Some(labels),
                    init: Some(true),
                    mounts: Some(vec![Mount {
                        target: Some("/data".into()),
                        source: Some(names.volume(role)),
                        typ: Some(MountType::VOLUME),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
                resources: Some(TaskSpecResources {
                    limits: Some(Limit {
                        nano_cpus: Some(spec::NANO_CPUS),
                        memory_bytes: Some(spec::MEMORY_BYTES),
                        pids: Some(spec::PIDS_LIMIT),
                    }),
                    ..Default::default()
                }),
                placement: Some(TaskSpecPlacement {
                    constraints: Some(vec![format!("node.id=={}", self.node)]),
                    ..Default::default()
                }),
                networks: Some(vec![NetworkAttachmentConfig {
                    target: Some(network.to_owned()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            mode: Some(ServiceSpecMode {
                replicated: Some(ServiceSpecModeReplicated { replicas: Some(1) }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// Network and volumes together, then both services in parallel until each answers.
    ///
    /// # Errors
    /// On any engine failure, or a task that does not run and answer in time.
    pub(crate) async fn provision(&self, names: &Names) -> anyhow::Result<()> {
        let mut labels = self.labels.clone();
        labels.insert(spec::HEARTH_WORKSPACE_LABEL.into(), names.slug.clone());
        let net = self.docker.create_network(NetworkCreateRequest {
            name: names.network(),
            driver: Some("overlay".into()),
            attachable: Some(true),
            labels: Some(labels.clone()),
            ..Default::default()
        });
        let vols = try_join_all(ROLES.iter().map(|role| {
            self.docker.create_volume(VolumeCreateRequest {
                name: Some(names.volume(role)),
                labels: Some(labels.clone()),
                ..Default::default()
            })
        }));
        let (net, _) = tokio::try_join!(net, vols).context("create network and volumes")?;
        try_join_all(ROLES.iter().map(|role| self.start(names, role, &net.id))).await?;
        Ok(())
    }

    async fn start(&self, names: &Names, role: &str, network: &str) -> anyhow::Result<()> {
        let created = self
            .docker
            .create_service(self.service_spec(names, role, network), None)
            .await
            .with_context(|| format!("create service of role {role}"))?;
        let service = created.id.context("service id")?;
        let began = Instant::now();
        let container = loop {
            let tasks = self
                .docker
                .list_tasks(Some(ListTasksOptions {
                    filters: Some(HashMap::from([(
                        "service".to_owned(),
                        vec![service.clone()],
                    )])),
                }))
                .await?;
            let running = tasks.into_iter().find_map(|t| {
                let s = t.status?;
                (s.state == Some(TaskState::RUNNING))
                    .then_some(s.container_status?.container_id)
                    .flatten()
            });
            if let Some(c) = running {
                break c;
            }
            if began.elapsed() > self.ready_deadline {
                bail!("the task of role {role} did not run in time");
            }
            sleep(Duration::from_millis(10)).await;
        };
        let ip = loop {
            let net = self.docker.inspect_network("docker_gwbridge", None).await?;
            let ip = net
                .containers
                .unwrap_or_default()
                .get(&container)
                .and_then(|e| e.ipv4_address.clone());
            if let Some(ip) = ip {
                break ip.split('/').next().unwrap_or_default().to_owned();
            }
            if began.elapsed() > self.ready_deadline {
                bail!("the container of role {role} is not on docker_gwbridge");
            }
            sleep(Duration::from_millis(10)).await;
        };
        let url = format!("http://{ip}:{SERVICE_PORT}/");
        self.prober.wait(&url, self.ready_deadline).await
    }

    /// Services removed, task containers stopped and removed, then network and volumes.
    ///
    /// # Errors
    /// On an engine failure, or a network or volume the swarm does not let go of in time.
    pub(crate) async fn teardown(&self, names: &Names) -> anyhow::Result<()> {
        let filters = self.label_filter(names);
        let services = self
            .docker
            .list_services(Some(ListServicesOptions {
                filters: Some(filters.clone()),
                ..Default::default()
            }))
            .await?;
        join_all(
            services
                .iter()
                .filter_map(|s| s.id.as_deref())
                .map(|id| self.docker.delete_service(id)),
        )
        .await;
        let containers = self
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters.clone()),
                ..Default::default()
            }))
            .await?;
        join_all(
            containers
                .iter()
                .filter_map(|c| c.id.as_deref())
                .map(|id| async move {
                    let stop = StopContainerOptions {
                        t: Some(spec::STOP_TIMEOUT_S),
                        signal: None,
                    };
                    let _ = self.docker.stop_container(id, Some(stop)).await;
                    let rm = RemoveContainerOptions {
                        force: true,
                        v: true,
                        ..Default::default()
                    };
                    let _ = self.docker.remove_container(id, Some(rm)).await;
                }),
        )
        .await;
        let began = Instant::now();
        loop {
            let _ = self.docker.remove_network(&names.network()).await;
            let left = self
                .docker
                .list_networks(Some(ListNetworksOptions {
                    filters: Some(filters.clone()),
                }))
                .await?;
            if left.is_empty() {
                break;
            }
            if began.elapsed() > Duration::from_secs(30) {
                bail!("network {} was not released", names.network());
            }
            sleep(Duration::from_millis(20)).await;
        }
        try_join_all(ROLES.iter().map(|role| async move {
            let volume = names.volume(role);
            self.docker
                .remove_volume(&volume, Some(RemoveVolumeOptions { force: true }))
                .await
        }))
        .await?;
        Ok(())
    }
}

/// Measures hearth on Swarm against the Swarm floor: a warm-up of each, then `runs` rounds,
/// alternating which goes first. `None` when the engine is not a swarm manager.
///
/// # Errors
/// When the engine does not answer, or the floor fails (its ratio would mean nothing).
pub(crate) async fn measure(
    docker: &Docker,
    launch: &Launch,
    scope: &Scope,
    image: &str,
    runs: usize,
) -> anyhow::Result<Option<SwarmFigures>> {
    let Some(node) = manager_node(docker).await? else {
        tracing::warn!("the engine is not a swarm manager: the Swarm section is skipped");
        return Ok(None);
    };
    let floor = SwarmFloor {
        docker: docker.clone(),
        prober: Prober::new(),
        image: image.to_owned(),
        labels: spec::labels(&scope.run_id, "swarm-floor"),
        node,
        ready_deadline: Duration::from_secs(30),
    };
    let launch = Launch {
        driver: "swarm",
        ..launch.clone()
    };
    let (daemon, _) = launch.start().await?;
    let f = alternate(&daemon, &floor, PREFIX, scope, 9000, runs).await;
    daemon.stop(Duration::from_secs(10)).await?;
    Ok(Some(f?))
}

/// A floor a Swarm-shaped section measures hearth against: the same workspace built and torn
/// down straight through the API.
pub(crate) trait Floor {
    /// Builds the workspace named by `names` until every role answers.
    async fn provision(&self, names: &Names) -> anyhow::Result<()>;
    /// Removes everything of the workspace named by `names`.
    async fn teardown(&self, names: &Names) -> anyhow::Result<()>;
}

impl Floor for SwarmFloor {
    async fn provision(&self, names: &Names) -> anyhow::Result<()> {
        SwarmFloor::provision(self, names).await
    }
    async fn teardown(&self, names: &Names) -> anyhow::Result<()> {
        SwarmFloor::teardown(self, names).await
    }
}

/// hearth (`daemon`) against `floor` (its objects named under `prefix`): a warm-up of each,
/// then `runs` rounds, alternating which goes first; slugs numbered from `base`.
///
/// # Errors
/// When the floor fails (its ratio would mean nothing); hearth's failures are counted.
pub(crate) async fn alternate(
    daemon: &Daemon,
    floor: &impl Floor,
    prefix: &'static str,
    scope: &Scope,
    base: usize,
    runs: usize,
) -> anyhow::Result<SwarmFigures> {
    let mut f = SwarmFigures::default();
    for round in 0..=runs {
        let warm_up = round == 0;
        for hearth_first in [round % 2 == 0, round % 2 != 0] {
            let slug = spec::slug(&scope.run_id, base + round * 2 + usize::from(hearth_first));
            if hearth_first {
                let t = Instant::now();
                let ok = daemon.provision(&slug).await;
                let p = t.elapsed();
                let t = Instant::now();
                let down = daemon.teardown(&slug).await;
                let d = t.elapsed();
                match (ok, down) {
                    (Ok(()), Ok(())) if !warm_up => {
                        f.hearth_provision.push(p);
                        f.hearth_teardown.push(d);
                    }
                    (Ok(()), Ok(())) => {}
                    (a, b) => {
                        tracing::warn!(provision = ?a.err(), teardown = ?b.err(), "hearth failed a round");
                        f.hearth_failures += 1;
                    }
                }
            } else {
                let names = Names::new(prefix, &slug);
                let t = Instant::now();
                let ok = floor.provision(&names).await;
                let p = t.elapsed();
                let t = Instant::now();
                let down = floor.teardown(&names).await;
                let d = t.elapsed();
                ok.context("the floor's provision failed")?;
                down.context("the floor's teardown failed")?;
                if !warm_up {
                    f.floor_provision.push(p);
                    f.floor_teardown.push(d);
                }
            }
        }
    }
    Ok(f)
}

/// The report's Swarm section.
pub(crate) fn render(f: Option<&SwarmFigures>) -> String {
    format!("{}\n{}{}\n", MARKERS.begin, body(f), MARKERS.end)
}

fn body(f: Option<&SwarmFigures>) -> String {
    let mut md = String::from("## Swarm: provision → ready and teardown, one solo workspace\n\n");
    let Some(f) = f else {
        md.push_str("Not measured: the engine was not a swarm manager (`docker swarm init --advertise-addr 127.0.0.1`).\n");
        return md;
    };
    md.push_str(
        "hearth is `hearth serve --driver swarm` over its RPC; every role's endpoint is its loopback relay. \
         The **Swarm floor** builds the same objects through the API (overlay network and volumes together, both \
         services in parallel, each waited for until its task runs and answers HTTP at its `docker_gwbridge` address) \
         and tears them down the same way (services removed, task containers stopped and removed, network once the \
         swarm releases it, volumes). Medians, same run, alternating.\n\n",
    );
    md.push_str(&table(f, "hearth (RPC, swarm)", "Swarm floor (API)"));
    md.push_str("\nTarget: hearth ≤ 1.2× the Swarm floor.\n");
    md
}

/// The ratio table of `f`: hearth's row (`hearth`) and the floor's (`floor`).
pub(crate) fn table(f: &SwarmFigures, hearth: &str, floor: &str) -> String {
    let mut md = String::new();
    md.push_str("| path | provision | × floor | teardown | × floor | both | × floor | failures |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
    let (hp, ht, fp, ft) = (
        median(&f.hearth_provision),
        median(&f.hearth_teardown),
        median(&f.floor_provision),
        median(&f.floor_teardown),
    );
    let both = |a: Option<Duration>, b: Option<Duration>| a.zip(b).map(|(a, b)| a + b);
    md.push_str(&format!(
        "| {hearth} | {} | {} | {} | {} | {} | {} | {} |\n",
        ms(hp),
        times(ratio(hp, fp)),
        ms(ht),
        times(ratio(ht, ft)),
        ms(both(hp, ht)),
        times(ratio(both(hp, ht), both(fp, ft))),
        f.hearth_failures
    ));
    md.push_str(&format!(
        "| {floor} | {} | 1.00× | {} | 1.00× | {} | 1.00× | 0 |\n",
        ms(fp),
        ms(ft),
        ms(both(fp, ft))
    ));
    md
}

/// Where the section starts and ends in `BENCH.md`.
pub(crate) const MARKERS: Markers = Markers {
    begin: "<!-- swarm-section: begin -->",
    end: "<!-- swarm-section: end -->",
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::section::splice;

    #[test]
    fn the_swarm_section_is_replaced_in_place() {
        let old = render(None);
        let doc = format!("# t\n\n## A\na\n\n{old}\n## B\nb\n");
        let new = old.replace("Not measured", "Still not measured");
        let s = splice(&doc, MARKERS, &new);
        assert_eq!(s, format!("# t\n\n## A\na\n\n{new}\n## B\nb\n"));
    }
}
