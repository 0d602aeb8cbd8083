//! What a template's role asks of any Engine-API backend, shared by the Docker and Swarm
//! drivers: the reference context (each role reached by its name on the workspace network),
//! the in-container ports a role publishes (its own and every port a probe asks on) and its
//! limits (its own, else the tier's).

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hearth_protocol::hearth::{
    DeploymentRef, DriverName, ProvisioningProfile, ResourceCaps, ServiceRef, Tier,
};

use super::images::Resolved;
use super::{Engine, EngineConfig};
use crate::driver::probe::{self, Target, Wait};
use crate::error::HearthError;
use crate::journal::Steps;
use crate::slug::Slug;
use crate::step::Step;
use crate::template::order::Signal;
use crate::template::refs::Context;
use crate::template::{Probe, Role, Template};

/// The rendering context of `template`: each role reached by its name on the network (a
/// container's alias on Docker, a service's alias on the overlay on Swarm).
pub(crate) fn context(template: &Template, slug: &Slug, tier: &str) -> Context {
    Context {
        slug: slug.to_string(),
        tier: tier.to_owned(),
        roles: template
            .roles
            .iter()
            .map(|r| (r.name.clone(), (r.name.clone(), r.port)))
            .collect(),
    }
}

/// The in-container ports a role publishes: its own and every port a probe asks on.
pub(crate) fn ports(role: &Role) -> BTreeSet<u16> {
    fn walk(p: &Probe, out: &mut BTreeSet<u16>) {
        match p {
            Probe::Http { port: Some(p), .. } | Probe::Tcp { port: p, .. } => {
                out.insert(*p);
            }
            Probe::All(ps) | Probe::Any(ps) => ps.iter().for_each(|p| walk(p, out)),
            _ => {}
        }
    }
    let mut out: BTreeSet<u16> = role.port.into_iter().collect();
    walk(&role.ready.probe, &mut out);
    out
}

/// `role`'s whole environment (hearth's, the caps, the template's) and its command, with
/// references rendered against `refs`.
///
/// # Errors
/// A reference the template's roles cannot fill (the config check refuses those first).
pub(crate) fn rendered(
    role: &Role,
    refs: &Context,
    slug: &Slug,
    caps: &ResourceCaps,
) -> Result<(Vec<String>, Option<Vec<String>>), HearthError> {
    let render = |text: &str| {
        crate::template::refs::render(text, refs).map_err(|e| {
            HearthError::driver(format!("render the references of role {}", role.name), e)
        })
    };
    let mut env = super::create::env(slug, &role.name, caps);
    for (k, v) in &role.env {
        env.push(format!("{k}={}", render(v)?));
    }
    let command = match &role.command {
        Some(c) => Some(c.iter().map(|a| render(a)).collect::<Result<Vec<_>, _>>()?),
        None => None,
    };
    Ok((env, command))
}

/// `role`'s memory (bytes), CPU (nano-CPUs) and PID limits: its own, else the tier's.
pub(crate) fn limits(role: &Role, config: &EngineConfig) -> (i64, i64, i64) {
    let own = role.limits;
    let memory = own
        .and_then(|l| l.memory_mb)
        .map_or(config.memory_bytes, |mb| (mb * 1024 * 1024) as i64);
    let nano_cpus = own
        .and_then(|l| l.cpus)
        .map_or(config.nano_cpus, |c| (c * 1e9) as i64);
    let pids = own.and_then(|l| l.pids).unwrap_or(config.pids_limit);
    (memory, nano_cpus, pids)
}
/// Whether a probe of `probe`'s tree looks inside the role's container (`exec`,
/// `healthcheck`), which needs the engine that runs it.
pub(crate) fn looks_inside(probe: &Probe) -> bool {
    match probe {
        Probe::Exec { .. } | Probe::Healthcheck { .. } => true,
        Probe::All(ps) | Probe::Any(ps) => ps.iter().any(looks_inside),
        _ => false,
    }
}

/// Each role's image for `profile`'s `template`, by role name: the per-workspace overrides
/// (`<role>_image`) checked, then every image resolved as a provision resolves it (the lock,
/// the pull policy).
///
/// # Errors
/// `invalid_request` for an override naming no role of the tier or no image reference; the
/// resolution's errors.
pub(crate) async fn role_images(
    engine: &Engine,
    config: &EngineConfig,
    template: &Template,
    profile: &ProvisioningProfile,
    steps: &Steps,
) -> Result<HashMap<String, Resolved>, HearthError> {
    template
        .check_image_flags(profile)
        .map_err(|message| HearthError::InvalidRequest { message })?;
    let resolved =
        super::images::resolve_all(engine, config, template, Some(profile), steps).await?;
    Ok(images_by_role(template, resolved))
}

/// Each role's resolved image, by role name (`resolved` is in the template's role order).
fn images_by_role(template: &Template, resolved: Vec<Resolved>) -> HashMap<String, Resolved> {
    template
        .roles
        .iter()
        .map(|r| r.name.clone())
        .zip(resolved)
        .collect()
}

/// The ref of a ready workspace of `template`: its endpoint is the front door's.
pub(crate) fn reference(
    driver: DriverName,
    template: &Template,
    made: Made,
    services: Vec<ServiceRef>,
) -> DeploymentRef {
    let Made {
        slug,
        tier,
        caps,
        created,
    } = made;
    let mut r = crate::driver::ready_ref(driver, slug, tier, caps, created, services);
    r.endpoint = r
        .services
        .iter()
        .find(|s| s.role == template.front_door)
        .map(|s| s.endpoint.clone())
        .unwrap_or_default();
    r
}

/// What a workspace's ref says of how it was made.
#[derive(Debug, Clone)]
pub(crate) struct Made<'a> {
    pub slug: &'a Slug,
    pub tier: Tier,
    pub caps: ResourceCaps,
    pub created: DateTime<Utc>,
}

/// One started role to wait for, as every Engine-API backend waits for it.
pub(crate) struct Awaited<'a> {
    pub role: &'a Role,
    /// The role as the probes see it.
    pub target: &'a dyn Target,
    /// The daemon's readiness timeout (the bound when the template sets none).
    pub default_timeout: Duration,
    pub image: Resolved,
    pub container_id: String,
}

/// Waits for a started role: a one-shot until it exits 0 (`None`: it offers no service), a
/// service until its probe passes (its ref, its endpoint the loopback address of its port;
/// `role_ready` recorded).
///
/// # Errors
/// The probe's failure, the role's exit, or the cancellation of the run.
pub(crate) async fn wait_role(
    a: Awaited<'_>,
    steps: &Steps,
    signal: &Signal,
) -> Result<Option<ServiceRef>, HearthError> {
    let role = a.role;
    if role.once {
        let timeout = role.ready.timeout.unwrap_or(a.default_timeout);
        probe::wait_completed(a.target, timeout, steps, Some(signal)).await?;
        return Ok(None);
    }
    let how = Wait {
        ready: &role.ready,
        port: role.port,
        default_timeout: a.default_timeout,
    };
    probe::wait_ready(a.target, how, steps, Some(signal)).await?;
    let endpoint = role
        .port
        .and_then(|p| a.target.published(p))
        .map(|addr| format!("http://{addr}"))
        .unwrap_or_default();
    steps.step(Step::RoleReady, Some(&role.name), Some(endpoint.clone()));
    Ok(Some(ServiceRef {
        role: role.name.clone(),
        image: a.image.image,
        image_digest: a.image.id,
        container_id: a.container_id,
        endpoint,
    }))
}
