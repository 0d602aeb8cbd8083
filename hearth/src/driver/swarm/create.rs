//! Bringing a swarm workspace up: provision (overlay network, then every role in parallel:
//! volume, relay, service, running task, HTTP-ready), upgrade (each service updated in place
//! on the same network and volumes), hibernate (scaled to 0) and wake (scaled to 1, ready
//! again). The relay of a role keeps its loopback port throughout; only its target moves.

use std::collections::HashSet;

use bollard::models::NetworkCreateRequest;
use bollard::query_parameters::UpdateServiceOptions;
use bollard::Docker;
use chrono::Utc;
use futures::future::{join_all, try_join_all};
use hearth_protocol::hearth::{
    DeploymentRef, DriverName, ProvisioningProfile, ResourceCaps, ServiceRef, Tier,
};

use super::objects::{self, Svc};
use super::spec::{self, RoleSpec};
use super::{tasks, Swarm};
use crate::driver::common::create::{await_ready, caps_of, create_volume, recorded_image, Started};
use crate::driver::common::objects::network_id;
use crate::driver::common::Step;
use crate::driver::docker::images::{self, Resolved};
use crate::driver::engine::map_err;
use crate::driver::error::DriverError;
use crate::driver::{ready_ref, SOLO_ROLES};
use crate::error::HearthError;
use crate::journal::Steps;
use crate::labels;
use crate::slug::Slug;

/// Creates the workspace and waits until every role answers on its relay.
pub(super) async fn provision(
    d: &Swarm,
    slug: &Slug,
    profile: &ProvisioningProfile,
    steps: &Steps,
) -> Result<DeploymentRef, HearthError> {
    let docker = d.engine.client().await?;
    let node = d.node_id().await?;
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

    let caps = profile.caps();
    // Every role runs to its end before a failure is returned, so the rollback that follows
    // sees everything that was created.
    let started = join_all(SOLO_ROLES.iter().zip(resolved).map(|(role, image)| {
        let place = Place {
            network_id: &network_id,
            node: &node,
            tier,
            labels: &extra,
        };
        create_role(d, docker, slug, place, &caps, role, image, steps)
    }))
    .await;
    let services = started.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(reference(slug, profile.tier, caps, Utc::now(), services))
}

/// Where a role goes: the workspace's network, the node holding its volume, its tier label
/// and the extra labels of its objects.
#[derive(Clone, Copy)]
struct Place<'a> {
    network_id: &'a str,
    node: &'a str,
    tier: &'a str,
    labels: &'a [(String, String)],
}

/// Volume, relay, service, running task, ready: one role.
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
    // Created here, on the node hearth talks to, which the placement constraint then pins
    // the role to: the data stays where the task runs.
    create_volume(docker, &volume, object_labels.clone(), role, steps).await?;
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
            node_id: place.node,
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

/// Waits for a new running task of `service`, points the role's relay at it and waits until
/// it answers HTTP there.
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
    if task.node_id != d.node_id().await? {
        return Err(HearthError::Driver(DriverError::Unsupported {
            engine: "swarm".into(),
            what: format!("reach role {role} on node {}", task.node_id),
            reason: "the relay reaches tasks on the node hearth runs on only".into(),
        }));
    }
    let addr =
        tasks::gwbridge_addr(docker, &task.container_id, role, d.config.service_port).await?;
    let port = d.relays.open(slug.as_str(), role, None).await?;
    d.relays.point(slug.as_str(), role, Some(addr));
    let started = Started {
        role: role.to_owned(),
        container_id: task.container_id,
        endpoint: format!("http://127.0.0.1:{port}"),
        image,
    };
    await_ready(&d.engine, timeout, started, steps).await
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
    let node = d.node_id().await?;
    let resolved =
        images::resolve_all(&d.engine, &d.config, &solo_shape(d), Some(profile), steps).await?;
    let services = services_by_role(d, &slug).await?;
    let network_id = network_id(docker, &d.instance, &slug).await?;
    let caps = profile.caps();
    let tier = profile.tier.as_str();
    let names = d.names(&slug);
    let refs = try_join_all(services.iter().zip(resolved).map(|(s, image)| {
        let (names, network_id, node, caps, slug) = (&names, &network_id, &node, &caps, &slug);
        async move {
            let role = s.role.as_str();
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
                    node_id: node,
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
    d.relays.point_nowhere(slug.as_str());
    try_join_all(services.iter().map(|s| async move {
        update(docker, s, spec::scaled(s.spec.clone(), 0), "hibernate").await?;
        steps.step(Step::Stopped, Some(&s.role), None);
        Ok::<(), HearthError>(())
    }))
    .await?;
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
