//! The engine floor: the solo workspace built straight through the Docker API with nothing
//! else — network and volumes created together, both services created, started, inspected
//! and probed in parallel; torn down with a graceful stop, then removals in parallel. No
//! daemon, no state, no events: the time anything built on this engine cannot beat.
//!
//! It asks the engine for nothing hearth does not: no network aliases (each one is an
//! embedded-DNS registration on start), and readiness probes that back off as hearth's do
//! (a fixed 5 ms poll opens ~200 connections a second per service through the engine's port
//! proxy, CPU the engine then lacks for starting the containers on a 2-core machine).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, Ipam, IpamConfig, NetworkCreateRequest,
    NetworkingConfig, PortBinding, ResourcesUlimits, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptions, RemoveContainerOptions, RemoveVolumeOptions, StopContainerOptions,
};
use bollard::Docker;
use futures::future::{join_all, try_join_all};

use crate::ready::{self, Prober};
use crate::spec::{self, Names, ROLES, SERVICE_PORT};

/// Everything one floor workspace needs to be built.
#[derive(Debug, Clone)]
pub(crate) struct Floor {
    /// The engine.
    pub docker: Docker,
    /// The readiness probe shared with the CLI path.
    pub prober: Prober,
    /// The image of both services.
    pub image: String,
    /// The labels put on every object.
    pub labels: HashMap<String, String>,
    /// How long a service may take to answer HTTP.
    pub ready_deadline: Duration,
    /// Next index into the fallback subnet range, shared by every clone.
    pub next_subnet: Arc<AtomicUsize>,
    /// Per-process limits set on each service (on Podman, what hearth sets there).
    pub ulimits: Option<Vec<ResourcesUlimits>>,
}

/// Subnets tried per network before giving up.
const FALLBACK_TRIES: usize = 64;
/// /28 subnets in the fallback range `10.214.0.0/16`.
const FALLBACK_SUBNETS: usize = 4096;

/// The `n`th /28 of `10.214.0.0/16` (hearth's own pool is `10.213.0.0/16`).
fn fallback_subnet(n: usize) -> String {
    let offset = n * 16;
    format!("10.214.{}.{}/28", offset / 256, offset % 256)
}

impl Floor {
    /// Creates network and volumes, then both services in parallel, until each answers HTTP.
    ///
    /// # Errors
    /// On any engine failure or a service that does not answer in time; what was created is
    /// left for [`Floor::teardown`] or the run's sweep.
    pub(crate) async fn provision(&self, names: &Names) -> anyhow::Result<()> {
        self.provision_endpoints(names).await.map(drop)
    }

    /// [`Floor::provision`], answering each service's URL in [`ROLES`] order (the first is
    /// the workspace's front door, as hearth's `endpoint` is).
    ///
    /// # Errors
    /// As [`Floor::provision`].
    pub(crate) async fn provision_endpoints(&self, names: &Names) -> anyhow::Result<Vec<String>> {
        let network = NetworkCreateRequest {
            name: names.network(),
            driver: Some("bridge".to_owned()),
            labels: Some(self.labels.clone()),
            ..Default::default()
        };
        let net = async {
            self.create_network(network)
                .await
                .with_context(|| format!("create network {}", names.network()))
        };
        let vols = try_join_all(ROLES.iter().map(|role| async move {
            self.docker
                .create_volume(VolumeCreateRequest {
                    name: Some(names.volume(role)),
                    labels: Some(self.labels.clone()),
                    ..Default::default()
                })
                .await
                .with_context(|| format!("create volume for role '{role}'"))
        }));
        tokio::try_join!(net, vols)?;
        try_join_all(ROLES.iter().map(|role| self.start_service(names, role))).await
    }

    /// Creates the network in the engine's default pools; when those are exhausted (about 30
    /// bridge networks on a default engine), in a /28 of the bench's own range, as hearth
    /// does with its own pool — the least any tool must do to run more workspaces at once.
    pub(crate) async fn create_network(&self, network: NetworkCreateRequest) -> anyhow::Result<()> {
        match self.docker.create_network(network.clone()).await {
            Ok(_) => return Ok(()),
            Err(e) if !e.to_string().contains("non-overlapping IPv4 address pool") => {
                return Err(e.into())
            }
            Err(_) => {}
        }
        for _ in 0..FALLBACK_TRIES {
            let n = self.next_subnet.fetch_add(1, Ordering::Relaxed) % FALLBACK_SUBNETS;
            let subnet = fallback_subnet(n);
            let mut attempt = network.clone();
            attempt.ipam = Some(Ipam {
                config: Some(vec![IpamConfig {
                    subnet: Some(subnet),
                    ..Default::default()
                }]),
                ..Default::default()
            });
            match self.docker.create_network(attempt).await {
                Ok(_) => return Ok(()),
                Err(e) if e.to_string().contains("overlaps") => continue,
                Err(e) => return Err(e.into()),
            }
        }
        anyhow::bail!("no free subnet in the fallback range after {FALLBACK_TRIES} tries")
    }

    async fn start_service(&self, names: &Names, role: &str) -> anyhow::Result<String> {
        let run = Run {
            role,
            name: names.container(role),
            volume: names.volume(role),
            network: names.network(),
            env: vec![format!("HEARTH_ROLE={role}")],
            port: Some(SERVICE_PORT),
            alias: false,
        };
        self.run(&run).await?;
        self.ready_url(&run, SERVICE_PORT).await
    }

    /// Creates and starts one container.
    ///
    /// # Errors
    /// On an engine failure, naming the role.
    pub(crate) async fn run(&self, c: &Run<'_>) -> anyhow::Result<()> {
        let role = c.role;
        let port_key = c.port.map(|p| format!("{p}/tcp"));
        let host_config = HostConfig {
            init: Some(true),
            ulimits: self.ulimits.clone(),
            memory: Some(spec::MEMORY_BYTES),
            pids_limit: Some(spec::PIDS_LIMIT),
            nano_cpus: Some(spec::NANO_CPUS),
            binds: Some(vec![format!("{}:/data", c.volume)]),
            network_mode: Some(c.network.clone()),
            port_bindings: port_key.clone().map(|key| {
                HashMap::from([(
                    key,
                    Some(vec![PortBinding {
                        host_ip: Some("127.0.0.1".to_owned()),
                        host_port: Some(String::new()),
                    }]),
                )])
            }),
            ..Default::default()
        };
        // The role's name as its host on the network, as a template's roles have.
        let networking_config = c.alias.then(|| NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                c.network.clone(),
                EndpointSettings {
                    aliases: Some(vec![role.to_owned()]),
                    ..Default::default()
                },
            )])),
        });
        let body = ContainerCreateBody {
            image: Some(self.image.clone()),
            env: Some(c.env.clone()),
            labels: Some(self.labels.clone()),
            exposed_ports: port_key.map(|k| vec![k]),
            host_config: Some(host_config),
            networking_config,
            ..Default::default()
        };
        let options = CreateContainerOptions {
            name: Some(c.name.clone()),
            ..Default::default()
        };
        self.docker
            .create_container(Some(options), body)
            .await
            .with_context(|| format!("create container for role '{role}'"))?;
        self.docker
            .start_container(&c.name, None)
            .await
            .with_context(|| format!("start container for role '{role}'"))
    }

    /// Waits until `c`'s `port`, as published on loopback, answers HTTP; its URL.
    ///
    /// # Errors
    /// When it has no published port or does not answer in time.
    pub(crate) async fn ready_url(&self, c: &Run<'_>, port: u16) -> anyhow::Result<String> {
        let role = c.role;
        let port_key = format!("{port}/tcp");
        let inspect = self
            .docker
            .inspect_container(&c.name, None)
            .await
            .with_context(|| format!("inspect container for role '{role}'"))?;
        let port = inspect
            .network_settings
            .and_then(|n| n.ports)
            .and_then(|p| p.get(&port_key).cloned().flatten())
            .and_then(|b| b.into_iter().find_map(|b| b.host_port?.parse::<u16>().ok()))
            .with_context(|| format!("role '{role}' has no published port"))?;
        let url = ready::url(port);
        self.prober
            .wait(&url, self.ready_deadline)
            .await
            .with_context(|| format!("role '{role}' never became ready"))?;
        Ok(url)
    }

    /// Stops the container of `role` gracefully (a stopped one at once) and removes it; one
    /// already gone is fine.
    ///
    /// # Errors
    /// An engine failure other than "no such container".
    pub(crate) async fn stop_and_remove(&self, name: &str, role: &str) -> anyhow::Result<()> {
        let stop = StopContainerOptions {
            t: Some(spec::STOP_TIMEOUT_S),
            ..Default::default()
        };
        gone_is_fine(self.docker.stop_container(name, Some(stop)).await)
            .with_context(|| format!("stop container for role '{role}'"))?;
        gone_is_fine(
            self.docker
                .remove_container(name, Some(RemoveContainerOptions::default()))
                .await,
        )
        .with_context(|| format!("remove container for role '{role}'"))
    }

    /// Removes the volumes `(name, role)` and the network, in parallel; each one gone is fine.
    ///
    /// # Errors
    /// Every engine failure other than "no such object", one entry each.
    pub(crate) async fn remove_volumes_and_network(
        &self,
        volumes: &[(String, &str)],
        network: &str,
    ) -> Vec<anyhow::Result<()>> {
        let vols = join_all(volumes.iter().map(|(name, role)| async move {
            gone_is_fine(
                self.docker
                    .remove_volume(name, None::<RemoveVolumeOptions>)
                    .await,
            )
            .with_context(|| format!("remove volume for role '{role}'"))
        }));
        let net = async {
            gone_is_fine(self.docker.remove_network(network).await)
                .with_context(|| format!("remove network {network}"))
        };
        let (mut vols, net) = tokio::join!(vols, net);
        vols.push(net);
        vols
    }

    /// Stops both services gracefully and removes them, then the volumes and the network.
    /// Like hearth's teardown it is idempotent: an object already gone is not an error, and
    /// one failing removal does not keep the others from being attempted.
    ///
    /// # Errors
    /// The first engine failure other than "no such object".
    pub(crate) async fn teardown(&self, names: &Names) -> anyhow::Result<()> {
        let services =
            join_all(ROLES.iter().map(|role| async move {
                self.stop_and_remove(&names.container(role), role).await
            }))
            .await;
        let volumes: Vec<(String, &str)> = ROLES.iter().map(|r| (names.volume(r), *r)).collect();
        let rest = self
            .remove_volumes_and_network(&volumes, &names.network())
            .await;
        services.into_iter().chain(rest).collect()
    }
}

/// One container the floor runs.
#[derive(Debug, Clone)]
pub(crate) struct Run<'a> {
    /// The role it plays (for error messages, and its network alias).
    pub role: &'a str,
    pub name: String,
    /// Its data volume, mounted on `/data`.
    pub volume: String,
    pub network: String,
    pub env: Vec<String>,
    /// The in-container port published on loopback, if any.
    pub port: Option<u16>,
    /// Whether the role's name is its host on the network (a template's roles are).
    pub alias: bool,
}

/// Treats the engine's 404 ("no such container/volume/network") as done.
fn gone_is_fine(result: Result<(), bollard::errors::Error>) -> Result<(), bollard::errors::Error> {
    match result {
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_subnets_are_disjoint_slash_28s_of_the_bench_range() {
        assert_eq!(fallback_subnet(0), "10.214.0.0/28");
        assert_eq!(fallback_subnet(1), "10.214.0.16/28");
        assert_eq!(fallback_subnet(16), "10.214.1.0/28");
        assert_eq!(fallback_subnet(FALLBACK_SUBNETS - 1), "10.214.255.240/28");
    }
}
