//! The service spec of one role: one replica (or none while hibernated) of the role's image,
//! with `init`, memory/CPU/pids limits, the role's data volume, the workspace's overlay
//! network (reached by name: `dnsrr`, since a virtual IP needs IPVS, which not every host has),
//! hearth's labels on the service, on its task containers and on the volume the task's node
//! creates for it, and its placement: the template's constraints, plus, once a task has run,
//! the node that holds its volume.

use std::collections::HashMap;

use bollard::models::{
    EndpointSpec, EndpointSpecModeEnum, Limit, Mount, MountType, MountVolumeOptions,
    NetworkAttachmentConfig, ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated, TaskSpec,
    TaskSpecContainerSpec, TaskSpecPlacement, TaskSpecResources,
};
use hearth_protocol::hearth::ResourceCaps;

use crate::driver::engine::EngineConfig;
use crate::labels;
use crate::slug::Slug;

/// Everything that differs between the roles and workspaces of one daemon.
#[derive(Debug, Clone)]
pub(super) struct RoleSpec<'a> {
    pub name: &'a str,
    pub role: &'a str,
    pub workspace: &'a Slug,
    /// The labels of the role's objects (instance, workspace, role, tier, operator's extras).
    pub labels: HashMap<String, String>,
    /// The image ID the task runs: pinned, so a tag moved or an image rebuilt under it never
    /// changes what a new task of the service (after a wake, a restart) runs, and the swarm
    /// does not try to pull it.
    pub image: &'a str,
    pub caps: &'a ResourceCaps,
    pub network_id: &'a str,
    pub volume: &'a str,
    /// Placement constraints: the template's, plus `node.id==…` of the node holding the
    /// role's volume once a task has run (see [`pinned`]).
    pub constraints: Vec<String>,
    /// The loopback port of the role's relay, kept on the service for a restarted daemon.
    pub relay_port: u16,
    pub replicas: i64,
    /// Raised to make the swarm replace the task even when nothing else changed (upgrade).
    pub force_update: u64,
}

/// The swarm service spec for `r`.
pub(super) fn service(config: &EngineConfig, r: &RoleSpec<'_>) -> ServiceSpec {
    let mut service_labels = r.labels.clone();
    service_labels.insert(labels::RELAY_PORT.into(), r.relay_port.to_string());
    let container = TaskSpecContainerSpec {
        image: Some(r.image.to_owned()),
        env: Some(crate::driver::engine::create::env(
            r.workspace,
            r.role,
            r.caps,
        )),
        // The task containers carry the same labels, so they are found (and swept) by label
        // like the Docker driver's containers.
        labels: Some(r.labels.clone()),
        init: Some(true),
        // The engine of the node the task lands on creates the volume (labelled, so it is found
        // and swept by label like every other object) the first time; later tasks, pinned to
        // that node, find it there.
        mounts: Some(vec![Mount {
            target: Some("/data".into()),
            source: Some(r.volume.to_owned()),
            typ: Some(MountType::VOLUME),
            volume_options: Some(MountVolumeOptions {
                labels: Some(r.labels.clone()),
                ..Default::default()
            }),
            ..Default::default()
        }]),
        stop_grace_period: Some(i64::from(config.stop_timeout_secs) * 1_000_000_000),
        ..Default::default()
    };
    ServiceSpec {
        name: Some(r.name.to_owned()),
        labels: Some(service_labels),
        task_template: Some(TaskSpec {
            container_spec: Some(container),
            resources: Some(TaskSpecResources {
                limits: Some(Limit {
                    nano_cpus: Some(config.nano_cpus),
                    memory_bytes: Some(config.memory_bytes),
                    pids: Some(config.pids_limit),
                }),
                ..Default::default()
            }),
            placement: Some(TaskSpecPlacement {
                constraints: Some(r.constraints.clone()),
                ..Default::default()
            }),
            networks: Some(vec![NetworkAttachmentConfig {
                target: Some(r.network_id.to_owned()),
                aliases: Some(vec![r.role.to_owned()]),
                ..Default::default()
            }]),
            force_update: Some(r.force_update),
            ..Default::default()
        }),
        mode: Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated {
                replicas: Some(r.replicas),
            }),
            ..Default::default()
        }),
        endpoint_spec: Some(dnsrr()),
        ..Default::default()
    }
}

/// Names that resolve to the tasks' own addresses: a virtual IP needs IPVS in the kernel.
pub(super) fn dnsrr() -> EndpointSpec {
    EndpointSpec {
        mode: Some(EndpointSpecModeEnum::DNSRR),
        ..Default::default()
    }
}

/// The prefix of the constraint that keeps a role on the node holding its volume.
const NODE_ID: &str = "node.id==";

/// The node a service is pinned to, if it is.
pub(super) fn pinned(spec: &ServiceSpec) -> Option<String> {
    constraints(spec)
        .iter()
        .find_map(|c| c.strip_prefix(NODE_ID).map(str::to_owned))
}

/// The placement constraints of a service spec.
pub(super) fn constraints(spec: &ServiceSpec) -> Vec<String> {
    spec.task_template
        .as_ref()
        .and_then(|t| t.placement.as_ref())
        .and_then(|p| p.constraints.clone())
        .unwrap_or_default()
}

/// `placement` (a template's constraints) with the pin to `node` added, if given.
pub(super) fn with_pin(placement: &[String], node: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> = placement
        .iter()
        .filter(|c| !c.starts_with(NODE_ID))
        .cloned()
        .collect();
    if let Some(node) = node {
        out.push(format!("{NODE_ID}{node}"));
    }
    out
}

/// `spec` pinned to `node`, everything else kept (the swarm does not restart a task whose node
/// still satisfies its new constraints).
pub(super) fn pin(mut spec: ServiceSpec, node: &str) -> ServiceSpec {
    let kept = with_pin(&constraints(&spec), Some(node));
    if let Some(t) = spec.task_template.as_mut() {
        t.placement.get_or_insert_with(Default::default).constraints = Some(kept);
    }
    spec
}

/// The replica count a service spec asks for.
pub(super) fn replicas(spec: &ServiceSpec) -> i64 {
    spec.mode
        .as_ref()
        .and_then(|m| m.replicated.as_ref())
        .and_then(|r| r.replicas)
        .unwrap_or(0)
}

/// `spec` scaled to `n` replicas, everything else kept.
pub(super) fn scaled(mut spec: ServiceSpec, n: i64) -> ServiceSpec {
    spec.mode = Some(ServiceSpecMode {
        replicated: Some(ServiceSpecModeReplicated { replicas: Some(n) }),
        ..Default::default()
    });
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_is_pinned_limited_labelled_and_initialised() {
        let config = EngineConfig::default();
        let caps = hearth_protocol::hearth::Tier::Solo.default_caps();
        let labels = HashMap::from([(labels::ROLE.to_owned(), "lore".to_owned())]);
        let s = service(
            &config,
            &RoleSpec {
                name: "hearth-x_ws_lore",
                role: "lore",
                workspace: &Slug::parse("ws").expect("slug"),
                labels,
                image: "sha256:abc",
                caps: &caps,
                network_id: "net1",
                volume: "hearth-x_ws_lore-data",
                constraints: with_pin(&["node.labels.zone==b".to_owned()], Some("node1")),
                relay_port: 40000,
                replicas: 1,
                force_update: 0,
            },
        );
        let t = s.task_template.clone().expect("task");
        let c = t.container_spec.expect("container");
        assert_eq!(c.init, Some(true));
        assert_eq!(c.image.as_deref(), Some("sha256:abc"));
        assert_eq!(c.labels.expect("labels")[labels::ROLE], "lore");
        assert_eq!(
            c.mounts.expect("mounts")[0].source.as_deref(),
            Some("hearth-x_ws_lore-data")
        );
        let limits = t.resources.and_then(|r| r.limits).expect("limits");
        assert_eq!(limits.pids, Some(config.pids_limit));
        assert_eq!(limits.memory_bytes, Some(config.memory_bytes));
        assert_eq!(
            t.placement
                .and_then(|p| p.constraints)
                .expect("constraints"),
            vec!["node.labels.zone==b", "node.id==node1"]
        );
        assert_eq!(pinned(&s).as_deref(), Some("node1"));
        assert_eq!(
            pinned(&pin(s.clone(), "node2")).as_deref(),
            Some("node2"),
            "a pin replaces the pin"
        );
        assert_eq!(constraints(&pin(s.clone(), "node2")).len(), 2);
        assert_eq!(
            s.labels.as_ref().expect("labels")[labels::RELAY_PORT],
            "40000"
        );
        assert_eq!(replicas(&s), 1);
        assert_eq!(replicas(&scaled(s, 0)), 0);
    }
}
