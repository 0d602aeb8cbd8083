//! Bringing services up: provision (network, then every role in parallel: volume, container,
//! start, HTTP-ready), upgrade (roles recreated on the same network and volumes) and wake
//! (hibernated containers started and checked again). A provision that fails, or whose future
//! is dropped, removes what it created.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, HostConfig, Mount, MountType, NetworkCreateRequest, PortBinding,
};
use bollard::query_parameters::{
    CreateContainerOptions, RemoveContainerOptions, StopContainerOptions,
};
use bollard::Docker;
use chrono::Utc;
use futures::future::{join_all, try_join_all};
use hearth_protocol::hearth::{
    DeploymentRef, DriverName, ProvisioningProfile, ResourceCaps, ServiceRef,
};
use tracing::warn;

use super::images::{self, Resolved};
use super::{objects, subnets, LocalDocker};
use crate::driver::common::create::{await_ready, caps_of, create_volume, recorded_image, Started};
use crate::driver::common::objects::network_id;
use crate::driver::common::{ContainerState, Step};
use crate::driver::engine::{is_not_found, map_err};
use crate::driver::flavor::Capability;
use crate::driver::SOLO_ROLES;
use crate::error::HearthError;
use crate::journal::Steps;
use crate::labels;
use crate::names::Names;
use crate::slug::Slug;

/// Bound on a rollback started from a dropped provision.
const ROLLBACK_TIMEOUT: Duration = Duration::from_secs(60);

/// How long an engine call already sent may still take to land after its caller went away.
const LATE_CALL_GRACE: Duration = Duration::from_secs(2);

/// Removes the workspace if the provision future is dropped before it finished.
struct RollbackOnDrop {
    /// Where the detached rollback registers itself, so the next teardown of the slug waits
    /// for it instead of racing it.
    pending: Rollbacks,
    docker: Docker,
    instance: String,
    slug: Slug,
    stop_timeout_secs: i32,
    armed: bool,
}

impl Drop for RollbackOnDrop {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (docker, instance, slug, t) = (
            self.docker.clone(),
            self.instance.clone(),
            self.slug.clone(),
            self.stop_timeout_secs,
        );
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let pending = self.pending.clone();
        let key = self.slug.to_string();
        let handle = rt.spawn(async move {
            let steps = Steps::detached(&slug);
            // Engine calls sent before the drop still land (the engine does not see the
            // caller leave): sweep once now, and once more after they have had time to.
            let undo = async {
                objects::remove_all(&docker, &instance, &slug, t, &steps).await?;
                tokio::time::sleep(LATE_CALL_GRACE).await;
                objects::remove_all(&docker, &instance, &slug, t, &steps).await
            };
            match tokio::time::timeout(ROLLBACK_TIMEOUT, undo).await {
                Ok(Ok(())) => tracing::info!(workspace = %slug, "abandoned provision rolled back"),
                Ok(Err(e)) => {
                    warn!(workspace = %slug, error = %e, "rollback of abandoned provision failed")
                }
                Err(_) => warn!(workspace = %slug, "rollback of abandoned provision timed out"),
            }
        });
        let mut map = pending.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(key, handle);
    }
}

/// Detached rollbacks still running, by slug.
pub(crate) type Rollbacks = Arc<Mutex<HashMap<String, tokio::task::JoinHandle<()>>>>;

/// Waits for a detached rollback of `slug`, if one is running, so that whatever comes next
/// (a teardown, a fresh provision) does not race it.
pub(crate) async fn settle_rollback(pending: &Rollbacks, slug: &Slug) {
    let handle = {
        let mut map = pending.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(slug.as_str())
    };
    if let Some(h) = handle {
        let _ = tokio::time::timeout(ROLLBACK_TIMEOUT, h).await;
    }
}

/// Creates the workspace and waits until every role answers.
pub(crate) async fn provision(
    d: &LocalDocker,
    slug: &Slug,
    profile: &ProvisioningProfile,
    steps: &Steps,
) -> Result<DeploymentRef, HearthError> {
    let docker = d.engine.client().await?;
    // Refused before anything is created: a workspace without its limits is not offered.
    d.engine.flavor().await?.require(Capability::Limits)?;
    settle_rollback(&d.rollbacks, slug).await;
    let mut guard = RollbackOnDrop {
        pending: d.rollbacks.clone(),
        docker: docker.clone(),
        instance: d.instance.clone(),
        slug: slug.clone(),
        stop_timeout_secs: d.config.stop_timeout_secs,
        armed: true,
    };
    let built = build(d, docker, slug, profile, steps).await;
    guard.armed = false;
    if built.is_err() {
        let undo =
            objects::remove_all(docker, &d.instance, slug, d.config.stop_timeout_secs, steps);
        if let Err(e) = undo.await {
            warn!(workspace = %slug, error = %e, "rollback after a failed provision failed");
        }
    }
    built
}

async fn build(
    d: &LocalDocker,
    docker: &Docker,
    slug: &Slug,
    profile: &ProvisioningProfile,
    steps: &Steps,
) -> Result<DeploymentRef, HearthError> {
    let resolved = images::resolve_all(&d.engine, &d.config, Some(profile), steps).await?;
    let tier = profile.tier.as_str();
    // A warm-pool member says so on every object, for people reading the engine's lists.
    let mut extra = d.config.extra_labels.clone();
    if let Some(key) = crate::driver::pool_flag(profile) {
        extra.push((labels::POOL.to_owned(), key.to_owned()));
    }
    let names = Names::new(&d.instance, slug);
    let network = NetworkCreateRequest {
        name: names.network(),
        driver: Some("bridge".into()),
        labels: Some(labels::for_object(
            &d.instance,
            slug,
            "network",
            tier,
            &extra,
        )),
        ..Default::default()
    };
    // Containers join the network by ID: names are not unique on the engine, and another
    // hearth instance may have a network of the same name.
    let network_id = match docker.create_network(network.clone()).await {
        Ok(created) => created.id,
        Err(e) if subnets::pools_exhausted(&e) => {
            let seed = seed_of(slug, &d.instance);
            subnets::create_in_pool(docker, network, &d.config.subnet_pool, seed).await?
        }
        Err(e) => return Err(map_err(format!("create network {}", names.network()), e)),
    };
    steps.step(Step::NetworkCreated, None, Some(names.network()));

    let caps = profile.caps();
    // Every role runs to its end, success or failure, before a failure is returned: a role
    // dropped in the middle of an engine call could still land on the engine after the
    // rollback had listed what to remove.
    let started = join_all(SOLO_ROLES.iter().zip(resolved).map(|(role, image)| {
        let net = Net {
            id: &network_id,
            tier,
            labels: &extra,
        };
        let volume = names.volume(role);
        start_role(d, docker, slug, net, &caps, role, volume, image, steps)
    }))
    .await;
    let services = started.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(reference(slug, profile.tier, caps, Utc::now(), services))
}

/// A stable per-workspace starting point in the subnet pool.
fn seed_of(slug: &Slug, instance: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (slug.as_str(), instance).hash(&mut h);
    h.finish()
}

/// The workspace network a role joins, the tier its labels carry and the extra labels.
#[derive(Clone, Copy)]
struct Net<'a> {
    id: &'a str,
    tier: &'a str,
    labels: &'a [(String, String)],
}

/// Volume, container, start, ready: one role.
#[allow(clippy::too_many_arguments)]
async fn start_role(
    d: &LocalDocker,
    docker: &Docker,
    slug: &Slug,
    net: Net<'_>,
    caps: &ResourceCaps,
    role: &str,
    volume: String,
    image: Resolved,
    steps: &Steps,
) -> Result<ServiceRef, HearthError> {
    let object_labels = labels::for_object(&d.instance, slug, role, net.tier, net.labels);
    create_volume(docker, &volume, object_labels.clone(), role, steps).await?;

    let port = format!("{}/tcp", d.config.service_port);
    let host_config = HostConfig {
        // Docker runs its tini, Podman its catatonit (init_path in containers.conf).
        init: Some(true),
        ulimits: d.engine.flavor().await?.ulimits(),
        memory: Some(d.config.memory_bytes),
        nano_cpus: Some(d.config.nano_cpus),
        pids_limit: Some(d.config.pids_limit),
        port_bindings: Some(HashMap::from([(
            port.clone(),
            Some(vec![PortBinding {
                host_ip: Some("127.0.0.1".into()),
                host_port: Some(String::new()),
            }]),
        )])),
        mounts: Some(vec![Mount {
            target: Some("/data".into()),
            source: Some(volume),
            typ: Some(MountType::VOLUME),
            ..Default::default()
        }]),
        network_mode: Some(net.id.to_owned()),
        ..Default::default()
    };
    let body = ContainerCreateBody {
        image: Some(image.image.clone()),
        env: Some(env(slug, role, caps)),
        labels: Some(object_labels),
        exposed_ports: Some(vec![port]),
        host_config: Some(host_config),
        ..Default::default()
    };
    let name = Names::new(&d.instance, slug).container(role);
    let options = CreateContainerOptions {
        name: Some(name.clone()),
        ..Default::default()
    };
    let created = docker
        .create_container(Some(options), body)
        .await
        .map_err(|e| map_err(format!("create the container of role {role} ({name})"), e))?;
    steps.step(Step::ContainerCreated, Some(role), Some(name.clone()));
    docker
        .start_container(&created.id, None)
        .await
        .map_err(|e| map_err(format!("start the container of role {role} ({name})"), e))?;
    steps.step(Step::ContainerStarted, Some(role), None);
    ready_service(d, docker, &created.id, role, image, steps).await
}

/// Reads the published port and waits until the role answers on it.
async fn ready_service(
    d: &LocalDocker,
    docker: &Docker,
    container_id: &str,
    role: &str,
    image: Resolved,
    steps: &Steps,
) -> Result<ServiceRef, HearthError> {
    let endpoint = published_endpoint(docker, container_id, role, d.config.service_port).await?;
    let started = Started {
        role: role.to_owned(),
        container_id: container_id.to_owned(),
        endpoint,
        image,
    };
    await_ready(&d.engine, d.config.readiness_timeout, started, steps).await
}

async fn published_endpoint(
    docker: &Docker,
    container_id: &str,
    role: &str,
    service_port: u16,
) -> Result<String, HearthError> {
    let info = docker
        .inspect_container(container_id, None)
        .await
        .map_err(|e| map_err(format!("inspect the container of role {role}"), e))?;
    let port = info
        .network_settings
        .and_then(|n| n.ports)
        .and_then(|p| p.get(&format!("{service_port}/tcp")).cloned().flatten())
        .and_then(|b| b.into_iter().find_map(|b| b.host_port))
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            HearthError::driver(
                format!("read the published port of role {role}"),
                "the engine reported no host port for it",
            )
        })?;
    Ok(format!("http://127.0.0.1:{port}"))
}

/// The environment of a role's container (shared with the Swarm driver).
pub(crate) fn env(slug: &Slug, role: &str, caps: &ResourceCaps) -> Vec<String> {
    vec![
        format!("HEARTH_WORKSPACE={slug}"),
        format!("HEARTH_ROLE={role}"),
        format!("ROCKY_CAIRNET_STORAGE_MB={}", caps.cairnet_storage_mb),
        format!("ROCKY_LORE_RETENTION_DAYS={}", caps.lore_retention_days),
        format!("ROCKY_SEATS={}", caps.seats),
        format!("ROCKY_VECTOR_INDEX={}", caps.vector_index),
    ]
}

fn reference(
    slug: &Slug,
    tier: hearth_protocol::hearth::Tier,
    caps: ResourceCaps,
    created: chrono::DateTime<Utc>,
    services: Vec<ServiceRef>,
) -> DeploymentRef {
    crate::driver::ready_ref(DriverName::LocalDocker, slug, tier, caps, created, services)
}

/// Recreates every role for `profile` on the same network and volumes.
pub(crate) async fn upgrade(
    d: &LocalDocker,
    r: &DeploymentRef,
    profile: &ProvisioningProfile,
    steps: &Steps,
) -> Result<DeploymentRef, HearthError> {
    let slug = Slug::parse(&r.workspace_slug)?;
    let docker = d.engine.client().await?;
    d.engine.flavor().await?.require(Capability::Limits)?;
    let resolved = images::resolve_all(&d.engine, &d.config, Some(profile), steps).await?;
    let old = objects::containers(d, Some(&slug)).await?;
    try_join_all(old.iter().map(|c| async move {
        let stop = StopContainerOptions {
            t: Some(d.config.stop_timeout_secs),
            signal: None,
        };
        if c.state == ContainerState::RUNNING {
            if let Err(e) = docker.stop_container(&c.id, Some(stop)).await {
                if !is_not_found(&e) {
                    return Err(map_err(format!("stop role {} for the upgrade", c.role), e));
                }
            }
        }
        let rm = RemoveContainerOptions {
            force: true,
            ..Default::default()
        };
        match docker.remove_container(&c.id, Some(rm)).await {
            Ok(()) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                return Err(map_err(
                    format!("remove role {} for the upgrade", c.role),
                    e,
                ))
            }
        }
        steps.step(Step::ContainerRemoved, Some(&c.role), None);
        Ok(())
    }))
    .await?;
    let network_id = network_id(docker, &d.instance, &slug).await?;
    // The roles keep the volumes they have, whatever they are named (a workspace made before
    // names carried the instance has volumes named `hearth_<slug>_<role>-data`).
    let volumes = objects::volumes(docker, &d.instance, &slug).await?;
    let names = Names::new(&d.instance, &slug);
    let caps = profile.caps();
    let tier = profile.tier.as_str();
    let services = try_join_all(SOLO_ROLES.iter().zip(resolved).map(|(role, image)| {
        let net = Net {
            id: &network_id,
            tier,
            labels: &d.config.extra_labels,
        };
        let volume = volumes
            .iter()
            .find(|(r, _)| r == role)
            .map_or_else(|| names.volume(role), |(_, v)| v.clone());
        start_role(d, docker, &slug, net, &caps, role, volume, image, steps)
    }))
    .await?;
    Ok(reference(&slug, profile.tier, caps, r.created, services))
}

/// Starts hibernated containers and waits until they answer; ports may have changed.
pub(crate) async fn wake(
    d: &LocalDocker,
    r: &DeploymentRef,
    steps: &Steps,
) -> Result<DeploymentRef, HearthError> {
    let slug = Slug::parse(&r.workspace_slug)?;
    let docker = d.engine.client().await?;
    d.engine.flavor().await?.require(Capability::Limits)?;
    let list = objects::containers(d, Some(&slug)).await?;
    if list.len() < SOLO_ROLES.len() {
        return Err(HearthError::driver(
            format!("wake {slug}"),
            "some of its containers were removed outside hearth",
        ));
    }
    let services = try_join_all(SOLO_ROLES.iter().map(|role| {
        let c = list.iter().find(|c| c.role == *role);
        async move {
            let c = c.ok_or_else(|| {
                HearthError::driver(format!("wake role {role}"), "its container is missing")
            })?;
            if c.state == ContainerState::PAUSED {
                docker
                    .unpause_container(&c.id)
                    .await
                    .map_err(|e| map_err(format!("unpause role {role}"), e))?;
            } else if c.state != ContainerState::RUNNING {
                docker
                    .start_container(&c.id, None)
                    .await
                    .map_err(|e| map_err(format!("start role {role}"), e))?;
            }
            steps.step(Step::ContainerStarted, Some(role), None);
            let image = recorded_image(r, role);
            ready_service(d, docker, &c.id, role, image, steps).await
        }
    }))
    .await?;
    Ok(reference(&slug, r.tier, caps_of(r), r.created, services))
}
