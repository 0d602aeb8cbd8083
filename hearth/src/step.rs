//! hearth's step vocabulary: every step inside an operation that the journal records — the
//! drivers' (Fake, LocalDocker on Docker or Podman, Swarm) as they bring a workspace up,
//! change it or take it down, the warm pool's as it hands out a member, the dispatcher's as it
//! rolls back — one enum, so the journal (`hearth events SLUG`) names the same act the same
//! way whatever ran it. An operation's own start and end (`provision_started`,
//! `provision_done`, `provision_failed`) are its verb and [`Phase`], recorded by
//! [`crate::journal::Steps`].

use std::fmt;

use hearth_protocol::hearth::Phase;
use serde::{Deserialize, Serialize};

/// One step, written to the journal as its snake_case name (`container_removed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// A role's image was resolved to an image ID (detail: `IMAGE = ID`).
    ImageResolved,
    /// A pull is fetching bytes (detail: `IMAGE 12.3 MB of 48.2 MB`).
    ImagePulling,
    /// A pull finished (detail: bytes and time).
    ImagePulled,
    NetworkCreated,
    VolumeCreated,
    ContainerCreated,
    ContainerStarted,
    /// Swarm: a role's service was created.
    ServiceCreated,
    /// Swarm: a role's task runs (detail: the task ID).
    TaskRunning,
    /// A role's probe has not passed yet: one step per batch of attempts (detail: the last
    /// observation and the attempts so far), so the waterfall shows each role's probes.
    ProbeWaiting,
    /// A role's probe passed (detail: the probe, attempts and time).
    ProbePassed,
    /// A one-shot exited 0 (detail: how long it ran).
    RoleCompleted,
    /// A role is ready (detail: its endpoint).
    RoleReady,
    /// Swarm: a role's service was updated in place (upgrade).
    ServiceUpdated,
    /// Swarm: a role's service was scaled back to one replica (wake).
    ScaledUp,
    Paused,
    Resumed,
    Stopped,
    ContainerRemoved,
    /// Swarm: a role's service was removed.
    ServiceRemoved,
    NetworkRemoved,
    VolumeRemoved,
    /// A hibernated workspace's services answer again (before `resume_done`).
    Woken,
    /// The warm pool had no ready member of the tier (detail: which); the provision goes cold.
    PoolEmpty,
    /// A warm member was bound to the workspace (detail: the member and its age).
    Claimed,
    /// The claimed member did not become the workspace (detail: why); it is removed.
    ClaimFailed,
    /// The claimed member answers as the workspace.
    ClaimReady,
    /// A provision that did not finish is being undone.
    RollbackStarted,
    RolledBack,
    /// The undo failed or ran out of time (detail: why); objects may remain until a restart.
    RollbackFailed,
    /// A provision interrupted by a restart is undone before the daemon serves.
    ReconcileRollback,
    /// Kustomize: a workspace's manifests were written (detail: the directory).
    ManifestsWritten,
    /// Kustomize: a workspace's manifests were removed (detail: the directory).
    ManifestsRemoved,
    /// A volume on a swarm node that is down: a job waits there to remove it when the node
    /// returns (the detail names the volume and the node).
    VolumeLeft,
}

impl Step {
    /// Every step, in the order a workspace's life meets them.
    pub const ALL: [Step; 34] = [
        Step::ImageResolved,
        Step::ImagePulling,
        Step::ImagePulled,
        Step::NetworkCreated,
        Step::VolumeCreated,
        Step::ContainerCreated,
        Step::ContainerStarted,
        Step::ServiceCreated,
        Step::TaskRunning,
        Step::ProbeWaiting,
        Step::ProbePassed,
        Step::RoleCompleted,
        Step::RoleReady,
        Step::ServiceUpdated,
        Step::ScaledUp,
        Step::Paused,
        Step::Resumed,
        Step::Stopped,
        Step::ContainerRemoved,
        Step::ServiceRemoved,
        Step::NetworkRemoved,
        Step::VolumeRemoved,
        Step::Woken,
        Step::PoolEmpty,
        Step::Claimed,
        Step::ClaimFailed,
        Step::ClaimReady,
        Step::RollbackStarted,
        Step::RolledBack,
        Step::RollbackFailed,
        Step::ReconcileRollback,
        Step::ManifestsWritten,
        Step::ManifestsRemoved,
        Step::VolumeLeft,
    ];

    /// The name the journal carries.
    pub const fn as_str(self) -> &'static str {
        match self {
            Step::ImageResolved => "image_resolved",
            Step::ImagePulling => "image_pulling",
            Step::ImagePulled => "image_pulled",
            Step::NetworkCreated => "network_created",
            Step::VolumeCreated => "volume_created",
            Step::ContainerCreated => "container_created",
            Step::ContainerStarted => "container_started",
            Step::ServiceCreated => "service_created",
            Step::TaskRunning => "task_running",
            Step::ProbeWaiting => "probe_waiting",
            Step::ProbePassed => "probe_passed",
            Step::RoleCompleted => "role_completed",
            Step::RoleReady => "role_ready",
            Step::ServiceUpdated => "service_updated",
            Step::ScaledUp => "scaled_up",
            Step::Paused => "paused",
            Step::Resumed => "resumed",
            Step::Stopped => "stopped",
            Step::ContainerRemoved => "container_removed",
            Step::ServiceRemoved => "service_removed",
            Step::NetworkRemoved => "network_removed",
            Step::VolumeRemoved => "volume_removed",
            Step::Woken => "woken",
            Step::PoolEmpty => "pool_empty",
            Step::Claimed => "claimed",
            Step::ClaimFailed => "claim_failed",
            Step::ClaimReady => "claim_ready",
            Step::RollbackStarted => "rollback_started",
            Step::RolledBack => "rolled_back",
            Step::RollbackFailed => "rollback_failed",
            Step::ReconcileRollback => "reconcile_rollback",
            Step::ManifestsWritten => "manifests_written",
            Step::ManifestsRemoved => "manifests_removed",
            Step::VolumeLeft => "volume_left",
        }
    }

    /// Where it stands in its operation: a rollback's steps are [`Phase::Rollback`], every
    /// other one a [`Phase::Step`].
    pub const fn phase(self) -> Phase {
        match self {
            Step::RollbackStarted
            | Step::RolledBack
            | Step::RollbackFailed
            | Step::ReconcileRollback => Phase::Rollback,
            _ => Phase::Step,
        }
    }
}

impl AsRef<str> for Step {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_serialized_names_and_distinct() {
        let mut seen = std::collections::HashSet::new();
        for step in Step::ALL {
            let json = serde_json::to_value(step).expect("serialize");
            assert_eq!(json, step.as_str(), "{step:?}");
            assert!(seen.insert(step.as_str()), "duplicate {step}");
        }
    }

    #[test]
    fn removal_steps_keep_their_journal_names() {
        assert_eq!(Step::ContainerRemoved.as_str(), "container_removed");
        assert_eq!(Step::NetworkRemoved.as_str(), "network_removed");
        assert_eq!(Step::VolumeRemoved.as_str(), "volume_removed");
    }
}
