//! One role of a template on the engine: its container's spec (image, command and env with
//! references rendered, ports published on 127.0.0.1, the role's volume, its limits, its alias
//! on the workspace network, a hash of all that so an upgrade knows what changed), and
//! bringing it up: create, start, then wait until its probe passes (a service) or it exits 0
//! (a one-shot).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, Mount, MountType, NetworkingConfig,
    PortBinding,
};
use bollard::query_parameters::CreateContainerOptions;
use bollard::Docker;
use hearth_protocol::hearth::{ResourceCaps, ServiceRef};
use sha2::{Digest, Sha256};

use super::images::Resolved;
use super::LocalDocker;
use crate::driver::engine::create::create_volume;
use crate::driver::engine::map_err;
use crate::driver::engine::objects::SPEC_LABEL;
use crate::driver::engine::template::{limits, ports, rendered, wait_role, Awaited};
use crate::driver::probe::{self, container::Container};
use crate::error::HearthError;
use crate::journal::Steps;
use crate::labels;
use crate::names::Names;
use crate::slug::Slug;
use crate::step::Step;
use crate::template::order::Signal;
use crate::template::refs::Context;
use crate::template::Role;

/// What every role of one workspace shares while it is brought up.
#[derive(Clone, Copy)]
pub(crate) struct Workspace<'a> {
    pub d: &'a LocalDocker,
    pub docker: &'a Docker,
    pub slug: &'a Slug,
    pub network_id: &'a str,
    pub tier: &'a str,
    pub labels: &'a [(String, String)],
    pub caps: &'a ResourceCaps,
    pub refs: &'a Context,
}

/// A role's container, ready to create, and the hash of what defines it.
pub(crate) struct Spec {
    pub body: ContainerCreateBody,
    pub hash: String,
}

/// Each of `ports` published on 127.0.0.1 at a port the engine picks.
fn loopback_bindings(ports: &[String]) -> HashMap<String, Option<Vec<PortBinding>>> {
    ports
        .iter()
        .map(|p| {
            let loopback = PortBinding {
                host_ip: Some("127.0.0.1".into()),
                host_port: Some(String::new()),
            };
            (p.clone(), Some(vec![loopback]))
        })
        .collect()
}

/// The container `role` runs with `image`, its volume `volume` (if it has one).
///
/// # Errors
/// A reference the template's roles cannot fill (the config check refuses those first).
pub(crate) fn spec(
    w: &Workspace<'_>,
    role: &Role,
    image: &Resolved,
    volume: Option<&str>,
) -> Result<Spec, HearthError> {
    let (env, cmd) = rendered(role, w.refs, w.slug, w.caps)?;
    let (memory, nano_cpus, pids) = limits(role, &w.d.config);
    let ports: Vec<String> = ports(role).iter().map(|p| format!("{p}/tcp")).collect();
    let hash = {
        let mut h = Sha256::new();
        let what = format!(
            "{}|{}|{env:?}|{cmd:?}|{ports:?}|{:?}|{volume:?}|{memory}|{nano_cpus}|{pids}|{}",
            image.image, image.id, role.volume, role.once
        );
        h.update(what.as_bytes());
        hex::encode(&h.finalize()[..8])
    };
    let mut object_labels = labels::for_object(&w.d.instance, w.slug, &role.name, w.tier, w.labels);
    object_labels.insert(SPEC_LABEL.to_owned(), hash.clone());
    let bindings = loopback_bindings(&ports);
    let mounts = match (&role.volume, volume) {
        (Some(target), Some(source)) => Some(vec![Mount {
            target: Some(target.clone()),
            source: Some(source.to_owned()),
            typ: Some(MountType::VOLUME),
            ..Default::default()
        }]),
        _ => None,
    };
    let host_config = HostConfig {
        // Docker runs its tini, Podman its catatonit (init_path in containers.conf).
        init: Some(true),
        memory: Some(memory),
        nano_cpus: Some(nano_cpus),
        pids_limit: Some(pids),
        port_bindings: Some(bindings),
        mounts,
        network_mode: Some(w.network_id.to_owned()),
        ..Default::default()
    };
    // The role's name is its host on the workspace network (`{{ROLE.host}}`).
    let endpoint = EndpointSettings {
        aliases: Some(vec![role.name.clone()]),
        ..Default::default()
    };
    let body = ContainerCreateBody {
        image: Some(image.image.clone()),
        cmd,
        env: Some(env),
        labels: Some(object_labels),
        exposed_ports: Some(ports),
        host_config: Some(host_config),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(w.network_id.to_owned(), endpoint)])),
        }),
        ..Default::default()
    };
    Ok(Spec { body, hash })
}

/// Volume, container, start, and the wait: one role. `None` for a one-shot (it has no
/// service to offer once it completed).
///
/// # Errors
/// A failure naming the role: the engine's, the probe's, or the one-shot's exit.
pub(crate) async fn bring_up(
    w: &Workspace<'_>,
    role: &Role,
    image: Resolved,
    volume: Option<String>,
    steps: &Steps,
    signal: &Signal,
) -> Result<Option<ServiceRef>, HearthError> {
    if signal.is_canceled() {
        return Err(HearthError::driver(
            format!("start role {}", role.name),
            "another role failed first",
        ));
    }
    let object_labels = labels::for_object(&w.d.instance, w.slug, &role.name, w.tier, w.labels);
    let volume = match (&role.volume, volume) {
        (Some(_), Some(v)) => {
            create_volume(w.docker, &v, object_labels, &role.name, steps).await?;
            Some(v)
        }
        _ => None,
    };
    let mut spec = spec(w, role, &image, volume.as_deref())?;
    if let Some(host) = spec.body.host_config.as_mut() {
        host.ulimits = w.d.engine.flavor().await?.ulimits();
    }
    let name = Names::new(&w.d.instance, w.slug).container(&role.name);
    let options = CreateContainerOptions {
        name: Some(name.clone()),
        ..Default::default()
    };
    let created = w
        .docker
        .create_container(Some(options), spec.body)
        .await
        .map_err(|e| {
            map_err(
                format!("create the container of role {} ({name})", role.name),
                e,
            )
        })?;
    steps.step(Step::ContainerCreated, Some(&role.name), Some(name.clone()));
    start(w, role, &created.id, image, steps, signal).await
}

/// Starts `role`'s existing container `id` (unless it runs) and waits for it.
///
/// # Errors
/// As [`bring_up`].
pub(crate) async fn start(
    w: &Workspace<'_>,
    role: &Role,
    id: &str,
    image: Resolved,
    steps: &Steps,
    signal: &Signal,
) -> Result<Option<ServiceRef>, HearthError> {
    w.docker
        .start_container(id, None)
        .await
        .map_err(|e| map_err(format!("start the container of role {}", role.name), e))?;
    steps.step(Step::ContainerStarted, Some(&role.name), None);
    signal.started();
    wait(w, role, id, image, steps, signal).await
}

/// Waits for a started role: a one-shot until it exits 0, a service until its probe passes.
///
/// # Errors
/// As [`bring_up`].
pub(crate) async fn wait(
    w: &Workspace<'_>,
    role: &Role,
    id: &str,
    image: Resolved,
    steps: &Steps,
    signal: &Signal,
) -> Result<Option<ServiceRef>, HearthError> {
    signal.started();
    let published = if role.once {
        BTreeMap::new()
    } else {
        published(w.docker, id, &role.name).await?
    };
    let target = Container {
        docker: w.docker.clone(),
        id: id.to_owned(),
        role: role.name.clone(),
        slug: w.slug.to_string(),
        published,
    };
    let awaited = Awaited {
        role,
        target: &target,
        default_timeout: w.d.config.readiness_timeout,
        image,
        container_id: id.to_owned(),
    };
    wait_role(awaited, steps, signal).await
}

/// Where each published in-container port of a container is reached on loopback.
async fn published(
    docker: &Docker,
    id: &str,
    role: &str,
) -> Result<BTreeMap<u16, SocketAddr>, HearthError> {
    let info = probe::container::inspect_settled(docker, id)
        .await
        .map_err(|e| map_err(format!("inspect the container of role {role}"), e))?;
    let mut out = BTreeMap::new();
    for (key, bindings) in info
        .network_settings
        .and_then(|n| n.ports)
        .unwrap_or_default()
    {
        let Some(port) = key.strip_suffix("/tcp").and_then(|p| p.parse::<u16>().ok()) else {
            continue;
        };
        let host_port = bindings
            .unwrap_or_default()
            .into_iter()
            .filter_map(|b| b.host_port)
            .find_map(|p| p.parse::<u16>().ok());
        if let Some(hp) = host_port {
            out.insert(port, SocketAddr::from(([127, 0, 0, 1], hp)));
        }
    }
    Ok(out)
}
