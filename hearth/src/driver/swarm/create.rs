//! Bringing a swarm workspace up: provision (overlay network, the door, then every role in
//! parallel: relay, service, running task, pinned to its task's node, HTTP-ready through the
//! door), upgrade (each service updated in place on the same network, node and volume),
//! hibernate (scaled to 0, the door too) and wake (scaled to 1, ready again). The relay of a
//! role keeps its loopback port throughout and points at the role's port on the door.
//!
//! Placement: a role goes where its template's `placement` constraints allow (the swarm's
//! own scheduling when it has none); its volume is made by the engine of the node its first
//! task lands on, and the service is then pinned to that node (`node.id==…`), so every later
//! task (wake, upgrade, a restart) returns to its data.

use std::collections::HashSet;

use bollard::models::NetworkCreateRequest;
use bollard::query_parameters::UpdateServiceOptions;
use bollard::Docker;
use chrono::Utc;
use futures::future::{join_all, try_join_all};
use hearth_protocol::hearth::{
    DeploymentRef, DriverName, ProvisioningProfile, ResourceCaps, ServiceRef, Tier,
};

use super::objects::{self, Part, Svc};
use super::spec::{self, RoleSpec};
use super::{door, tasks, Swarm};
use crate::driver::engine::create::{caps_of, recorded_image};
use crate::driver::engine::images::{self, Resolved};
use crate::driver::engine::map_err;
use crate::driver::engine::objects::network_id;
use crate::driver::engine::readiness;
use crate::driver::{ready_ref, SOLO_ROLES};
use crate::error::HearthError;
use crate::journal::Steps;
use crate::labels;
use crate::slug::Slug;
use crate::step::Step;

/// Creates the workspace and waits until every role answers on its relay.
pub(super) async fn provision(
    d: &Swarm,
    slug: &Slug,
    profile: &ProvisioningProfile,
    steps: &Steps,
) -> Result<DeploymentRef, HearthError> {
    let docker = d.engine.client().await?;
    // Asked first: a daemon whose engine is no manager fails before it creates anything.
    d.node_id().await?;
    let resolved =
        images::resolve_all(&d.engine, &d.config, &solo_shape(d), Some(profile), steps).await?;
    let tier = profile.tier.as_str();
    // A warm-pool member says so on every object (services, task containers, network,
    // volumes), as on Docker.
    let mut extra = d.config.extra_labels.clone();
    if let Some(key) = crate::driver::pool_flag(profile) {
        extra.push((labels::POOL.to_owned(), key.to_owned()));
    }
    let network = NetworkCreateRequest {
        name: d.names(slug).network(),
        driver: Some("overlay".into()),
        // Attachable so that a plain container (a debugging shell, a test probe) can join it.
        attachable: Some(true),
        labels: Some(labels::for_object(
            &d.instance,
            slug,
            "network",
            tier,
            &extra,
        )),
        ..Default::default()
    };
    let network_id = docker
        .create_network(network)
        .await
        .map_err(|e| {
            map_err(
                format!("create overlay network {}", d.names(slug).network()),
                e,
            )
        })?
        .id;
    steps.step(Step::NetworkCreated, None, Some(d.names(slug).network()));
    let door_labels = labels::for_object(&d.instance, slug, "door", tier, &extra);
    door::create(
        d,
        docker,
        slug,
        &network_id,
        door_labels,
        &SOLO_ROLES,
        steps,
    )
    .await?;

    let caps = profile.caps();
    let template = d.config.template(profile.tier);
    // Every role runs to its end before a failure is returned, so the rollback that follows
    // sees everything that was created.
    let started = join_all(SOLO_ROLES.iter().zip(resolved).map(|(role, image)| {
        let place = Place {
            network_id: &network_id,
            constraints: template
                .roles
                .iter()
                .find(|r| r.name == *role)
                .map(|r| r.placement.clone())
                .unwrap_or_default(),
            tier,
            labels: &extra,
        };
        create_role(d, docker, slug, place, &caps, role, image, steps)
    }))
    .await;
    let services = started.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(reference(slug, profile.tier, caps, Utc::now(), services))
}

/// Where a role goes: the workspace's network, its template's placement constraints, its tier
/// label and the extra labels of its objects.
#[derive(Clone)]
struct Place<'a> {
    network_id: &'a str,
    constraints: Vec<String>,
    tier: &'a str,
    labels: &'a [(String, String)],
}

/// Relay, service, running task (its node makes the volume), pin, ready: one role.
#[allow(clippy::too_many_arguments)]
async fn create_role(
    d: &Swarm,
    docker: &Docker,
    slug: &Slug,
    place: Place<'_>,
    caps: &ResourceCaps,
    role: &str,
    image: Resolved,
    steps: &Steps,
) -> Result<ServiceRef, HearthError> {
    let names = d.names(slug);
    let object_labels = labels::for_object(&d.instance, slug, role, place.tier, place.labels);
    let volume = names.volume(role);
    let relay_port = d.relays.open(slug.as_str(), role, None).await?;
    let name = names.container(role);
    let spec = spec::service(
        &d.config,
        &RoleSpec {
            name: &name,
            role,
            workspace: slug,
            labels: object_labels,
            image: &image.id,
            caps,
            network_id: place.network_id,
            volume: &volume,
            constraints: place.constraints,
            relay_port,
            replicas: 1,
            force_update: 0,
        },
    );
    let created = docker
        .create_service(spec, None)
        .await
        .map_err(|e| map_err(format!("create the service of role {role} ({name})"), e))?;
    let id = created.id.unwrap_or_else(|| name.clone());
    steps.step(Step::ServiceCreated, Some(role), Some(name));
    ready_role(d, docker, slug, &id, role, &HashSet::new(), image, steps).await
}

/// Waits for a new running task of `service`, pins the service to the task's node (where its
/// volume now is) if it is not pinned yet, points the role's relay at the role's port on the
/// door and waits until the role answers HTTP there.
#[allow(clippy::too_many_arguments)]
async fn ready_role(
    d: &Swarm,
    docker: &Docker,
    slug: &Slug,
    service: &str,
    role: &str,
    before: &HashSet<String>,
    image: Resolved,
    steps: &Steps,
) -> Result<ServiceRef, HearthError> {
    let timeout = d.config.readiness_timeout;
    let task = tasks::wait_running(docker, service, role, before, timeout).await?;
    steps.step(Step::TaskRunning, Some(role), Some(task.task_id.clone()));
    pin_to_task(d, docker, slug, service, role, &task.node_id).await?;
    let index = SOLO_ROLES.iter().position(|r| *r == role).unwrap_or(0);
    let addr = door::addr(d, docker, slug, index, timeout).await?;
    let port = d.relays.open(slug.as_str(), role, None).await?;
    d.relays.point(slug.as_str(), role, Some(addr));
    let endpoint = format!("http://127.0.0.1:{port}");
    let task_id = task.task_id.clone();
    readiness::wait_http(role, &endpoint, timeout, || {
        still_running(docker, service, role, &task_id)
    })
    .await?;
    steps.step(Step::RoleReady, Some(role), Some(endpoint.clone()));
    Ok(ServiceRef {
        role: role.to_owned(),
        image: image.image,
        image_digest: image.id,
        container_id: task.container_id,
        endpoint,
    })
}

/// Pins `service` to `node` unless it is pinned already. The swarm keeps the running task (it
/// still satisfies the new constraints).
async fn pin_to_task(
    d: &Swarm,
    docker: &Docker,
    slug: &Slug,
    service: &str,
    role: &str,
    node: &str,
) -> Result<(), HearthError> {
    let Some(s) = objects::services(docker, &d.instance, Some(slug))
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
    update(docker, &s, spec::pin(s.spec.clone(), node), "pin").await?;
    tracing::debug!(workspace = %slug, role, node, "role pinned to its volume's node");
    Ok(())
}

/// Whether `task` of `service` still runs, asked of the manager (the task may be on another
/// node, whose containers hearth cannot inspect).
async fn still_running(
    docker: &Docker,
    service: &str,
    role: &str,
    task: &str,
) -> Result<(), HearthError> {
    let list = tasks::list(docker, service).await?;
    match tasks::running(&list) {
        Some(r) if r.task_id == task => Ok(()),
        _ => Err(HearthError::driver(
            format!("start role {role}"),
            format!(
                "its task stopped ({})",
                list.iter()
                    .find(|t| t.id.as_deref() == Some(task))
                    .map(tasks::describe)
                    .unwrap_or_else(|| "gone".into())
            ),
        )),
    }
}

fn reference(
    slug: &Slug,
    tier: Tier,
    caps: ResourceCaps,
    created: chrono::DateTime<Utc>,
    services: Vec<ServiceRef>,
) -> DeploymentRef {
    ready_ref(DriverName::Swarm, slug, tier, caps, created, services)
}

/// The services of `slug`, one per role, in role order.
async fn services_by_role(d: &Swarm, slug: &Slug) -> Result<Vec<Svc>, HearthError> {
    let docker = d.engine.client().await?;
    let list = objects::services(docker, &d.instance, Some(slug)).await?;
    SOLO_ROLES
        .iter()
        .map(|role| {
            list.iter()
                .find(|s| s.role == *role)
                .cloned()
                .ok_or_else(|| {
                    HearthError::driver(
                        format!("find the service of role {role} of {slug}"),
                        "it was removed outside hearth",
                    )
                })
        })
        .collect()
}

/// The IDs of every task `service` has now, so a wait can tell the next one apart.
async fn task_ids(docker: &Docker, service: &str) -> Result<HashSet<String>, HearthError> {
    Ok(tasks::list(docker, service)
        .await?
        .into_iter()
        .filter_map(|t| t.id)
        .collect())
}

async fn update(
    docker: &Docker,
    s: &Svc,
    spec: bollard::models::ServiceSpec,
    verb: &str,
) -> Result<(), HearthError> {
    let options = UpdateServiceOptions {
        version: s.version()?,
        ..Default::default()
    };
    let answer = docker
        .update_service(&s.id, spec, options, None)
        .await
        .map_err(|e| map_err(format!("{verb} the service of role {}", s.role), e))?;
    if let Some(w) = answer.warnings.filter(|w| !w.is_empty()) {
        tracing::debug!(service = %s.name, warnings = ?w, "service update warnings");
    }
    Ok(())
}

/// Updates every service for `profile` in place: new image, environment and tier labels, the
/// same network, volume and relay port; waits until each new task answers.
pub(super) async fn upgrade(
    d: &Swarm,
    r: &DeploymentRef,
    profile: &ProvisioningProfile,
    steps: &Steps,
) -> Result<DeploymentRef, HearthError> {
    let slug = Slug::parse(&r.workspace_slug)?;
    let docker = d.engine.client().await?;
    let resolved =
        images::resolve_all(&d.engine, &d.config, &solo_shape(d), Some(profile), steps).await?;
    let services = services_by_role(d, &slug).await?;
    let template = d.config.template(profile.tier);
    let network_id = network_id(docker, &d.instance, &slug).await?;
    let caps = profile.caps();
    let tier = profile.tier.as_str();
    let names = d.names(&slug);
    let refs = try_join_all(services.iter().zip(resolved).map(|(s, image)| {
        let (names, network_id, caps, slug) = (&names, &network_id, &caps, &slug);
        let placement = template
            .roles
            .iter()
            .find(|t| t.name == s.role)
            .map(|t| t.placement.clone())
            .unwrap_or_default();
        async move {
            let role = s.role.as_str();
            // The role stays on the node that holds its volume.
            let constraints = spec::with_pin(&placement, spec::pinned(&s.spec).as_deref());
            let before = task_ids(docker, &s.id).await?;
            let relay_port = match s.relay_port() {
                Some(p) => d.relays.open(slug.as_str(), role, Some(p)).await?,
                None => d.relays.open(slug.as_str(), role, None).await?,
            };
            let previous = s
                .spec
                .task_template
                .as_ref()
                .and_then(|t| t.force_update)
                .unwrap_or(0);
            let spec = spec::service(
                &d.config,
                &RoleSpec {
                    name: &s.name,
                    role,
                    workspace: slug,
                    labels: labels::for_object(
                        &d.instance,
                        slug,
                        role,
                        tier,
                        &d.config.extra_labels,
                    ),
                    image: &image.id,
                    caps,
                    network_id,
                    volume: &names.volume(role),
                    constraints,
                    relay_port,
                    replicas: 1,
                    // Always a new task, even if the profile changed nothing the spec holds.
                    force_update: previous + 1,
                },
            );
            update(docker, s, spec, "upgrade").await?;
            steps.step(Step::ServiceUpdated, Some(role), None);
            ready_role(d, docker, slug, &s.id, role, &before, image, steps).await
        }
    }))
    .await?;
    Ok(reference(&slug, profile.tier, caps, r.created, refs))
}

/// Scales every service to 0 and waits until their task containers are gone; the network,
/// volumes and relay ports stay.
pub(super) async fn hibernate(
    d: &Swarm,
    r: &DeploymentRef,
    steps: &Steps,
) -> Result<(), HearthError> {
    let slug = Slug::parse(&r.workspace_slug)?;
    let docker = d.engine.client().await?;
    let services = services_by_role(d, &slug).await?;
    let doors = objects::part(docker, &d.instance, &slug, Part::Door).await?;
    d.relays.point_nowhere(slug.as_str());
    try_join_all(services.iter().chain(&doors).map(|s| async move {
        update(docker, s, spec::scaled(s.spec.clone(), 0), "hibernate").await?;
        let role = s.part.is_none().then_some(s.role.as_str());
        steps.step(Step::Stopped, role, None);
        Ok::<(), HearthError>(())
    }))
    .await?;
    d.wait_no_tasks(&services).await?;
    d.wait_no_containers(&slug).await
}

/// Scales every service back to 1 and waits until each new task answers on its relay.
pub(super) async fn wake(
    d: &Swarm,
    r: &DeploymentRef,
    steps: &Steps,
) -> Result<DeploymentRef, HearthError> {
    let slug = Slug::parse(&r.workspace_slug)?;
    let docker = d.engine.client().await?;
    let services = services_by_role(d, &slug).await?;
    for door in objects::part(docker, &d.instance, &slug, Part::Door).await? {
        if door.replicas() != 1 {
            update(docker, &door, spec::scaled(door.spec.clone(), 1), "wake").await?;
            steps.step(Step::ScaledUp, None, Some(door.name.clone()));
        }
    }
    let refs = try_join_all(services.iter().map(|s| {
        let slug = &slug;
        async move {
            let role = s.role.as_str();
            let before = task_ids(docker, &s.id).await?;
            if let Some(p) = s.relay_port() {
                d.relays.open(slug.as_str(), role, Some(p)).await?;
            }
            if s.replicas() != 1 {
                update(docker, s, spec::scaled(s.spec.clone(), 1), "wake").await?;
            }
            steps.step(Step::ScaledUp, Some(role), None);
            let image = recorded_image(r, role);
            // A service that was never scaled down (a wake after a failed verb) keeps its
            // running task: accept it.
            let before = if s.replicas() == 1 {
                HashSet::new()
            } else {
                before
            };
            ready_role(d, docker, slug, &s.id, role, &before, image, steps).await
        }
    }))
    .await?;
    Ok(reference(&slug, r.tier, caps_of(r), r.created, refs))
}

/// The Swarm driver still runs today's two roles whatever the template says (templates on a
/// swarm are the Swarm driver's next step).
fn solo_shape(d: &Swarm) -> crate::template::Template {
    crate::template::Template::default_for(&d.config.images, d.config.service_port)
}
