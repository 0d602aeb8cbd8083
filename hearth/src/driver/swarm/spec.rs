//! The service spec of one role: one replica (or none while hibernated) of the role's image,
//! with `init`, memory/CPU/pids limits, the role's data volume, the workspace's overlay
//! network, hearth's labels on the service and on its task containers, and a placement
//! constraint pinning the task to the node that holds its volume.

use std::collections::HashMap;

use bollard::models::{
    Limit, Mount, MountType, NetworkAttachmentConfig, ServiceSpec, ServiceSpecMode,
    ServiceSpecModeReplicated, TaskSpec, TaskSpecContainerSpec, TaskSpecPlacement,
    TaskSpecResources,
};
use hearth_protocol::hearth::ResourceCaps;

use crate::driver::docker::DockerConfig;
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
    /// The node that holds the volume.
    pub node_id: &'a str,
    /// The loopback port of the role's relay, kept on the service for a restarted daemon.
    pub relay_port: u16,
    pub replicas: i64,
    /// Raised to make the swarm replace the task even when nothing else changed (upgrade).
    pub force_update: u64,
}

/// The swarm service spec for `r`.
pub(super) fn service(config: &DockerConfig, r: &RoleSpec<'_>) -> ServiceSpec {
    let mut service_labels = r.labels.clone();
    service_labels.insert(labels::RELAY_PORT.into(), r.relay_port.to_string());
    let container = TaskSpecContainerSpec {
        image: Some(r.image.to_owned()),
        env: Some(crate::driver::docker::create::env(
            r.workspace,
            r.role,
            r.caps,
        )),
        // The task containers carry the same labels, so they are found (and swept) by label
        // like the Docker driver's containers.
        labels: Some(r.labels.clone()),
        init: Some(true),
        mounts: Some(vec![Mount {
            target: Some("/data".into()),
            source: Some(r.volume.to_owned()),
            typ: Some(MountType::VOLUME),
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
                constraints: Some(vec![format!("node.id=={}", r.node_id)]),
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
        ..Default::default()
    }
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
        let config = DockerConfig::default();
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
                node_id: "node1",
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
            vec!["node.id==node1"]
        );
        assert_eq!(
            s.labels.as_ref().expect("labels")[labels::RELAY_PORT],
            "40000"
        );
        assert_eq!(replicas(&s), 1);
        assert_eq!(replicas(&scaled(s, 0)), 0);
    }
}
