//! The probe [`Target`] of a role's swarm task: its state and log asked of the manager (the
//! task may run on any node), its ports reached through the loopback relays and the door.
//! What needs the engine that runs the task's container (the listen check in its `/proc`,
//! `exec`, the image's HEALTHCHECK) is asked of the container itself when the task runs on
//! hearth's own node; elsewhere the listen check says it cannot tell (the `tcp` probe falls
//! back to the relayed port), and `exec`/`healthcheck` are refused before the wait
//! ([`inside_unsupported`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use async_trait::async_trait;
use bollard::models::TaskState;
use bollard::Docker;

use crate::driver::engine::template::looks_inside;
use crate::driver::probe::container::Container;
use crate::driver::probe::lines;
use crate::driver::probe::{RunState, Target};
use crate::driver_error::DriverError;
use crate::error::HearthError;
use crate::template::Role;

/// One task of a role.
#[derive(Debug, Clone)]
pub(super) struct Task {
    pub docker: Docker,
    pub task: String,
    pub role: String,
    pub node: String,
    /// In-container port → the loopback relay that reaches it.
    pub published: BTreeMap<u16, SocketAddr>,
    /// The task's container, when it runs on hearth's node.
    pub local: Option<Container>,
}

impl Task {
    fn elsewhere(&self, what: &str) -> String {
        format!(
            "{what} is unsupported on a task on another node (the task runs on node {})",
            self.node
        )
    }
}

/// The typed refusal of a role whose probe looks inside its container (`exec`,
/// `healthcheck`) while its task runs on another node than hearth's, if it does.
pub(super) fn inside_unsupported(role: &Role, target: &Task) -> Option<HearthError> {
    (looks_inside(&role.ready.probe) && target.local.is_none()).then(|| {
        HearthError::Driver(DriverError::Unsupported {
            engine: "swarm".into(),
            what: format!(
                "probe role {} with exec or healthcheck on node {}",
                role.name, target.node
            ),
            reason: "an exec or healthcheck probe needs the engine that runs the task, and \
                     hearth talks only to its own node's; place the role on hearth's node \
                     (placement = [\"node.id==…\"]) or use an http, tcp or log probe"
                .into(),
        })
    })
}

#[async_trait]
impl Target for Task {
    fn role(&self) -> &str {
        &self.role
    }

    fn published(&self, port: u16) -> Option<SocketAddr> {
        self.published.get(&port).copied()
    }

    async fn state(&self) -> Result<RunState, String> {
        let t = self
            .docker
            .inspect_task(&self.task)
            .await
            .map_err(|e| format!("inspect task failed: {e}"))?;
        let status = t.status.unwrap_or_default();
        let code = status.container_status.and_then(|c| c.exit_code);
        Ok(match status.state {
            Some(TaskState::RUNNING) => RunState::Running,
            Some(TaskState::COMPLETE) => RunState::Exited(code.unwrap_or(0)),
            Some(TaskState::FAILED | TaskState::REJECTED | TaskState::ORPHANED) => {
                RunState::Exited(code.unwrap_or(-1))
            }
            other => RunState::Other(other.map(|s| s.to_string()).unwrap_or_default()),
        })
    }

    async fn listens(&self, port: u16) -> Result<bool, String> {
        match &self.local {
            Some(c) => c.listens(port).await,
            None => Err(self.elsewhere("the listen check")),
        }
    }

    async fn logs(&self, tail: Option<usize>) -> Result<String, String> {
        // Through the manager: the task may run on any node.
        lines::read(
            self.docker
                .task_logs(&self.task, Some(lines::options(tail))),
        )
        .await
    }

    async fn exec(&self, command: &[String]) -> Result<i64, String> {
        match &self.local {
            Some(c) => c.exec(command).await,
            None => Err(self.elsewhere("exec")),
        }
    }

    async fn health(&self) -> Result<Option<String>, String> {
        match &self.local {
            Some(c) => c.health().await,
            None => Err(self.elsewhere("the healthcheck")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::{Probe, Template};

    fn task_elsewhere() -> Task {
        Task {
            // Never called: the refusal is decided before anything is asked of the engine.
            docker: Docker::connect_with_http(
                "http://127.0.0.1:1",
                1,
                bollard::API_DEFAULT_VERSION,
            )
            .expect("client"),
            task: "t1".into(),
            role: "kv".into(),
            node: "node-b".into(),
            published: BTreeMap::new(),
            local: None,
        }
    }

    #[test]
    fn exec_or_healthcheck_on_another_node_is_unsupported_with_a_hint() {
        let mut role = Template::default_for(&Default::default(), 80).roles[0].clone();
        assert!(
            inside_unsupported(&role, &task_elsewhere()).is_none(),
            "an http probe goes through the door"
        );
        role.ready.probe = Probe::All(vec![
            Probe::Tcp {
                port: 80,
                timeout: None,
            },
            Probe::Exec {
                command: vec!["true".into()],
                timeout: None,
            },
        ]);
        let err = inside_unsupported(&role, &task_elsewhere()).expect("refused");
        assert_eq!(err.code(), "unsupported");
        let text = err.to_string();
        assert!(text.contains("node-b"), "{text}");
        role.ready.probe = Probe::Healthcheck { timeout: None };
        assert!(inside_unsupported(&role, &task_elsewhere()).is_some());
    }
}
