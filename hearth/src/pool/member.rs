//! The pool's book, kept in `STATE_DIR/pool.json`: every member (being built, or ready and
//! paused) and every binding of a workspace slug to the member it was claimed from. It is
//! written through (fsynced, atomically replaced) before the engine is touched, so after a
//! crash a restarted hearth knows which objects are whole members, which are half-built, and
//! which member became which workspace. A member is in `members` or in `bindings`, never in
//! both, and moves between them in one write: it cannot be handed out twice.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use hearth_protocol::hearth::{DeploymentRef, Tier};
use serde::{Deserialize, Serialize};

use crate::error::HearthError;
use crate::store::write_json;

/// Why a slug of a member's form is refused (the rule lives in `hearth_protocol::slug`, so
/// the console refuses the same slugs before it writes anything).
pub use hearth_protocol::slug::{is_pool_member as is_member_id, RESERVED_FOR_MEMBERS};

/// A new member's id: `pool-` and ten hex digits. It is also the slug its engine objects are
/// named and labelled with, so no workspace may be called that ([`refuse_member_id`]).
pub fn new_member_id() -> String {
    format!("pool-{:010x}", rand::random::<u64>() & 0xff_ffff_ffff)
}

/// Refuses a workspace slug of a member's form, so a workspace can never share engine
/// objects, names or the book's entries with a member.
///
/// # Errors
/// `invalid_slug`, saying the form is reserved.
pub fn refuse_member_id(slug: &str) -> Result<(), HearthError> {
    if is_member_id(slug) {
        return Err(HearthError::InvalidSlug {
            slug: slug.to_owned(),
            why: RESERVED_FOR_MEMBERS,
        });
    }
    Ok(())
}

/// What a pool is keyed by: the tier and what each role's image is (role → digest).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key {
    pub tier: Tier,
    pub digests: BTreeMap<String, String>,
}

impl Key {
    /// The short form put on the engine objects' [`crate::labels::POOL`] label:
    /// `solo-` and twelve hex digits of a hash of the digests.
    pub fn label(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for (role, digest) in &self.digests {
            h.update(role.as_bytes());
            h.update(b"=");
            h.update(digest.as_bytes());
            h.update(b"\n");
        }
        let hex: String = h.finalize()[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("{}-{hex}", self.tier)
    }
}

/// Where a member is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Written before the first engine call; a member still building after a restart is
    /// half-made and is removed.
    Building,
    /// Whole, checked ready once, and paused: claimable.
    Ready,
}

/// One member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// Its id, which is also the slug its engine objects are labelled and named with.
    pub id: String,
    pub key: Key,
    pub phase: Phase,
    /// When its build started.
    pub started: DateTime<Utc>,
    /// When it became ready (its age counts from here).
    #[serde(default)]
    pub ready_at: Option<DateTime<Utc>>,
    /// Its ref as the driver answered it (slug = the member id), once ready.
    #[serde(default)]
    pub reference: Option<DeploymentRef>,
}

impl Member {
    /// How long it has been ready, in milliseconds.
    pub fn age_ms(&self, now: DateTime<Utc>) -> u64 {
        self.ready_at
            .map(|t| u64::try_from((now - t).num_milliseconds()).unwrap_or(0))
            .unwrap_or(0)
    }
}

/// A workspace made from a member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    pub member: String,
    pub claimed: DateTime<Utc>,
    pub age_ms: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    #[serde(default)]
    members: BTreeMap<String, Member>,
    /// Workspace slug → the member it was claimed from.
    #[serde(default)]
    bindings: BTreeMap<String, Binding>,
}

/// The book and its in-memory copy.
#[derive(Debug)]
pub struct Book {
    path: PathBuf,
    /// The in-memory copy; every change is written through before the lock is released.
    state: Mutex<File>,
}

impl Book {
    /// Opens (or starts) `dir/pool.json`.
    ///
    /// # Errors
    /// [`HearthError::State`] if it cannot be read.
    pub fn open(dir: &Path) -> Result<Book, HearthError> {
        let (path, state) = crate::store::read_json(dir, "pool.json")?;
        Ok(Book {
            path,
            state: Mutex::new(state),
        })
    }

    /// Every member.
    pub fn members(&self) -> Vec<Member> {
        self.lock().members.values().cloned().collect()
    }

    /// Whether `id` is a member (building or ready, not claimed).
    pub fn is_member(&self, id: &str) -> bool {
        self.lock().members.contains_key(id)
    }

    /// Every member id, and every member id bound to a workspace (slug → member).
    pub fn ids(&self) -> (BTreeSet<String>, BTreeMap<String, String>) {
        let s = self.lock();
        (
            s.members.keys().cloned().collect(),
            s.bindings
                .iter()
                .map(|(slug, b)| (b.member.clone(), slug.clone()))
                .collect(),
        )
    }

    /// The member `slug` was claimed from, if it was.
    pub fn binding(&self, slug: &str) -> Option<Binding> {
        self.lock().bindings.get(slug).cloned()
    }

    /// Writes `member` through.
    ///
    /// # Errors
    /// [`HearthError::State`]; the in-memory copy is unchanged.
    pub fn put(&self, member: Member) -> Result<(), HearthError> {
        self.change(|f| {
            f.members.insert(member.id.clone(), member);
        })
    }

    /// Takes `id` out of the book (to remove it from the engine); `None` if it is not a
    /// member any more (a claim or a drain got there first).
    ///
    /// # Errors
    /// [`HearthError::State`].
    pub fn take(&self, id: &str) -> Result<Option<Member>, HearthError> {
        let mut taken = None;
        self.change(|f| taken = f.members.remove(id))?;
        Ok(taken)
    }

    /// Moves the first ready member `pick` accepts to `slug`'s binding, in one write.
    ///
    /// # Errors
    /// [`HearthError::State`]: nothing is claimed.
    pub fn claim(
        &self,
        slug: &str,
        now: DateTime<Utc>,
        pick: impl Fn(&Member) -> bool,
    ) -> Result<Option<Member>, HearthError> {
        let mut claimed = None;
        self.change(|f| {
            // The oldest first: members are equal, and the oldest is the nearest to max_age.
            let mut ready: Vec<&Member> = f
                .members
                .values()
                .filter(|m| m.phase == Phase::Ready && pick(m))
                .collect();
            ready.sort_by_key(|m| m.ready_at);
            let Some(id) = ready.first().map(|m| m.id.clone()) else {
                return;
            };
            if let Some(m) = f.members.remove(&id) {
                f.bindings.insert(
                    slug.to_owned(),
                    Binding {
                        member: id,
                        claimed: now,
                        age_ms: m.age_ms(now),
                    },
                );
                claimed = Some(m);
            }
        })?;
        Ok(claimed)
    }

    /// Forgets `slug`'s binding (its objects are gone).
    ///
    /// # Errors
    /// [`HearthError::State`].
    pub fn unbind(&self, slug: &str) -> Result<(), HearthError> {
        if !self.lock().bindings.contains_key(slug) {
            return Ok(());
        }
        self.change(|f| {
            f.bindings.remove(slug);
        })
    }

    fn change(&self, f: impl FnOnce(&mut File)) -> Result<(), HearthError> {
        let mut state = self.lock();
        let before = serde_json::to_vec(&*state).map_err(|e| HearthError::State {
            attempted: "encoded".into(),
            detail: e.to_string(),
        })?;
        f(&mut state);
        if let Err(e) = self.write(&state) {
            if let Ok(old) = serde_json::from_slice(&before) {
                *state = old;
            }
            return Err(e);
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, File> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self, state: &File) -> Result<(), HearthError> {
        write_json(&self.path, state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, phase: Phase, ready_secs_ago: i64) -> Member {
        let now = Utc::now();
        Member {
            id: id.into(),
            key: Key {
                tier: Tier::Solo,
                digests: BTreeMap::from([("cairnet".into(), "sha256:a".into())]),
            },
            phase,
            started: now,
            ready_at: (phase == Phase::Ready)
                .then(|| now - chrono::Duration::seconds(ready_secs_ago)),
            reference: None,
        }
    }

    #[test]
    fn a_member_is_claimed_once_and_the_claim_survives_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let book = Book::open(dir.path()).expect("open");
        book.put(member("pool-a", Phase::Ready, 5)).expect("put");
        book.put(member("pool-b", Phase::Ready, 50)).expect("put");
        book.put(member("pool-c", Phase::Building, 0)).expect("put");
        let first = book.claim("acme", Utc::now(), |_| true).expect("claim");
        assert_eq!(
            first.map(|m| m.id).as_deref(),
            Some("pool-b"),
            "oldest first"
        );
        let second = book.claim("beta", Utc::now(), |_| true).expect("claim");
        assert_eq!(second.map(|m| m.id).as_deref(), Some("pool-a"));
        let none = book.claim("gamma", Utc::now(), |_| true).expect("claim");
        assert!(none.is_none(), "a building member is never claimed");
        drop(book);
        let again = Book::open(dir.path()).expect("reopen");
        assert_eq!(
            again.binding("acme").map(|b| b.member).as_deref(),
            Some("pool-b")
        );
        assert!(again.binding("acme").is_some_and(|b| b.age_ms >= 50_000));
        assert!(!again.is_member("pool-a") && !again.is_member("pool-b"));
        assert!(again.is_member("pool-c"));
        again.unbind("acme").expect("unbind");
        assert!(again.binding("acme").is_none());
    }

    #[test]
    fn member_ids_are_reserved_and_nothing_else() {
        for _ in 0..20 {
            let id = new_member_id();
            assert!(is_member_id(&id), "{id}");
            let err = refuse_member_id(&id).expect_err("reserved");
            assert_eq!(err.code(), "invalid_slug");
            assert!(err.to_string().contains("reserved"), "{err}");
            assert!(err.hint().is_some_and(|h| h.contains("pool-")), "{err:?}");
        }
        for ok in [
            "pool",
            "pool-a",
            "pool-deadbeef0",
            "pool-deadbeef000",
            "pool-DEADBEEF00",
            "pool-deadbeefzz",
            "xpool-deadbeef00",
        ] {
            assert!(refuse_member_id(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn the_key_label_changes_with_any_digest() {
        let a = member("x", Phase::Ready, 0).key;
        let mut b = a.clone();
        b.digests.insert("cairnet".into(), "sha256:b".into());
        assert_ne!(a.label(), b.label());
        assert!(a.label().starts_with("solo-"));
        assert_eq!(a.label().len(), "solo-".len() + 12);
    }
}
