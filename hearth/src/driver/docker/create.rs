//! Bringing a workspace up from its tier's template: provision (network, then the roles in
//! dependency order through `template::order`, each as `role` brings it up), upgrade (changed
//! roles recreated, in order, on the same network and volumes; unchanged ones kept) and wake
//! (hibernated containers started again in order, one-shots run again). A provision that
//! fails, or whose future is dropped, removes what it created.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::models::NetworkCreateRequest;
use bollard::query_parameters::{RemoveContainerOptions, StopContainerOptions};
use bollard::Docker;
use chrono::Utc;
use futures::future::try_join_all;
use hearth_protocol::hearth::{
    DeploymentRef, DriverName, ProvisioningProfile, ResourceCaps, ServiceRef, Tier,
};
use tracing::warn;

use super::role::{self, Workspace};
use super::{objects, LocalDocker};
use crate::driver::engine::create::{caps_of, recorded_image};
use crate::driver::engine::flavor::Capability;
use crate::driver::engine::objects::{network_id, Container};
use crate::driver::engine::removal::{self, StopOrder};
use crate::driver::engine::subnets;
use crate::driver::engine::template::{self, context, role_images, Made};
use crate::driver::engine::{is_not_found, map_err};
use crate::driver::{ContainerState, Step};
use crate::error::HearthError;
use crate::journal::Steps;
use crate::labels;
use crate::names::Names;
use crate::slug::Slug;
use crate::template::{order, Template};

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
    order: StopOrder,
    armed: bool,
}

impl Drop for RollbackOnDrop {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (docker, instance, slug, t, order) = (
            self.docker.clone(),
            self.instance.clone(),
            self.slug.clone(),
            self.stop_timeout_secs,
            self.order.clone(),
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
                removal::remove_in_order(&docker, &instance, &slug, t, &order, &steps).await?;
                tokio::time::sleep(LATE_CALL_GRACE).await;
                removal::remove_in_order(&docker, &instance, &slug, t, &order, &steps).await
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

/// Creates the workspace and waits until every role is ready (or, a one-shot, completed).
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
    let order = StopOrder::of(&d.config);
    let mut guard = RollbackOnDrop {
        pending: d.rollbacks.clone(),
        docker: docker.clone(),
        instance: d.instance.clone(),
        slug: slug.clone(),
        stop_timeout_secs: d.config.stop_timeout_secs,
        order: order.clone(),
        armed: true,
    };
    let built = build(d, docker, slug, profile, steps).await;
    guard.armed = false;
    if built.is_err() {
        let t = d.config.stop_timeout_secs;
        let undo = removal::remove_in_order(docker, &d.instance, slug, t, &order, steps);
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
    let template = d.config.template(profile.tier);
    let images = role_images(&d.engine, &d.config, &template, profile, steps).await?;
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
    };
    // Every role that started runs to its end (an engine call is never dropped half-way: it
    // could land after the rollback listed what to remove); the first failure stops the
    // others at their next wait.
    let services = order::bring_up(&template, |r, signal| {
        let image = images[&r.name].clone();
        let volume = Some(names.volume(&r.name));
        let w = &w;
        async move { role::bring_up(w, r, image, volume, steps, &signal).await }
    })
    .await?;
    Ok(reference(
        &template,
        slug,
        profile.tier,
        caps,
        Utc::now(),
        services.into_iter().flatten().collect(),
    ))
}

/// A stable per-workspace starting point in the subnet pool.
fn seed_of(slug: &Slug, instance: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (slug.as_str(), instance).hash(&mut h);
    h.finish()
}

/// The ref of a ready workspace: its front door is the template's.
fn reference(
    template: &Template,
    slug: &Slug,
    tier: Tier,
    caps: ResourceCaps,
    created: chrono::DateTime<Utc>,
    services: Vec<ServiceRef>,
) -> DeploymentRef {
    let made = Made {
        slug,
        tier,
        caps,
        created,
    };
    template::reference(DriverName::LocalDocker, template, made, services)
}

/// Stops and removes `c` (an upgrade replacing it).
async fn replace(
    d: &LocalDocker,
    docker: &Docker,
    c: &Container,
    steps: &Steps,
) -> Result<(), HearthError> {
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
}

/// Removes `gone` (the containers an upgrade replaces) dependents first, as a teardown does:
/// one group of `tier`'s reverse start order at a time, the roles of no layer last.
async fn remove_dependents_first(
    d: &LocalDocker,
    docker: &Docker,
    gone: &[Container],
    tier: &str,
    steps: &Steps,
) -> Result<(), HearthError> {
    let stop = StopOrder::of(&d.config);
    let mut groups: Vec<Vec<&Container>> = vec![gone.iter().collect()];
    if let Some(tier_layers) = stop.layers.get(tier) {
        groups = tier_layers
            .iter()
            .map(|l| gone.iter().filter(|c| l.contains(&c.role)).collect())
            .collect();
        groups.push(
            gone.iter()
                .filter(|c| !tier_layers.iter().flatten().any(|r| *r == c.role))
                .collect(),
        );
    }
    for group in groups {
        try_join_all(group.into_iter().map(|c| replace(d, docker, c, steps))).await?;
    }
    Ok(())
}

/// Recreates the roles of `profile`'s template whose container changed (image, command,
/// env, ports, volume, limits), in order, on the same network and volumes; roles that did
/// not change are kept (and probed again); roles the template no longer has are removed.
pub(crate) async fn upgrade(
    d: &LocalDocker,
    r: &DeploymentRef,
    profile: &ProvisioningProfile,
    steps: &Steps,
) -> Result<DeploymentRef, HearthError> {
    let slug = Slug::parse(&r.workspace_slug)?;
    let docker = d.engine.client().await?;
    d.engine.flavor().await?.require(Capability::Limits)?;
    let template = d.config.template(profile.tier);
    let images = role_images(&d.engine, &d.config, &template, profile, steps).await?;
    let network_id = network_id(docker, &d.instance, &slug).await?;
    // The roles keep the volumes they have, whatever they are named (a workspace made before
    // names carried the instance has volumes named `hearth_<slug>_<role>-data`).
    let volumes = removal::volumes(docker, &d.instance, &slug).await?;
    let names = Names::new(&d.instance, &slug);
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
    };
    let volume_of = |role: &str| {
        volumes
            .iter()
            .find(|(r, _)| r == role)
            .map_or_else(|| names.volume(role), |(_, v)| v.clone())
    };
    // What stays: a running service whose spec is what the new template makes of it.
    let old = objects::containers(d, Some(&slug)).await?;
    let keep: Vec<&Container> = old
        .iter()
        .filter(|c| {
            template.role(&c.role).is_some_and(|role| {
                let volume = volume_of(&role.name);
                !role.once
                    && c.state == ContainerState::RUNNING
                    && role::spec(&w, role, &images[&role.name], Some(&volume))
                        .is_ok_and(|s| s.hash == c.spec)
            })
        })
        .collect();
    let gone: Vec<Container> = old
        .iter()
        .filter(|c| !keep.iter().any(|k| k.id == c.id))
        .cloned()
        .collect();
    remove_dependents_first(d, docker, &gone, tier, steps).await?;
    let services = order::bring_up(&template, |r, signal| {
        let image = images[&r.name].clone();
        let kept = keep.iter().find(|c| c.role == r.name).map(|c| c.id.clone());
        let volume = Some(volume_of(&r.name));
        let w = &w;
        async move {
            match kept {
                Some(id) => role::wait(w, r, &id, image, steps, &signal).await,
                None => role::bring_up(w, r, image, volume, steps, &signal).await,
            }
        }
    })
    .await?;
    Ok(reference(
        &template,
        &slug,
        profile.tier,
        caps,
        r.created,
        services.into_iter().flatten().collect(),
    ))
}

/// Starts hibernated containers again in the template's order (one-shots run again) and
/// waits until each is ready; ports may have changed.
pub(crate) async fn wake(
    d: &LocalDocker,
    r: &DeploymentRef,
    steps: &Steps,
) -> Result<DeploymentRef, HearthError> {
    let slug = Slug::parse(&r.workspace_slug)?;
    let docker = d.engine.client().await?;
    d.engine.flavor().await?.require(Capability::Limits)?;
    let template = d.config.template(r.tier);
    let list = objects::containers(d, Some(&slug)).await?;
    if let Some(missing) = template
        .roles
        .iter()
        .find(|role| !list.iter().any(|c| c.role == role.name))
    {
        return Err(HearthError::driver(
            format!("wake {slug}"),
            format!(
                "the container of role {} was removed outside hearth",
                missing.name
            ),
        ));
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
    };
    let services = order::bring_up(&template, |role, signal| {
        let c = list.iter().find(|c| c.role == role.name);
        let image = recorded_image(r, &role.name);
        let w = &w;
        async move {
            let c = c.ok_or_else(|| {
                HearthError::driver(
                    format!("wake role {}", role.name),
                    "its container is missing",
                )
            })?;
            if c.state == ContainerState::PAUSED {
                docker
                    .unpause_container(&c.id)
                    .await
                    .map_err(|e| map_err(format!("unpause role {}", role.name), e))?;
                steps.step(Step::ContainerStarted, Some(&role.name), None);
                role::wait(w, role, &c.id, image, steps, &signal).await
            } else if c.state == ContainerState::RUNNING {
                role::wait(w, role, &c.id, image, steps, &signal).await
            } else {
                role::start(w, role, &c.id, image, steps, &signal).await
            }
        }
    })
    .await?;
    Ok(reference(
        &template,
        &slug,
        r.tier,
        caps,
        r.created,
        services.into_iter().flatten().collect(),
    ))
}
