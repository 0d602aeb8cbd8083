//! Listing and removing a swarm workspace, always by label: its services, then (through the
//! Docker driver's removal, which the task containers, network and volumes share with it)
//! everything else. Removal is idempotent and waits until the tasks' containers are gone, so
//! the volumes they held can go too.

use std::time::{Duration, Instant};

use bollard::models::{ObjectVersion, ServiceSpec};
use bollard::query_parameters::ListServicesOptions;
use bollard::Docker;

use super::spec;
use crate::driver::engine::objects::{label_of, list_networks};
use crate::driver::engine::removal;
use crate::driver::engine::{is_not_found, map_err, Engine};
use crate::driver::{ObjectKind, Owned};
use crate::driver_error::DriverError;
use crate::error::HearthError;
use crate::journal::Steps;
use crate::labels;
use crate::slug::Slug;
use crate::step::Step;

/// How long a teardown keeps retrying while the swarm lets go of the workspace's network and
/// volumes (the manager frees a network only once the tasks on it are gone).
const SETTLE: Duration = Duration::from_secs(30);

/// A service of a workspace that is no role of it (label [`labels::SWARM_PART`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Part {
    /// The forwarder on hearth's node (`door`).
    Door,
    /// A one-off job removing volumes on a worker node (`cleanup`).
    Cleanup,
}

impl Part {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Part::Door => "door",
            Part::Cleanup => "cleanup",
        }
    }

    fn parse(s: &str) -> Option<Part> {
        [Part::Door, Part::Cleanup]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// A service of a workspace as the swarm lists it: a role's, or one of its [`Part`]s.
#[derive(Debug, Clone)]
pub(super) struct Svc {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub role: String,
    /// `None` for a role's service.
    pub part: Option<Part>,
    pub version: Option<ObjectVersion>,
    pub spec: ServiceSpec,
}

impl Svc {
    /// The replicas the service asks for (1 when live, 0 when hibernated).
    pub(super) fn replicas(&self) -> i64 {
        spec::replicas(&self.spec)
    }

    /// The loopback relay port written on the service, if any.
    pub(super) fn relay_port(&self) -> Option<u16> {
        self.spec
            .labels
            .as_ref()
            .and_then(|l| l.get(labels::RELAY_PORT))
            .and_then(|p| p.parse().ok())
    }

    /// The version an update of the service must name.
    ///
    /// # Errors
    /// A driver failure if the swarm's version does not fit the API's field.
    pub(super) fn version(&self) -> Result<i32, HearthError> {
        let index = self.version.as_ref().and_then(|v| v.index).unwrap_or(0);
        i32::try_from(index).map_err(|e| {
            HearthError::driver(format!("update service {} (version {index})", self.name), e)
        })
    }
}

/// This instance's role services (not doors, not cleanup jobs), of one workspace or all.
///
/// # Errors
/// `docker_unavailable` or a driver failure.
pub(super) async fn services(
    docker: &Docker,
    instance: &str,
    slug: Option<&Slug>,
) -> Result<Vec<Svc>, HearthError> {
    let mut all = every_service(docker, instance, slug).await?;
    all.retain(|s| s.part.is_none());
    Ok(all)
}

/// `slug`'s services that are its `part`.
///
/// # Errors
/// `docker_unavailable` or a driver failure.
pub(super) async fn part(
    docker: &Docker,
    instance: &str,
    slug: &Slug,
    part: Part,
) -> Result<Vec<Svc>, HearthError> {
    let mut all = every_service(docker, instance, Some(slug)).await?;
    all.retain(|s| s.part == Some(part));
    Ok(all)
}

/// Every service of this instance (roles, doors, cleanup jobs), of one workspace or all.
///
/// # Errors
/// `docker_unavailable` or a driver failure.
pub(super) async fn every_service(
    docker: &Docker,
    instance: &str,
    slug: Option<&Slug>,
) -> Result<Vec<Svc>, HearthError> {
    let list = docker
        .list_services(Some(ListServicesOptions {
            filters: Some(labels::filter(instance, slug)),
            ..Default::default()
        }))
        .await
        .map_err(|e| map_err("list services", e))?;
    Ok(list
        .into_iter()
        .map(|s| {
            let spec = s.spec.unwrap_or_default();
            let label = |k: &str| label_of(spec.labels.as_ref(), k);
            Svc {
                id: s.id.unwrap_or_default(),
                name: spec.name.clone().unwrap_or_default(),
                slug: label(labels::WORKSPACE),
                role: label(labels::ROLE),
                part: Part::parse(&label(labels::SWARM_PART)),
                version: s.version,
                spec,
            }
        })
        .collect())
}

/// Every object of this instance: services, their task containers, networks and volumes.
///
/// # Errors
/// `docker_unavailable` or a driver failure.
pub(super) async fn owned(engine: &Engine, instance: &str) -> Result<Vec<Owned>, HearthError> {
    let docker = engine.client().await?;
    let mut out: Vec<Owned> = every_service(docker, instance, None)
        .await?
        .into_iter()
        .map(|s| Owned {
            state: Some(format!("replicas={}", s.replicas())),
            slug: s.slug,
            kind: ObjectKind::Service,
            name: s.name,
        })
        .collect();
    out.extend(removal::owned(engine, instance).await?);
    Ok(out)
}

/// Removes every object of `slug` owned by `instance` on hearth's node: services first (so the
/// swarm starts no new task; cleanup jobs excepted, `cleanup` settles those), then the task
/// containers, the network and the volumes. Idempotent.
///
/// # Errors
/// `docker_unavailable`, or a driver failure naming what is still there after [`SETTLE`].
pub(super) async fn remove_all(
    docker: &Docker,
    instance: &str,
    slug: &Slug,
    stop_timeout_secs: i32,
    steps: &Steps,
) -> Result<(), HearthError> {
    let deadline = Instant::now() + SETTLE;
    loop {
        // Listed again each round: a create that was in flight when a provision stopped can
        // land after the first listing.
        let mut doomed = every_service(docker, instance, Some(slug)).await?;
        doomed.retain(|s| s.part != Some(Part::Cleanup));
        for s in doomed {
            match docker.delete_service(&s.id).await {
                Ok(()) => steps.step(Step::ServiceRemoved, Some(&s.role), Some(s.name)),
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(map_err(format!("remove service {}", s.name), e)),
            }
        }
        let swept = removal::remove_all(docker, instance, slug, stop_timeout_secs, steps).await;
        let mut services_left = every_service(docker, instance, Some(slug)).await?;
        services_left.retain(|s| s.part != Some(Part::Cleanup));
        // A removed overlay network stays listed on the node until its agent lets go of it.
        let networks_left = list_networks(docker, instance, Some(slug)).await?.len();
        match swept {
            Ok(()) if services_left.is_empty() && networks_left == 0 => return Ok(()),
            Err(e @ HearthError::Driver(DriverError::Unavailable { .. })) => return Err(e),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Ok(()) if Instant::now() >= deadline => {
                return Err(HearthError::driver(
                    format!("remove every service of {slug}"),
                    format!(
                    "still there after {SETTLE:?}: {} service(s) ({}), {networks_left} network(s)",
                    services_left.len(),
                    services_left
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                ))
            }
            // The manager frees the network (and the node the volumes) a moment after the
            // tasks are gone: look again shortly.
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
