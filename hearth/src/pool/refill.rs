//! Keeping each pool full, current and within its size, in the background. A pass resolves
//! the tier's image digests (a lock change, a tag moved, an image rebuilt under the same tag
//! all change them), drains members built from other digests or older than `max_age`, removes
//! the surplus over the size, then builds members one at a time up to the size. A failed
//! build is removed; after `failure_cap` failures in a row building stops until a backoff
//! (doubling, bounded) has passed — never a hot loop — and says so in its log and report.
//!
//! A refill never competes with callers: before a pass touches the engine, and before each
//! member it builds, it waits until no verb has been in flight for `quiet` (150 ms), but no
//! longer than `max_defer` (10 s), so a steady stream of verbs delays the pool, never starves it.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use hearth_protocol::hearth::{ProvisioningProfile, Tier};
use tracing::{info, warn};

use super::{Key, Member, Phase, Pool};
use crate::driver::POOL_FLAG;
use crate::error::HearthError;
use crate::journal::Steps;
use crate::slug::Slug;

/// Runs passes until the pool is stopped: after every claim or size change, and every
/// `check_every` otherwise.
pub(super) async fn run(pool: &Pool) {
    loop {
        pass(pool).await;
        let every = pool.config().check_every;
        tokio::select! {
            () = pool.stop.cancelled() => return,
            () = pool.nudge.notified() => {}
            () = tokio::time::sleep(every) => {}
        }
    }
}

/// One pass over every tier that has a pool or still has members.
pub(super) async fn pass(pool: &Pool) {
    let config = pool.config();
    let mut tiers: Vec<Tier> = config.sizes.keys().copied().collect();
    tiers.extend(pool.book.members().iter().map(|m| m.key.tier));
    tiers.sort();
    tiers.dedup();
    for tier in tiers {
        if pool.stop.is_cancelled() {
            return;
        }
        let size = config.sizes.get(&tier).copied().unwrap_or(0);
        tier_pass(pool, tier, size).await;
    }
}

async fn tier_pass(pool: &Pool, tier: Tier, size: u32) {
    // Callers' verbs first: nothing below touches the engine while one is in flight.
    pool.yield_to_verbs().await;
    let config = pool.config();
    let profile = ProvisioningProfile::for_tier(tier);
    // Backing off after repeated failures: nothing is tried, not even the engine call that
    // failed. (A claim still checks its member's digests itself.)
    if size > 0 && in_backoff(pool, tier) {
        return;
    }
    let digests = if size == 0 {
        // No pool (any more): every member is surplus, whatever its images.
        None
    } else {
        match pool.inner.image_digests(&profile).await {
            Ok(d) => {
                let d = config.key_digests(tier, d);
                pool.with_health(tier, |h| h.digests = Some(d.clone()));
                Some(d)
            }
            Err(e) => {
                failed(pool, tier, &e);
                return;
            }
        }
    };
    let now = Utc::now();
    let mut ready: Vec<Member> = Vec::new();
    for m in pool
        .book
        .members()
        .into_iter()
        .filter(|m| m.key.tier == tier)
    {
        let stale = digests.as_ref().is_some_and(|d| *d != m.key.digests);
        let old = config
            .max_age
            .is_some_and(|a| u128::from(m.age_ms(now)) >= a.as_millis());
        if m.phase == Phase::Ready && (stale || old) {
            let why = if stale { "stale" } else { "past max_age" };
            if pool.remove(&m.id).await {
                pool.with_health(tier, |h| h.drained += 1);
                info!(member = %m.id, %tier, why, "pool member drained");
            }
        } else if m.phase == Phase::Ready {
            ready.push(m);
        }
    }
    // Shrinking: the oldest go first.
    ready.sort_by_key(|m| m.ready_at);
    let surplus = ready.len().saturating_sub(size as usize);
    for m in ready.drain(..surplus) {
        if pool.remove(&m.id).await {
            info!(member = %m.id, %tier, size, "pool member removed: over the pool's size");
        }
    }
    let Some(digests) = digests else { return };
    let key = Key { tier, digests };
    let mut have = ready.len();
    while have < size as usize && !pool.stop.is_cancelled() {
        if in_backoff(pool, tier) {
            return;
        }
        pool.yield_to_verbs().await;
        if pool.stop.is_cancelled() {
            return;
        }
        match build(pool, &key, config.build_timeout).await {
            Ok(id) => {
                have += 1;
                pool.with_health(tier, |h| {
                    h.failures = 0;
                    h.last_error = None;
                    h.backoff_until = None;
                });
                info!(member = %id, %tier, ready = have, size, "pool member ready");
            }
            Err(e) => {
                failed(pool, tier, &e);
                return;
            }
        }
    }
}

fn in_backoff(pool: &Pool, tier: Tier) -> bool {
    pool.with_health(tier, |h| h.backoff_until)
        .is_some_and(|until| Utc::now() < until)
}

/// Counts a failed refill; at the cap, stops refilling until a backoff has passed.
fn failed(pool: &Pool, tier: Tier, e: &HearthError) {
    let config = pool.config();
    let (failures, backoff) = pool.with_health(tier, |h| {
        h.failures += 1;
        h.last_error = Some(e.to_string());
        if h.failures >= config.failure_cap {
            let doublings = (h.failures - config.failure_cap).min(16);
            let wait = config
                .backoff
                .saturating_mul(1 << doublings)
                .min(config.max_backoff);
            h.backoff_until =
                Some(Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default());
            (h.failures, Some(wait))
        } else {
            (h.failures, None)
        }
    });
    match backoff {
        Some(wait) => {
            warn!(%tier, failures, cap = config.failure_cap, retry_in = ?wait, error = %e,
            "pool refill stopped after repeated failures; retrying after a backoff")
        }
        None => warn!(%tier, failures, error = %e, "pool refill failed"),
    }
}

/// Builds one member: recorded as building before the engine is touched, provisioned with
/// the pool label, paused, recorded ready. A failure removes what was built.
async fn build(pool: &Pool, key: &Key, timeout: Duration) -> Result<String, HearthError> {
    let id = super::new_member_id();
    let slug = Slug::parse(&id)?;
    let started = Utc::now();
    pool.book.put(Member {
        id: id.clone(),
        key: key.clone(),
        phase: Phase::Building,
        started,
        ready_at: None,
        reference: None,
    })?;
    let mut profile = ProvisioningProfile::for_tier(key.tier);
    profile
        .driver_flags
        .insert(POOL_FLAG.to_owned(), key.label().into());
    let steps = Steps::detached(&slug);
    let made = async {
        let r = pool.inner.provision(&slug, &profile, &steps).await?;
        check_digests(&id, &key.digests, &r)?;
        pool.inner.pause(&r, &steps).await?;
        Ok::<_, HearthError>(r)
    };
    let made = tokio::time::timeout(timeout, made)
        .await
        .unwrap_or_else(|_| {
            Err(HearthError::driver(
                format!("build pool member {id}"),
                format!("not ready within {timeout:?}"),
            ))
        });
    match made {
        Ok(r) => {
            pool.book.put(Member {
                id: id.clone(),
                key: key.clone(),
                phase: Phase::Ready,
                started,
                ready_at: Some(Utc::now()),
                reference: Some(r),
            })?;
            Ok(id)
        }
        Err(e) => {
            // The driver rolls a failed provision back; this also catches a failed pause.
            pool.remove(&id).await;
            Err(e)
        }
    }
}

/// A member built while an image moved would carry the wrong key: refuse it.
fn check_digests(
    id: &str,
    want: &BTreeMap<String, String>,
    r: &hearth_protocol::hearth::DeploymentRef,
) -> Result<(), HearthError> {
    if want.is_empty() {
        return Ok(());
    }
    let got: BTreeMap<String, String> = r
        .services
        .iter()
        .map(|s| (s.role.clone(), s.image_digest.clone()))
        .collect();
    // The key's template fingerprint is no image: compare the roles' digests alone.
    let roles: BTreeMap<&String, &String> = want
        .iter()
        .filter(|(k, _)| k.as_str() != super::TEMPLATE_KEY)
        .collect();
    if got.iter().collect::<BTreeMap<_, _>>() == roles {
        Ok(())
    } else {
        Err(HearthError::driver(
            format!("build pool member {id}"),
            format!("its images changed while it was built ({got:?}); building again"),
        ))
    }
}
