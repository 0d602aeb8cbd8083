//! The one way through: every lifecycle verb (from the RPC, the CLI or the console) goes
//! through `Dispatcher::dispatch`, which takes the workspace's lock, checks the guard,
//! records the interim status before touching the engine, calls the driver under a deadline,
//! rolls back a failed or abandoned provision, and records the outcome and its steps.
//! Startup reconciliation (`reconcile`), the dispatcher's own recovery path, runs before the
//! daemon serves and writes the same record.

mod reconcile;
mod run;
mod settle;

pub use crate::in_flight::{InFlight, Running};
pub use reconcile::Reconciled;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use hearth_protocol::hearth::{
    DeploymentRef, DriverName, LifecycleEvent, ProvisioningProfile, Status, StatusResponse,
};
use hearth_protocol::verb::Shape;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::instrument;

use crate::driver::Driver;
use crate::error::HearthError;
use crate::journal::Journal;
use crate::lifecycle::{guard, Guard, Rules, Verb};
use crate::slug::Slug;
use crate::store::{Record, Store};

/// How long each kind of verb may take before it is abandoned with `deadline_exceeded`.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    pub provision: Duration,
    pub teardown: Duration,
    /// Upgrade, pause, resume (and wake), hibernate.
    pub other: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            provision: Duration::from_secs(120),
            teardown: Duration::from_secs(60),
            other: Duration::from_secs(120),
        }
    }
}

/// A verb with its argument.
#[derive(Debug, Clone)]
enum Op {
    Provision(ProvisioningProfile),
    Upgrade(ProvisioningProfile),
    /// A verb that takes nothing but the slug (teardown and every [`Shape::Act`] verb).
    Plain(Verb),
}

impl Op {
    fn verb(&self) -> Verb {
        match self {
            Op::Provision(_) => Verb::Provision,
            Op::Upgrade(_) => Verb::Upgrade,
            Op::Plain(verb) => *verb,
        }
    }

    /// The profile a provision or an upgrade carries.
    fn profile(&self) -> Result<&ProvisioningProfile, HearthError> {
        match self {
            Op::Provision(p) | Op::Upgrade(p) => Ok(p),
            Op::Plain(verb) => Err(HearthError::InvalidRequest {
                message: format!("{verb} needs a provisioning profile"),
            }),
        }
    }
}

/// Carries out lifecycle verbs, one at a time per workspace.
#[derive(Debug)]
pub struct Dispatcher {
    driver: Arc<dyn Driver>,
    store: Store,
    journal: Journal,
    deadlines: Deadlines,
    /// One async lock per slug, so verbs on one workspace never interleave; held by the
    /// spawned operation, so a caller that goes away does not release it early.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// The warm pool a provision claims from first, when the daemon runs one.
    pool: std::sync::OnceLock<Arc<crate::pool::Pool>>,
    /// The verbs on the engine now, which the pool's refill waits out.
    in_flight: Arc<InFlight>,
    /// Every verb's spawned operation, so a shutdown drains the ones whose caller left.
    tasks: TaskTracker,
    /// The agent projection, when `HEARTH_AGENT_HATCH_URL` asks for one.
    agent: std::sync::OnceLock<crate::agent::Projection>,
}

impl Dispatcher {
    /// A dispatcher over `driver`, recording into `store`.
    pub fn new(driver: Arc<dyn Driver>, store: Store, deadlines: Deadlines) -> Arc<Self> {
        Arc::new(Dispatcher {
            driver,
            store,
            journal: Journal::default(),
            deadlines,
            locks: Mutex::default(),
            pool: std::sync::OnceLock::new(),
            in_flight: Arc::default(),
            tasks: TaskTracker::new(),
            agent: std::sync::OnceLock::new(),
        })
    }

    /// Projects every verb call from now on as agent events (see [`crate::agent`]). Set
    /// once, before serving.
    pub fn set_agent(&self, projection: crate::agent::Projection) {
        let _ = self.agent.set(projection);
    }

    /// Lets provisions claim from `pool` (whose [`crate::pool::Pool::bound`] driver this
    /// dispatcher must run). Set once, before serving.
    /// The pool's refill then waits while verbs are in flight.
    pub fn set_pool(&self, pool: Arc<crate::pool::Pool>) {
        pool.defer_to(Arc::clone(&self.in_flight));
        let _ = self.pool.set(pool);
    }

    /// The warm pool, if the daemon runs one.
    pub fn pool(&self) -> Option<&Arc<crate::pool::Pool>> {
        self.pool.get()
    }

    /// The verbs on the engine now.
    pub fn in_flight(&self) -> &Arc<InFlight> {
        &self.in_flight
    }

    /// Every object the driver created and has not removed (read-only: the dispatcher hands
    /// out no driver, so no verb can reach one around it).
    ///
    /// # Errors
    /// The driver's, when the engine cannot be listed.
    pub async fn owned(&self) -> Result<Vec<crate::driver::Owned>, HearthError> {
        self.driver.owned().await
    }

    /// The verbs in flight: a shutdown closes it and waits, within its drain bound, for
    /// those still running.
    pub fn tasks(&self) -> &TaskTracker {
        &self.tasks
    }

    /// Provisions `slug`; idempotent on (slug, tier, driver).
    ///
    /// # Errors
    /// `invalid_slug` before any engine call (also for a slug of a pool member's form),
    /// `tier_mismatch`, `conflict`, or the driver's error.
    pub async fn provision(
        self: &Arc<Self>,
        slug: &str,
        profile: ProvisioningProfile,
    ) -> Result<DeploymentRef, HearthError> {
        crate::pool::refuse_member_id(slug)?;
        if let Some(asked) = profile.driver {
            if asked != self.driver.name() {
                return Err(HearthError::InvalidRequest {
                    message: format!(
                        "this hearth runs the {} driver, not {asked}",
                        self.driver.name()
                    ),
                });
            }
        }
        self.dispatch(slug, Op::Provision(profile)).await
    }

    /// Changes tier or caps, keeping slug, network and data volumes.
    ///
    /// # Errors
    /// As [`Dispatcher::provision`], plus `not_found`.
    pub async fn upgrade(
        self: &Arc<Self>,
        slug: &str,
        profile: ProvisioningProfile,
    ) -> Result<DeploymentRef, HearthError> {
        self.dispatch(slug, Op::Upgrade(profile)).await
    }

    /// Tears `slug` down; idempotent and terminal.
    ///
    /// # Errors
    /// `invalid_slug`, `deadline_exceeded`, or the driver's error.
    pub async fn teardown(self: &Arc<Self>, slug: &str) -> Result<(), HearthError> {
        self.dispatch(slug, Op::Plain(Verb::Teardown))
            .await
            .map(|_| ())
    }

    /// Carries out a verb that takes nothing but the slug and answers the ref
    /// ([`Shape::Act`]: pause, resume, hibernate, …).
    ///
    /// # Errors
    /// `invalid_request` for a verb of another shape, `not_found`, `conflict` where the
    /// lifecycle table refuses it, or the driver's error.
    pub async fn act(
        self: &Arc<Self>,
        verb: Verb,
        slug: &str,
    ) -> Result<DeploymentRef, HearthError> {
        if verb.shape() != Shape::Act {
            return Err(HearthError::InvalidRequest {
                message: format!("{verb} is not a verb on the slug alone"),
            });
        }
        self.dispatch(slug, Op::Plain(verb)).await
    }

    /// Freezes a ready workspace.
    ///
    /// # Errors
    /// `not_found`, `conflict` unless ready, or the driver's error.
    pub async fn pause(self: &Arc<Self>, slug: &str) -> Result<DeploymentRef, HearthError> {
        self.act(Verb::Pause, slug).await
    }

    /// Thaws a paused workspace or wakes a hibernated one.
    ///
    /// # Errors
    /// `not_found`, `conflict` unless paused or hibernated, or the driver's error.
    pub async fn resume(self: &Arc<Self>, slug: &str) -> Result<DeploymentRef, HearthError> {
        self.act(Verb::Resume, slug).await
    }

    /// Stops a ready workspace, keeping its network and volumes.
    ///
    /// # Errors
    /// `not_found`, `conflict` unless ready, or the driver's error.
    pub async fn hibernate(self: &Arc<Self>, slug: &str) -> Result<DeploymentRef, HearthError> {
        self.act(Verb::Hibernate, slug).await
    }

    /// The workspace's status: hearth's record, checked against the engine for settled
    /// workspaces. Read-only.
    ///
    /// # Errors
    /// `invalid_slug`, `not_found`, or the driver's error while observing.
    pub async fn status(&self, slug: &str) -> Result<Status, HearthError> {
        Ok(self.status_report(slug).await?.status)
    }

    /// The workspace's status as [`Dispatcher::status`] answers it, with each role's state
    /// (and node) when the engine was asked; no roles while a verb is under way, or for a
    /// failed or torn-down record. Read-only.
    ///
    /// # Errors
    /// `invalid_slug`, `not_found`, or the driver's error while observing.
    pub async fn status_report(&self, slug: &str) -> Result<StatusResponse, HearthError> {
        let record = self.record(slug)?;
        let recorded = StatusResponse {
            status: record.status,
            roles: Vec::new(),
        };
        // While a verb is under way its containers are between states; the record's interim
        // status is the truth until it settles.
        let parsed = Slug::parse(slug)?;
        if self.lock_for(&parsed).try_lock().is_err() {
            return Ok(recorded);
        }
        match record.status {
            Status::Ready | Status::Paused | Status::Hibernated => {
                self.driver.observe(&record.reference).await
            }
            Status::Provisioning
            | Status::Upgrading
            | Status::TearingDown
            | Status::Failed
            | Status::TierTornDown => Ok(recorded),
        }
    }

    /// The workspace's ref, its `last_status` being the status now (as [`Dispatcher::status`]
    /// answers it).
    ///
    /// # Errors
    /// `invalid_slug`, `not_found`, or the driver's error while observing.
    pub async fn get(&self, slug: &str) -> Result<DeploymentRef, HearthError> {
        let mut reference = self.record(slug)?.reference;
        reference.last_status = self.status(slug).await?;
        Ok(reference)
    }

    /// Every workspace not torn down.
    pub fn list(&self) -> Vec<DeploymentRef> {
        self.store
            .all()
            .into_iter()
            .filter(|r| r.status != Status::TierTornDown)
            .map(|r| r.reference)
            .collect()
    }

    /// The steps recorded for `slug`.
    ///
    /// # Errors
    /// `invalid_slug` or `not_found`.
    pub fn events(&self, slug: &str) -> Result<Vec<LifecycleEvent>, HearthError> {
        let record = self.record(slug)?;
        let slug = Slug::parse(&record.reference.workspace_slug)?;
        Ok(self.journal.snapshot(&slug))
    }

    /// The steps so far and a receiver for the ones to come.
    ///
    /// # Errors
    /// `invalid_slug`.
    pub fn follow(
        &self,
        slug: &str,
    ) -> Result<(Vec<LifecycleEvent>, broadcast::Receiver<LifecycleEvent>), HearthError> {
        let slug = Slug::parse(slug)?;
        Ok(self.journal.follow(&slug))
    }

    fn record(&self, slug: &str) -> Result<Record, HearthError> {
        let slug = Slug::parse(slug)?;
        self.store
            .get(slug.as_str())
            .ok_or_else(|| HearthError::NotFound {
                slug: slug.to_string(),
            })
    }

    fn lock_for(&self, slug: &Slug) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(slug.to_string()).or_default().clone()
    }

    /// [`Dispatcher::carry_out`], projected as an agent's invocation when the daemon has a
    /// projection (a slug that is not one is refused before, and never projected).
    async fn dispatch(
        self: &Arc<Self>,
        raw_slug: &str,
        op: Op,
    ) -> Result<DeploymentRef, HearthError> {
        let Some(agent) = self.agent.get() else {
            return self.carry_out(raw_slug, op).await;
        };
        let slug = Slug::parse(raw_slug)?;
        let call = agent.invoked(slug.as_str(), op.verb().as_str());
        let result = self.carry_out(raw_slug, op).await;
        agent.completed(call, &result);
        result
    }

    #[instrument(skip(self, op), fields(workspace = %raw_slug, verb = %op.verb()))]
    async fn carry_out(
        self: &Arc<Self>,
        raw_slug: &str,
        op: Op,
    ) -> Result<DeploymentRef, HearthError> {
        let slug = Slug::parse(raw_slug)?;
        let verb = op.verb();
        let lock = self.lock_for(&slug).lock_owned().await;
        let existing = self.store.get(slug.as_str());

        match guard(verb, existing.as_ref().map(|r| r.status)) {
            Guard::Refuse => {
                return Err(match &existing {
                    None => HearthError::NotFound {
                        slug: slug.to_string(),
                    },
                    Some(r) => HearthError::Conflict {
                        slug: slug.to_string(),
                        verb: verb.as_str(),
                        status: r.status,
                    },
                })
            }
            Guard::AlreadyDone => return already_done(&slug, &op, existing, self.driver.name()),
            Guard::Proceed => {}
        }

        let from = existing.as_ref().map(|r| r.status);
        let action = verb.action(from);
        let interim = action.interim(from.unwrap_or(Status::Provisioning));
        let record = match (&op, existing) {
            (Op::Provision(profile), _) => fresh_record(&slug, profile, self.driver.name()),
            (_, Some(r)) => r,
            // The guard refuses every verb but provision for an unknown slug (and answers its
            // teardown as done); a typed error rather than a panic all the same.
            (_, None) => {
                return Err(HearthError::NotFound {
                    slug: slug.to_string(),
                })
            }
        };
        let record = self.store.put(Record {
            status: interim,
            error: None,
            pending: Some(action),
            ..record
        })?;

        let steps = self.journal.operation(&slug, verb);
        steps.begin();
        let cancel = CancellationToken::new();
        // Only what can be undone completely (a provision) is abandoned with its caller. The
        // other verbs finish (or hit their deadline) even if nobody waits for the answer.
        let cancel_on_drop = action.rolls_back().then(|| cancel.clone().drop_guard());

        let this = Arc::clone(self);
        let running = self.in_flight.enter();
        let task = self.tasks.spawn(async move {
            let outcome = this.run(&slug, &op, &record, from, &steps, cancel).await;
            let outcome = this.observe(&record, action, outcome).await;
            let saved = this.settle(&slug, verb, record, from, &steps, outcome);
            drop((lock, running));
            saved
        });
        let joined = task.await;
        if let Some(g) = cancel_on_drop {
            g.disarm();
        }
        joined.map_err(|e| HearthError::driver(format!("finish {verb}"), e))?
    }
}

/// The answer for a verb whose result already holds.
fn already_done(
    slug: &Slug,
    op: &Op,
    existing: Option<Record>,
    driver: DriverName,
) -> Result<DeploymentRef, HearthError> {
    match (op, existing) {
        (Op::Provision(profile), Some(r)) => {
            if r.reference.tier != profile.tier {
                return Err(HearthError::TierMismatch {
                    slug: slug.to_string(),
                    live: r.reference.tier,
                    asked: profile.tier,
                });
            }
            Ok(r.reference)
        }
        (_, Some(r)) => Ok(r.reference),
        (_, None) => Ok(placeholder_ref(slug, None, driver, Status::TierTornDown)),
    }
}

/// A ref for a workspace with nothing on the engine (yet, or any more).
fn placeholder_ref(
    slug: &Slug,
    profile: Option<&ProvisioningProfile>,
    driver: DriverName,
    status: Status,
) -> DeploymentRef {
    DeploymentRef {
        workspace_slug: slug.to_string(),
        tier: profile.map_or(hearth_protocol::hearth::Tier::Solo, |p| p.tier),
        driver,
        endpoint: String::new(),
        secrets_vault_path: String::new(),
        created: Utc::now(),
        last_status: status,
        resource_caps: profile.map(ProvisioningProfile::caps),
        services: Vec::new(),
        pool: None,
    }
}

fn fresh_record(slug: &Slug, profile: &ProvisioningProfile, driver: DriverName) -> Record {
    Record {
        reference: placeholder_ref(slug, Some(profile), driver, Status::Provisioning),
        profile: profile.clone(),
        status: Status::Provisioning,
        error: None,
        pending: None,
        updated: Utc::now(),
    }
}
