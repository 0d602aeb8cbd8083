//! The Docker engine side of the harness: whether Docker-backed tests run (`HEARTH_E2E=1`),
//! failing loudly when they should and cannot; the workspace image; and finding and sweeping
//! every object carrying a test's `dev.hearth.instance` label, also from a drop guard.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use bollard::query_parameters::{
    ListContainersOptions, ListNetworksOptions, ListServicesOptions, ListVolumesOptions,
    RemoveContainerOptions, RemoveVolumeOptions,
};
use bollard::Docker;

/// The label key hearth stamps with its daemon instance id.
pub const INSTANCE_LABEL: &str = "dev.hearth.instance";
/// The label key every test-made object carries; its value is the test run's id
/// (`HEARTH_TEST_RUN`, set by `make test`), so `make clean-docker` sweeps its own run only.
pub const TEST_LABEL_KEY: &str = "dev.hearth.test";

/// This test run's id: `HEARTH_TEST_RUN` (the Makefile sets one per `make test`), else one
/// made for this process.
pub fn test_run() -> String {
    std::env::var("HEARTH_TEST_RUN")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| format!("adhoc-{}", std::process::id()))
}

/// `dev.hearth.test=<run>`: the label every object of this test run carries.
pub fn test_label() -> String {
    format!("{TEST_LABEL_KEY}={}", test_run())
}
/// The workspace image when `HEARTH_TEST_IMAGE` is unset: the offline stand-in.
pub const DEFAULT_TEST_IMAGE: &str = "hearth-standin:local";
/// How long the engine gets to answer the first call.
const PING_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether the Docker-backed tests are asked for (`HEARTH_E2E=1`).
pub fn docker_wanted() -> bool {
    std::env::var("HEARTH_E2E").is_ok_and(|v| v == "1")
}

/// The image both roles run in Docker-backed tests.
pub fn test_image() -> String {
    std::env::var("HEARTH_TEST_IMAGE")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_TEST_IMAGE.to_owned())
}

/// The engine's unix socket: `DOCKER_HOST` when it is `unix://…`, else the default one.
pub fn engine_socket() -> PathBuf {
    std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/var/run/docker.sock"))
}

/// A negotiated client for the engine at `host` (`unix:///path`), or an error that says
/// loudly what is missing and what to do.
///
/// # Errors
/// When the engine does not answer.
pub async fn require_engine_at(host: &str) -> anyhow::Result<Docker> {
    let loud = |detail: String| {
        anyhow::anyhow!(
            "HEARTH_E2E=1 asks for the Docker-backed tests, but no Docker engine answers at \
             {host}: {detail}. Start the engine (sudo systemctl start docker, or sudo dockerd &) \
             or point DOCKER_HOST at one; run with HEARTH_E2E unset to run only the tests that \
             need no engine. These tests never skip when HEARTH_E2E=1."
        )
    };
    let path = host.strip_prefix("unix://").unwrap_or(host);
    let docker = Docker::connect_with_unix(path, 30, bollard::API_DEFAULT_VERSION)
        .map_err(|e| loud(e.to_string()))?;
    let docker = match tokio::time::timeout(PING_TIMEOUT, docker.negotiate_version()).await {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => return Err(loud(e.to_string())),
        Err(_) => return Err(loud(format!("no answer within {PING_TIMEOUT:?}"))),
    };
    match tokio::time::timeout(PING_TIMEOUT, docker.ping()).await {
        Ok(Ok(_)) => Ok(docker),
        Ok(Err(e)) => Err(loud(e.to_string())),
        Err(_) => Err(loud(format!("no ping answer within {PING_TIMEOUT:?}"))),
    }
}

/// The engine for a Docker-backed test: `Ok(None)` (after printing why the test is skipped)
/// when `HEARTH_E2E` is not 1; with it set, the engine and the test image, or a loud error.
///
/// # Errors
/// With `HEARTH_E2E=1`: no engine, or the image is not on it.
pub async fn engine_for(test: &str) -> anyhow::Result<Option<Docker>> {
    if !docker_wanted() {
        eprintln!(
            "SKIPPED {test}: needs a Docker engine and HEARTH_E2E is not 1 \
             (run `make e2e`, or HEARTH_E2E=1 cargo test -p hearth-e2e)"
        );
        return Ok(None);
    }
    require_docker().await.map(Some)
}

/// The engine at `DOCKER_HOST` (or the local socket) with the test image on it, or a loud
/// error naming what is missing.
///
/// # Errors
/// No engine, or the image is not on it.
pub async fn require_docker() -> anyhow::Result<Docker> {
    let socket = engine_socket();
    let docker = require_engine_at(&format!("unix://{}", socket.display())).await?;
    let image = test_image();
    if docker.inspect_image(&image).await.is_err() {
        bail!(
            "the workspace image {image} is not on the engine — run `make images` to build the \
             offline stand-in (or set HEARTH_TEST_IMAGE / STANDIN to an image the engine has)"
        );
    }
    Ok(docker)
}

/// Whether Swarm-backed e2e tests run: the engine (see [`engine_for`]) is a swarm manager.
/// Outside a swarm they are skipped with a message, unless `HEARTH_SWARM=1` asks for them,
/// which makes that a loud error.
///
/// # Errors
/// With `HEARTH_SWARM=1`: the engine is not a swarm manager.
pub async fn swarm_for(test: &str, docker: &Docker) -> anyhow::Result<bool> {
    let info = docker
        .info()
        .await
        .context("ask the engine about its swarm")?;
    let swarm = info.swarm.unwrap_or_default();
    let manager = swarm.control_available == Some(true)
        && swarm.local_node_state == Some(bollard::models::LocalNodeState::ACTIVE);
    if manager {
        return Ok(true);
    }
    if std::env::var("HEARTH_SWARM").is_ok_and(|v| v == "1") {
        bail!(
            "HEARTH_SWARM=1 asks for the Swarm-backed tests, but the engine is not a swarm \
             manager: run `docker swarm init --advertise-addr 127.0.0.1` (and `docker swarm \
             leave --force` afterwards), or unset HEARTH_SWARM"
        );
    }
    eprintln!(
        "SKIPPED {test}: the engine is not a swarm manager (set HEARTH_SWARM=1 to require it)"
    );
    Ok(false)
}

/// Objects found by a label.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Labelled {
    /// Swarm services (none on an engine outside a swarm).
    pub services: Vec<String>,
    pub containers: Vec<String>,
    pub networks: Vec<String>,
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
}

/// Every swarm service, container, network and volume labelled `dev.hearth.instance=INSTANCE`.
///
/// # Errors
/// When the engine does not answer a listing.
pub async fn find_instance(docker: &Docker, instance: &str) -> anyhow::Result<Labelled> {
    let filters = HashMap::from([(
        "label".to_owned(),
        vec![format!("{INSTANCE_LABEL}={instance}")],
    )]);
    // An engine outside a swarm refuses to list services: it has none.
    let services = docker
        .list_services(Some(ListServicesOptions {
            filters: Some(filters.clone()),
            ..Default::default()
        }))
        .await
        .unwrap_or_default()
        .into_iter()
        .filter_map(|s| s.spec.and_then(|s| s.name))
        .collect();
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters.clone()),
            ..Default::default()
        }))
        .await
        .context("list containers by instance label")?
        .into_iter()
        .filter_map(|c| c.id)
        .collect();
    let networks = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(filters.clone()),
        }))
        .await
        .context("list networks by instance label")?
        .into_iter()
        .filter_map(|n| n.name)
        .collect();
    let volumes = docker
        .list_volumes(Some(ListVolumesOptions {
            filters: Some(filters),
        }))
        .await
        .context("list volumes by instance label")?
        .volumes
        .unwrap_or_default()
        .into_iter()
        .map(|v| v.name)
        .collect();
    Ok(Labelled {
        services,
        containers,
        networks,
        volumes,
    })
}

/// Force-removes everything labelled with `instance`; returns what was found.
///
/// # Errors
/// When the engine does not answer the listing (single removals are best effort).
pub async fn sweep_instance(docker: &Docker, instance: &str) -> anyhow::Result<Labelled> {
    let found = find_instance(docker, instance).await?;
    for name in &found.services {
        let _ = docker.delete_service(name).await;
    }
    let rm = RemoveContainerOptions {
        force: true,
        v: true,
        ..Default::default()
    };
    for id in &found.containers {
        let _ = docker.remove_container(id, Some(rm.clone())).await;
    }
    for name in &found.networks {
        // A swarm frees an overlay network a moment after its services are gone.
        for _ in 0..40 {
            if docker.remove_network(name).await.is_ok() || found.services.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    for name in &found.volumes {
        let _ = docker
            .remove_volume(name, Some(RemoveVolumeOptions { force: true }))
            .await;
    }
    Ok(found)
}

/// Sweeps an instance's objects when dropped — also when the test panics — on a thread of
/// its own (a drop may run inside a tokio runtime, where blocking on another is refused).
#[derive(Debug)]
pub struct SweepGuard {
    /// The instance id whose objects go.
    pub instance: String,
}

impl Drop for SweepGuard {
    fn drop(&mut self) {
        let instance = self.instance.clone();
        let swept = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let docker = Docker::connect_with_defaults().ok()?;
                let docker = docker.negotiate_version().await.ok()?;
                sweep_instance(&docker, &instance).await.ok()
            })
        })
        .join()
        .ok()
        .flatten();
        if let Some(found) = swept.filter(|f| !f.is_empty()) {
            eprintln!(
                "sweep: removed objects left by instance {}: {found:?}",
                self.instance
            );
        }
    }
}

/// A fresh instance id for one test: unique across parallel tests and runs.
pub fn unique_instance(test: &str) -> String {
    let n: u32 = rand::random();
    format!("e2e-{test}-{}-{n:08x}", std::process::id())
}
