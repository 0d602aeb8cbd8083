//! Recording a verb's outcome: success settles to the table's status; a failure records what
//! the lifecycle table says it leaves, after asking the engine what the workspace is now where
//! the table says so ([`Action::observes_after`]) — a verb refused half-way records what is
//! true, never `failed` for roles that all agree.

use std::time::Duration;

use chrono::Utc;
use hearth_protocol::hearth::{DeploymentRef, ErrorCode, ProvisioningProfile, Status};
use tracing::{info, warn};

use super::Dispatcher;
use crate::error::HearthError;
use crate::journal::Steps;
use crate::lifecycle::{Action, Failure, Rules, Verb};
use crate::slug::Slug;
use crate::step::Step;
use crate::store::Record;

/// How long the engine may take to say what a workspace is after a failed verb; past it the
/// record falls back to the table's answer for an engine that cannot say.
const OBSERVE_BOUND: Duration = Duration::from_secs(10);

/// A verb's result and, after a failure, the status the engine reported then.
#[derive(Debug)]
pub(super) struct Outcome {
    result: Result<DeploymentRef, HearthError>,
    observed: Option<Status>,
}

/// How a verb failed, as the lifecycle table tells failures apart.
fn failure_of(err: &HearthError) -> Failure {
    if err.code() == ErrorCode::Unsupported {
        Failure::Unsupported
    } else if err.is_refusal() {
        Failure::Refused
    } else {
        Failure::Broke
    }
}

impl Dispatcher {
    /// After a failure the table settles by asking the engine, what the workspace of `record`
    /// is now (within [`OBSERVE_BOUND`]; `None` if the engine cannot say).
    pub(super) async fn observe(
        &self,
        record: &Record,
        action: Action,
        result: Result<DeploymentRef, HearthError>,
    ) -> Outcome {
        let observed = match &result {
            Err(e) if action.observes_after(failure_of(e)) => {
                match tokio::time::timeout(OBSERVE_BOUND, self.driver.status(&record.reference))
                    .await
                {
                    Ok(Ok(now)) => Some(now),
                    Ok(Err(oe)) => {
                        warn!(workspace = %record.reference.workspace_slug, error = %oe, "the engine cannot say what the workspace is after the failure");
                        None
                    }
                    Err(_) => None,
                }
            }
            Ok(_) | Err(_) => None,
        };
        Outcome { result, observed }
    }

    /// Records the outcome of a verb.
    pub(super) fn settle(
        &self,
        slug: &Slug,
        verb: Verb,
        before: Record,
        from: Option<Status>,
        steps: &Steps,
        outcome: Outcome,
    ) -> Result<DeploymentRef, HearthError> {
        let action = verb.action(from);
        match outcome.result {
            Ok(reference) => {
                let status = action.settles_to();
                if action == Action::Wake {
                    steps.step(Step::Woken, None, None);
                }
                steps.done();
                info!(workspace = %slug, %verb, %status, "done");
                let profile = match verb {
                    Verb::Upgrade => ProvisioningProfile {
                        tier: reference.tier,
                        resource_caps: reference.resource_caps.clone(),
                        ..before.profile.clone()
                    },
                    _ => before.profile.clone(),
                };
                let saved = self.store.put(Record {
                    reference,
                    profile,
                    status,
                    error: None,
                    pending: None,
                    updated: Utc::now(),
                })?;
                Ok(saved.reference)
            }
            Err(err) => {
                steps.failed(err.to_string());
                warn!(workspace = %slug, %verb, code = %err.code(), error = %err, "failed");
                let status = action.after_failure(from, failure_of(&err), outcome.observed);
                if let Some(now) = outcome.observed {
                    info!(workspace = %slug, %verb, observed = %now, %status, "recorded what the engine holds after the failure");
                }
                self.store.put(Record {
                    status,
                    error: Some(err.to_body()),
                    pending: None,
                    ..before
                })?;
                Err(err)
            }
        }
    }
}
