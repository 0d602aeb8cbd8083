//! The [`Target`] of a role that is one container on an Engine-API engine (Docker, Podman):
//! its state and health from inspect, its log and exec through the API, and the TCP listen
//! check from the container's own `/proc/<pid>/net/tcp{,6}` when hearth runs beside the
//! engine (checked by the container's environment, so a PID of another machine's engine that
//! happens to exist here is never read). Elsewhere the listen check says it cannot tell and
//! the `tcp` probe falls back to the published port.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use async_trait::async_trait;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::{ContainerStateStatusEnum, ExecConfig};
use bollard::Docker;
use futures::StreamExt;

use super::lines;
use super::tcp::listening_ports;
use super::{RunState, Target};

/// One role's container.
#[derive(Debug, Clone)]
pub struct Container {
    pub docker: Docker,
    pub id: String,
    pub role: String,
    /// The workspace's slug: `HEARTH_WORKSPACE` in the container's environment, which the
    /// `/proc` check requires before it trusts a PID.
    pub slug: String,
    /// In-container port → its loopback address on the host.
    pub published: BTreeMap<u16, SocketAddr>,
}

/// How often an inspect is tried again while Podman reports its transient `stopped` state.
const SETTLE_TRIES: u32 = 40;

/// Inspects container `id`, waiting out Podman's transient `stopped` state (a process that
/// exited before Podman recorded it as `exited`), which bollard's state enum does not know.
///
/// # Errors
/// The engine's error, once it is not that one.
pub async fn inspect_settled(
    docker: &Docker,
    id: &str,
) -> Result<bollard::models::ContainerInspectResponse, bollard::errors::Error> {
    let mut tries = 0;
    loop {
        match docker.inspect_container(id, None).await {
            Err(e) if tries < SETTLE_TRIES && e.to_string().contains("variant `stopped`") => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
}

impl Container {
    async fn inspect(&self) -> Result<bollard::models::ContainerState, String> {
        inspect_settled(&self.docker, &self.id)
            .await
            .map(|i| i.state.unwrap_or_default())
            .map_err(|e| format!("inspect failed: {e}"))
    }

    /// The container's main PID, if it is a process of this machine (its environment names
    /// this workspace and role).
    fn local_pid(&self, pid: i64) -> Result<i64, String> {
        let environ = std::fs::read(format!("/proc/{pid}/environ"))
            .map_err(|e| format!("/proc/{pid} is not readable here ({e})"))?;
        let want = [
            format!("HEARTH_WORKSPACE={}", self.slug),
            format!("HEARTH_ROLE={}", self.role),
        ];
        let mine = want.iter().all(|w| {
            environ
                .split(|b| *b == 0)
                .any(|entry| entry == w.as_bytes())
        });
        if mine {
            Ok(pid)
        } else {
            Err(format!(
                "PID {pid} here is not the role's process (the engine runs elsewhere)"
            ))
        }
    }
}

#[async_trait]
impl Target for Container {
    fn role(&self) -> &str {
        &self.role
    }

    fn published(&self, port: u16) -> Option<SocketAddr> {
        self.published.get(&port).copied()
    }

    async fn state(&self) -> Result<RunState, String> {
        let state = self.inspect().await?;
        if state.running == Some(true) {
            return Ok(RunState::Running);
        }
        Ok(match state.status {
            Some(ContainerStateStatusEnum::EXITED | ContainerStateStatusEnum::DEAD) => {
                RunState::Exited(state.exit_code.unwrap_or_default())
            }
            other => RunState::Other(other.map(|s| s.to_string()).unwrap_or_default()),
        })
    }

    async fn listens(&self, port: u16) -> Result<bool, String> {
        let state = self.inspect().await?;
        let pid = state
            .pid
            .filter(|p| *p > 0)
            .ok_or_else(|| "the container has no process".to_owned())?;
        let pid = self.local_pid(pid)?;
        let mut found = false;
        for table in ["tcp", "tcp6"] {
            // tcp6 is absent where IPv6 is off; tcp is always there.
            let text =
                std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
            found |= listening_ports(&text).contains(&port);
        }
        Ok(found)
    }

    async fn logs(&self, tail: Option<usize>) -> Result<String, String> {
        lines::read(self.docker.logs(&self.id, Some(lines::options(tail)))).await
    }

    async fn exec(&self, command: &[String]) -> Result<i64, String> {
        let created = self
            .docker
            .create_exec(
                &self.id,
                ExecConfig {
                    cmd: Some(command.to_vec()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| e.to_string())?;
        let start = StartExecOptions {
            detach: false,
            tty: false,
            output_capacity: None,
        };
        // Attached, so the call ends when the command does; its output is not needed.
        if let StartExecResults::Attached { mut output, .. } = self
            .docker
            .start_exec(&created.id, Some(start))
            .await
            .map_err(|e| e.to_string())?
        {
            while output.next().await.is_some() {}
        }
        let done = self
            .docker
            .inspect_exec(&created.id)
            .await
            .map_err(|e| e.to_string())?;
        done.exit_code
            .ok_or_else(|| "the engine reported no exit code".to_owned())
    }

    async fn health(&self) -> Result<Option<String>, String> {
        let state = self.inspect().await?;
        Ok(state
            .health
            .and_then(|h| h.status)
            .map(|s| s.to_string())
            .filter(|s| !s.is_empty() && s != "none"))
    }
}
