//! The service spec of one role: one replica (or none while hibernated) of the role's image,
//! or, for a one-shot, a replicated job of one completion that is never restarted; with the
//! template's command and environment, `init`, memory/CPU/pids limits, the role's volume at
//! the template's mount path, its spec hash, the workspace's overlay (its alias the role's name)
//! network (reached by name: `dnsrr`, since a virtual IP needs IPVS, which not every host has),
//! hearth's labels on the service, on its task containers and on the volume the task's node
//! creates for it, and its placement: the template's constraints, plus, once a task has run,
//! the node that holds its volume.

use std::collections::HashMap;

use bollard::models::{
    EndpointSpec, EndpointSpecModeEnum, Limit, Mount, MountType, MountVolumeOptions,
    NetworkAttachmentConfig, ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated,
    ServiceSpecModeReplicatedJob, TaskSpec, TaskSpecContainerSpec, TaskSpecPlacement,
    TaskSpecResources, TaskSpecRestartPolicy, TaskSpecRestartPolicyConditionEnum,
};

use crate::driver::engine::objects::SPEC_LABEL;
use crate::driver::engine::EngineConfig;
use crate::labels;

/// A role's memory (bytes), CPU (nano-CPUs) and PID limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Limits {
    pub memory_bytes: i64,
    pub nano_cpus: i64,
    pub pids: i64,
}

/// Everything that differs between the roles and workspaces of one daemon.
#[derive(Debug, Clone)]
pub(super) struct RoleSpec<'a> {
    pub name: &'a str,
    pub role: &'a str,
    /// The labels of the role's objects (instance, workspace, role, tier, operator's extras).
    pub labels: HashMap<String, String>,
    /// The image ID the task runs: pinned, so a tag moved or an image rebuilt under it never
    /// changes what a new task of the service (after a wake, a restart) runs, and the swarm
    /// does not try to pull it.
    pub image: &'a str,
    /// The whole environment: hearth's, the caps, the template's (references rendered).
    pub env: Vec<String>,
    /// The template's command (references rendered), replacing the image's.
    pub command: Option<Vec<String>>,
    pub limits: Limits,
    pub network_id: &'a str,
    /// The role's volume, and where it is mounted, if it has one.
    pub volume: Option<(&'a str, &'a str)>,
    /// Placement constraints: the template's, plus `node.id==…` of the node holding the
    /// role's volume once a task has run (see [`pinned`]).
    pub constraints: Vec<String>,
    /// The loopback port of the role's relay, kept on the service for a restarted daemon
    /// (`None`: a role with no port has no relay).
    pub relay_port: Option<u16>,
    /// A one-shot: a replicated job of one completion, never restarted.
    pub once: bool,
    /// The replicas of a service role (ignored for a one-shot).
    pub replicas: i64,
    /// Raised to make the swarm replace the task even when nothing else changed (upgrade,
    /// and a one-shot's run again on wake).
    pub force_update: u64,
    /// The hash of what the template makes of the role (label [`SPEC_LABEL`]), which an
    /// upgrade compares to know whether the role changed.
    pub hash: &'a str,
}

/// The swarm service spec for `r`.
pub(super) fn service(config: &EngineConfig, r: &RoleSpec<'_>) -> ServiceSpec {
    let mut service_labels = r.labels.clone();
    if let Some(port) = r.relay_port {
        service_labels.insert(labels::RELAY_PORT.into(), port.to_string());
    }
    service_labels.insert(SPEC_LABEL.into(), r.hash.to_owned());
    // The engine of the node the task lands on creates the volume (labelled, so it is found
    // and swept by label like every other object) the first time; later tasks, pinned to
    // that node, find it there.
    let mounts = r.volume.map(|(source, target)| {
        vec![Mount {
            target: Some(target.to_owned()),
            source: Some(source.to_owned()),
            typ: Some(MountType::VOLUME),
            volume_options: Some(MountVolumeOptions {
                labels: Some(r.labels.clone()),
                ..Default::default()
            }),
            ..Default::default()
        }]
    });
    let container = TaskSpecContainerSpec {
        image: Some(r.image.to_owned()),
        args: r.command.clone(),
        env: Some(r.env.clone()),
        // The task containers carry the same labels, so they are found (and swept) by label
        // like the Docker driver's containers.
        labels: Some(r.labels.clone()),
        init: Some(true),
        mounts,
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
                    nano_cpus: Some(r.limits.nano_cpus),
                    memory_bytes: Some(r.limits.memory_bytes),
                    pids: Some(r.limits.pids),
                }),
                ..Default::default()
            }),
            // A one-shot runs once: its exit, 0 or not, is its outcome.
            restart_policy: r.once.then(|| TaskSpecRestartPolicy {
                condition: Some(TaskSpecRestartPolicyConditionEnum::NONE),
                ..Default::default()
            }),
            placement: Some(TaskSpecPlacement {
                constraints: Some(r.constraints.clone()),
                ..Default::default()
            }),
            networks: Some(vec![NetworkAttachmentConfig {
                target: Some(r.network_id.to_owned()),
                // The role's name is its host on the overlay (`{{ROLE.host}}`).
                aliases: Some(vec![r.role.to_owned()]),
                ..Default::default()
            }]),
            force_update: Some(r.force_update),
            ..Default::default()
        }),
        mode: Some(if r.once {
            job_mode()
        } else {
            ServiceSpecMode {
                replicated: Some(ServiceSpecModeReplicated {
                    replicas: Some(r.replicas),
                }),
                ..Default::default()
            }
        }),
        endpoint_spec: Some(dnsrr()),
        ..Default::default()
    }
}

/// One completion, one task at a time.
fn job_mode() -> ServiceSpecMode {
    ServiceSpecMode {
        replicated_job: Some(ServiceSpecModeReplicatedJob {
            max_concurrent: Some(1),
            total_completions: Some(1),
        }),
        ..Default::default()
    }
}

/// Whether a service is a one-shot's job.
pub(super) fn is_job(spec: &ServiceSpec) -> bool {
    spec.mode
        .as_ref()
        .is_some_and(|m| m.replicated_job.is_some())
}

/// The spec hash written on a service, if any.
pub(super) fn hash(spec: &ServiceSpec) -> Option<&str> {
    spec.labels
        .as_ref()
        .and_then(|l| l.get(SPEC_LABEL))
        .map(String::as_str)
}

/// `spec` asking for one more run of its task (a one-shot runs again; a service gets a new
/// task), everything else kept.
pub(super) fn forced(mut spec: ServiceSpec) -> ServiceSpec {
    if let Some(t) = spec.task_template.as_mut() {
        t.force_update = Some(t.force_update.unwrap_or(0) + 1);
    }
    spec
}

/// The force-update counter of a service spec.
pub(super) fn force_update(spec: &ServiceSpec) -> u64 {
    spec.task_template
        .as_ref()
        .and_then(|t| t.force_update)
        .unwrap_or(0)
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
        let labels = HashMap::from([(labels::ROLE.to_owned(), "lore".to_owned())]);
        let limits = Limits {
            memory_bytes: 512 * 1024 * 1024,
            nano_cpus: 1_000_000_000,
            pids: 99,
        };
        let role = RoleSpec {
            name: "hearth-x_ws_lore",
            role: "lore",
            labels,
            image: "sha256:abc",
            env: vec!["A=b".to_owned()],
            command: Some(vec!["serve".to_owned()]),
            limits,
            network_id: "net1",
            volume: Some(("hearth-x_ws_lore-data", "/var/lib/lore")),
            constraints: with_pin(&["node.labels.zone==b".to_owned()], Some("node1")),
            relay_port: Some(40000),
            once: false,
            replicas: 1,
            force_update: 0,
            hash: "h1",
        };
        let s = service(&config, &role);
        let t = s.task_template.clone().expect("task");
        let c = t.container_spec.expect("container");
        assert_eq!(c.init, Some(true));
        assert_eq!(c.image.as_deref(), Some("sha256:abc"));
        assert_eq!(c.args, Some(vec!["serve".to_owned()]));
        assert_eq!(c.env, Some(vec!["A=b".to_owned()]));
        assert_eq!(c.labels.expect("labels")[labels::ROLE], "lore");
        let mount = &c.mounts.expect("mounts")[0];
        assert_eq!(mount.source.as_deref(), Some("hearth-x_ws_lore-data"));
        assert_eq!(mount.target.as_deref(), Some("/var/lib/lore"));
        let l = t.resources.and_then(|r| r.limits).expect("limits");
        assert_eq!(l.pids, Some(99));
        assert_eq!(l.memory_bytes, Some(512 * 1024 * 1024));
        assert!(
            t.restart_policy.is_none(),
            "a service keeps the swarm's restarts"
        );
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
        assert_eq!(hash(&s), Some("h1"));
        assert_eq!(replicas(&s), 1);
        assert!(!is_job(&s));
        assert_eq!(force_update(&forced(s.clone())), 1);
        assert_eq!(replicas(&scaled(s, 0)), 0);
    }

    #[test]
    fn a_one_shot_is_a_job_of_one_completion_never_restarted() {
        let config = EngineConfig::default();
        let job = service(
            &config,
            &RoleSpec {
                name: "hearth-x_ws_migrate",
                role: "migrate",
                labels: HashMap::new(),
                image: "sha256:abc",
                env: Vec::new(),
                command: None,
                limits: Limits {
                    memory_bytes: 1,
                    nano_cpus: 1,
                    pids: 1,
                },
                network_id: "net1",
                volume: None,
                constraints: Vec::new(),
                relay_port: None,
                once: true,
                replicas: 1,
                force_update: 0,
                hash: "h2",
            },
        );
        assert!(is_job(&job));
        let mode = job
            .mode
            .clone()
            .and_then(|m| m.replicated_job)
            .expect("job");
        assert_eq!(mode.total_completions, Some(1));
        let t = job.task_template.expect("task");
        assert_eq!(
            t.restart_policy.and_then(|p| p.condition),
            Some(TaskSpecRestartPolicyConditionEnum::NONE)
        );
        assert!(
            t.container_spec.and_then(|c| c.mounts).is_none(),
            "no volume"
        );
        assert!(!job.labels.expect("labels").contains_key(labels::RELAY_PORT));
    }
}
