//! Startup reconciliation: after a (possibly unclean) stop, bring hearth's record and the
//! engine's labelled objects back in line before serving.

use std::sync::Arc;

use hearth_protocol::hearth::Status;
use tracing::{info, warn};

use super::Dispatcher;
use crate::driver::Owned;
use crate::error::HearthError;
use crate::lifecycle::{Action, Restart};
use crate::slug::Slug;
use crate::step::Step;
use crate::store::Record;

/// How long after rolling back an interrupted provision the engine gets to land a create the
/// killed daemon had sent, before a second sweep.
const LATE_CREATE: std::time::Duration = std::time::Duration::from_secs(1);

/// What startup reconciliation found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reconciled {
    /// Provisions interrupted by a crash, rolled back and recorded as failed.
    pub rolled_back: Vec<String>,
    /// Teardowns interrupted by a crash, finished.
    pub finished_teardowns: Vec<String>,
    /// Objects of this instance with no live workspace behind them, removed.
    pub orphans_removed: Vec<String>,
    /// Live workspaces whose objects are gone, recorded as failed.
    pub lost: Vec<String>,
    /// Wakes and upgrades interrupted by a crash, recorded as failed with their data kept.
    pub interrupted: Vec<String>,
    /// Workspaces that could not be reconciled now (e.g. the engine refused a removal).
    pub errors: Vec<String>,
}

impl Dispatcher {
    /// Brings hearth's record and the engine back in line after a (possibly unclean) start.
    /// Each workspace is reconciled on its own, under its lock: one that cannot be fixed now
    /// is reported in `errors` and does not stop the others.
    ///
    /// # Errors
    /// The driver's error if the engine cannot be listed at all (the daemon serves anyway and
    /// tries again later).
    pub async fn reconcile(self: &Arc<Self>) -> Result<Reconciled, HearthError> {
        let mut done = Reconciled::default();
        let owned = self.driver.owned().await?;
        for record in self.store.all() {
            let name = record.reference.workspace_slug.clone();
            let Ok(slug) = Slug::parse(&name) else {
                continue;
            };
            let _lock = self.lock_for(&slug).lock_owned().await;
            if let Err(e) = self.reconcile_one(&slug, record, &owned, &mut done).await {
                warn!(workspace = %slug, error = %e, "could not reconcile; will try again at the next start");
                done.errors.push(format!("{name}: {e}"));
            }
        }
        let live = |slug: &str| {
            self.store.get(slug).is_some_and(|r| {
                matches!(
                    r.status,
                    Status::Ready | Status::Paused | Status::Hibernated | Status::Failed
                )
            })
        };
        let mut orphans: Vec<String> = owned
            .iter()
            .map(|o| o.slug.clone())
            .filter(|s| !live(s))
            .collect();
        orphans.sort();
        orphans.dedup();
        for name in orphans {
            let Ok(slug) = Slug::parse(&name) else {
                continue;
            };
            let _lock = self.lock_for(&slug).lock_owned().await;
            // Checked again under the lock: a provision may have settled meanwhile.
            if live(&name) {
                continue;
            }
            match self
                .driver
                .teardown(&slug, &self.journal.steps(&slug))
                .await
            {
                Ok(()) => done.orphans_removed.push(name),
                Err(e) => done.errors.push(format!("{name}: {e}")),
            }
        }
        if done != Reconciled::default() {
            info!(?done, "reconciled state with the engine");
        }
        Ok(done)
    }

    async fn reconcile_one(
        &self,
        slug: &Slug,
        record: Record,
        owned: &[Owned],
        done: &mut Reconciled,
    ) -> Result<(), HearthError> {
        let name = slug.to_string();
        let steps = self.journal.steps(slug);
        let Some(interrupted) = Action::interrupted(record.status, record.pending) else {
            // Settled: its objects should be there, unless it failed or is gone.
            if matches!(
                record.status,
                Status::Ready | Status::Paused | Status::Hibernated
            ) && !owned.iter().any(|o| o.slug == name)
            {
                self.fail(
                    record,
                    format!("find the objects of {name}"),
                    "they were removed outside hearth (or the fake driver restarted)",
                )?;
                done.lost.push(name);
            }
            return Ok(());
        };
        match interrupted.on_restart() {
            // A provision can be undone completely: nothing of value exists yet.
            Restart::RollBack => {
                steps.step(Step::ReconcileRollback, None, None);
                self.driver.teardown(slug, &steps).await?;
                // A create the killed daemon had sent can still land on the engine after that
                // sweep (the engine finishes a request whose client died): sweep once more
                // after a moment, before the daemon serves.
                tokio::time::sleep(LATE_CREATE).await;
                self.driver.teardown(slug, &steps).await?;
                self.fail(
                    record,
                    format!("finish the provision of {name}"),
                    "hearth stopped before it finished; rolled back on restart",
                )?;
                done.rolled_back.push(name);
            }
            // A wake or an upgrade has data behind it: keep every object, record the failure;
            // `resume` starts it again, `teardown` removes it.
            Restart::KeepData => {
                self.fail(record, format!("finish the {interrupted} of {name}"), "hearth stopped before it finished; its network and data volumes are kept: resume it to start it again")?;
                done.interrupted.push(name);
            }
            Restart::FinishTeardown => {
                self.driver.teardown(slug, &steps).await?;
                self.store.put(Record {
                    status: Status::TierTornDown,
                    error: None,
                    pending: None,
                    ..record
                })?;
                done.finished_teardowns.push(name);
            }
            // Interrupted mid-pause, -resume or -hibernate: let the engine say.
            Restart::AskEngine => {
                let seen = self.driver.status(&record.reference).await?;
                self.store.put(Record {
                    status: seen,
                    pending: None,
                    ..record
                })?;
            }
        }
        Ok(())
    }

    fn fail(&self, record: Record, attempted: String, detail: &str) -> Result<(), HearthError> {
        self.store.put(Record {
            status: Status::Failed,
            error: Some(HearthError::driver(attempted, detail).to_body()),
            pending: None,
            ..record
        })?;
        Ok(())
    }
}
