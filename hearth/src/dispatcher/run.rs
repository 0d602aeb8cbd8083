//! Running one verb's driver call: under the verb's deadline, cancelled with its caller when
//! it can be undone, and a provision that did not finish rolled back (swept twice: a create
//! the engine was still finishing can land after the first sweep).

use std::time::Duration;

use hearth_protocol::hearth::{DeploymentRef, Status};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::{Dispatcher, Op};
use crate::error::HearthError;
use crate::journal::Steps;
use crate::lifecycle::{Action, Rules, Verb};
use crate::slug::Slug;
use crate::step::Step;
use crate::store::Record;

impl Dispatcher {
    /// Runs the driver call under the verb's deadline, rolling back a provision that did not
    /// finish.
    pub(super) async fn run(
        &self,
        slug: &Slug,
        op: &Op,
        record: &Record,
        from: Option<Status>,
        steps: &Steps,
        cancel: CancellationToken,
    ) -> Result<DeploymentRef, HearthError> {
        let verb = op.verb();
        let action = verb.action(from);
        let deadline = match verb {
            Verb::Provision => self.deadlines.provision,
            Verb::Teardown => self.deadlines.teardown,
            Verb::Upgrade | Verb::Pause | Verb::Resume | Verb::Hibernate => self.deadlines.other,
        };
        let r = &record.reference;
        let call = async {
            match action {
                Action::Provision => {
                    let profile = op.profile()?;
                    if from == Some(Status::Failed) {
                        // A failed workspace may have left objects (a failed upgrade or
                        // wake); start from a clean slate.
                        self.driver.teardown(slug, steps).await?;
                    }
                    // A warm member if there is one; otherwise (or if the claim fails) cold.
                    if let Some(claimed) = match self.pool.get() {
                        Some(pool) => pool.claim(slug, profile, steps).await,
                        None => None,
                    } {
                        return Ok(claimed);
                    }
                    self.driver.provision(slug, profile, steps).await
                }
                Action::Upgrade => self.driver.upgrade(r, op.profile()?, steps).await,
                Action::Teardown => self.driver.teardown(slug, steps).await.map(|()| r.clone()),
                Action::Pause => self.driver.pause(r, steps).await,
                Action::Resume => self.driver.resume(r, steps).await,
                Action::Wake => self.driver.wake(r, steps).await,
                Action::Hibernate => self.driver.hibernate(r, steps).await,
            }
        };
        let outcome = tokio::select! {
            res = tokio::time::timeout(deadline, call) => res.unwrap_or_else(|_| {
                Err(HearthError::DeadlineExceeded {
                    verb: verb.as_str(),
                    slug: slug.to_string(),
                    after: deadline,
                    at: self.journal.last_step(slug),
                })
            }),
            () = cancel.cancelled() => Err(HearthError::Canceled {
                verb: verb.as_str(),
                slug: slug.to_string(),
            }),
        };
        if outcome.is_err() && action.rolls_back() {
            steps.step(Step::RollbackStarted, None, None);
            let rollback = async {
                match self.driver.teardown(slug, steps).await {
                    // A create the engine was still finishing when the provision stopped can
                    // land after the first sweep: one more sweep catches it.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        self.driver.teardown(slug, steps).await
                    }
                    ok => ok,
                }
            };
            match tokio::time::timeout(self.deadlines.teardown, rollback).await {
                Ok(Ok(())) => steps.step(Step::RolledBack, None, None),
                Ok(Err(e)) => {
                    warn!(workspace = %slug, error = %e, "rollback failed; objects may remain until the next start");
                    steps.step(Step::RollbackFailed, None, Some(e.to_string()));
                }
                Err(_) => {
                    warn!(workspace = %slug, "rollback exceeded its deadline; objects may remain until the next start");
                    steps.step(Step::RollbackFailed, None, Some("deadline exceeded".into()));
                }
            }
        }
        outcome
    }
}
