//! The lifecycle table, whole: which status each verb may start from (the guards), what the
//! engine is asked to do ([`Action`]: "resume means wake" is decided here, once), the status
//! shown while it runs, what it settles to, what a failure leaves, and what a verb a stopped
//! daemon left under way becomes on the next start. The dispatcher and startup reconciliation
//! read it; every column is a full match with no `_` arm, so a new verb or status forces a
//! decision here, at compile time.
//!
//! ```text
//! verb       from                  action     while         done           failed                 restart
//! provision  none, failed, torn    provision  provisioning  ready          failed (rolled back)   roll back, failed
//! upgrade    ready                 upgrade    upgrading     ready          failed¹ ²              failed, data kept
//! teardown   any but torn down     teardown   tearing_down  tier_torn_down tearing_down           finish it
//! pause      ready                 pause      (unchanged)   paused         what is now true³      ask the engine
//! resume     paused                resume     (unchanged)   ready          what is now true³      ask the engine
//! resume     hibernated, failed    wake       provisioning  ready          failed²                failed, data kept
//! hibernate  ready                 hibernate  (unchanged)   hibernated     what is now true³      ask the engine
//!
//! ¹ unchanged if the backend cannot upgrade at all (and so for every verb it cannot do)
//! ² what is now true³ if the engine refused: a refusal changed nothing the verb cannot see
//! ³ the engine is asked once the verb has done what it could on every role: the status its
//!   roles add up to (ready, paused, hibernated when they agree; failed for a mix); unchanged
//!   (refused) or failed (anything else) only if the engine cannot say
//! provision of a live workspace (same tier) and teardown of a torn-down one: already done.
//! ```
//!
//! The rule for a verb refused half-way (one role changed behind hearth's back): it does what
//! it can on every role (one refusal does not stop the others), and the record says what the
//! roles are now — never `failed` for a workspace whose roles all agree. Wake and upgrade
//! also wait for readiness, which a container's state cannot show, so only their refusals
//! are settled by asking the engine.

use serde::{Deserialize, Serialize};

use hearth_protocol::hearth::Status;
pub(crate) use hearth_protocol::verb::Verb;

/// What the engine is asked to do: a verb as the status it starts from makes it. Written to
/// the record (as `pending`, under these names) before the engine is touched, so that after a
/// crash it says what was interrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Provision,
    Upgrade,
    Teardown,
    Pause,
    /// Un-pausing: instant.
    Resume,
    /// Resume of a hibernated (or failed) workspace: its containers are started and checked
    /// again, its data kept.
    Wake,
    Hibernate,
}

/// How a verb failed, as far as the status it leaves goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The backend cannot do it at all: refused before anything was touched.
    Unsupported,
    /// The engine said no before acting.
    Refused,
    /// Anything else: it may have changed something.
    Broke,
}

/// What startup does with a verb a stopped daemon left under way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// Nothing of value exists yet: remove every object, record the failure.
    RollBack,
    /// Data is behind it: keep every object, record the failure (`resume` starts it again).
    KeepData,
    /// Finish the teardown.
    FinishTeardown,
    /// The status it had still holds or the new one already does: let the engine say.
    AskEngine,
}

/// The lifecycle table's per-verb columns, on the shared [`Verb`].
pub(crate) trait Rules {
    /// What the engine is asked to do when the verb starts from `from`.
    fn action(self, from: Option<Status>) -> Action;
}

impl Rules for Verb {
    fn action(self, from: Option<Status>) -> Action {
        match self {
            Verb::Provision => Action::Provision,
            Verb::Upgrade => Action::Upgrade,
            Verb::Teardown => Action::Teardown,
            Verb::Pause => Action::Pause,
            // Waking a hibernated (or failed) workspace boots it again; un-pausing is instant.
            Verb::Resume if matches!(from, Some(Status::Hibernated | Status::Failed)) => {
                Action::Wake
            }
            Verb::Resume => Action::Resume,
            Verb::Hibernate => Action::Hibernate,
        }
    }
}

impl Action {
    /// The action's name, as the state file records it.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Provision => "provision",
            Action::Upgrade => "upgrade",
            Action::Teardown => "teardown",
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Wake => "wake",
            Action::Hibernate => "hibernate",
        }
    }

    /// The status shown while it runs, starting from `from`.
    pub fn interim(self, from: Status) -> Status {
        match self {
            Action::Provision | Action::Wake => Status::Provisioning,
            Action::Upgrade => Status::Upgrading,
            Action::Teardown => Status::TearingDown,
            Action::Pause | Action::Resume | Action::Hibernate => from,
        }
    }

    /// The status it settles to when it succeeds.
    pub fn settles_to(self) -> Status {
        match self {
            Action::Provision | Action::Upgrade | Action::Resume | Action::Wake => Status::Ready,
            Action::Pause => Status::Paused,
            Action::Hibernate => Status::Hibernated,
            Action::Teardown => Status::TierTornDown,
        }
    }

    /// Whether it can be undone completely, so is abandoned with its caller and rolled back
    /// when it fails: nothing of value exists before it finishes.
    pub fn rolls_back(self) -> bool {
        match self {
            Action::Provision => true,
            Action::Upgrade
            | Action::Teardown
            | Action::Pause
            | Action::Resume
            | Action::Wake
            | Action::Hibernate => false,
        }
    }

    /// Whether, after failing so, the engine is asked what the workspace is now, its answer
    /// deciding the record ([`Action::after_failure`]).
    pub fn observes_after(self, failure: Failure) -> bool {
        match (self, failure) {
            // Nothing was touched, or nothing of value is left to describe.
            (_, Failure::Unsupported) | (Action::Provision | Action::Teardown, _) => false,
            // Pause, unpause and stop are what the container states show.
            (Action::Pause | Action::Resume | Action::Hibernate, Failure::Refused)
            | (Action::Pause | Action::Resume | Action::Hibernate, Failure::Broke)
            | (Action::Wake | Action::Upgrade, Failure::Refused) => true,
            // Ready means a probe passed, which container states cannot tell.
            (Action::Wake | Action::Upgrade, Failure::Broke) => false,
        }
    }

    /// The status a failure leaves, the workspace having been `from` before and the engine
    /// saying `observed` afterwards (`None`: not asked, or it could not say).
    pub fn after_failure(
        self,
        from: Option<Status>,
        failure: Failure,
        observed: Option<Status>,
    ) -> Status {
        if let Some(now) = observed.filter(|_| self.observes_after(failure)) {
            return match now {
                Status::Ready | Status::Paused | Status::Hibernated => now,
                // A mix of roles, some missing, or none left: not usable as it is.
                Status::Provisioning
                | Status::Upgrading
                | Status::TearingDown
                | Status::Failed
                | Status::TierTornDown => Status::Failed,
            };
        }
        let unchanged = from.unwrap_or(Status::Failed);
        match (self, failure) {
            // A teardown that did not finish is still tearing down: call it again.
            (Action::Teardown, _) => Status::TearingDown,
            // Refused (by the engine, or unsupported by the backend) before anything changed:
            // keep what it was.
            (
                Action::Pause | Action::Resume | Action::Wake | Action::Hibernate,
                Failure::Unsupported | Failure::Refused,
            ) => unchanged,
            // An upgrade the backend cannot do at all is refused before the old roles are
            // touched.
            (Action::Upgrade, Failure::Unsupported) => unchanged,
            (Action::Upgrade, Failure::Refused | Failure::Broke)
            | (
                Action::Provision
                | Action::Pause
                | Action::Resume
                | Action::Wake
                | Action::Hibernate,
                _,
            ) => Status::Failed,
        }
    }

    /// What the next start does when the daemon stopped with this action under way.
    pub fn on_restart(self) -> Restart {
        match self {
            Action::Provision => Restart::RollBack,
            Action::Upgrade | Action::Wake => Restart::KeepData,
            Action::Teardown => Restart::FinishTeardown,
            // Interrupted mid-pause, -resume or -hibernate.
            Action::Pause | Action::Resume | Action::Hibernate => Restart::AskEngine,
        }
    }

    /// The action a record left in `status` with `pending` recorded was interrupted in, if
    /// any. A state file from before `pending` was written has only the interim status; a
    /// failed or torn-down record has nothing under way.
    pub fn interrupted(status: Status, pending: Option<Action>) -> Option<Action> {
        match status {
            Status::Provisioning => pending.or(Some(Action::Provision)),
            Status::Upgrading => pending.or(Some(Action::Upgrade)),
            Status::TearingDown => pending.or(Some(Action::Teardown)),
            Status::Ready | Status::Paused | Status::Hibernated => pending,
            Status::Failed | Status::TierTornDown => None,
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The guards (which status each verb may start from) are the wire's: `hearth_protocol::guard`,
/// which the console's page reads too.
pub(crate) use hearth_protocol::guard::{guard, Guard};

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
            Verb::Resume
                .action(Some(Status::Hibernated))
                .interim(Status::Hibernated),
            Status::Provisioning
        );
    }

    #[test]
    fn a_failed_workspace_can_be_woken() {
        assert_eq!(guard(Verb::Resume, Some(Status::Failed)), Guard::Proceed);
        assert_eq!(
            Verb::Resume
                .action(Some(Status::Failed))
                .interim(Status::Failed),
            Status::Provisioning
        );
        assert_eq!(guard(Verb::Pause, Some(Status::Failed)), Guard::Refuse);
    }

    #[test]
    fn resume_of_a_hibernated_or_failed_workspace_is_a_wake() {
        for from in [Status::Hibernated, Status::Failed] {
            assert_eq!(Verb::Resume.action(Some(from)), Action::Wake);
        }
        assert_eq!(Verb::Resume.action(Some(Status::Paused)), Action::Resume);
        assert_eq!(Action::Wake.on_restart(), Restart::KeepData);
        assert_eq!(Action::Resume.on_restart(), Restart::AskEngine);
    }

    #[test]
    fn pending_keeps_its_names_on_disk() {
        for a in [
            Action::Provision,
            Action::Upgrade,
            Action::Teardown,
            Action::Pause,
            Action::Resume,
            Action::Wake,
            Action::Hibernate,
        ] {
            let json = serde_json::to_string(&a).expect("json");
            assert_eq!(json, format!("\"{}\"", a.as_str()));
            assert_eq!(serde_json::from_str::<Action>(&json).expect("read"), a);
        }
    }

    #[test]
    fn a_record_without_pending_is_read_by_its_status() {
        assert_eq!(
            Action::interrupted(Status::Provisioning, None),
            Some(Action::Provision)
        );
        assert_eq!(
            Action::interrupted(Status::Upgrading, None),
            Some(Action::Upgrade)
        );
        assert_eq!(
            Action::interrupted(Status::TearingDown, None),
            Some(Action::Teardown)
        );
        assert_eq!(Action::interrupted(Status::Ready, None), None);
        assert_eq!(
            Action::interrupted(Status::Provisioning, Some(Action::Wake)),
            Some(Action::Wake)
        );
    }

    #[test]
    fn a_refusal_changes_nothing_but_a_failure_fails() {
        let ready = Some(Status::Ready);
        assert_eq!(
            Action::Pause.after_failure(ready, Failure::Refused, None),
            Status::Ready
        );
        assert_eq!(
            Action::Pause.after_failure(ready, Failure::Broke, None),
            Status::Failed
        );
        assert_eq!(
            Action::Upgrade.after_failure(ready, Failure::Unsupported, Some(Status::Paused)),
            Status::Ready
        );
        assert_eq!(
            Action::Upgrade.after_failure(ready, Failure::Refused, None),
            Status::Failed
        );
        assert_eq!(
            Action::Teardown.after_failure(ready, Failure::Broke, Some(Status::Ready)),
            Status::TearingDown
        );
    }

    #[test]
    fn a_verb_refused_half_way_records_what_the_roles_are_now() {
        let ready = Some(Status::Ready);
        // Pause with cairnet paused behind hearth's back: lore paused too, both paused.
        for failure in [Failure::Refused, Failure::Broke] {
            assert_eq!(
                Action::Pause.after_failure(ready, failure, Some(Status::Paused)),
                Status::Paused
            );
            assert_eq!(
                Action::Hibernate.after_failure(ready, failure, Some(Status::Ready)),
                Status::Ready,
                "never failed for roles that all agree"
            );
        }
        assert_eq!(
            Action::Resume.after_failure(
                Some(Status::Paused),
                Failure::Refused,
                Some(Status::Ready)
            ),
            Status::Ready
        );
        // A mix of roles is not usable as it is.
        assert_eq!(
            Action::Pause.after_failure(ready, Failure::Refused, Some(Status::Failed)),
            Status::Failed
        );
        // A wake or upgrade that broke is not ready because its containers run.
        assert_eq!(
            Action::Wake.after_failure(
                Some(Status::Hibernated),
                Failure::Broke,
                Some(Status::Ready)
            ),
            Status::Failed
        );
        assert_eq!(
            Action::Upgrade.after_failure(ready, Failure::Refused, Some(Status::Ready)),
            Status::Ready
        );
        assert!(!Action::Provision.observes_after(Failure::Refused));
    }

    #[test]
    fn unknown_workspace() {
        assert_eq!(guard(Verb::Provision, None), Guard::Proceed);
        assert_eq!(guard(Verb::Teardown, None), Guard::AlreadyDone);
        assert_eq!(guard(Verb::Pause, None), Guard::Refuse);
    }
}
