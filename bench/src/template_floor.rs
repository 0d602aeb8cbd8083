//! The templates section's floor: the engine work of the templated workspace
//! ([`crate::template_shape`]) straight through the Docker API, in the order the template
//! asks — the network and every role's volume, then the one-shot run until it exits 0
//! (the engine's wait), then each service created, started and probed before the next one
//! starts. Torn down in reverse: each service stopped and removed, dependents first, the
//! one-shot's container removed, then volumes and network together.

use anyhow::{bail, Context};
use bollard::models::{NetworkCreateRequest, VolumeCreateRequest};
use bollard::query_parameters::WaitContainerOptions;
use futures::future::try_join_all;
use futures::StreamExt;

use crate::floor::{Floor, Run};
use crate::spec::Names;
use crate::template_shape::{RoleShape, ROLES};

/// The floor of the templated workspace, on the engine and settings of `floor`.
#[derive(Debug, Clone)]
pub(crate) struct TemplateFloor {
    pub floor: Floor,
}

impl TemplateFloor {
    fn run<'a>(names: &Names, role: &'a RoleShape) -> Run<'a> {
        Run {
            role: role.name,
            name: names.container(role.name),
            volume: names.volume(role.name),
            network: names.network(),
            env: role.env(),
            port: role.port,
            alias: true,
        }
    }

    /// Builds the workspace until its last service answers.
    ///
    /// # Errors
    /// On an engine failure, a one-shot exiting non-zero, or a service not answering in time.
    pub(crate) async fn provision(&self, names: &Names) -> anyhow::Result<()> {
        let f = &self.floor;
        let network = NetworkCreateRequest {
            name: names.network(),
            driver: Some("bridge".to_owned()),
            labels: Some(f.labels.clone()),
            ..Default::default()
        };
        let net = async {
            f.create_network(network)
                .await
                .with_context(|| format!("create network {}", names.network()))
        };
        let vols = try_join_all(ROLES.iter().map(|role| async move {
            f.docker
                .create_volume(VolumeCreateRequest {
                    name: Some(names.volume(role.name)),
                    labels: Some(f.labels.clone()),
                    ..Default::default()
                })
                .await
                .with_context(|| format!("create volume for role '{}'", role.name))
        }));
        tokio::try_join!(net, vols)?;
        for role in &ROLES {
            let run = Self::run(names, role);
            f.run(&run).await?;
            match role.port {
                Some(port) => drop(f.ready_url(&run, port).await?),
                None => self.completed(&run).await?,
            }
        }
        Ok(())
    }

    /// Waits for the one-shot to exit; an exit code other than 0 is an error.
    async fn completed(&self, run: &Run<'_>) -> anyhow::Result<()> {
        let mut wait = self
            .floor
            .docker
            .wait_container(&run.name, None::<WaitContainerOptions>);
        let code = match wait.next().await {
            Some(Ok(r)) => r.status_code,
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
            Some(Err(e)) => return Err(e).context(format!("wait for role '{}'", run.role)),
            None => bail!(
                "the engine's wait for role '{}' ended with no answer",
                run.role
            ),
        };
        if code != 0 {
            bail!("one-shot role '{}' exited {code}", run.role);
        }
        Ok(())
    }

    /// Stops and removes the roles in reverse order, then the volumes and the network.
    ///
    /// # Errors
    /// The first engine failure other than "no such object".
    pub(crate) async fn teardown(&self, names: &Names) -> anyhow::Result<()> {
        let f = &self.floor;
        let mut results = Vec::new();
        for role in ROLES.iter().rev() {
            results.push(
                f.stop_and_remove(&names.container(role.name), role.name)
                    .await,
            );
        }
        let volumes: Vec<(String, &str)> = ROLES
            .iter()
            .map(|r| (names.volume(r.name), r.name))
            .collect();
        results.extend(
            f.remove_volumes_and_network(&volumes, &names.network())
                .await,
        );
        results.into_iter().collect()
    }
}
