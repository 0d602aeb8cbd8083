//! The engine floor: the solo workspace built straight through the Docker API with nothing
//! else — network and volumes created together, both services created, started, inspected
//! and probed in parallel; torn down with a graceful stop, then removals in parallel. No
//! daemon, no state, no events: the time anything built on this engine cannot beat.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, NetworkCreateRequest, NetworkingConfig,
    PortBinding, VolumeCreateRequest,
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
pub struct Floor {
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
}

impl Floor {
    /// Creates network and volumes, then both services in parallel, until each answers HTTP.
    ///
    /// # Errors
    /// On any engine failure or a service that does not answer in time; what was created is
    /// left for [`Floor::teardown`] or the run's sweep.
    pub async fn provision(&self, names: &Names) -> anyhow::Result<()> {
        let network = NetworkCreateRequest {
            name: names.network(),
            driver: Some("bridge".to_owned()),
            labels: Some(self.labels.clone()),
            ..Default::default()
        };
        let net = async {
            self.docker
                .create_network(network)
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
        try_join_all(ROLES.iter().map(|role| self.start_service(names, role))).await?;
        Ok(())
    }

    async fn start_service(&self, names: &Names, role: &str) -> anyhow::Result<()> {
        let name = names.container(role);
        let port_key = format!("{SERVICE_PORT}/tcp");
        let host_config = HostConfig {
            init: Some(true),
            memory: Some(spec::MEMORY_BYTES),
            pids_limit: Some(spec::PIDS_LIMIT),
            nano_cpus: Some(spec::NANO_CPUS),
            binds: Some(vec![format!("{}:/data", names.volume(role))]),
            network_mode: Some(names.network()),
            port_bindings: Some(HashMap::from([(
                port_key.clone(),
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".to_owned()),
                    host_port: Some(String::new()),
                }]),
            )])),
            ..Default::default()
        };
        let body = ContainerCreateBody {
            image: Some(self.image.clone()),
            env: Some(vec![format!("HEARTH_ROLE={role}")]),
            labels: Some(self.labels.clone()),
            exposed_ports: Some(vec![port_key.clone()]),
            host_config: Some(host_config),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    names.network(),
                    EndpointSettings {
                        aliases: Some(vec![role.to_owned()]),
                        ..Default::default()
                    },
                )])),
            }),
            ..Default::default()
        };
        self.docker
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(name.clone()),
                    ..Default::default()
                }),
                body,
            )
            .await
            .with_context(|| format!("create container for role '{role}'"))?;
        self.docker
            .start_container(&name, None)
            .await
            .with_context(|| format!("start container for role '{role}'"))?;
        let inspect = self
            .docker
            .inspect_container(&name, None)
            .await
            .with_context(|| format!("inspect container for role '{role}'"))?;
        let port = inspect
            .network_settings
            .and_then(|n| n.ports)
            .and_then(|p| p.get(&port_key).cloned().flatten())
            .and_then(|b| b.into_iter().find_map(|b| b.host_port?.parse::<u16>().ok()))
            .with_context(|| format!("role '{role}' has no published port"))?;
        self.prober
            .wait(&ready::url(port), self.ready_deadline)
            .await
            .with_context(|| format!("role '{role}' never became ready"))
    }

    /// Stops both services gracefully and removes them, then the volumes and the network.
    /// Like hearth's teardown it is idempotent: an object already gone is not an error, and
    /// one failing removal does not keep the others from being attempted.
    ///
    /// # Errors
    /// The first engine failure other than "no such object".
    pub async fn teardown(&self, names: &Names) -> anyhow::Result<()> {
        let services = join_all(ROLES.iter().map(|role| async move {
            let name = names.container(role);
            let stop = StopContainerOptions {
                t: Some(spec::STOP_TIMEOUT_S),
                ..Default::default()
            };
            gone_is_fine(self.docker.stop_container(&name, Some(stop)).await)
                .with_context(|| format!("stop container for role '{role}'"))?;
            gone_is_fine(
                self.docker
                    .remove_container(&name, Some(RemoveContainerOptions::default()))
                    .await,
            )
            .with_context(|| format!("remove container for role '{role}'"))
        }))
        .await;
        let vols = join_all(ROLES.iter().map(|role| async move {
            gone_is_fine(
                self.docker
                    .remove_volume(&names.volume(role), None::<RemoveVolumeOptions>)
                    .await,
            )
            .with_context(|| format!("remove volume for role '{role}'"))
        }));
        let net = async {
            gone_is_fine(self.docker.remove_network(&names.network()).await)
                .with_context(|| format!("remove network {}", names.network()))
        };
        let (vols, net) = tokio::join!(vols, net);
        services.into_iter().chain(vols).chain([net]).collect()
    }
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
