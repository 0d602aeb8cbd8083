//! The lifecycle verbs and the guards that say which status each may start from. Every guard is
//! a full match with no `_` arm: a new status forces a decision here, at compile time.
//!
//! ```text
//! (none)      ─ provision ──────────► provisioning ─► ready
//! ready       ─ pause ──────────────► paused ─ resume ─► ready
//! ready       ─ upgrade ────────────► upgrading ─► ready
//! ready       ─ hibernate ──────────► hibernated ─ resume (wake) ─► provisioning ─► ready
//! failed      ─ resume (wake, data kept) ─────────────────────────► provisioning ─► ready
//! any verb that fails ──────────────► failed
//! any status  ─ teardown ───────────► tearing_down ─► tier_torn_down (terminal; provision may start afresh)
//! ```

use std::fmt;

use hearth_protocol::hearth::Status;

/// A lifecycle verb the dispatcher carries out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Provision,
    Upgrade,
    Teardown,
    Pause,
    Resume,
    Hibernate,
}

impl Verb {
    /// The verb as it appears in errors, logs and the RPC path.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Provision => "provision",
            Verb::Upgrade => "upgrade",
            Verb::Teardown => "teardown",
            Verb::Pause => "pause",
            Verb::Resume => "resume",
            Verb::Hibernate => "hibernate",
        }
    }

    /// The status a workspace shows while this verb is under way.
    pub fn interim(self, from: Status) -> Status {
        match self {
            Verb::Provision => Status::Provisioning,
            Verb::Upgrade => Status::Upgrading,
            Verb::Teardown => Status::TearingDown,
            // Waking a hibernated (or failed) workspace boots it again; un-pausing is instant.
            Verb::Resume if matches!(from, Status::Hibernated | Status::Failed) => {
                Status::Provisioning
            }
            Verb::Pause | Verb::Resume | Verb::Hibernate => from,
        }
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the dispatcher should do when `verb` meets a workspace in `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// Carry the verb out.
    Proceed,
    /// Nothing to do: the verb's result already holds (provision of a live workspace at the
    /// same tier, teardown of a torn-down one). Answer success without touching the engine.
    AlreadyDone,
    /// Refused: answer `conflict`.
    Refuse,
}

/// May `verb` act on a workspace that is `status`? (`None`: no workspace by that slug yet.)
pub fn guard(verb: Verb, status: Option<Status>) -> Guard {
    let Some(status) = status else {
        return match verb {
            Verb::Provision => Guard::Proceed,
            // Teardown of something never provisioned: idempotent, nothing to remove.
            Verb::Teardown => Guard::AlreadyDone,
            Verb::Upgrade | Verb::Pause | Verb::Resume | Verb::Hibernate => Guard::Refuse,
        };
    };
    match verb {
        Verb::Provision => can_provision(status),
        Verb::Upgrade => yes_if(can_upgrade(status)),
        Verb::Teardown => match status {
            Status::TierTornDown => Guard::AlreadyDone,
            Status::Provisioning
            | Status::Ready
            | Status::Upgrading
            | Status::Paused
            | Status::Hibernated
            | Status::TearingDown
            | Status::Failed => Guard::Proceed,
        },
        Verb::Pause => yes_if(can_pause(status)),
        Verb::Resume => yes_if(can_resume(status)),
        Verb::Hibernate => yes_if(can_hibernate(status)),
    }
}

fn yes_if(allowed: bool) -> Guard {
    if allowed {
        Guard::Proceed
    } else {
        Guard::Refuse
    }
}

/// Provision is idempotent on a live workspace (the dispatcher also checks the tier), starts
/// afresh after a failure or a teardown, and waits for nobody: a verb under way is a conflict.
fn can_provision(status: Status) -> Guard {
    match status {
        Status::Ready | Status::Paused | Status::Hibernated => Guard::AlreadyDone,
        Status::Failed | Status::TierTornDown => Guard::Proceed,
        Status::Provisioning | Status::Upgrading | Status::TearingDown => Guard::Refuse,
    }
}

/// Only a running workspace can be paused.
pub fn can_pause(status: Status) -> bool {
    match status {
        Status::Ready => true,
        Status::Provisioning
        | Status::Upgrading
        | Status::Paused
        | Status::Hibernated
        | Status::TearingDown
        | Status::Failed
        | Status::TierTornDown => false,
    }
}

/// Resume un-pauses a paused workspace and wakes a hibernated one. A failed workspace can be
/// woken too: its containers are started and checked again, its data volumes kept — the way
/// back from an interrupted wake, upgrade or pause that does not throw the data away.
pub fn can_resume(status: Status) -> bool {
    match status {
        Status::Paused | Status::Hibernated | Status::Failed => true,
        Status::Provisioning
        | Status::Ready
        | Status::Upgrading
        | Status::TearingDown
        | Status::TierTornDown => false,
    }
}

/// Hibernate stops a running workspace. A paused one is refused: resume it first, so that a
/// paused workspace never silently loses its in-memory state.
pub fn can_hibernate(status: Status) -> bool {
    match status {
        Status::Ready => true,
        Status::Provisioning
        | Status::Upgrading
        | Status::Paused
        | Status::Hibernated
        | Status::TearingDown
        | Status::Failed
        | Status::TierTornDown => false,
    }
}

/// Upgrade recreates the services, so it needs them running and settled.
pub fn can_upgrade(status: Status) -> bool {
    match status {
        Status::Ready => true,
        Status::Provisioning
        | Status::Upgrading
        | Status::Paused
        | Status::Hibernated
        | Status::TearingDown
        | Status::Failed
        | Status::TierTornDown => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_down_is_terminal_except_for_a_fresh_provision() {
        let s = Some(Status::TierTornDown);
        assert_eq!(guard(Verb::Teardown, s), Guard::AlreadyDone);
        assert_eq!(guard(Verb::Pause, s), Guard::Refuse);
        assert_eq!(guard(Verb::Resume, s), Guard::Refuse);
        assert_eq!(guard(Verb::Hibernate, s), Guard::Refuse);
        assert_eq!(guard(Verb::Upgrade, s), Guard::Refuse);
        assert_eq!(guard(Verb::Provision, s), Guard::Proceed);
    }

    #[test]
    fn ready_and_paused_toggle() {
        assert_eq!(guard(Verb::Pause, Some(Status::Ready)), Guard::Proceed);
        assert_eq!(guard(Verb::Pause, Some(Status::Paused)), Guard::Refuse);
        assert_eq!(guard(Verb::Resume, Some(Status::Paused)), Guard::Proceed);
        assert_eq!(guard(Verb::Resume, Some(Status::Ready)), Guard::Refuse);
    }

    #[test]
    fn hibernate_refuses_paused_and_wake_boots() {
        assert_eq!(guard(Verb::Hibernate, Some(Status::Paused)), Guard::Refuse);
        assert_eq!(
            guard(Verb::Resume, Some(Status::Hibernated)),
            Guard::Proceed
        );
        assert_eq!(
            Verb::Resume.interim(Status::Hibernated),
            Status::Provisioning
        );
    }

    #[test]
    fn a_failed_workspace_can_be_woken() {
        assert_eq!(guard(Verb::Resume, Some(Status::Failed)), Guard::Proceed);
        assert_eq!(Verb::Resume.interim(Status::Failed), Status::Provisioning);
        assert_eq!(guard(Verb::Pause, Some(Status::Failed)), Guard::Refuse);
    }

    #[test]
    fn unknown_workspace() {
        assert_eq!(guard(Verb::Provision, None), Guard::Proceed);
        assert_eq!(guard(Verb::Teardown, None), Guard::AlreadyDone);
        assert_eq!(guard(Verb::Pause, None), Guard::Refuse);
    }
}
