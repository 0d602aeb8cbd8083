//! Listing and removing the engine objects of this daemon instance, always by label. Removal
//! stops services gracefully (SIGTERM through the container's init, then the engine's stop
//! timeout), removes containers, then the network, then the volumes — each group in parallel —
//! and treats "already gone" as done, so teardown is idempotent.

use bollard::models::Volume;
use bollard::query_parameters::{
    ListContainersOptions, ListNetworksOptions, ListVolumesOptions, RemoveContainerOptions,
    RemoveVolumeOptions, StopContainerOptions,
};
use bollard::Docker;
use futures::future::try_join_all;
use hearth_protocol::hearth::DeploymentRef;

use super::LocalDocker;
use crate::driver::engine::{is_not_found, map_err, map_refusal, Engine};
use crate::driver::{ObjectKind, Owned, SOLO_ROLES};
use crate::error::HearthError;
use crate::journal::Steps;
use crate::labels;
use crate::names::Names;
use crate::slug::Slug;

/// A container of a workspace as listed by the engine.
#[derive(Debug, Clone)]
pub struct Container {
    pub id: String,
    pub role: String,
    pub state: String,
}

/// The containers of `slug` (or of every workspace) owned by this instance.
///
/// # Errors
/// `docker_unavailable` or a driver failure.
pub async fn containers(
    d: &LocalDocker,
    slug: Option<&Slug>,
) -> Result<Vec<Container>, HearthError> {
    list_containers(d.engine.client().await?, &d.instance, slug).await
}

/// The containers of `slug` (or of every workspace) owned by `instance`.
///
/// # Errors
/// `docker_unavailable` or a driver failure.
pub async fn list_containers(
    docker: &Docker,
    instance: &str,
    slug: Option<&Slug>,
) -> Result<Vec<Container>, HearthError> {
    let list = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(labels::filter(instance, slug)),
            ..Default::default()
        }))
        .await
        .map_err(|e| map_err("list containers", e))?;
    Ok(list
        .into_iter()
        .map(|c| {
            let labels = c.labels.unwrap_or_default();
            Container {
                id: c.id.unwrap_or_default(),
                role: labels.get(labels::ROLE).cloned().unwrap_or_default(),
                state: c.state.map(|s| s.to_string()).unwrap_or_default(),
            }
        })
        .collect())
}

/// Every object of this instance, for reconciliation at start.
///
/// # Errors
/// `docker_unavailable` or a driver failure.
pub async fn owned(engine: &Engine, instance: &str) -> Result<Vec<Owned>, HearthError> {
    let docker = engine.client().await?;
    let filters = labels::filter(instance, None);
    let slug_of = |l: Option<&std::collections::HashMap<String, String>>| {
        l.and_then(|l| l.get(labels::WORKSPACE))
            .cloned()
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    for c in docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters.clone()),
            ..Default::default()
        }))
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
    for n in docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(filters.clone()),
        }))
        .await
        .map_err(|e| map_err("list networks", e))?
    {
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

/// The ID of `slug`'s network owned by `instance`.
///
/// # Errors
/// A driver failure if it is gone, `docker_unavailable`.
pub async fn network_id(
    docker: &Docker,
    instance: &str,
    slug: &Slug,
) -> Result<String, HearthError> {
    let networks = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(labels::filter(instance, Some(slug))),
        }))
        .await
        .map_err(|e| map_err("list networks", e))?;
    networks.into_iter().find_map(|n| n.id).ok_or_else(|| {
        HearthError::driver(
            format!("find the network of {slug}"),
            "it was removed outside hearth",
        )
    })
}

/// The data volumes of `slug` owned by `instance`, as (role, name).
///
/// # Errors
/// `docker_unavailable` or a driver failure.
pub async fn volumes(
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

/// Removes every object of `slug` owned by `instance`. Idempotent.
///
/// # Errors
/// `docker_unavailable` or a driver failure naming the object.
pub async fn remove_all(
    docker: &Docker,
    instance: &str,
    slug: &Slug,
    stop_timeout_secs: i32,
    steps: &Steps,
) -> Result<(), HearthError> {
    let containers = list_containers(docker, instance, Some(slug)).await?;
    try_join_all(containers.iter().map(|c| async move {
        if c.state == "paused" {
            // A frozen process cannot receive SIGTERM.
            ignore_gone(docker.unpause_container(&c.id).await, || {
                format!("unpause role {}", c.role)
            })?;
        }
        if c.state == "running" || c.state == "paused" || c.state == "restarting" {
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
        steps.record("container_removed", Some(&c.role), None);
        Ok::<(), HearthError>(())
    }))
    .await?;

    let filters = labels::filter(instance, Some(slug));
    let networks = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(filters.clone()),
        }))
        .await
        .map_err(|e| map_err("list networks", e))?;
    try_join_all(networks.into_iter().map(|n| async move {
        let id = n.id.unwrap_or_default();
        ignore_missing(docker.remove_network(&id).await, || {
            format!("remove network {id}")
        })?;
        steps.record("network_removed", None, n.name);
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
                steps.record("volume_removed", None, Some(v.name));
                Ok::<(), HearthError>(())
            }),
    )
    .await?;
    remove_unlabelled_orphans(docker, instance, slug, steps).await;
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
async fn remove_unlabelled_orphans(docker: &Docker, instance: &str, slug: &Slug, steps: &Steps) {
    let names = Names::new(instance, slug);
    for role in SOLO_ROLES {
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
            Ok(()) => steps.record("volume_removed", Some(role), Some(name)),
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

/// Whether `role`'s container still runs: a driver failure naming its exit if not (the check
/// readiness makes while it waits).
///
/// # Errors
/// A driver failure if the container stopped, `docker_unavailable`.
pub async fn ensure_running(
    engine: &Engine,
    container: &str,
    role: &str,
) -> Result<(), HearthError> {
    let docker = engine.client().await?;
    let info = docker
        .inspect_container(container, None)
        .await
        .map_err(|e| map_err(format!("inspect the container of role {role}"), e))?;
    let state = info.state.unwrap_or_default();
    if state.running == Some(true) {
        return Ok(());
    }
    Err(HearthError::driver(
        format!("start role {role}"),
        format!(
            "its container stopped (status {:?}, exit code {}); see `docker logs {container}`",
            state.status.map(|s| s.to_string()).unwrap_or_default(),
            state.exit_code.unwrap_or_default()
        ),
    ))
}

/// A per-container lifecycle action.
#[derive(Debug, Clone, Copy)]
pub enum Action {
    Pause,
    Unpause,
    Stop,
}

/// Applies `action` to every container of `r`'s workspace, in parallel.
///
/// # Errors
/// `docker_unavailable`, or a driver failure naming the role.
pub async fn each_container(
    d: &LocalDocker,
    r: &DeploymentRef,
    action: Action,
    steps: &Steps,
) -> Result<(), HearthError> {
    let slug = Slug::parse(&r.workspace_slug)?;
    let docker = d.engine.client().await?;
    let list = containers(d, Some(&slug)).await?;
    if list.is_empty() {
        return Err(HearthError::driver(
            format!("find the containers of {slug}"),
            "none exist; they were removed outside hearth",
        ));
    }
    try_join_all(list.iter().map(|c| async move {
        let (res, verb, step) = match action {
            Action::Pause => (docker.pause_container(&c.id).await, "pause", "paused"),
            Action::Unpause => (docker.unpause_container(&c.id).await, "resume", "resumed"),
            Action::Stop => {
                let stop = StopContainerOptions {
                    t: Some(d.config.stop_timeout_secs),
                    signal: None,
                };
                (
                    docker.stop_container(&c.id, Some(stop)).await,
                    "stop",
                    "stopped",
                )
            }
        };
        match res {
            Ok(()) => {}
            // A stop of a container that is already stopped: the state asked for holds.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => {}
            Err(e) => return Err(map_refusal(format!("{verb} role {}", c.role), e)),
        }
        steps.record(step, Some(&c.role), None);
        Ok::<(), HearthError>(())
    }))
    .await?;
    Ok(())
}
