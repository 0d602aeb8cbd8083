//! The HMAC bearer that the console puts on every request to a worker, and the verifier the
//! worker checks it with: one definition of the format for both sides.
//!
//! Header: `Authorization: Bearer v1.<key_id>.<ts>.<nonce>.<sig>` where `ts` is unix seconds in
//! decimal, `nonce` is 32 lowercase hex characters (16 random bytes) and `sig` is the lowercase
//! hex HMAC-SHA256, under the key's secret, of the signing string
//!
//! ```text
//! v1\n<key_id>\n<ts>\n<nonce>\n<METHOD>\n<path with query>\n<hex sha256 of the body>
//! ```
//!
//! (UTF-8, joined by `\n`, no trailing newline; the method upper-cased; an empty body hashes as
//! the empty string). A keys file holds `key_id:secret` lines: the first key signs, every key
//! verifies, so a key rotates by adding the new one first and dropping the old one later.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The format version, the first dot-separated part of the token and the first signed line.
pub const VERSION: &str = "v1";

/// How far a request's timestamp may be from the verifier's clock, either way, by default.
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;

/// How many nonces a [`Verifier`] remembers by default before it refuses new requests.
pub const DEFAULT_REPLAY_CAPACITY: usize = 100_000;

/// Why a request's bearer was refused. Every variant answers 401 on the wire; [`code`] is the
/// stable spelling clients match on.
///
/// [`code`]: BearerError::code
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BearerError {
    #[error("no Authorization header")]
    Missing,
    #[error("malformed bearer: {0}")]
    Malformed(&'static str),
    #[error("unknown key id '{0}'")]
    UnknownKey(String),
    #[error("signature does not match the request")]
    BadSignature,
    #[error("timestamp {ts} is more than {tolerance} s from now ({now})")]
    Expired { ts: u64, now: u64, tolerance: u64 },
    #[error("nonce already used")]
    Replayed,
    #[error("replay cache is full of unexpired nonces; retry shortly")]
    ReplayCacheFull,
    /// The nonce could not be journalled, so a replay after a restart could not be refused:
    /// the request is refused instead.
    #[error("the replay journal cannot be written: {0}")]
    ReplayJournal(String),
}

impl BearerError {
    /// The stable snake_case code for the wire.
    pub fn code(&self) -> &'static str {
        match self {
            BearerError::Missing => "missing",
            BearerError::Malformed(_) => "malformed",
            BearerError::UnknownKey(_) => "unknown_key",
            BearerError::BadSignature => "bad_signature",
            BearerError::Expired { .. } => "expired",
            BearerError::Replayed => "replayed",
            BearerError::ReplayCacheFull => "replay_cache_full",
            BearerError::ReplayJournal(_) => "replay_journal_unavailable",
        }
    }
}

/// Why a keys file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error("cannot read keys file {path}: {source}")]
    Unreadable {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("keys file line {line}: {reason} (expected `key_id:secret`, key_id of [A-Za-z0-9_-]{{1,64}})")]
    Malformed { line: usize, reason: &'static str },
    #[error("keys file line {line}: key id '{key_id}' appears twice")]
    Duplicate { line: usize, key_id: String },
    #[error("keys file holds no key (add a `key_id:secret` line)")]
    Empty,
}

impl KeyringError {
    /// The stable snake_case code for the wire and for logs.
    pub fn code(&self) -> &'static str {
        match self {
            KeyringError::Unreadable { .. } => "keys_unreadable",
            KeyringError::Malformed { .. } => "keys_malformed",
            KeyringError::Duplicate { .. } => "keys_duplicate",
            KeyringError::Empty => "keys_empty",
        }
    }
}

/// True when `id` is a valid key id: `[A-Za-z0-9_-]{1,64}` (no dots, so the token splits
/// unambiguously).
pub fn valid_key_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// One named secret. `Debug` never prints the secret.
#[derive(Clone)]
pub struct Key {
    id: String,
    secret: Vec<u8>,
}

impl Key {
    /// A key from its id and secret bytes; `None` if the id is invalid or the secret empty.
    pub fn new(id: &str, secret: &[u8]) -> Option<Key> {
        (valid_key_id(id) && !secret.is_empty()).then(|| Key {
            id: id.to_owned(),
            secret: secret.to_vec(),
        })
    }

    /// The key id, as it appears in the token.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The live keys: the first signs, all verify.
#[derive(Debug, Clone)]
pub struct Keyring {
    /// Never empty; `keys[0]` is the signing key.
    keys: Vec<Key>,
}

impl Keyring {
    /// Reads and parses a keys file.
    ///
    /// # Errors
    /// [`KeyringError::Unreadable`] if the file cannot be read, otherwise as [`Keyring::parse`].
    pub fn load(path: impl AsRef<Path>) -> Result<Keyring, KeyringError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| KeyringError::Unreadable {
            path: path.display().to_string(),
            source,
        })?;
        Keyring::parse(&text)
    }

    /// Parses `key_id:secret` lines; blank lines and lines starting with `#` are ignored, and
    /// surrounding whitespace is trimmed. The secret is everything after the first `:`.
    ///
    /// # Errors
    /// [`KeyringError::Malformed`] naming the first bad line (1-based),
    /// [`KeyringError::Duplicate`] for a repeated key id, [`KeyringError::Empty`] with no key.
    pub fn parse(text: &str) -> Result<Keyring, KeyringError> {
        let mut keys: Vec<Key> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let malformed = |reason| KeyringError::Malformed {
                line: line_no,
                reason,
            };
            let (id, secret) = line.split_once(':').ok_or(malformed("no ':'"))?;
            let (id, secret) = (id.trim(), secret.trim());
            if !valid_key_id(id) {
                return Err(malformed("invalid key id"));
            }
            if secret.is_empty() {
                return Err(malformed("empty secret"));
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(KeyringError::Duplicate {
                    line: line_no,
                    key_id: id.to_owned(),
                });
            }
            keys.push(Key {
                id: id.to_owned(),
                secret: secret.as_bytes().to_vec(),
            });
        }
        if keys.is_empty() {
            return Err(KeyringError::Empty);
        }
        Ok(Keyring { keys })
    }

    /// The key that signs (the first one).
    pub fn signing_key(&self) -> &Key {
        &self.keys[0]
    }

    /// The key with this id, if it is live.
    pub fn get(&self, id: &str) -> Option<&Key> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// All live key ids, signing key first.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.id.as_str())
    }

    /// The `Authorization` header value (`Bearer v1.…`) for a request, signed with the first
    /// key at the current time with a fresh random nonce.
    pub fn sign(&self, method: &str, path: &str, body: &[u8]) -> String {
        let key = self.signing_key();
        let nonce = hex::encode(rand::random::<[u8; 16]>());
        sign_at(&key.id, &key.secret, unix_now(), &nonce, method, path, body)
    }
}

/// Seconds since the unix epoch on this machine's clock.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The exact bytes that are MACed (see the module docs).
pub fn signing_string(
    key_id: &str,
    ts: &str,
    nonce: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> String {
    let body_hash = hex::encode(Sha256::digest(body));
    format!(
        "{VERSION}\n{key_id}\n{ts}\n{nonce}\n{}\n{path}\n{body_hash}",
        method.to_ascii_uppercase()
    )
}

fn mac_for(secret: &[u8], signed: &str) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(signed.as_bytes());
    mac
}

/// The deterministic core of signing, for test vectors and for callers that manage their own
/// clock and nonces: the full `Authorization` header value (`Bearer v1.<key_id>.<ts>.<nonce>.<sig>`).
pub fn sign_at(
    key_id: &str,
    secret: &[u8],
    ts: u64,
    nonce: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> String {
    let ts = ts.to_string();
    let signed = signing_string(key_id, &ts, nonce, method, path, body);
    let sig = hex::encode(mac_for(secret, &signed).finalize().into_bytes());
    format!("Bearer {VERSION}.{key_id}.{ts}.{nonce}.{sig}")
}

/// A token split into its parts, each still the exact text that was signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token<'a> {
    pub key_id: &'a str,
    pub ts_text: &'a str,
    pub ts: u64,
    pub nonce: &'a str,
    pub sig: &'a str,
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Splits an `Authorization` header value into its parts, checking their shapes.
///
/// # Errors
/// [`BearerError::Malformed`] with the reason.
pub fn parse_header(header: &str) -> Result<Token<'_>, BearerError> {
    let header = header.trim();
    let (scheme, token) = header
        .split_once(' ')
        .ok_or(BearerError::Malformed("expected `Bearer <token>`"))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(BearerError::Malformed("scheme is not Bearer"));
    }
    let parts: Vec<&str> = token.trim_start().split('.').collect();
    let [version, key_id, ts_text, nonce, sig] = parts[..] else {
        return Err(BearerError::Malformed(
            "token must have 5 dot-separated parts",
        ));
    };
    if version != VERSION {
        return Err(BearerError::Malformed("unsupported token version"));
    }
    if !valid_key_id(key_id) {
        return Err(BearerError::Malformed("invalid key id"));
    }
    if ts_text.is_empty() || ts_text.len() > 20 || !ts_text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BearerError::Malformed("timestamp is not decimal seconds"));
    }
    let ts = ts_text
        .parse()
        .map_err(|_| BearerError::Malformed("timestamp out of range"))?;
    if !is_lower_hex(nonce, 32) {
        return Err(BearerError::Malformed("nonce is not 32 lowercase hex"));
    }
    if !is_lower_hex(sig, 64) {
        return Err(BearerError::Malformed("signature is not 64 lowercase hex"));
    }
    Ok(Token {
        key_id,
        ts_text,
        ts,
        nonce,
        sig,
    })
}

/// Checks bearers against a [`Keyring`]: signature (constant time), timestamp within the
/// tolerance, and nonce not seen before.
#[derive(Debug)]
pub struct Verifier {
    keys: Keyring,
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
}

impl Verifier {
    /// A verifier with the default tolerance (±300 s) and replay capacity.
    pub fn new(keys: Keyring) -> Verifier {
        Verifier {
            keys,
            tolerance: DEFAULT_TOLERANCE_SECS,
            capacity: DEFAULT_REPLAY_CAPACITY,
            seen: Mutex::new(HashMap::new()),
            journal: None,
        }
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
    /// A [`BearerError`]; its [`code`](BearerError::code) is what the 401 body carries.
    pub fn verify(
        &self,
        header: Option<&str>,
        method: &str,
        path: &str,
        body: &[u8],
        now: u64,
    ) -> Result<String, BearerError> {
        let header = header.ok_or(BearerError::Missing)?;
        let token = parse_header(header)?;
        let key = self
            .keys
            .get(token.key_id)
            .ok_or_else(|| BearerError::UnknownKey(token.key_id.to_owned()))?;
        let signed = signing_string(token.key_id, token.ts_text, token.nonce, method, path, body);
        let sig = hex::decode(token.sig).map_err(|_| BearerError::Malformed("signature hex"))?;
        mac_for(&key.secret, &signed)
            .verify_slice(&sig)
            .map_err(|_| BearerError::BadSignature)?;
        if token.ts.abs_diff(now) > self.tolerance {
            return Err(BearerError::Expired {
                ts: token.ts,
                now,
                tolerance: self.tolerance,
            });
        }
        self.remember(token.nonce, token.ts.saturating_add(self.tolerance), now)?;
        Ok(key.id.clone())
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
