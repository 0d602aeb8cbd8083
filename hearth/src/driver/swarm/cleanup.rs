//! Removing a torn-down workspace's volumes on other nodes. The manager's API removes volumes
//! on the manager only, and hearth talks to nothing else; so for each other node that holds
//! one, hearth runs a one-off job there through the manager (`replicated-job`, pinned to the
//! node) which mounts that node's engine socket (the node label
//! [`labels::ENGINE_SOCKET`], else `/var/run/docker.sock`) and asks it to remove the volumes
//! by name (`hearth-standin remove-volumes NAME…`).
//!
//! A job whose node is down stays pending: the job service is the record of what is left, and
//! the swarm runs it when the node returns. A teardown (or the reconcile of a later start)
//! removes the job once it completed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bollard::models::{
    Mount, MountType, NodeState, ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicatedJob,
    TaskSpec, TaskSpecContainerSpec, TaskSpecPlacement, TaskSpecRestartPolicy,
    TaskSpecRestartPolicyConditionEnum, TaskState,
};
use bollard::Docker;
use tracing::{info, warn};

use super::objects::{self, Part, Svc};
use super::{door, spec, tasks, Swarm};
use crate::driver::engine::{is_not_found, map_err};
use crate::error::HearthError;
use crate::journal::Steps;
use crate::labels;
use crate::slug::Slug;
use crate::step::Step;

/// Where the job's container finds its node's engine.
const SOCKET_IN_TASK: &str = "/var/run/docker.sock";
/// How long a teardown waits for a job on a node that is up.
const JOB_WAIT: Duration = Duration::from_secs(30);

/// The volumes of `roles` on nodes other than hearth's, by node: each role's pinned node and
/// every node one of its tasks ran on.
///
/// # Errors
/// `docker_unavailable` or a driver failure listing tasks.
pub(super) async fn remote_volumes(
    d: &Swarm,
    docker: &Docker,
    slug: &Slug,
    roles: &[Svc],
) -> Result<BTreeMap<String, BTreeSet<String>>, HearthError> {
    let here = d.node_id().await?;
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in roles {
        let mut nodes: BTreeSet<String> = tasks::list(docker, &s.id)
            .await?
            .into_iter()
            .filter_map(|t| t.node_id)
            .collect();
        nodes.extend(spec::pinned(&s.spec));
        for node in nodes.into_iter().filter(|n| *n != here && !n.is_empty()) {
            out.entry(node)
                .or_default()
                .insert(d.names(slug).volume(&s.role));
        }
    }
    Ok(out)
}

/// Starts one job per node removing `volumes` there.
///
/// # Errors
/// A driver failure naming the node.
pub(super) async fn submit(
    d: &Swarm,
    docker: &Docker,
    slug: &Slug,
    volumes: &BTreeMap<String, BTreeSet<String>>,
) -> Result<(), HearthError> {
    if volumes.is_empty() {
        return Ok(());
    }
    let image = door::image_id(d, docker).await?;
    for (node, names) in volumes {
        let socket = engine_socket(docker, node).await?;
        let mut job_labels =
            labels::for_object(&d.instance, slug, "cleanup", "", &d.config.extra_labels);
        job_labels.insert(labels::SWARM_PART.into(), Part::Cleanup.as_str().into());
        let short: String = node.chars().take(12).collect();
        let name = format!("{}__cleanup-{short}", d.names(slug).network());
        let spec = job(&name, job_labels, &image, node, &socket, names);
        match docker.create_service(spec, None).await {
            Ok(_) => info!(workspace = %slug, node, volumes = ?names, "volume cleanup job started"),
            // Already there from an earlier teardown: it carries on.
            Err(e) if is_conflict(&e) => {}
            Err(e) => {
                return Err(map_err(
                    format!("start the volume cleanup of {slug} on node {node}"),
                    e,
                ))
            }
        }
    }
    Ok(())
}

fn is_conflict(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            ..
        }
    )
}

/// The engine socket path of `node` (its operator's label, else the usual one).
async fn engine_socket(docker: &Docker, node: &str) -> Result<String, HearthError> {
    let n = docker
        .inspect_node(node)
        .await
        .map_err(|e| map_err(format!("inspect swarm node {node}"), e))?;
    Ok(n.spec
        .and_then(|s| s.labels)
        .and_then(|l| l.get(labels::ENGINE_SOCKET).cloned())
        .unwrap_or_else(|| SOCKET_IN_TASK.to_owned()))
}

/// The job's spec: one completion on `node`, retried while the volume is still in use (the
/// node may remove the role's old container a moment after the job starts).
fn job(
    name: &str,
    job_labels: std::collections::HashMap<String, String>,
    image: &str,
    node: &str,
    socket: &str,
    volumes: &BTreeSet<String>,
) -> ServiceSpec {
    let mut args = vec!["remove-volumes".to_owned()];
    args.extend(volumes.iter().cloned());
    ServiceSpec {
        name: Some(name.to_owned()),
        labels: Some(job_labels),
        task_template: Some(TaskSpec {
            container_spec: Some(TaskSpecContainerSpec {
                image: Some(image.to_owned()),
                args: Some(args),
                mounts: Some(vec![Mount {
                    target: Some(SOCKET_IN_TASK.into()),
                    source: Some(socket.to_owned()),
                    typ: Some(MountType::BIND),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            placement: Some(TaskSpecPlacement {
                constraints: Some(spec::with_pin(&[], Some(node))),
                ..Default::default()
            }),
            restart_policy: Some(TaskSpecRestartPolicy {
                condition: Some(TaskSpecRestartPolicyConditionEnum::ON_FAILURE),
                delay: Some(1_000_000_000),
                max_attempts: Some(30),
                window: None,
            }),
            ..Default::default()
        }),
        mode: Some(ServiceSpecMode {
            replicated_job: Some(ServiceSpecModeReplicatedJob {
                max_concurrent: Some(1),
                total_completions: Some(1),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Waits for `slug`'s cleanup jobs: a completed one is removed; one whose node is down, or
/// that has not completed within [`JOB_WAIT`], is left to finish later and recorded as a
/// [`Step::VolumeLeft`] step. Returns what was left, one line per job.
///
/// # Errors
/// `docker_unavailable` or a driver failure.
pub(super) async fn settle(
    d: &Swarm,
    docker: &Docker,
    slug: &Slug,
    steps: &Steps,
) -> Result<Vec<String>, HearthError> {
    let started = Instant::now();
    let mut left = Vec::new();
    for job in objects::part(docker, &d.instance, slug, Part::Cleanup).await? {
        let node = spec::pinned(&job.spec).unwrap_or_default();
        let volumes = job_volumes(&job.spec);
        loop {
            let list = tasks::list(docker, &job.id).await?;
            let done = list
                .iter()
                .any(|t| t.status.as_ref().and_then(|s| s.state) == Some(TaskState::COMPLETE));
            if done {
                // Gone already is as good as removed.
                let _ = docker.delete_service(&job.id).await;
                for v in &volumes {
                    steps.step(
                        Step::VolumeRemoved,
                        None,
                        Some(format!("{v} on node {node}")),
                    );
                }
                break;
            }
            if !node_up(docker, &node).await || started.elapsed() >= JOB_WAIT {
                let what = format!(
                    "{} on node {node} (down or not answering): removed by job {} when it returns",
                    volumes.join(", "),
                    job.name
                );
                warn!(workspace = %slug, node, volumes = ?volumes, "volumes left on a node that is down");
                steps.step(Step::VolumeLeft, None, Some(what.clone()));
                left.push(what);
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(left)
}

/// The volume names a cleanup job removes (its arguments after the subcommand).
fn job_volumes(s: &ServiceSpec) -> Vec<String> {
    s.task_template
        .as_ref()
        .and_then(|t| t.container_spec.as_ref())
        .and_then(|c| c.args.clone())
        .unwrap_or_default()
        .into_iter()
        .skip(1)
        .collect()
}

/// Whether the manager sees `node` as ready.
pub(super) async fn node_up(docker: &Docker, node: &str) -> bool {
    match docker.inspect_node(node).await {
        Ok(n) => n.status.and_then(|s| s.state) == Some(NodeState::READY),
        Err(e) => {
            if !is_not_found(&e) {
                warn!(node, error = %e, "could not inspect a swarm node");
            }
            false
        }
    }
}
