//! A role's task: waiting until the swarm runs it (or has run it: a one-shot) (or saying, in the task's own words, why it
//! does not), and finding its container's address on the node's `docker_gwbridge`, which is
//! where the loopback relay sends its bytes.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bollard::models::{Task, TaskState};
use bollard::query_parameters::ListTasksOptions;
use bollard::Docker;

use crate::driver::engine::map_err;
use crate::error::HearthError;

/// The bridge every swarm task container on a node is attached to for traffic leaving the
/// overlay; it lives on the node, so the node itself can reach the container there.
pub(super) const GWBRIDGE: &str = "docker_gwbridge";

const FIRST_POLL: Duration = Duration::from_millis(10);
const MAX_POLL: Duration = Duration::from_millis(100);

/// A running task of a role.
#[derive(Debug, Clone)]
pub(super) struct Running {
    pub task_id: String,
    pub container_id: String,
    pub node_id: String,
}

/// Every task of `service`, newest first.
///
/// # Errors
/// `docker_unavailable` or a driver failure.
pub(super) async fn list(docker: &Docker, service: &str) -> Result<Vec<Task>, HearthError> {
    let mut tasks = docker
        .list_tasks(Some(ListTasksOptions {
            filters: Some(HashMap::from([(
                "service".to_owned(),
                vec![service.to_owned()],
            )])),
        }))
        .await
        .map_err(|e| map_err("list the service's tasks", e))?;
    tasks.sort_by_key(|t| std::cmp::Reverse(t.version.as_ref().and_then(|v| v.index)));
    Ok(tasks)
}

/// The task of `service` that runs now, if one does.
pub(super) fn running(tasks: &[Task]) -> Option<Running> {
    tasks.iter().find_map(|t| {
        let status = t.status.as_ref()?;
        let live =
            status.state == Some(TaskState::RUNNING) && t.desired_state == Some(TaskState::RUNNING);
        live.then(|| Running {
            task_id: t.id.clone().unwrap_or_default(),
            container_id: status
                .container_status
                .as_ref()
                .and_then(|c| c.container_id.clone())
                .unwrap_or_default(),
            node_id: t.node_id.clone().unwrap_or_default(),
        })
    })
}

/// The newest task that has run, whether it still runs or has exited since (a one-shot that
/// completed, a service that died at once): its exit is then the probe's to report, with
/// its code and log.
pub(super) fn ran(tasks: &[Task]) -> Option<Running> {
    tasks.iter().find_map(|t| {
        let status = t.status.as_ref()?;
        let container = status.container_status.as_ref();
        let container_id = container
            .and_then(|c| c.container_id.clone())
            .filter(|c| !c.is_empty())?;
        // A process that ran and exited non-zero, in the executor's words; not a container
        // the engine refused to start ("starting container failed: …"), which is a refusal.
        let exited = container.and_then(|c| c.exit_code).is_some()
            && status
                .err
                .as_deref()
                .is_none_or(|e| e.starts_with("task: non-zero exit"));
        let has_run = match status.state? {
            TaskState::RUNNING | TaskState::COMPLETE => true,
            TaskState::FAILED => exited,
            _ => false,
        };
        has_run.then(|| Running {
            task_id: t.id.clone().unwrap_or_default(),
            container_id,
            node_id: t.node_id.clone().unwrap_or_default(),
        })
    })
}

/// Waits until a task of `service` not in `before` runs. A task that fails, is rejected, or
/// cannot be placed fails the wait at once with the task's own error message.
///
/// # Errors
/// A driver failure naming the role and the task's error, or saying the task never ran within
/// `timeout`.
pub(super) async fn wait_running(
    docker: &Docker,
    service: &str,
    role: &str,
    before: &HashSet<String>,
    timeout: Duration,
) -> Result<Running, HearthError> {
    let pick = |fresh: &[Task]| running(fresh).filter(|r| !r.container_id.is_empty());
    wait_for(docker, (service, role), before, timeout, pick).await
}

/// Waits until a task of `service` not in `before` has run ([`ran`]); a task refused before it
/// ran fails the wait at once, as in [`wait_running`].
///
/// # Errors
/// As [`wait_running`].
pub(super) async fn wait_ran(
    docker: &Docker,
    service: &str,
    role: &str,
    before: &HashSet<String>,
    timeout: Duration,
) -> Result<Running, HearthError> {
    wait_for(docker, (service, role), before, timeout, ran).await
}

async fn wait_for(
    docker: &Docker,
    (service, role): (&str, &str),
    before: &HashSet<String>,
    timeout: Duration,
    pick: impl Fn(&[Task]) -> Option<Running>,
) -> Result<Running, HearthError> {
    let started = Instant::now();
    let mut pause = FIRST_POLL;
    let mut last = "no task yet".to_owned();
    loop {
        let tasks = list(docker, service).await?;
        let fresh: Vec<Task> = tasks
            .into_iter()
            .filter(|t| !t.id.as_ref().is_some_and(|id| before.contains(id)))
            .collect();
        if let Some(r) = pick(&fresh) {
            return Ok(r);
        }
        for t in &fresh {
            if let Some(why) = refusal(t) {
                return Err(HearthError::driver(
                    format!("start the task of role {role} on the swarm"),
                    why,
                ));
            }
        }
        if let Some(t) = fresh.first() {
            last = describe(t);
        }
        if started.elapsed() >= timeout {
            return Err(HearthError::driver(
                format!("start the task of role {role} on the swarm"),
                format!("it was not running after {timeout:?} (last: {last})"),
            ));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 3 / 2).min(MAX_POLL);
    }
}

/// Why a task will never run, in its own words, if it will not.
fn refusal(t: &Task) -> Option<String> {
    let status = t.status.as_ref()?;
    let err = status.err.clone().unwrap_or_default();
    match status.state? {
        TaskState::FAILED | TaskState::REJECTED | TaskState::ORPHANED => Some(describe(t)),
        // The scheduler keeps a task pending with an error when no node can take it
        // ("no suitable node (scheduling constraints not satisfied …)"); it would wait forever.
        TaskState::PENDING if !err.is_empty() => Some(describe(t)),
        _ => None,
    }
}

pub(super) fn describe(t: &Task) -> String {
    let id: String = t.id.as_deref().unwrap_or("?").chars().take(12).collect();
    let status = t.status.clone().unwrap_or_default();
    let state = status.state.map(|s| s.to_string()).unwrap_or_default();
    let mut words = format!("task {id} {state}");
    if let Some(err) = status.err.filter(|e| !e.is_empty()) {
        words.push_str(&format!(": {err}"));
    } else if let Some(msg) = status.message.filter(|m| !m.is_empty()) {
        words.push_str(&format!(" ({msg})"));
    }
    if let Some(code) = status
        .container_status
        .and_then(|c| c.exit_code)
        .filter(|c| *c != 0)
    {
        words.push_str(&format!(", exit code {code}"));
    }
    words
}

/// The address of `container` on this node's `docker_gwbridge`, at `port`.
///
/// # Errors
/// A driver failure naming the role if the container is not attached there (yet) within a
/// short bound, or `docker_unavailable`.
pub(super) async fn gwbridge_addr(
    docker: &Docker,
    container: &str,
    role: &str,
    port: u16,
) -> Result<SocketAddr, HearthError> {
    // The attachment lands with the task's start; a short grace covers the engine's
    // bookkeeping catching up with the task state.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let net = docker
            .inspect_network(GWBRIDGE, None)
            .await
            .map_err(|e| map_err(format!("inspect {GWBRIDGE} for role {role}"), e))?;
        let found = net
            .containers
            .unwrap_or_default()
            .into_iter()
            .find(|(id, _)| id == container)
            .and_then(|(_, ep)| ep.ipv4_address)
            .and_then(|cidr| {
                cidr.split('/')
                    .next()
                    .and_then(|ip| ip.parse::<IpAddr>().ok())
            });
        if let Some(ip) = found {
            return Ok(SocketAddr::new(ip, port));
        }
        if Instant::now() >= deadline {
            return Err(HearthError::driver(
                format!("find the address of role {role} on {GWBRIDGE}"),
                format!(
                    "container {container} is not attached to it; is the task on another node?"
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{ContainerStatus, TaskStatus};

    fn task(state: TaskState, err: &str) -> Task {
        Task {
            id: Some("abcdef0123456789".into()),
            desired_state: Some(TaskState::RUNNING),
            status: Some(TaskStatus {
                state: Some(state),
                err: (!err.is_empty()).then(|| err.to_owned()),
                container_status: Some(ContainerStatus {
                    container_id: Some("c1".into()),
                    exit_code: Some(137),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_failed_task_says_why_in_its_own_words() {
        let why = refusal(&task(TaskState::FAILED, "task: non-zero exit (137)")).expect("refused");
        assert_eq!(
            why,
            "task abcdef012345 failed: task: non-zero exit (137), exit code 137"
        );
        let pending = task(
            TaskState::PENDING,
            "no suitable node (scheduling constraints not satisfied on 1 node)",
        );
        assert!(refusal(&pending)
            .expect("refused")
            .contains("no suitable node"));
        assert!(
            refusal(&task(TaskState::PENDING, "")).is_none(),
            "still scheduling"
        );
        assert!(refusal(&task(TaskState::STARTING, "")).is_none());
    }

    #[test]
    fn only_a_task_meant_to_run_and_running_counts() {
        assert_eq!(
            running(&[task(TaskState::RUNNING, "")]).map(|r| r.container_id),
            Some("c1".into())
        );
        let mut stopping = task(TaskState::RUNNING, "");
        stopping.desired_state = Some(TaskState::SHUTDOWN);
        assert!(running(&[stopping]).is_none());
    }

    #[test]
    fn a_task_that_ran_and_exited_counts_as_run_but_not_one_refused_before() {
        let mut done = task(TaskState::COMPLETE, "");
        done.desired_state = Some(TaskState::COMPLETE);
        assert_eq!(ran(&[done]).map(|r| r.container_id), Some("c1".into()));
        assert!(ran(&[task(TaskState::FAILED, "task: non-zero exit (137)")]).is_some());
        let refused = task(
            TaskState::FAILED,
            "starting container failed: Minimum memory limit allowed is 6MB",
        );
        assert!(ran(&[refused]).is_none(), "refused at start: never ran");
        let mut never = task(TaskState::FAILED, "no such image");
        if let Some(c) = never
            .status
            .as_mut()
            .and_then(|s| s.container_status.as_mut())
        {
            c.exit_code = None;
        }
        assert!(ran(&[never]).is_none());
        assert!(ran(&[task(TaskState::PREPARING, "")]).is_none());
    }
}
