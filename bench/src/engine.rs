//! The engine connection and the bench's own housekeeping on it: what engine this is, which
//! objects a run left behind, and sweeping them (on success and on failure alike).

use std::collections::HashMap;

use anyhow::Context;
use bollard::query_parameters::{RemoveContainerOptions, RemoveVolumeOptions};
use bollard::Docker;
use hearth_testkit::objects;

use crate::spec::{HEARTH_WORKSPACE_LABEL, RUN_LABEL};

/// Connects to the engine hearth would choose (the docker CLI's order: `DOCKER_HOST`,
/// `DOCKER_CONTEXT`, the current context, the default socket, the well-known sockets) and
/// negotiates the API version, so an older engine (Debian's 20.10, API 1.41) answers rather
/// than "client version too new".
///
/// # Errors
/// When no engine is found or it does not answer.
pub(crate) async fn connect() -> anyhow::Result<Docker> {
    connect_to(hearth::driver::engine::Engine::from_env()).await
}

/// Connects to the engine at `host` (`unix:///…`), as hearth would.
///
/// # Errors
/// When it does not answer.
pub(crate) async fn connect_at(host: &str) -> anyhow::Result<Docker> {
    connect_to(hearth::driver::engine::Engine::at(host))
        .await
        .with_context(|| format!("cannot reach the engine at {host}"))
}

async fn connect_to(engine: hearth::driver::engine::Engine) -> anyhow::Result<Docker> {
    let docker = engine.client().await.context(
        "cannot reach the Docker engine (is it running? `hearth doctor` says where it looked)",
    )?;
    Ok(docker.clone())
}

/// What the report says about the engine.
#[derive(Debug, Clone, Default)]
pub(crate) struct EngineInfo {
    /// Server version, e.g. `20.10.24+dfsg1`.
    pub version: String,
    /// Negotiated API version.
    pub api_version: String,
    /// Storage driver, e.g. `overlay2` or `fuse-overlayfs`.
    pub storage_driver: String,
}

/// Reads the engine's version and storage driver.
///
/// # Errors
/// When the engine does not answer.
pub(crate) async fn info(docker: &Docker) -> anyhow::Result<EngineInfo> {
    let v = docker.version().await.context("engine version")?;
    let i = docker.info().await.context("engine info")?;
    Ok(EngineInfo {
        version: v.version.unwrap_or_default(),
        api_version: docker.client_version().to_string(),
        storage_driver: i.driver.unwrap_or_default(),
    })
}

/// Which objects count as one run's own.
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    /// The run id carried in [`RUN_LABEL`] by floor and CLI objects.
    pub run_id: String,
    /// The slug prefix of the run's hearth workspaces (hearth labels its objects itself).
    pub slug_prefix: String,
}

/// Objects of the run still on the engine, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Leftovers {
    /// Containers, running or not.
    pub containers: usize,
    /// Networks.
    pub networks: usize,
    /// Volumes.
    pub volumes: usize,
}

impl Leftovers {
    /// All objects together.
    pub(crate) fn total(&self) -> usize {
        self.containers + self.networks + self.volumes
    }
}

/// Names of the run's objects on the engine.
struct Found {
    containers: Vec<String>,
    networks: Vec<String>,
    volumes: Vec<String>,
}

impl Scope {
    fn owns(&self, labels: Option<&HashMap<String, String>>) -> bool {
        labels.is_some_and(|l| {
            l.get(RUN_LABEL) == Some(&self.run_id)
                || l.get(HEARTH_WORKSPACE_LABEL)
                    .is_some_and(|s| s.starts_with(&self.slug_prefix))
        })
    }

    async fn find(&self, docker: &Docker) -> anyhow::Result<Found> {
        // A label-key filter per list, then ownership decided here: the engine ORs nothing,
        // so two lists (run label, hearth workspace label) are merged by `owns`.
        let mut found = Found {
            containers: Vec::new(),
            networks: Vec::new(),
            volumes: Vec::new(),
        };
        for key in [RUN_LABEL, HEARTH_WORKSPACE_LABEL] {
            let l = objects::find_where(docker, &[key.to_owned()], |l| self.owns(Some(l))).await?;
            found.containers.extend(l.containers);
            found.networks.extend(l.networks);
            found.volumes.extend(l.volumes);
        }
        for list in [
            &mut found.containers,
            &mut found.networks,
            &mut found.volumes,
        ] {
            list.sort();
            list.dedup();
        }
        Ok(found)
    }

    /// Counts the run's objects still on the engine.
    ///
    /// # Errors
    /// When the engine does not answer.
    pub(crate) async fn leftovers(&self, docker: &Docker) -> anyhow::Result<Leftovers> {
        let f = self.find(docker).await?;
        Ok(Leftovers {
            containers: f.containers.len(),
            networks: f.networks.len(),
            volumes: f.volumes.len(),
        })
    }

    /// Force-removes every object of the run: containers, then networks, then volumes.
    /// Returns how many objects were found.
    ///
    /// # Errors
    /// When the engine does not answer the listing; single removals are best effort.
    pub(crate) async fn sweep(&self, docker: &Docker) -> anyhow::Result<Leftovers> {
        let f = self.find(docker).await?;
        let found = Leftovers {
            containers: f.containers.len(),
            networks: f.networks.len(),
            volumes: f.volumes.len(),
        };
        let rm = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        futures::future::join_all(
            f.containers
                .iter()
                .map(|id| docker.remove_container(id, Some(rm.clone()))),
        )
        .await;
        futures::future::join_all(f.networks.iter().map(|id| docker.remove_network(id))).await;
        futures::future::join_all(
            f.volumes
                .iter()
                .map(|name| docker.remove_volume(name, Some(RemoveVolumeOptions { force: true }))),
        )
        .await;
        Ok(found)
    }
}
