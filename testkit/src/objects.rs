//! Engine objects by label: every swarm service, container, network and volume carrying a
//! set of labels, listed and swept through the engine's API — from async code, from blocking
//! code (a thread with a runtime of its own), and from a drop guard that runs also when a
//! test panics.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use bollard::query_parameters::{
    ListNetworksOptions, ListServicesOptions, ListVolumesOptions, RemoveContainerOptions,
    RemoveVolumeOptions,
};
use bollard::Docker;
use hearth_protocol::labels;

/// Objects found by label, by name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Labelled {
    /// Swarm services (none on an engine outside a swarm).
    pub services: Vec<String>,
    /// Containers, running or not.
    pub containers: Vec<String>,
    /// Networks.
    pub networks: Vec<String>,
    /// Volumes.
    pub volumes: Vec<String>,
}

impl Labelled {
    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
            && self.containers.is_empty()
            && self.networks.is_empty()
            && self.volumes.is_empty()
    }

    /// Every name: services, containers, networks, volumes.
    pub fn names(&self) -> Vec<String> {
        [
            &self.services,
            &self.containers,
            &self.networks,
            &self.volumes,
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect()
    }
}

/// `dev.hearth.instance=INSTANCE`: the filter for one daemon instance's objects.
pub fn instance_filter(instance: &str) -> String {
    format!("{}={instance}", labels::INSTANCE)
}

/// A negotiated client for the engine at `host` (`unix:///path`, `tcp://…`), or, when
/// `None`, the engine hearth itself would choose (the docker CLI's order: `DOCKER_HOST`,
/// `DOCKER_CONTEXT`, the current context, the default socket, the well-known sockets).
///
/// # Errors
/// When no engine is chosen or it does not answer.
pub async fn connect(host: Option<&str>) -> anyhow::Result<Docker> {
    let engine = match host {
        Some(h) => hearth::driver::engine::Engine::at(h),
        None => hearth::driver::engine::Engine::from_env(),
    };
    let docker = engine.client().await.context("connect to the engine")?;
    Ok(docker.clone())
}

/// Every object carrying all of `filters` (`KEY` or `KEY=VALUE`).
///
/// # Errors
/// When the engine does not answer a listing.
pub async fn find(docker: &Docker, filters: &[String]) -> anyhow::Result<Labelled> {
    find_where(docker, filters, |_| true).await
}

/// [`find`], keeping only the objects whose labels `keep` accepts.
///
/// # Errors
/// When the engine does not answer a listing.
pub async fn find_where(
    docker: &Docker,
    filters: &[String],
    keep: impl Fn(&HashMap<String, String>) -> bool,
) -> anyhow::Result<Labelled> {
    let filters = HashMap::from([("label".to_owned(), filters.to_vec())]);
    let keeps = |l: Option<&HashMap<String, String>>| l.is_some_and(&keep);
    // An engine outside a swarm refuses to list services: it has none.
    let services = docker
        .list_services(Some(ListServicesOptions {
            filters: Some(filters.clone()),
            ..Default::default()
        }))
        .await
        .unwrap_or_default()
        .into_iter()
        .filter_map(|s| s.spec)
        .filter(|s| keeps(s.labels.as_ref()))
        .filter_map(|s| s.name)
        .collect();
    let containers = list_containers(docker, &filters)
        .await
        .context("list containers by label")?
        .into_iter()
        .filter(|c| keeps(c.labels.as_ref()))
        .filter_map(|c| c.names.and_then(|n| n.into_iter().next()))
        .map(|n| n.trim_start_matches('/').to_owned())
        .collect();
    let networks = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(filters.clone()),
        }))
        .await
        .context("list networks by label")?
        .into_iter()
        .filter(|n| keeps(n.labels.as_ref()))
        .filter_map(|n| n.name)
        .collect();
    let volumes = docker
        .list_volumes(Some(ListVolumesOptions {
            filters: Some(filters),
        }))
        .await
        .context("list volumes by label")?
        .volumes
        .unwrap_or_default()
        .into_iter()
        .filter(|v| keeps(Some(&v.labels)))
        .map(|v| v.name)
        .collect();
    Ok(Labelled {
        services,
        containers,
        networks,
        volumes,
    })
}

/// Force-removes everything carrying `filters`: services first (so the swarm starts no new
/// task), then containers, networks and volumes, again until nothing is left (a swarm frees
/// an overlay network a moment after its tasks are gone). Returns what was found.
///
/// # Errors
/// When the engine does not answer the listing (single removals are best effort).
pub async fn sweep(docker: &Docker, filters: &[String]) -> anyhow::Result<Labelled> {
    let found = find(docker, filters).await?;
    for name in &found.services {
        let _ = docker.delete_service(name).await;
    }
    let rounds = if found.services.is_empty() { 1 } else { 40 };
    let mut left = found.clone();
    for _ in 0..rounds {
        remove(docker, &left).await;
        left = find(docker, filters).await?;
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(found)
}

/// Every container carrying `filters`, asked again while Podman shows one in its `stopped`
/// moment (hearth's own listing: [`hearth::driver::engine::list_container_summaries`]).
async fn list_containers(
    docker: &Docker,
    filters: &HashMap<String, Vec<String>>,
) -> Result<Vec<bollard::models::ContainerSummary>, bollard::errors::Error> {
    hearth::driver::engine::list_container_summaries(docker, filters.clone()).await
}

/// Removes the containers (with their anonymous volumes), networks and volumes of `found`.
async fn remove(docker: &Docker, found: &Labelled) {
    let rm = RemoveContainerOptions {
        force: true,
        v: true,
        ..Default::default()
    };
    for name in &found.containers {
        let _ = docker.remove_container(name, Some(rm.clone())).await;
    }
    for name in &found.networks {
        let _ = docker.remove_network(name).await;
    }
    for name in &found.volumes {
        let _ = docker
            .remove_volume(name, Some(RemoveVolumeOptions { force: true }))
            .await;
    }
}

/// Runs `f` against the engine at `host` on a thread and runtime of its own, so blocking
/// code, code inside another runtime, and `Drop` can all call it.
///
/// # Errors
/// When the engine does not answer, or `f` fails.
pub fn blocking<T, F>(host: Option<&str>, f: F) -> anyhow::Result<T>
where
    T: Send + 'static,
    F: AsyncFnOnce(&Docker) -> anyhow::Result<T> + Send + 'static,
{
    let host = host.map(str::to_owned);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("a runtime for the engine calls")?;
        rt.block_on(async {
            let docker = connect(host.as_deref()).await?;
            f(&docker).await
        })
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the engine call panicked"))?
}

/// The names of every object carrying all of `filters` on the engine at `host`, asked of the
/// engine directly (independent of hearth's own listing).
///
/// # Panics
/// When the engine does not answer.
pub fn names_on(host: Option<&str>, filters: Vec<String>) -> Vec<String> {
    let what = filters.join(", ");
    blocking(host, async move |d: &Docker| find(d, &filters).await)
        .map(|l| l.names())
        .unwrap_or_else(|e| panic!("list the objects labelled {what}: {e:#}"))
}

/// The names of every object of daemon `instance` on the engine at `host`.
///
/// # Panics
/// When the engine does not answer.
pub fn instance_objects(host: Option<&str>, instance: &str) -> Vec<String> {
    names_on(host, vec![instance_filter(instance)])
}

/// Sweeps every object of daemon `instance` on the engine at `host`, best effort; what was
/// found (empty when the engine did not answer).
pub fn sweep_instance(host: Option<&str>, instance: &str) -> Labelled {
    let filters = vec![instance_filter(instance)];
    blocking(host, async move |d: &Docker| sweep(d, &filters).await).unwrap_or_default()
}

/// Sweeps an instance's objects when dropped — also when the test panics.
#[derive(Debug)]
pub struct SweepGuard {
    /// The instance id whose objects go.
    pub instance: String,
    /// The engine (`None`: `DOCKER_HOST`, else the local socket).
    pub host: Option<String>,
}

impl SweepGuard {
    /// A guard for `instance` on the default engine.
    pub fn new(instance: &str) -> SweepGuard {
        SweepGuard {
            instance: instance.to_owned(),
            host: None,
        }
    }
}

impl Drop for SweepGuard {
    fn drop(&mut self) {
        let found = sweep_instance(self.host.as_deref(), &self.instance);
        if !found.is_empty() {
            eprintln!(
                "sweep: removed objects left by instance {}: {found:?}",
                self.instance
            );
        }
    }
}
