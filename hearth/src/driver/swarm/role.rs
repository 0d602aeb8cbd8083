//! One role of a template on the swarm: its service spec (image, command and env with
//! references rendered, its limits, its volume at the template's path, its alias on the
//! overlay, its placement, a hash of all that so an upgrade knows what changed), and bringing
//! it up: create the service, wait for its task, pin it to the task's node (a service), open
//! and point its relays through the door, then wait until its probe passes (a service) or its
//! job exits 0 (a one-shot).

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;

use bollard::models::ServiceSpec;
use bollard::Docker;
use hearth_protocol::hearth::{ResourceCaps, ServiceRef};
use sha2::{Digest, Sha256};

use super::spec::{self, Limits, RoleSpec};
use super::target::{self, Task};
use super::{door, objects, tasks, Swarm};
use crate::driver::engine::images::Resolved;
use crate::driver::engine::map_err;
use crate::driver::engine::template::{limits, ports, rendered, wait_role, Awaited};
use crate::driver::probe::container::Container;
use crate::error::HearthError;
use crate::journal::Steps;
use crate::labels;
use crate::slug::Slug;
use crate::step::Step;
use crate::template::order::Signal;
use crate::template::refs::Context;
use crate::template::{Role, Template};

/// What every role of one workspace shares while it is brought up.
#[derive(Clone, Copy)]
pub(super) struct Workspace<'a> {
    pub d: &'a Swarm,
    pub docker: &'a Docker,
    pub slug: &'a Slug,
    pub network_id: &'a str,
    pub tier: &'a str,
    pub labels: &'a [(String, String)],
    pub caps: &'a ResourceCaps,
    pub refs: &'a Context,
    pub template: &'a Template,
}

/// What differs between two services of one role: where it may go, its relay, its replicas.
#[derive(Debug, Clone, Default)]
pub(super) struct Placed {
    pub constraints: Vec<String>,
    pub relay_port: Option<u16>,
    pub replicas: i64,
    pub force_update: u64,
}

/// The service spec `role` runs with `image`, labelled with the hash of what the template
/// makes of it.
///
/// # Errors
/// A reference the template's roles cannot fill (the config check refuses those first).
pub(super) fn service(
    w: &Workspace<'_>,
    role: &Role,
    image: &Resolved,
    placed: Placed,
) -> Result<ServiceSpec, HearthError> {
    let (env, command) = rendered(role, w.refs, w.slug, w.caps)?;
    let (memory_bytes, nano_cpus, pids) = limits(role, &w.d.config);
    let names = w.d.names(w.slug);
    let volume = names.volume(&role.name);
    let hash = {
        let what = format!(
            "{}|{}|{env:?}|{command:?}|{:?}|{:?}|{memory_bytes}|{nano_cpus}|{pids}|{}|{:?}",
            image.image,
            image.id,
            ports(role),
            role.volume,
            role.once,
            role.placement
        );
        hex::encode(&Sha256::digest(what.as_bytes())[..8])
    };
    let name = names.container(&role.name);
    Ok(spec::service(
        &w.d.config,
        &RoleSpec {
            name: &name,
            role: &role.name,
            labels: labels::for_object(&w.d.instance, w.slug, &role.name, w.tier, w.labels),
            image: &image.id,
            env,
            command,
            limits: Limits {
                memory_bytes,
                nano_cpus,
                pids,
            },
            network_id: w.network_id,
            volume: role.volume.as_deref().map(|t| (volume.as_str(), t)),
            constraints: placed.constraints,
            relay_port: placed.relay_port,
            once: role.once,
            replicas: placed.replicas,
            force_update: placed.force_update,
            hash: &hash,
        },
    ))
}

/// Service, task, pin, relays, wait: one role. `None` for a one-shot (it has no service to
/// offer once it completed).
///
/// # Errors
/// A failure naming the role: the engine's, the task's, the probe's or the one-shot's exit.
pub(super) async fn bring_up(
    w: &Workspace<'_>,
    role: &Role,
    image: Resolved,
    steps: &Steps,
    signal: &Signal,
) -> Result<Option<ServiceRef>, HearthError> {
    if signal.is_canceled() {
        return Err(HearthError::driver(
            format!("start role {}", role.name),
            "another role failed first",
        ));
    }
    let relay_port = match role.port.filter(|_| !role.once) {
        Some(_) => Some(w.d.relays.open(w.slug.as_str(), &role.name, None).await?),
        None => None,
    };
    let placed = Placed {
        constraints: role.placement.clone(),
        relay_port,
        replicas: 1,
        force_update: 0,
    };
    let spec = service(w, role, &image, placed)?;
    let name = w.d.names(w.slug).container(&role.name);
    let created = w.docker.create_service(spec, None).await.map_err(|e| {
        map_err(
            format!("create the service of role {} ({name})", role.name),
            e,
        )
    })?;
    let id = created.id.unwrap_or_else(|| name.clone());
    steps.step(Step::ServiceCreated, Some(&role.name), Some(name));
    ready(w, role, &id, &HashSet::new(), image, steps, signal).await
}

/// The relay of `role`'s `port`: the role's own port is keyed by the role (its endpoint, kept
/// for the workspace's life); a probe's other port by role and port.
fn relay_key(role: &Role, port: u16) -> String {
    if role.port == Some(port) {
        role.name.clone()
    } else {
        format!("{}:{port}", role.name)
    }
}

/// Opens (or finds) a relay for each of `role`'s ports and points it at the port's door port:
/// in-container port → its loopback address.
async fn publish(w: &Workspace<'_>, role: &Role) -> Result<BTreeMap<u16, SocketAddr>, HearthError> {
    let mut out = BTreeMap::new();
    let ports = ports(role);
    if role.once || ports.is_empty() {
        return Ok(out);
    }
    let timeout = w.d.config.readiness_timeout;
    let door = door::addr(w.d, w.docker, w.slug, 0, timeout).await?;
    for p in ports {
        let slot = door::slot(w.template, &role.name, p).ok_or_else(|| {
            HearthError::driver(
                format!("reach port {p} of role {}", role.name),
                "the workspace's door does not forward it (its template changed?)",
            )
        })?;
        let key = relay_key(role, p);
        let local = w.d.relays.open(w.slug.as_str(), &key, None).await?;
        let at = SocketAddr::new(door.ip(), door::port(slot));
        w.d.relays.point(w.slug.as_str(), &key, Some(at));
        out.insert(p, SocketAddr::from(([127, 0, 0, 1], local)));
    }
    Ok(out)
}

/// Waits for a task of `service` not in `before`, pins a service role to the task's node
/// (where its volume now is), points its relays through the door, then waits: a one-shot
/// until it exits 0, a service until its probe passes.
///
/// # Errors
/// As [`bring_up`].
pub(super) async fn ready(
    w: &Workspace<'_>,
    role: &Role,
    service: &str,
    before: &HashSet<String>,
    image: Resolved,
    steps: &Steps,
    signal: &Signal,
) -> Result<Option<ServiceRef>, HearthError> {
    let timeout = role.ready.timeout.unwrap_or(w.d.config.readiness_timeout);
    let task = tasks::wait_ran(w.docker, service, &role.name, before, timeout).await?;
    steps.step(
        Step::TaskRunning,
        Some(&role.name),
        Some(task.task_id.clone()),
    );
    signal.started();
    if !role.once {
        pin_to_task(w, service, &role.name, &task.node_id).await?;
    }
    let here = w.d.node_id().await?;
    let target = Task {
        docker: w.docker.clone(),
        task: task.task_id.clone(),
        role: role.name.clone(),
        node: task.node_id.clone(),
        published: publish(w, role).await?,
        local: (task.node_id == here).then(|| Container {
            docker: w.docker.clone(),
            id: task.container_id.clone(),
            role: role.name.clone(),
            slug: w.slug.to_string(),
            published: BTreeMap::new(),
        }),
    };
    if let Some(refused) = target::inside_unsupported(role, &target) {
        return Err(refused);
    }
    let awaited = Awaited {
        role,
        target: &target,
        default_timeout: w.d.config.readiness_timeout,
        image,
        container_id: task.container_id,
    };
    wait_role(awaited, steps, signal).await
}

/// Pins `service` to `node` unless it is pinned already. The swarm keeps the running task (it
/// still satisfies the new constraints).
async fn pin_to_task(
    w: &Workspace<'_>,
    service: &str,
    role: &str,
    node: &str,
) -> Result<(), HearthError> {
    let Some(s) = objects::services(w.docker, &w.d.instance, Some(w.slug))
        .await?
        .into_iter()
        .find(|s| s.id == service)
    else {
        return Err(HearthError::driver(
            format!("pin role {role} to node {node}"),
            "its service was removed outside hearth",
        ));
    };
    if spec::pinned(&s.spec).is_some() {
        return Ok(());
    }
    super::create::update(w.docker, &s, spec::pin(s.spec.clone(), node), "pin").await?;
    tracing::debug!(workspace = %w.slug, role, node, "role pinned to its volume's node");
    Ok(())
}
