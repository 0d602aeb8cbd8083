//! The worker's side of the bearer: signature (constant time) under a live key and, for v2,
//! the worker's own audience; timestamp within the tolerance; nonce never seen before.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

use hmac::Mac;

use super::{
    mac_for, parse_header, signing_string, signing_string_v2, BearerError, Keyring, Version,
    DEFAULT_REPLAY_CAPACITY, DEFAULT_TOLERANCE_SECS,
};

/// What an accepted bearer told the verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The key id that signed it.
    pub key_id: String,
    /// Its format version.
    pub version: Version,
    /// True the first time this verifier accepts a legacy (v1) bearer from this key id: the
    /// caller warns then, once per key id, rather than once per request.
    pub first_legacy_use: bool,
}

/// Checks bearers against a [`Keyring`]: signature (constant time), audience (v2), timestamp
/// within the tolerance, and nonce not seen before.
#[derive(Debug)]
pub struct Verifier {
    keys: Keyring,
    /// The origins this worker answers as (see [`audience_of`](super::audience_of)); a v2
    /// bearer must be signed for one of them. Empty: v2 bearers are refused (`no_audience`).
    audiences: Vec<String>,
    /// Allowed distance, either way, between a token's `ts` and the verifier's clock.
    tolerance: u64,
    /// Most nonces held at once; when every held nonce is still unexpired, new requests are
    /// refused rather than a nonce forgotten (forgetting would let a replay through).
    capacity: usize,
    /// Nonce → the unix second after which its token is stale anyway and the entry may go.
    seen: Mutex<HashMap<String, u64>>,
    /// Where accepted nonces are also written, so a restart keeps refusing them; taken under
    /// the `seen` lock, so a nonce is journalled before a second request can look for it.
    journal: Option<Mutex<crate::replay::ReplayJournal>>,
    /// Key ids that have signed an accepted v1 bearer (bounded by the keyring's size, since
    /// an unknown key id is refused first).
    legacy_seen: Mutex<HashSet<String>>,
}

impl Verifier {
    /// A verifier with the default tolerance (±300 s) and replay capacity, and no audience
    /// (so only v1 bearers verify until [`with_audiences`](Self::with_audiences)).
    pub fn new(keys: Keyring) -> Verifier {
        Verifier {
            keys,
            audiences: Vec::new(),
            tolerance: DEFAULT_TOLERANCE_SECS,
            capacity: DEFAULT_REPLAY_CAPACITY,
            seen: Mutex::new(HashMap::new()),
            journal: None,
            legacy_seen: Mutex::new(HashSet::new()),
        }
    }

    /// The origins a v2 bearer may be signed for, each as [`audience_of`](super::audience_of)
    /// spells it.
    pub fn with_audiences(mut self, audiences: Vec<String>) -> Verifier {
        self.audiences = audiences;
        self
    }

    /// The origins v2 bearers are checked against.
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// Journals accepted nonces at `path` and refuses the ones already there (from before a
    /// restart), as of unix time `now`.
    ///
    /// # Errors
    /// The I/O error of opening the journal.
    pub fn with_journal(mut self, path: &Path, now: u64) -> std::io::Result<Verifier> {
        let (journal, live) = crate::replay::ReplayJournal::open(path, now)?;
        self.seen
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .extend(live);
        self.journal = Some(Mutex::new(journal));
        Ok(self)
    }

    /// Sets how many nonces may be remembered at once (at least 1).
    pub fn with_capacity(mut self, capacity: usize) -> Verifier {
        self.capacity = capacity.max(1);
        self
    }

    /// The keyring this verifier trusts.
    pub fn keyring(&self) -> &Keyring {
        &self.keys
    }

    /// Verifies a request's `Authorization` header value against its method, path (with query)
    /// and body, at unix time `now`; on success returns the key id that signed it and records
    /// the nonce so the same token is refused next time.
    ///
    /// # Errors
    /// As [`check`](Self::check).
    pub fn verify(
        &self,
        header: Option<&str>,
        method: &str,
        path: &str,
        body: &[u8],
        now: u64,
    ) -> Result<String, BearerError> {
        self.check(header, method, path, body, now)
            .map(|v| v.key_id)
    }

    /// As [`verify`](Self::verify), answering what the bearer told: key id, version, and
    /// whether it is the first v1 bearer from that key id (for a warning once per key id).
    ///
    /// # Errors
    /// A [`BearerError`]; its [`code`](BearerError::code) is what the 401 body carries.
    pub fn check(
        &self,
        header: Option<&str>,
        method: &str,
        path: &str,
        body: &[u8],
        now: u64,
    ) -> Result<Verified, BearerError> {
        let header = header.ok_or(BearerError::Missing)?;
        let token = parse_header(header)?;
        let key = self
            .keys
            .get(token.key_id)
            .ok_or_else(|| BearerError::UnknownKey(token.key_id.to_owned()))?;
        let sig = hex::decode(token.sig).map_err(|_| BearerError::Malformed("signature hex"))?;
        let matches = |signed: String| mac_for(key.secret(), &signed).verify_slice(&sig).is_ok();
        let (id, ts, nonce) = (token.key_id, token.ts_text, token.nonce);
        let good = match token.version {
            Version::V1 => matches(signing_string(id, ts, nonce, method, path, body)),
            Version::V2 if self.audiences.is_empty() => return Err(BearerError::NoAudience),
            // Every audience is tried, so the time taken does not tell which one matched.
            Version::V2 => self.audiences.iter().fold(false, |ok, aud| {
                matches(signing_string_v2(id, ts, nonce, aud, method, path, body)) | ok
            }),
        };
        if !good {
            return Err(BearerError::BadSignature);
        }
        if token.ts.abs_diff(now) > self.tolerance {
            return Err(BearerError::Expired {
                ts: token.ts,
                now,
                tolerance: self.tolerance,
            });
        }
        self.remember(token.nonce, token.ts.saturating_add(self.tolerance), now)?;
        let first_legacy_use = token.version == Version::V1
            && self
                .legacy_seen
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key.id().to_owned());
        Ok(Verified {
            key_id: key.id().to_owned(),
            version: token.version,
            first_legacy_use,
        })
    }

    /// Records a nonce until `expires`, refusing a repeat, and refusing when full of live ones.
    fn remember(&self, nonce: &str, expires: u64, now: u64) -> Result<(), BearerError> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.contains_key(nonce) {
            return Err(BearerError::Replayed);
        }
        if seen.len() >= self.capacity {
            seen.retain(|_, exp| *exp >= now);
            if seen.len() >= self.capacity {
                return Err(BearerError::ReplayCacheFull);
            }
        }
        if let Some(journal) = &self.journal {
            journal
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .record(nonce, expires)
                .map_err(|e| BearerError::ReplayJournal(e.to_string()))?;
        }
        seen.insert(nonce.to_owned(), expires);
        Ok(())
    }
}
