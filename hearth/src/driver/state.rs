//! What a workspace's containers add up to: the engine's container states (bollard's enum,
//! never compared as strings) folded into one workspace [`Status`].

use hearth_protocol::hearth::Status;
use hearth_protocol::roles::{RoleState, RoleStatus};

/// A container's state as the engine lists it (`running`, `paused`, `exited`, …).
pub use bollard::models::ContainerSummaryStateEnum as ContainerState;

/// The workspace status a set of container states adds up to.
pub fn status_from_states(states: impl IntoIterator<Item = ContainerState>) -> Status {
    let states: Vec<ContainerState> = states.into_iter().collect();
    if states.is_empty() {
        return Status::TierTornDown;
    }
    let all = |s: ContainerState| states.iter().all(|x| *x == s);
    if all(ContainerState::RUNNING) {
        Status::Ready
    } else if all(ContainerState::PAUSED) {
        Status::Paused
    } else if all(ContainerState::EXITED) || all(ContainerState::CREATED) {
        Status::Hibernated
    } else if states.contains(&ContainerState::REMOVING) {
        Status::TearingDown
    } else {
        // Dead, or a mix (one role running, one stopped): not usable as it is.
        Status::Failed
    }
}

/// A role's state on the wire, from its container's (or task's) engine state.
pub fn role_state(state: ContainerState) -> RoleState {
    match state {
        ContainerState::RUNNING => RoleState::Running,
        ContainerState::PAUSED => RoleState::Paused,
        ContainerState::CREATED | ContainerState::EMPTY => RoleState::Created,
        ContainerState::EXITED => RoleState::Exited,
        ContainerState::RESTARTING => RoleState::Restarting,
        ContainerState::STOPPING => RoleState::Stopping,
        ContainerState::REMOVING => RoleState::Removing,
        ContainerState::DEAD => RoleState::Dead,
    }
}

/// Each of the `expected` roles (in that order) with the state of its container in `found`,
/// or `missing`; no node: these roles run on hearth's own engine.
pub fn local_roles<'a>(
    expected: impl IntoIterator<Item = &'a str>,
    found: &[(&str, ContainerState)],
) -> Vec<RoleStatus> {
    expected
        .into_iter()
        .map(|role| {
            let state = found.iter().find(|(r, _)| *r == role).map(|(_, s)| *s);
            RoleStatus {
                role: role.to_owned(),
                state: state.map_or(RoleState::Missing, role_state),
                node: None,
                reason: state.is_none().then(|| "its container is gone".to_owned()),
            }
        })
        .collect()
}

/// The status of a workspace of which `found` of its `expected` service roles (containers,
/// services) exist, in `states`: none is torn down, fewer than every role is broken (not
/// smaller), else what the states add up to.
pub fn workspace_status(
    found: usize,
    expected: usize,
    states: impl IntoIterator<Item = ContainerState>,
) -> Status {
    missing_roles(found, expected).unwrap_or_else(|| status_from_states(states))
}

/// The status of a workspace of which only `found` of its `expected` role objects exist, if
/// that already decides it: none is torn down, fewer than every role is broken (not smaller).
pub fn missing_roles(found: usize, expected: usize) -> Option<Status> {
    if found == 0 {
        Some(Status::TierTornDown)
    } else if found < expected {
        Some(Status::Failed)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ContainerState::{EXITED, PAUSED, RUNNING};

    #[test]
    fn container_states_add_up() {
        assert_eq!(status_from_states([RUNNING, RUNNING]), Status::Ready);
        assert_eq!(status_from_states([PAUSED, PAUSED]), Status::Paused);
        assert_eq!(status_from_states([EXITED, EXITED]), Status::Hibernated);
        assert_eq!(status_from_states([RUNNING, EXITED]), Status::Failed);
        assert_eq!(status_from_states([]), Status::TierTornDown);
    }

    #[test]
    fn role_states_keep_the_engine_words() {
        assert_eq!(role_state(RUNNING), RoleState::Running);
        assert_eq!(role_state(PAUSED), RoleState::Paused);
        assert_eq!(role_state(EXITED), RoleState::Exited);
        assert_eq!(role_state(ContainerState::DEAD), RoleState::Dead);
    }

    #[test]
    fn local_roles_follow_the_expected_order_and_name_the_missing() {
        let roles = local_roles(["cairnet", "lore"], &[("lore", PAUSED)]);
        assert_eq!(roles[0].role, "cairnet");
        assert_eq!(roles[0].state, RoleState::Missing);
        assert!(roles[0].reason.is_some());
        assert_eq!(
            (roles[1].role.as_str(), roles[1].state),
            ("lore", RoleState::Paused)
        );
        assert!(roles.iter().all(|r| r.node.is_none()));
    }

    #[test]
    fn a_missing_role_is_failed() {
        assert_eq!(workspace_status(0, 2, []), Status::TierTornDown);
        assert_eq!(workspace_status(1, 2, [RUNNING]), Status::Failed);
        assert_eq!(workspace_status(2, 2, [RUNNING, RUNNING]), Status::Ready);
        assert_eq!(workspace_status(3, 3, [RUNNING; 3]), Status::Ready);
    }
}
