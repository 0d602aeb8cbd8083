//! Startup reconciliation: after a (possibly unclean) stop, bring hearth's record and the
//! engine's labelled objects back in line before serving.

use std::sync::Arc;

use hearth_protocol::hearth::Status;
use tracing::info;

use super::Dispatcher;
use crate::error::HearthError;
use crate::slug::Slug;
use crate::store::Record;

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
}

impl Dispatcher {
    /// Brings hearth's record and the engine back in line after a (possibly unclean) start.
    ///
    /// # Errors
    /// The driver's error if the engine cannot be listed; the caller decides whether to
    /// serve anyway.
    pub async fn reconcile(self: &Arc<Self>) -> Result<Reconciled, HearthError> {
        let mut done = Reconciled::default();
        let owned = self.driver.owned().await?;
        for record in self.store.all() {
            let name = record.reference.workspace_slug.clone();
            let Ok(slug) = Slug::parse(&name) else {
                continue;
            };
            let steps = self.events.steps(&slug);
            match record.status {
                Status::Provisioning | Status::Upgrading => {
                    steps.record("reconcile_rollback", None, None);
                    self.driver.teardown(&slug, &steps).await?;
                    self.store.put(Record {
                        status: Status::Failed,
                        error: Some(
                            HearthError::driver(
                                format!("finish {} of {name}", record.status),
                                "hearth stopped before it finished; rolled back on restart",
                            )
                            .to_body(),
                        ),
                        ..record
                    })?;
                    done.rolled_back.push(name);
                }
                Status::TearingDown => {
                    self.driver.teardown(&slug, &steps).await?;
                    self.store.put(Record {
                        status: Status::TierTornDown,
                        error: None,
                        ..record
                    })?;
                    done.finished_teardowns.push(name);
                }
                Status::Ready | Status::Paused | Status::Hibernated => {
                    if !owned.iter().any(|o| o.slug == name) {
                        self.store.put(Record {
                            status: Status::Failed,
                            error: Some(
                                HearthError::driver(
                                    format!("find the objects of {name}"),
                                    "they were removed outside hearth (or the fake driver restarted)",
                                )
                                .to_body(),
                            ),
                            ..record
                        })?;
                        done.lost.push(name);
                    }
                }
                Status::Failed | Status::TierTornDown => {}
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
            if let Ok(slug) = Slug::parse(&name) {
                self.driver
                    .teardown(&slug, &self.events.steps(&slug))
                    .await?;
                done.orphans_removed.push(name);
            }
        }
        if done != Reconciled::default() {
            info!(?done, "reconciled state with the engine");
        }
        Ok(done)
    }
}
