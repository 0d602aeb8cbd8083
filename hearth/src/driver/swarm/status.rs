//! A swarm workspace's status and each role's part of it: the state of the role's running task
//! (its container's, when it runs on hearth's node: that says `paused`), and the node of that
//! task, or of its last one when none runs (a lost node, a task that cannot be placed).

use std::collections::HashMap;

use bollard::models::{Task, TaskState};
use bollard::Docker;
use hearth_protocol::hearth::{DeploymentRef, StatusResponse};
use hearth_protocol::roles::{NodeRef, RoleState, RoleStatus};
use tracing::warn;

use super::objects::{self, Svc};
use super::{cleanup, spec, tasks, Swarm};
use crate::driver::{missing_roles, role_state, status_from_states, ContainerState};
use crate::error::HearthError;
use crate::slug::Slug;

/// The roles a workspace of `r` lists: its template's service roles, in the template's order.
/// A one-shot is left out: once it completed there is nothing of it to run (and a completed
/// one-shot is not a missing role). The one place swarm status takes role names from.
fn expected_roles(swarm: &Swarm, r: &DeploymentRef) -> Vec<String> {
    swarm
        .config
        .template(r.tier)
        .roles
        .into_iter()
        .filter(|role| !role.once)
        .map(|role| role.name)
        .collect()
}

/// `slug`'s status and each role's state and node. Read-only.
///
/// # Errors
/// `docker_unavailable` or a driver failure while listing services, tasks or containers.
pub(super) async fn observe(
    swarm: &Swarm,
    r: &DeploymentRef,
) -> Result<StatusResponse, HearthError> {
    let slug = Slug::parse(&r.workspace_slug)?;
    let docker = swarm.engine.client().await?;
    let mut services = objects::services(docker, &swarm.instance, Some(&slug)).await?;
    // One-shots' jobs: done, or the workspace would not be live.
    services.retain(|s| !spec::is_job(&s.spec));
    let expected = expected_roles(swarm, r);
    if let Some(status) = missing_roles(services.len(), expected.len()) {
        let roles = expected
            .iter()
            .map(|role| missing(role, &services))
            .collect();
        return Ok(StatusResponse { status, roles });
    }
    let containers = swarm.containers(&slug).await?;
    let here = swarm.node_id().await?;
    let mut nodes = Nodes::default();
    let mut states = Vec::new();
    let mut roles = Vec::new();
    for s in &services {
        let (state, node, reason) = if s.replicas() == 0 {
            (ContainerState::EXITED, None, None)
        } else {
            let list = tasks::list(docker, &s.id).await?;
            match tasks::running(&list) {
                // On hearth's node the container says more (paused).
                Some(t) if t.node_id == here => (
                    containers
                        .get(&t.container_id)
                        .copied()
                        .unwrap_or(ContainerState::DEAD),
                    Some(t.node_id),
                    None,
                ),
                Some(t) => (ContainerState::RUNNING, Some(t.node_id), None),
                // Starting, restarting, failing, or its node lost: not usable as it is.
                None => {
                    let (node, why) = not_running(docker, &slug, s, &list).await;
                    (ContainerState::DEAD, node, Some(why))
                }
            }
        };
        states.push(state);
        roles.push(RoleStatus {
            role: s.role.clone(),
            state: role_state(state),
            node: match node {
                Some(id) if !id.is_empty() => Some(nodes.named(docker, id).await),
                _ => None,
            },
            reason,
        });
    }
    roles.sort_by_key(|x| expected.iter().position(|e| *e == x.role));
    Ok(StatusResponse {
        status: status_from_states(states),
        roles,
    })
}

/// A role of `expected` without its service, or as it stands if it has one (listed as dead:
/// the workspace is broken either way).
fn missing(role: &str, services: &[Svc]) -> RoleStatus {
    let found = services.iter().any(|s| s.role == role);
    RoleStatus {
        role: role.to_owned(),
        state: if found {
            RoleState::Dead
        } else {
            RoleState::Missing
        },
        node: None,
        reason: (!found).then(|| "its service is gone".to_owned()),
    }
}

/// Why `s` has no running task, and the node it is pinned to (else its last task's), logged
/// once here.
async fn not_running(
    docker: &Docker,
    slug: &Slug,
    s: &Svc,
    list: &[Task],
) -> (Option<String>, String) {
    let last = list.first();
    let node = spec::pinned(&s.spec)
        .or_else(|| last.and_then(|t| t.node_id.clone()))
        .unwrap_or_default();
    let up = node.is_empty() || cleanup::node_up(docker, &node).await;
    warn!(
        workspace = %slug,
        role = %s.role,
        node = %node,
        node_up = up,
        "role has no running task"
    );
    let why = match last {
        _ if !up => format!("its node {node} is down"),
        Some(t) if t.status.as_ref().and_then(|st| st.state) != Some(TaskState::RUNNING) => {
            tasks::describe(t)
        }
        Some(_) | None => "no task runs".to_owned(),
    };
    (Some(node), why)
}

/// Node IDs → their hostnames, each asked of the manager once per status.
#[derive(Default)]
struct Nodes(HashMap<String, String>);

impl Nodes {
    async fn named(&mut self, docker: &Docker, id: String) -> NodeRef {
        if let Some(hostname) = self.0.get(&id) {
            return NodeRef {
                id,
                hostname: hostname.clone(),
            };
        }
        let hostname = match docker.inspect_node(&id).await {
            Ok(n) => n.description.and_then(|d| d.hostname).unwrap_or_default(),
            Err(e) => {
                warn!(node = %id, error = %e, "could not inspect a swarm node");
                String::new()
            }
        };
        self.0.insert(id.clone(), hostname.clone());
        NodeRef { id, hostname }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_without_its_service_is_missing_with_a_reason() {
        let m = missing("lore", &[]);
        assert_eq!(m.state, RoleState::Missing);
        assert_eq!(m.reason.as_deref(), Some("its service is gone"));
    }
}
