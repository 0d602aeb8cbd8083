//! The warm pool: whole workspaces made ahead of time (network, fresh data volumes, services
//! started and checked ready once) and kept paused under neutral member ids, one pool per
//! (tier, each role's image digest). A provision of a new slug at a pooled tier claims one —
//! inside the dispatcher's provision verb, never beside it — binds it to the slug in the book,
//! thaws it, checks it answers again and answers the ordinary ref plus `pool: {member,
//! age_ms}`. An empty pool, a stale member or a failed claim falls back to a cold provision.
//!
//! - `member`: the book (`STATE_DIR/pool.json`): members and bindings, written through.
//! - `bound`: the driver as the dispatcher sees it, finding claimed workspaces by member id.
//! - `refill`: the background loop that keeps each pool full, current and within its size.

mod bound;
mod member;
mod refill;

pub use bound::Bound;
pub use member::{
    is_member_id, new_member_id, refuse_member_id, Binding, Book, Key, Member, Phase,
    RESERVED_FOR_MEMBERS,
};

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hearth_protocol::hearth::{
    DeploymentRef, PoolClaim, PoolReport, ProvisioningProfile, Status, Tier,
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::driver::Driver;
use crate::error::HearthError;
use crate::in_flight::InFlight;
use crate::journal::Steps;
use crate::slug::Slug;
use crate::step::Step;

/// The entry of a member's key that holds its tier's template fingerprint (never a role
/// name: roles are DNS labels).
pub const TEMPLATE_KEY: &str = "(template)";

/// How the pools are run (`--pool TIER=N`, `[pool]`).
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Members kept ready per tier; a tier absent (or 0) has no pool.
    pub sizes: BTreeMap<Tier, u32>,
    /// Members ready for longer than this are retired and replaced.
    pub max_age: Option<Duration>,
    /// After this many refills in a row fail, refilling stops and backs off.
    pub failure_cap: u32,
    /// The first backoff after the cap is reached; it doubles with each failed retry.
    pub backoff: Duration,
    /// The longest backoff.
    pub max_backoff: Duration,
    /// How often the image digests are checked (and the pool topped up) without a claim.
    pub check_every: Duration,
    /// How long a thawed member may take to answer before the claim falls back to cold.
    pub claim_timeout: Duration,
    /// How long building one member may take.
    pub build_timeout: Duration,
    /// A build or removal of members starts only once no verb has been in flight for this
    /// long, so a refill does not compete with callers for the engine.
    pub quiet: Duration,
    /// ... but it waits for that quiet at most this long, so a steady stream of verbs never
    /// starves the pool.
    pub max_defer: Duration,
    /// Each tier's template fingerprint ([`crate::template::Template::fingerprint`]) for the
    /// tiers with a template of their own: folded into the members' key, so a changed
    /// template drains the members built from the old one.
    pub templates: BTreeMap<Tier, String>,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            sizes: BTreeMap::new(),
            max_age: None,
            failure_cap: 3,
            backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(300),
            check_every: Duration::from_secs(2),
            claim_timeout: Duration::from_secs(5),
            build_timeout: Duration::from_secs(120),
            quiet: Duration::from_millis(150),
            max_defer: Duration::from_secs(10),
            templates: BTreeMap::new(),
        }
    }
}

impl PoolConfig {
    /// The members' key for `tier` from the driver's image `digests`: the digests, and the
    /// tier's template fingerprint under [`TEMPLATE_KEY`] when it has its own template.
    pub fn key_digests(
        &self,
        tier: Tier,
        mut digests: BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        if let Some(f) = self.templates.get(&tier) {
            digests.insert(TEMPLATE_KEY.to_owned(), f.clone());
        }
        digests
    }

    /// Parses `TIER=N` (`solo=2`).
    ///
    /// # Errors
    /// A message naming the accepted form.
    pub fn add_spec(&mut self, spec: &str) -> Result<(), String> {
        let (tier, n) = spec
            .split_once('=')
            .ok_or_else(|| format!("pool {spec:?} is not TIER=N (e.g. solo=2)"))?;
        let tier: Tier = tier
            .trim()
            .parse()
            .map_err(|e| format!("pool {spec:?}: {e}"))?;
        let n: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("pool {spec:?}: {n:?} is not a member count"))?;
        self.sizes.insert(tier, n);
        Ok(())
    }
}

/// What the refill loop knows about one tier's pool.
#[derive(Debug, Default, Clone)]
struct Health {
    /// The digests last resolved for the tier (the current key).
    digests: Option<BTreeMap<String, String>>,
    failures: u32,
    last_error: Option<String>,
    backoff_until: Option<DateTime<Utc>>,
    claimed: u64,
    drained: u64,
}

/// What startup adoption found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Adopted {
    /// Whole, paused members kept.
    pub kept: Vec<String>,
    /// Half-built or broken members removed.
    pub removed: Vec<String>,
}

/// The pools of one daemon.
#[derive(Debug)]
pub struct Pool {
    /// The real driver: members are built, paused and removed under their own ids.
    inner: Arc<dyn Driver>,
    book: Arc<Book>,
    config: Mutex<PoolConfig>,
    health: Mutex<BTreeMap<Tier, Health>>,
    /// Wakes the refill loop (after a claim, a size change, or a stale member seen).
    nudge: Notify,
    /// Stops the refill loop.
    stop: CancellationToken,
    /// The dispatcher's verbs in flight, which the refill waits out.
    verbs: OnceLock<Arc<InFlight>>,
}

impl Pool {
    /// Pools over `inner`, with their book in `book`.
    pub fn new(inner: Arc<dyn Driver>, book: Arc<Book>, config: PoolConfig) -> Arc<Pool> {
        Arc::new(Pool {
            inner,
            book,
            config: Mutex::new(config),
            health: Mutex::default(),
            nudge: Notify::new(),
            stop: CancellationToken::new(),
            verbs: OnceLock::new(),
        })
    }

    /// Makes the refill wait for a quiet moment in `verbs` before it touches the engine
    /// (set by [`crate::dispatcher::Dispatcher::set_pool`]).
    pub fn defer_to(&self, verbs: Arc<InFlight>) {
        let _ = self.verbs.set(verbs);
    }

    /// Waits until no verb has been in flight for `quiet` (at most `max_defer`).
    async fn yield_to_verbs(&self) {
        let Some(verbs) = self.verbs.get() else {
            return;
        };
        let config = self.config();
        let quiet = tokio::select! {
            quiet = verbs.quiet_for(config.quiet, config.max_defer) => quiet,
            () = self.stop.cancelled() => return,
        };
        if !quiet {
            info!(running = verbs.running(), waited = ?config.max_defer, "verbs kept the engine busy; refilling anyway");
        }
    }

    /// The driver the dispatcher must run: the real one, seen through the bindings.
    pub fn bound(&self) -> Arc<dyn Driver> {
        Arc::new(Bound {
            inner: Arc::clone(&self.inner),
            book: Arc::clone(&self.book),
        })
    }

    /// The book (for tests and reports).
    pub fn book(&self) -> &Book {
        &self.book
    }

    fn config(&self) -> PoolConfig {
        self.config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Changes a tier's size; shrinking removes the surplus at the next refill pass.
    pub fn set_size(&self, tier: Tier, size: u32) {
        self.config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .sizes
            .insert(tier, size);
        self.nudge.notify_one();
    }

    fn with_health<R>(&self, tier: Tier, f: impl FnOnce(&mut Health) -> R) -> R {
        let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        f(h.entry(tier).or_default())
    }

    /// Whether any tier has a pool.
    pub fn enabled(&self) -> bool {
        self.config().sizes.values().any(|n| *n > 0)
    }

    /// Whether a provision with `profile` may be served from the pool: only the tier's plain
    /// profile (members are built with it), on a tier that has a pool.
    fn serves(&self, profile: &ProvisioningProfile) -> bool {
        let plain_caps = profile
            .resource_caps
            .as_ref()
            .is_none_or(|c| *c == profile.tier.default_caps());
        profile.driver_flags.is_empty()
            && plain_caps
            && self
                .config()
                .sizes
                .get(&profile.tier)
                .is_some_and(|n| *n > 0)
    }

    /// Claims a member for `slug`: takes it out of the pool and binds it in one write, thaws
    /// it, checks its images are still current and that it answers, and returns its ref
    /// under `slug`. `None` (the caller provisions cold) if the pool is empty or anything
    /// fails; a member that failed is removed, never put back.
    pub async fn claim(
        &self,
        slug: &Slug,
        profile: &ProvisioningProfile,
        steps: &Steps,
    ) -> Option<DeploymentRef> {
        if !self.serves(profile) {
            return None;
        }
        let tier = profile.tier;
        let now = Utc::now();
        let max_age = self.config().max_age;
        let current = self.with_health(tier, |h| h.digests.clone());
        let pick = |m: &Member| {
            m.key.tier == tier
                && current.as_ref().is_none_or(|d| *d == m.key.digests)
                && max_age.is_none_or(|a| u128::from(m.age_ms(now)) < a.as_millis())
                && m.reference.is_some()
        };
        let member = match self.book.claim(slug.as_str(), now, pick) {
            Ok(Some(m)) => m,
            Ok(None) => {
                steps.step(
                    Step::PoolEmpty,
                    None,
                    Some(format!("no ready {tier} member")),
                );
                self.nudge.notify_one();
                return None;
            }
            Err(e) => {
                warn!(workspace = %slug, error = %e, "could not record a pool claim; provisioning cold");
                return None;
            }
        };
        // Refill while this claim finishes.
        self.nudge.notify_one();
        let age_ms = member.age_ms(now);
        steps.step(
            Step::Claimed,
            None,
            Some(format!("member {} ready for {age_ms} ms", member.id)),
        );
        let timeout = self.config().claim_timeout;
        let woken = tokio::time::timeout(timeout, self.thaw(&member, profile, steps))
            .await
            .unwrap_or_else(|_| {
                Err(HearthError::driver(
                    format!("thaw pool member {}", member.id),
                    format!("it did not answer within {timeout:?}"),
                ))
            });
        match woken {
            Ok(engine_ref) => {
                self.with_health(tier, |h| h.claimed += 1);
                info!(workspace = %slug, member = %member.id, age_ms, "claimed from the pool");
                let mut r = engine_ref;
                r.secrets_vault_path = r.secrets_vault_path.replace(&member.id, slug.as_str());
                r.workspace_slug = slug.to_string();
                r.created = Utc::now();
                r.last_status = Status::Ready;
                r.pool = Some(PoolClaim {
                    member: member.id.clone(),
                    age_ms,
                });
                Some(r)
            }
            Err(e) => {
                warn!(workspace = %slug, member = %member.id, error = %e, "pool claim failed; removing the member and provisioning cold");
                steps.step(Step::ClaimFailed, None, Some(e.to_string()));
                self.discard_claimed(slug, &member, steps).await;
                None
            }
        }
    }

    /// Unpauses a claimed member, checks in parallel that its images are still the current
    /// ones, then that every service answers.
    async fn thaw(
        &self,
        member: &Member,
        profile: &ProvisioningProfile,
        steps: &Steps,
    ) -> Result<DeploymentRef, HearthError> {
        let engine_ref = member.reference.clone().ok_or_else(|| {
            HearthError::driver(format!("claim {}", member.id), "the member has no ref")
        })?;
        let (resumed, digests) = tokio::join!(
            self.inner.resume(&engine_ref, steps),
            self.inner.image_digests(profile)
        );
        resumed?;
        if let Ok(now) = digests {
            let now = self.config().key_digests(member.key.tier, now);
            if !now.is_empty() && now != member.key.digests {
                self.with_health(member.key.tier, |h| h.digests = Some(now.clone()));
                return Err(HearthError::driver(
                    format!("claim {}", member.id),
                    format!(
                        "its images or template changed since it was built (now {now:?}); the pool is drained and refilled"
                    ),
                ));
            }
        }
        answers(&engine_ref).await?;
        steps.step(Step::ClaimReady, None, None);
        Ok(engine_ref)
    }

    /// Removes a member that was bound to `slug` but did not become its workspace.
    async fn discard_claimed(&self, slug: &Slug, member: &Member, steps: &Steps) {
        if let Ok(id) = Slug::parse(&member.id) {
            if let Err(e) = self.inner.teardown(&id, steps).await {
                warn!(member = %member.id, error = %e, "could not remove a failed pool member; reconcile removes it at the next start");
            }
        }
        if let Err(e) = self.book.unbind(slug.as_str()) {
            warn!(workspace = %slug, error = %e, "could not forget a failed pool claim");
        }
    }

    /// At start: keeps members that are whole (every service present and paused), removes
    /// half-built and broken ones. Stale and surplus members go at the first refill pass.
    pub async fn adopt(&self) -> Adopted {
        let mut done = Adopted::default();
        for m in self.book.members() {
            let whole = match (&m.phase, &m.reference) {
                (Phase::Ready, Some(r)) => {
                    matches!(self.inner.status(r).await, Ok(Status::Paused))
                }
                _ => false,
            };
            if whole {
                done.kept.push(m.id);
            } else if self.remove(&m.id).await {
                done.removed.push(m.id);
            }
        }
        if done != Adopted::default() {
            info!(kept = ?done.kept, removed = ?done.removed, "pool members adopted after start");
        }
        done
    }

    /// Takes `id` out of the book and removes its objects; `false` if it was not a member
    /// any more or its objects could not be removed (reconcile removes those later).
    async fn remove(&self, id: &str) -> bool {
        match self.book.take(id) {
            Ok(Some(_)) => {}
            Ok(None) => return false,
            Err(e) => {
                warn!(member = id, error = %e, "could not update the pool book");
                return false;
            }
        }
        let Ok(slug) = Slug::parse(id) else {
            return false;
        };
        match self.inner.teardown(&slug, &Steps::detached(&slug)).await {
            Ok(()) => true,
            Err(e) => {
                warn!(member = id, error = %e, "could not remove a pool member; reconcile removes it at the next start");
                false
            }
        }
    }

    /// Starts the refill loop; it runs until [`Pool::stop`].
    pub fn spawn(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move { refill::run(&this).await })
    }

    /// Stops the refill loop (members stay paused, to be adopted at the next start).
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// One refill pass, as the loop runs it: drain stale, old and surplus members, then
    /// build up to each pool's size.
    pub async fn refill_once(&self) {
        refill::pass(self).await;
    }

    /// Each pool, for `GET /v1/pool`, `GET /v1/healthz` and `hearth pool`.
    pub fn report(&self) -> Vec<PoolReport> {
        let config = self.config();
        let members = self.book.members();
        let health = self
            .health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut tiers: Vec<Tier> = config.sizes.keys().copied().collect();
        tiers.extend(members.iter().map(|m| m.key.tier));
        tiers.sort();
        tiers.dedup();
        tiers
            .into_iter()
            .map(|tier| {
                let h = health.get(&tier).cloned().unwrap_or_default();
                let of_tier = members.iter().filter(|m| m.key.tier == tier);
                let current = |m: &&Member| h.digests.as_ref().is_none_or(|d| *d == m.key.digests);
                let count = |phase| {
                    u32::try_from(
                        of_tier
                            .clone()
                            .filter(|m| m.phase == phase)
                            .filter(current)
                            .count(),
                    )
                    .unwrap_or(u32::MAX)
                };
                PoolReport {
                    tier,
                    size: config.sizes.get(&tier).copied().unwrap_or(0),
                    ready: count(Phase::Ready),
                    building: count(Phase::Building),
                    digests: h.digests.clone().unwrap_or_default(),
                    refill_failures: h.failures,
                    last_error: h.last_error.clone(),
                    backoff_until: h.backoff_until,
                    claimed: h.claimed,
                    drained: h.drained,
                }
            })
            .collect()
    }
}

/// Waits until every service of `r` answers HTTP again, as a cold provision's readiness
/// does (the claim's own timeout bounds it).
async fn answers(r: &DeploymentRef) -> Result<(), HearthError> {
    futures::future::try_join_all(r.services.iter().map(|s| {
        crate::driver::engine::readiness::wait_http(
            &s.role,
            &s.endpoint,
            Duration::from_secs(5),
            || async { Ok(()) },
        )
    }))
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_specs_parse() {
        let mut c = PoolConfig::default();
        c.add_spec("solo=2").expect("solo=2");
        c.add_spec(" team = 1 ").expect("team=1");
        assert_eq!(c.sizes.get(&Tier::Solo), Some(&2));
        assert_eq!(c.sizes.get(&Tier::Team), Some(&1));
        assert!(c.add_spec("solo").is_err());
        assert!(c.add_spec("gold=1").is_err());
        assert!(c.add_spec("solo=-1").is_err());
    }
}
