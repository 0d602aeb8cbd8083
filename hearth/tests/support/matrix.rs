//! The parity matrix as code: what each backend does for each feature. The conformance
//! scenarios read their expectation from here (a cell `Unsupported` makes a scenario assert
//! the `unsupported` answer instead of the feature), and `tests/matrix.rs` checks that
//! `docs/src/backends.md` says exactly the same. Change a cell here and in the document together.

use super::Kind;

/// One column of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Fake,
    Docker,
    /// Podman, rootful (as CI runs it).
    Podman,
    /// Podman rootless on a cgroup v1 host: no freezer, limits ignored.
    PodmanRootlessV1,
    /// Services on a (single-node) swarm.
    Swarm,
    /// Kubernetes manifests written to a directory (nothing runs on this machine).
    Kustomize,
}

impl Column {
    /// Every column, in the document's order.
    pub const ALL: [Column; 6] = [
        Column::Fake,
        Column::Docker,
        Column::Podman,
        Column::PodmanRootlessV1,
        Column::Swarm,
        Column::Kustomize,
    ];

    /// The column's heading in `docs/src/backends.md`.
    pub fn heading(self) -> &'static str {
        match self {
            Column::Fake => "Fake",
            Column::Docker => "Docker",
            Column::Podman => "Podman",
            Column::PodmanRootlessV1 => "Podman rootless, cgroup v1",
            Column::Swarm => "Swarm",
            Column::Kustomize => "Kustomize",
        }
    }

    /// The column a conformance backend proves.
    pub fn of(kind: Kind) -> Column {
        match kind {
            Kind::Fake => Column::Fake,
            Kind::Docker => Column::Docker,
            Kind::Podman => Column::Podman,
            Kind::Swarm => Column::Swarm,
        }
    }
}

/// One row of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    Provision,
    IdempotentProvision,
    TierMismatch,
    ReadOnlyStatus,
    Upgrade,
    Teardown,
    AbandonedRollback,
    PauseResume,
    HibernateWake,
    Limits,
    WarmPool,
    Templates,
}

impl Feature {
    /// Every row, in the document's order.
    pub const ALL: [Feature; 12] = [
        Feature::Provision,
        Feature::IdempotentProvision,
        Feature::TierMismatch,
        Feature::ReadOnlyStatus,
        Feature::Upgrade,
        Feature::Teardown,
        Feature::AbandonedRollback,
        Feature::PauseResume,
        Feature::HibernateWake,
        Feature::Limits,
        Feature::WarmPool,
        Feature::Templates,
    ];

    /// The row's first cell in `docs/src/backends.md`.
    pub fn heading(self) -> &'static str {
        match self {
            Feature::Provision => {
                "provision, ready = every role's probe passes (HTTP 2xx/3xx by default)"
            }
            Feature::IdempotentProvision => "provision is idempotent",
            Feature::TierMismatch => "another tier for a live slug is `tier_mismatch`",
            Feature::ReadOnlyStatus => "status is read-only",
            Feature::Upgrade => "upgrade keeps slug, network and volumes",
            Feature::Teardown => "teardown: idempotent, terminal, nothing left",
            Feature::AbandonedRollback => "abandoned provision rolls back",
            Feature::PauseResume => "pause / resume",
            Feature::HibernateWake => "hibernate / wake",
            Feature::Limits => "memory, CPU and PID limits enforced",
            Feature::WarmPool => "warm pool (`--pool`): claim, cold fallback, shrink",
            Feature::Templates => {
                "templates (`[tiers]`): N roles in start order, one-shots, references"
            }
        }
    }
}

/// What a backend does for a feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    /// ✔: done, and proved by the conformance scenario.
    Yes,
    /// ✘: the backend has nothing to do it with (the reason is in the document).
    No,
    /// `unsupported`: the verb answers the wire code `unsupported` naming engine and reason.
    Unsupported,
}

/// The matrix. Rootless Podman on cgroup v1 refuses every verb that would run containers
/// without their limits, and pause, which needs the freezer; teardown and status still work.
pub fn cell(column: Column, feature: Feature) -> Cell {
    use Cell::{No, Unsupported, Yes};
    match (column, feature) {
        (Column::Fake, Feature::Limits) => No,
        (Column::Fake | Column::Docker | Column::Podman | Column::Swarm, _) => Yes,
        (
            Column::PodmanRootlessV1,
            Feature::Provision
            | Feature::IdempotentProvision
            | Feature::TierMismatch
            | Feature::Upgrade
            | Feature::AbandonedRollback
            | Feature::PauseResume
            | Feature::HibernateWake
            | Feature::Limits
            | Feature::WarmPool
            | Feature::Templates,
        ) => Unsupported,
        (Column::PodmanRootlessV1, Feature::ReadOnlyStatus | Feature::Teardown) => Yes,
        // Nothing runs on this machine: ready means every manifest is written, limits are
        // the cluster's to enforce, and a provision is one rename with no half-way.
        (Column::Kustomize, Feature::Provision | Feature::Limits | Feature::AbandonedRollback) => {
            No
        }
        (
            Column::Kustomize,
            Feature::IdempotentProvision
            | Feature::TierMismatch
            | Feature::ReadOnlyStatus
            | Feature::Upgrade
            | Feature::Teardown
            | Feature::Templates,
        ) => Yes,
        (Column::Kustomize, Feature::PauseResume | Feature::HibernateWake | Feature::WarmPool) => {
            Unsupported
        }
    }
}

/// The expectation for a conformance backend.
pub fn expect(kind: Kind, feature: Feature) -> Cell {
    cell(Column::of(kind), feature)
}
