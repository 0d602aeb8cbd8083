//! The lifecycle guards: whether a verb may start on a workspace in a given status. hearth's
//! dispatcher decides by them (`hearth::lifecycle` holds the rest of the lifecycle table), and
//! the console's page offers exactly the verbs they let proceed (`/ui/meta.json`), so the two
//! cannot drift. Every match is full, with no `_` arm: a new verb or status forces a decision
//! here, at compile time.

use crate::hearth::Status;
use crate::verb::Verb;

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

/// The verbs a user may start on a workspace that is `status`, in the order the page shows
/// them: every verb but provision that [`guard`] lets proceed, except a teardown of a
/// workspace already tearing down (it is under way; asking again changes nothing).
pub fn offered(status: Status) -> Vec<Verb> {
    const ORDER: [Verb; 5] = [
        Verb::Pause,
        Verb::Resume,
        Verb::Hibernate,
        Verb::Upgrade,
        Verb::Teardown,
    ];
    if status == Status::TearingDown {
        return Vec::new();
    }
    ORDER
        .into_iter()
        .filter(|v| guard(*v, Some(status)) == Guard::Proceed)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_offered_what_the_guards_allow() {
        assert_eq!(
            offered(Status::Ready),
            [Verb::Pause, Verb::Hibernate, Verb::Upgrade, Verb::Teardown]
        );
        assert_eq!(offered(Status::Paused), [Verb::Resume, Verb::Teardown]);
        assert_eq!(offered(Status::Failed), [Verb::Resume, Verb::Teardown]);
        assert_eq!(offered(Status::TearingDown), []);
        assert_eq!(offered(Status::TierTornDown), []);
        for status in Status::ALL {
            for verb in offered(status) {
                assert_eq!(
                    guard(verb, Some(status)),
                    Guard::Proceed,
                    "{verb} on {status}"
                );
            }
        }
    }
}
