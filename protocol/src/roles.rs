//! What each role of a workspace is doing and where, as `POST /v1/status` reports it beside
//! the workspace's status (our extension: absent when empty, so a Go client sees
//! `{status}` alone).

use serde::{Deserialize, Serialize};

/// One role's part of a status answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleStatus {
    /// The role's name (`cairnet`, `lore`, …).
    pub role: String,
    pub state: RoleState,
    /// The node its running (or, with none running, its last) task is on: Swarm only, absent
    /// where every role runs on hearth's own engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<NodeRef>,
    /// Why the role is not running, when the engine says (a task's error, a node down).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A swarm node, as a role's status names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRef {
    /// The swarm's node ID.
    pub id: String,
    /// The node's hostname (empty if the manager did not say).
    #[serde(default)]
    pub hostname: String,
}

/// A role's state, in the engine's container-state words plus `missing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleState {
    Running,
    Paused,
    /// Created, not started yet (or a task still starting).
    Created,
    /// Stopped: hibernated, or a one-shot that completed.
    Exited,
    Restarting,
    Stopping,
    Removing,
    /// Not usable: its container died, or its task has no node to run on.
    Dead,
    /// hearth expects the role and the engine has nothing of it.
    Missing,
}

impl RoleState {
    /// Every state.
    pub const ALL: [RoleState; 9] = [
        RoleState::Running,
        RoleState::Paused,
        RoleState::Created,
        RoleState::Exited,
        RoleState::Restarting,
        RoleState::Stopping,
        RoleState::Removing,
        RoleState::Dead,
        RoleState::Missing,
    ];

    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            RoleState::Running => "running",
            RoleState::Paused => "paused",
            RoleState::Created => "created",
            RoleState::Exited => "exited",
            RoleState::Restarting => "restarting",
            RoleState::Stopping => "stopping",
            RoleState::Removing => "removing",
            RoleState::Dead => "dead",
            RoleState::Missing => "missing",
        }
    }
}

impl std::fmt::Display for RoleState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hearth::{Status, StatusResponse};

    #[test]
    fn states_spell_as_their_wire_names() {
        for s in RoleState::ALL {
            let wire = serde_json::to_string(&s).expect("ser");
            assert_eq!(wire, format!("\"{}\"", s.as_str()));
            assert_eq!(serde_json::from_str::<RoleState>(&wire).expect("de"), s);
        }
    }

    #[test]
    fn a_status_without_roles_keeps_the_go_shape() {
        let bare = StatusResponse {
            status: Status::Ready,
            roles: Vec::new(),
        };
        assert_eq!(
            serde_json::to_string(&bare).expect("ser"),
            r#"{"status":"ready"}"#
        );
        // What a Go hearth answers parses, with no roles.
        let go: StatusResponse = serde_json::from_str(r#"{"status":"failed"}"#).expect("de");
        assert!(go.roles.is_empty());
    }

    #[test]
    fn a_role_on_a_node_round_trips_and_drops_what_is_absent() {
        let r = StatusResponse {
            status: Status::Ready,
            roles: vec![
                RoleStatus {
                    role: "lore".into(),
                    state: RoleState::Running,
                    node: Some(NodeRef {
                        id: "n2".into(),
                        hostname: "worker-2".into(),
                    }),
                    reason: None,
                },
                RoleStatus {
                    role: "cairnet".into(),
                    state: RoleState::Dead,
                    node: None,
                    reason: Some("node down".into()),
                },
            ],
        };
        let wire = serde_json::to_string(&r).expect("ser");
        assert_eq!(
            wire,
            r#"{"status":"ready","roles":[{"role":"lore","state":"running","node":{"id":"n2","hostname":"worker-2"}},{"role":"cairnet","state":"dead","reason":"node down"}]}"#
        );
        let back: StatusResponse = serde_json::from_str(&wire).expect("de");
        assert_eq!(back.roles, r.roles);
    }
}
