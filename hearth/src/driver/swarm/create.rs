//! Bringing a swarm workspace up from its tier's template: the overlay network, the door,
//! then the roles in dependency order through `template::order`, each as `role` brings it up;
//! and what `lifecycle` shares with it (the services by role, a service update, a one-shot's
//! run again).
//!
//! Placement: a role goes where its template's `placement` constraints allow (the swarm's
//! own scheduling when it has none); its volume is made by the engine of the node its first
//! task lands on, and a service role is then pinned to that node (`node.id==…`), so every
//! later task (wake, upgrade, a restart) returns to its data. A one-shot's job is pinned to
//! the node of its last run when it runs again (a pin added at once would run it twice).

use std::collections::HashSet;

use bollard::models::NetworkCreateRequest;
use bollard::query_parameters::UpdateServiceOptions;
use bollard::Docker;
use chrono::Utc;
use hearth_protocol::hearth::{DeploymentRef, DriverName, ProvisioningProfile, ServiceRef};

use super::objects::{self, Svc};
use super::role::{self, Workspace};
use super::{door, spec, tasks, Swarm};
use crate::driver::engine::images;
use crate::driver::engine::map_err;
use crate::driver::engine::template::{context, reference, role_images, Made};
use crate::error::HearthError;
use crate::journal::Steps;
use crate::labels;
use crate::slug::Slug;
use crate::step::Step;
use crate::template::{order, Template};

/// Creates the workspace and waits until every role is ready (or, a one-shot, completed).
/// A failure leaves what it made to the dispatcher's rollback (a teardown).
pub(super) async fn provision(
    d: &Swarm,
    slug: &Slug,
    profile: &ProvisioningProfile,
    steps: &Steps,
) -> Result<DeploymentRef, HearthError> {
    let docker = d.engine.client().await?;
    // Asked first: a daemon whose engine is no manager fails before it creates anything.
    d.node_id().await?;
    let template = d.config.template(profile.tier);
    let images = role_images(&d.engine, &d.config, &template, profile, steps).await?;
    let tier = profile.tier.as_str();
    // A warm-pool member says so on every object (services, task containers, network,
    // volumes), as on Docker.
    let mut extra = d.config.extra_labels.clone();
    if let Some(key) = crate::driver::pool_flag(profile) {
        extra.push((labels::POOL.to_owned(), key.to_owned()));
    }
    let network_id = create_network(d, docker, slug, tier, &extra, steps).await?;
    let door_labels = labels::for_object(&d.instance, slug, "door", tier, &extra);
    door::create(d, docker, slug, &network_id, door_labels, &template, steps).await?;

    let caps = profile.caps();
    let refs = context(&template, slug, tier);
    let w = Workspace {
        d,
        docker,
        slug,
        network_id: &network_id,
        tier,
        labels: &extra,
        caps: &caps,
        refs: &refs,
        template: &template,
    };
    // Every role that started runs to its end (an engine call is never dropped half-way), so
    // the rollback that follows a failure sees everything that was created.
    let services = order::bring_up(&template, |r, signal| {
        let image = images[&r.name].clone();
        let w = &w;
        async move { role::bring_up(w, r, image, steps, &signal).await }
    })
    .await?;
    let made = Made {
        slug,
        tier: profile.tier,
        caps,
        created: Utc::now(),
    };
    Ok(finished(&template, made, services))
}

/// The ref of a ready workspace of `template` from what its roles' bring-ups returned (a
/// one-shot returns nothing).
pub(super) fn finished(
    template: &Template,
    made: Made<'_>,
    services: Vec<Option<ServiceRef>>,
) -> DeploymentRef {
    let services = services.into_iter().flatten().collect();
    reference(DriverName::Swarm, template, made, services)
}

/// The workspace's attachable overlay network; its ID.
async fn create_network(
    d: &Swarm,
    docker: &Docker,
    slug: &Slug,
    tier: &str,
    extra: &[(String, String)],
    steps: &Steps,
) -> Result<String, HearthError> {
    let name = d.names(slug).network();
    let network = NetworkCreateRequest {
        name: name.clone(),
        driver: Some("overlay".into()),
        // Attachable so that a plain container (a debugging shell, a test probe) can join it.
        attachable: Some(true),
        labels: Some(labels::for_object(
            &d.instance,
            slug,
            "network",
            tier,
            extra,
        )),
        ..Default::default()
    };
    let id = docker
        .create_network(network)
        .await
        .map_err(|e| map_err(format!("create overlay network {name}"), e))?
        .id;
    steps.step(Step::NetworkCreated, None, Some(name));
    Ok(id)
}

/// The services of `slug`'s `template`, one per role, in role order.
pub(super) async fn services_by_role(
    d: &Swarm,
    slug: &Slug,
    template: &Template,
) -> Result<Vec<Svc>, HearthError> {
    let docker = d.engine.client().await?;
    let list = objects::services(docker, &d.instance, Some(slug)).await?;
    template
        .roles
        .iter()
        .map(|role| {
            list.iter()
                .find(|s| s.role == role.name)
                .cloned()
                .ok_or_else(|| {
                    HearthError::driver(
                        format!("find the service of role {} of {slug}", role.name),
                        "it was removed outside hearth",
                    )
                })
        })
        .collect()
}

/// The IDs of every task `service` has now, so a wait can tell the next one apart.
pub(super) async fn task_ids(
    docker: &Docker,
    service: &str,
) -> Result<HashSet<String>, HearthError> {
    Ok(tasks::list(docker, service)
        .await?
        .into_iter()
        .filter_map(|t| t.id)
        .collect())
}

/// The node of the last task of `service`, if it ever had one.
async fn last_node(docker: &Docker, service: &str) -> Result<Option<String>, HearthError> {
    Ok(tasks::list(docker, service)
        .await?
        .into_iter()
        .find_map(|t| t.node_id.filter(|n| !n.is_empty())))
}

pub(super) async fn update(
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

/// Runs `s`, a one-shot's job, once more as `job` (what an upgrade makes of it now, or its
/// recorded spec forced again for a wake), pinned to the node of its last run (which holds
/// its volume), then waits until it completes.
pub(super) async fn rerun(
    w: &Workspace<'_>,
    role: &crate::template::Role,
    s: &Svc,
    job: bollard::models::ServiceSpec,
    image: images::Resolved,
    steps: &Steps,
    signal: &order::Signal,
) -> Result<Option<ServiceRef>, HearthError> {
    let before = task_ids(w.docker, &s.id).await?;
    let mut again = job;
    if let Some(node) = last_node(w.docker, &s.id).await? {
        again = spec::pin(again, &node);
    }
    update(w.docker, s, again, "run again").await?;
    steps.step(Step::ServiceUpdated, Some(&role.name), None);
    role::ready(w, role, &s.id, &before, image, steps, signal).await
}
