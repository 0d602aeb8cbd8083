//! What a template's role asks of any Engine-API backend, shared by the Docker and Swarm
//! drivers: the reference context (each role reached by its name on the workspace network),
//! the in-container ports a role publishes (its own and every port a probe asks on) and its
//! limits (its own, else the tier's).

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use hearth_protocol::hearth::{DeploymentRef, DriverName, ResourceCaps, ServiceRef, Tier};

use super::images::Resolved;
use super::EngineConfig;
use crate::slug::Slug;
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

/// Each role's resolved image, by role name (`resolved` is in the template's role order).
pub(crate) fn images_by_role(
    template: &Template,
    resolved: Vec<Resolved>,
) -> HashMap<String, Resolved> {
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
