//! Listing every object of this daemon instance and removing a workspace's, always by label
//! (shared by the Docker and Swarm drivers: a Swarm task's container is removed here too). Removal
//! stops services gracefully (SIGTERM through the container's init, then the engine's stop
//! timeout), removes containers, then the network, then the volumes — each group in parallel —
//! and treats "already gone" as done, so teardown is idempotent.

use bollard::models::Volume;
use bollard::query_parameters::{
    ListVolumesOptions, RemoveContainerOptions, RemoveVolumeOptions, StopContainerOptions,
};
use bollard::Docker;
use futures::future::try_join_all;

use super::objects::{label_of, list_containers, list_networks, summaries, Container};
use super::EngineConfig;
use super::{is_not_found, map_err, Engine};
use crate::driver::{ContainerState, Step};
use crate::driver::{ObjectKind, Owned, SOLO_ROLES};
use crate::error::HearthError;
use crate::journal::Steps;
use crate::labels;
use crate::names::Names;
use crate::slug::Slug;
use crate::template::order::reverse_layers;
use hearth_protocol::hearth::Tier;
use std::collections::{BTreeMap, BTreeSet};

/// Every object of this instance, for reconciliation at start.
///
/// # Errors
/// `docker_unavailable` or a driver failure.
pub(crate) async fn owned(engine: &Engine, instance: &str) -> Result<Vec<Owned>, HearthError> {
    let docker = engine.client().await?;
    let slug_of =
        |l: Option<&std::collections::HashMap<String, String>>| label_of(l, labels::WORKSPACE);
    let mut out = Vec::new();
    for c in summaries(docker, labels::filter(instance, None))
        .await
        .map_err(|e| map_err("list containers", e))?
    {
        out.push(Owned {
            slug: slug_of(c.labels.as_ref()),
            kind: ObjectKind::Container,
            name: c
                .names
                .unwrap_or_default()
                .join(",")
                .trim_start_matches('/')
                .to_owned(),
            state: c.state.map(|s| s.to_string()),
        });
    }
    for n in list_networks(docker, instance, None).await? {
        out.push(Owned {
            slug: slug_of(n.labels.as_ref()),
            kind: ObjectKind::Network,
            name: n.name.unwrap_or_default(),
            state: None,
        });
    }
    for v in labelled_volumes(docker, instance, None).await? {
        out.push(Owned {
            slug: slug_of(Some(&v.labels)),
            kind: ObjectKind::Volume,
            name: v.name,
            state: None,
        });
    }
    Ok(out)
}

/// The data volumes of `slug` owned by `instance`, as (role, name).
///
/// # Errors
/// `docker_unavailable` or a driver failure.
pub(crate) async fn volumes(
    docker: &Docker,
    instance: &str,
    slug: &Slug,
) -> Result<Vec<(String, String)>, HearthError> {
    Ok(labelled_volumes(docker, instance, Some(slug))
        .await?
        .into_iter()
        .map(|v| {
            let role = v.labels.get(labels::ROLE).cloned().unwrap_or_default();
            (role, v.name)
        })
        .collect())
}

/// The order a workspace's roles stop in, per tier: the reverse of their start order, and
/// every role name any template has (to find orphans by name).
#[derive(Debug, Clone, Default)]
pub(crate) struct StopOrder {
    /// Tier → groups of roles; a group stops once the groups before it have.
    pub layers: BTreeMap<String, Vec<Vec<String>>>,
    pub roles: BTreeSet<String>,
}

impl StopOrder {
    /// The stop order of every tier `config` knows.
    pub(crate) fn of(config: &EngineConfig) -> StopOrder {
        let mut order = StopOrder::default();
        for tier in [Tier::Solo, Tier::Team, Tier::Studio, Tier::Bespoke] {
            let t = config.template(tier);
            order.roles.extend(t.roles.iter().map(|r| r.name.clone()));
            order
                .layers
                .insert(tier.as_str().to_owned(), reverse_layers(&t));
        }
        order
    }

    /// `containers` in groups to stop one after the other: roles the order does not know
    /// first, then each layer of their tier's.
    pub(crate) fn groups<'c>(&self, containers: &'c [Container]) -> Vec<Vec<&'c Container>> {
        let tier = containers.first().map(|c| c.tier.as_str()).unwrap_or("");
        let layers = self.layers.get(tier).cloned().unwrap_or_default();
        let known: BTreeSet<&str> = layers.iter().flatten().map(String::as_str).collect();
        let mut out = vec![containers
            .iter()
            .filter(|c| !known.contains(c.role.as_str()))
            .collect::<Vec<_>>()];
        for layer in &layers {
            out.push(
                containers
                    .iter()
                    .filter(|c| layer.contains(&c.role))
                    .collect(),
            );
        }
        out.retain(|g| !g.is_empty());
        out
    }
}

/// Removes every object of `slug` owned by `instance`, containers in no particular order.
/// Idempotent.
///
/// # Errors
/// `docker_unavailable` or a driver failure naming the object.
pub(crate) async fn remove_all(
    docker: &Docker,
    instance: &str,
    slug: &Slug,
    stop_timeout_secs: i32,
    steps: &Steps,
) -> Result<(), HearthError> {
    let order = StopOrder {
        layers: BTreeMap::new(),
        roles: SOLO_ROLES.iter().map(|r| (*r).to_owned()).collect(),
    };
    remove_in_order(docker, instance, slug, stop_timeout_secs, &order, steps).await
}

/// Removes every object of `slug` owned by `instance`, its roles stopping in `order`.
/// Idempotent.
///
/// # Errors
/// `docker_unavailable` or a driver failure naming the object.
pub(crate) async fn remove_in_order(
    docker: &Docker,
    instance: &str,
    slug: &Slug,
    stop_timeout_secs: i32,
    order: &StopOrder,
    steps: &Steps,
) -> Result<(), HearthError> {
    let containers = list_containers(docker, instance, Some(slug)).await?;
    for group in order.groups(&containers) {
        remove_containers(docker, &group, stop_timeout_secs, steps).await?;
    }
    remove_rest(docker, instance, slug, order, steps).await
}

/// Stops (gracefully) and removes `containers`, in parallel.
async fn remove_containers(
    docker: &Docker,
    containers: &[&Container],
    stop_timeout_secs: i32,
    steps: &Steps,
) -> Result<(), HearthError> {
    try_join_all(containers.iter().map(|c| async move {
        if c.state == ContainerState::PAUSED {
            // A frozen process cannot receive SIGTERM.
            ignore_gone(docker.unpause_container(&c.id).await, || {
                format!("unpause role {}", c.role)
            })?;
        }
        if matches!(
            c.state,
            ContainerState::RUNNING | ContainerState::PAUSED | ContainerState::RESTARTING
        ) {
            let stop = StopContainerOptions {
                t: Some(stop_timeout_secs),
                signal: None,
            };
            ignore_gone(docker.stop_container(&c.id, Some(stop)).await, || {
                format!("stop the container of role {}", c.role)
            })?;
        }
        let rm = RemoveContainerOptions {
            force: true,
            // Anonymous volumes an image declares go with the container; the named data
            // volumes are removed below, by label.
            v: true,
            link: false,
        };
        ignore_gone(docker.remove_container(&c.id, Some(rm)).await, || {
            format!("remove the container of role {}", c.role)
        })?;
        steps.step(Step::ContainerRemoved, Some(&c.role), None);
        Ok::<(), HearthError>(())
    }))
    .await?;
    Ok(())
}

/// The network and volumes of `slug`, once its containers are gone; then a check that
/// nothing is left.
async fn remove_rest(
    docker: &Docker,
    instance: &str,
    slug: &Slug,
    order: &StopOrder,
    steps: &Steps,
) -> Result<(), HearthError> {
    let networks = list_networks(docker, instance, Some(slug)).await?;
    try_join_all(networks.into_iter().map(|n| async move {
        let id = n.id.unwrap_or_default();
        ignore_missing(docker.remove_network(&id).await, || {
            format!("remove network {id}")
        })?;
        steps.step(Step::NetworkRemoved, None, n.name);
        Ok::<(), HearthError>(())
    }))
    .await?;

    try_join_all(
        labelled_volumes(docker, instance, Some(slug))
            .await?
            .into_iter()
            .map(|v| async move {
                let rm = RemoveVolumeOptions { force: true };
                ignore_missing(docker.remove_volume(&v.name, Some(rm)).await, || {
                    format!("remove volume {}", v.name)
                })?;
                steps.step(Step::VolumeRemoved, None, Some(v.name));
                Ok::<(), HearthError>(())
            }),
    )
    .await?;
    remove_unlabelled_orphans(docker, instance, slug, &order.roles, steps).await;
    // Whatever is still labelled for the workspace now was not removed: say what.
    let left: Vec<String> = list_containers(docker, instance, Some(slug))
        .await?
        .into_iter()
        .map(|c| format!("container of role {}", c.role))
        .chain(
            labelled_volumes(docker, instance, Some(slug))
                .await?
                .into_iter()
                .map(|v| format!("volume {}", v.name)),
        )
        .collect();
    if !left.is_empty() {
        return Err(HearthError::driver(
            format!("remove every object of {slug}"),
            format!("still there: {}; something else uses them or created them meanwhile — call teardown again", left.join(", ")),
        ));
    }
    Ok(())
}

/// A container create still in flight when its provision was abandoned can land after the
/// rollback removed the role's volume; the engine (Podman notably) then makes the volume anew,
/// unlabelled, under this instance's name for it. A volume with that exact name and no labels
/// at all is such an orphan: the name carries this daemon's instance, and hearth's own volumes
/// always carry labels. Best effort: one that is in use is left, and logged.
async fn remove_unlabelled_orphans(
    docker: &Docker,
    instance: &str,
    slug: &Slug,
    roles: &BTreeSet<String>,
    steps: &Steps,
) {
    let names = Names::new(instance, slug);
    for role in roles {
        let name = names.volume(role);
        let Ok(v) = docker.inspect_volume(&name).await else {
            continue;
        };
        if !v.labels.is_empty() {
            continue;
        }
        match docker
            .remove_volume(&name, Some(RemoveVolumeOptions { force: false }))
            .await
        {
            Ok(()) => steps.step(Step::VolumeRemoved, Some(role.as_str()), Some(name)),
            Err(e) => {
                tracing::warn!(workspace = %slug, volume = %name, error = %e, "unlabelled orphan volume left")
            }
        }
    }
}

/// The volumes of `instance` (and of `slug`), whole. The engine is asked by label and its answer is
/// checked again here: Podman 4.3 matches several `label` filters on volumes if ANY holds
/// (on containers and networks, if all do), and a teardown must never remove the data of
/// another workspace.
async fn labelled_volumes(
    docker: &Docker,
    instance: &str,
    slug: Option<&Slug>,
) -> Result<Vec<Volume>, HearthError> {
    let filters = labels::filter(instance, slug);
    let wanted: Vec<(String, String)> = filters
        .values()
        .flatten()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let listed = docker
        .list_volumes(Some(ListVolumesOptions {
            filters: Some(filters),
        }))
        .await
        .map_err(|e| map_err("list volumes", e))?;
    Ok(listed
        .volumes
        .unwrap_or_default()
        .into_iter()
        .filter(|v| wanted.iter().all(|(k, val)| v.labels.get(k) == Some(val)))
        .collect())
}

/// For networks and volumes only "no such object" means done: a 409 there means "in use",
/// and a teardown that leaves it behind must say so.
fn ignore_missing(
    r: Result<(), bollard::errors::Error>,
    attempted: impl FnOnce() -> String,
) -> Result<(), HearthError> {
    match r {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(map_err(attempted(), e)),
    }
}

/// For containers: gone, or already being removed or stopped, all count as done.
fn ignore_gone(
    r: Result<(), bollard::errors::Error>,
    attempted: impl FnOnce() -> String,
) -> Result<(), HearthError> {
    match r {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        // Removal already under way, or a stop of a container that just stopped.
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 304 | 409,
            ..
        }) => Ok(()),
        Err(e) => Err(map_err(attempted(), e)),
    }
}
