//! A swarm workspace after its provision: upgrade (changed roles updated in place, in the
//! template's order, on the same network, node and volume; unchanged ones kept and probed
//! again; roles the template no longer has removed), hibernate (service roles scaled to 0
//! dependents first, then the door), wake (the door, then the roles in order again, one-shots
//! run again) and the dependents-first stop a teardown starts with.

use std::collections::HashSet;

use futures::future::try_join_all;
use hearth_protocol::hearth::{DeploymentRef, ProvisioningProfile, ServiceRef, Tier};
use tracing::warn;

use super::create::{finished, rerun, services_by_role, task_ids, update};
use super::objects::{self, Part, Svc};
use super::role::{self, Placed, Workspace};
use super::{spec, tasks, Swarm};
use crate::driver::engine::create::{caps_of, recorded_image};
use crate::driver::engine::images::Resolved;
use crate::driver::engine::objects::network_id;
use crate::driver::engine::template::{context, role_images, Made};
use crate::driver::engine::{is_not_found, map_err};
use crate::error::HearthError;
use crate::journal::Steps;
use crate::labels;
use crate::slug::Slug;
use crate::step::Step;
use crate::template::order::{self, Signal};
use crate::template::{Role, Template};

/// Updates the roles of `profile`'s template whose service changed, in order; keeps (and
/// probes again) the others; removes the services of roles the template no longer has.
pub(super) async fn upgrade(
    d: &Swarm,
    r: &DeploymentRef,
    profile: &ProvisioningProfile,
    steps: &Steps,
) -> Result<DeploymentRef, HearthError> {
    let slug = Slug::parse(&r.workspace_slug)?;
    let docker = d.engine.client().await?;
    let template = d.config.template(profile.tier);
    let images = role_images(&d.engine, &d.config, &template, profile, steps).await?;
    let list = objects::services(docker, &d.instance, Some(&slug)).await?;
    for s in list.iter().filter(|s| template.role(&s.role).is_none()) {
        remove(docker, s, steps).await?;
    }
    let network_id = network_id(docker, &d.instance, &slug).await?;
    let caps = profile.caps();
    let tier = profile.tier.as_str();
    let refs = context(&template, &slug, tier);
    let w = Workspace {
        d,
        docker,
        slug: &slug,
        network_id: &network_id,
        tier,
        labels: &d.config.extra_labels,
        caps: &caps,
        refs: &refs,
        template: &template,
    };
    let services = order::bring_up(&template, |role, signal| {
        let existing = list.iter().find(|s| s.role == role.name).cloned();
        let image = images[&role.name].clone();
        let w = &w;
        async move {
            match existing {
                Some(s) => upgrade_role(w, role, &s, image, steps, &signal).await,
                None => role::bring_up(w, role, image, steps, &signal).await,
            }
        }
    })
    .await?;
    let made = Made {
        slug: &slug,
        tier: profile.tier,
        caps,
        created: r.created,
    };
    Ok(finished(&template, made, services))
}

/// One role of an upgrade: kept if its service is what the template makes of it now and
/// runs, else updated in place (the same volume and node) and waited for again.
async fn upgrade_role(
    w: &Workspace<'_>,
    role: &Role,
    s: &Svc,
    image: Resolved,
    steps: &Steps,
    signal: &Signal,
) -> Result<Option<ServiceRef>, HearthError> {
    if spec::is_job(&s.spec) != role.once {
        // The swarm cannot turn a service into a job or back: made anew.
        remove(w.docker, s, steps).await?;
        return role::bring_up(w, role, image, steps, signal).await;
    }
    if role.once {
        // What the template and the profile make of it now (its image, command, env),
        // forced so that it runs again, on the node of its last run.
        let placed = Placed {
            constraints: role.placement.clone(),
            relay_port: None,
            replicas: 1,
            force_update: spec::force_update(&s.spec) + 1,
        };
        let job = role::service(w, role, &image, placed)?;
        return rerun(w, role, s, job, image, steps, signal).await;
    }
    let relay_port = match role.port {
        Some(_) => Some(
            w.d.relays
                .open(w.slug.as_str(), &role.name, s.relay_port())
                .await?,
        ),
        None => None,
    };
    let placed = Placed {
        // The role stays on the node that holds its volume.
        constraints: spec::with_pin(&role.placement, spec::pinned(&s.spec).as_deref()),
        relay_port,
        replicas: 1,
        force_update: spec::force_update(&s.spec),
    };
    let same = role::service(w, role, &image, placed.clone())?;
    let runs = tasks::running(&tasks::list(w.docker, &s.id).await?).is_some();
    if runs && s.replicas() == 1 && spec::hash(&same) == spec::hash(&s.spec) {
        return role::ready(w, role, &s.id, &HashSet::new(), image, steps, signal).await;
    }
    let before = task_ids(w.docker, &s.id).await?;
    let placed = Placed {
        // Always a new task, even if the profile changed nothing the spec holds.
        force_update: placed.force_update + 1,
        ..placed
    };
    update(
        w.docker,
        s,
        role::service(w, role, &image, placed)?,
        "upgrade",
    )
    .await?;
    steps.step(Step::ServiceUpdated, Some(&role.name), None);
    role::ready(w, role, &s.id, &before, image, steps, signal).await
}

/// Removes the service `s` (a role the template no longer has, or one made anew).
async fn remove(docker: &bollard::Docker, s: &Svc, steps: &Steps) -> Result<(), HearthError> {
    match docker.delete_service(&s.id).await {
        Ok(()) => {}
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(map_err(format!("remove service {}", s.name), e)),
    }
    steps.step(Step::ServiceRemoved, Some(&s.role), Some(s.name.clone()));
    Ok(())
}

/// Scales the service roles to 0 dependents first (one group of the template's reverse start
/// order at a time, each group's tasks gone before the next), then the door; waits until
/// their task containers are gone. The network, volumes and relay ports stay.
pub(super) async fn hibernate(
    d: &Swarm,
    r: &DeploymentRef,
    steps: &Steps,
) -> Result<(), HearthError> {
    let slug = Slug::parse(&r.workspace_slug)?;
    let docker = d.engine.client().await?;
    let template = d.config.template(r.tier);
    let services = services_by_role(d, &slug, &template).await?;
    d.relays.point_nowhere(slug.as_str());
    stop_in_reverse(d, &template, &services, steps).await?;
    let doors = objects::part(docker, &d.instance, &slug, Part::Door).await?;
    try_join_all(doors.iter().map(|s| async move {
        update(docker, s, spec::scaled(s.spec.clone(), 0), "hibernate").await?;
        steps.step(Step::Stopped, None, Some(s.name.clone()));
        Ok::<(), HearthError>(())
    }))
    .await?;
    let once: Vec<&str> = template
        .roles
        .iter()
        .filter(|r| r.once)
        .map(|r| r.name.as_str())
        .collect();
    d.wait_no_containers(&slug, &once).await
}

/// Scales `services` (one-shots' jobs aside: they have completed) to 0 in `template`'s reverse
/// start order, roles of no layer last, waiting for each group's tasks to stop; `stopped` is
/// recorded for every role, in that order.
async fn stop_in_reverse(
    d: &Swarm,
    template: &Template,
    services: &[Svc],
    steps: &Steps,
) -> Result<(), HearthError> {
    let docker = d.engine.client().await?;
    let layers = order::reverse_layers(template);
    let mut groups: Vec<Vec<Svc>> = layers
        .iter()
        .map(|l| {
            services
                .iter()
                .filter(|s| l.contains(&s.role))
                .cloned()
                .collect()
        })
        .collect();
    groups.push(
        services
            .iter()
            .filter(|s| !layers.iter().flatten().any(|r| *r == s.role))
            .cloned()
            .collect(),
    );
    for mut group in groups {
        try_join_all(group.iter().map(|s| async move {
            // A one-shot's job has completed: it is stopped already.
            if !spec::is_job(&s.spec) && s.replicas() != 0 {
                update(docker, s, spec::scaled(s.spec.clone(), 0), "stop").await?;
            }
            steps.step(Step::Stopped, Some(&s.role), None);
            Ok::<(), HearthError>(())
        }))
        .await?;
        group.retain(|s| !spec::is_job(&s.spec));
        d.wait_no_tasks(&group).await?;
    }
    Ok(())
}

/// Before a teardown removes everything at once: stops the roles of a template with an order
/// dependents first (a template of one layer has nothing to order). Best effort: a failure is
/// logged, and the removal that follows does the rest.
pub(super) async fn stop_dependents_first(d: &Swarm, slug: &Slug, services: &[Svc], steps: &Steps) {
    let tier = services.iter().find_map(|s| {
        s.spec
            .labels
            .as_ref()?
            .get(labels::TIER)?
            .parse::<Tier>()
            .ok()
    });
    let Some(tier) = tier else { return };
    let template = d.config.template(tier);
    if order::reverse_layers(&template).len() <= 1 {
        return;
    }
    d.relays.point_nowhere(slug.as_str());
    if let Err(e) = stop_in_reverse(d, &template, services, steps).await {
        warn!(workspace = %slug, error = %e, "stopping dependents first failed; removing all");
    }
}

/// Scales the door and every service role back to 1 in the template's order (one-shots run
/// again) and waits until each is ready (or completed) again.
pub(super) async fn wake(
    d: &Swarm,
    r: &DeploymentRef,
    steps: &Steps,
) -> Result<DeploymentRef, HearthError> {
    let slug = Slug::parse(&r.workspace_slug)?;
    let docker = d.engine.client().await?;
    let template = d.config.template(r.tier);
    let services = services_by_role(d, &slug, &template).await?;
    for door in objects::part(docker, &d.instance, &slug, Part::Door).await? {
        if door.replicas() != 1 {
            update(docker, &door, spec::scaled(door.spec.clone(), 1), "wake").await?;
            steps.step(Step::ScaledUp, None, Some(door.name.clone()));
        }
    }
    let network_id = network_id(docker, &d.instance, &slug).await?;
    let caps = caps_of(r);
    let tier = r.tier.as_str();
    let refs = context(&template, &slug, tier);
    let w = Workspace {
        d,
        docker,
        slug: &slug,
        network_id: &network_id,
        tier,
        labels: &d.config.extra_labels,
        caps: &caps,
        refs: &refs,
        template: &template,
    };
    let refs = order::bring_up(&template, |role, signal| {
        let s = services.iter().find(|s| s.role == role.name).cloned();
        let image = recorded_image(r, &role.name);
        let w = &w;
        async move {
            let s = s.ok_or_else(|| {
                HearthError::driver(format!("wake role {}", role.name), "its service is missing")
            })?;
            wake_role(w, role, &s, image, steps, &signal).await
        }
    })
    .await?;
    let made = Made {
        slug: &slug,
        tier: r.tier,
        caps,
        created: r.created,
    };
    Ok(finished(&template, made, refs))
}

async fn wake_role(
    w: &Workspace<'_>,
    role: &Role,
    s: &Svc,
    image: Resolved,
    steps: &Steps,
    signal: &Signal,
) -> Result<Option<ServiceRef>, HearthError> {
    if role.once {
        // Its recorded job, once more (a wake changes nothing of what it runs).
        let job = spec::forced(s.spec.clone());
        return rerun(w, role, s, job, image, steps, signal).await;
    }
    let before = task_ids(w.docker, &s.id).await?;
    if let Some(p) = s.relay_port() {
        w.d.relays
            .open(w.slug.as_str(), &role.name, Some(p))
            .await?;
    }
    if s.replicas() != 1 {
        update(w.docker, s, spec::scaled(s.spec.clone(), 1), "wake").await?;
    }
    steps.step(Step::ScaledUp, Some(&role.name), None);
    // A service that was never scaled down (a wake after a failed verb) keeps its running
    // task: accept it.
    let before = if s.replicas() == 1 {
        HashSet::new()
    } else {
        before
    };
    role::ready(w, role, &s.id, &before, image, steps, signal).await
}
