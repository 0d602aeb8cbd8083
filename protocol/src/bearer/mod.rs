//! The HMAC bearer that the console puts on every request to a worker, and the verifier the
//! worker checks it with: one definition of the format for both sides.
//!
//! Header: `Authorization: Bearer v2.<key_id>.<ts>.<nonce>.<sig>` where `ts` is unix seconds in
//! decimal, `nonce` is 32 lowercase hex characters (16 random bytes) and `sig` is the lowercase
//! hex HMAC-SHA256, under the key's secret, of the signing string
//!
//! ```text
//! v2\n<key_id>\n<ts>\n<nonce>\n<audience>\n<METHOD>\n<path with query>\n<hex sha256 of the body>
//! ```
//!
//! (UTF-8, joined by `\n`, no trailing newline; the method upper-cased; an empty body hashes as
//! the empty string). The audience is the origin of the worker's URL as the console addresses
//! it (`http://127.0.0.1:9000`, see [`audience_of`]); it is signed but not sent, so a worker
//! checks the bearer against its own audience and a bearer captured on its way to one worker
//! is refused by every other worker holding the same keys.
//!
//! `v1` (the same, without the audience line) is still verified for one release, so a console
//! of the previous release keeps working against this worker; the worker logs a warning the
//! first time each key id signs one. A keys file holds `key_id:secret` lines: the first key
//! signs, every key verifies, so a key rotates by adding the new one first and dropping the old
//! one later.

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

mod audience;
mod keyring;
mod verifier;

pub use audience::{audience_of, AudienceError};
pub use keyring::{valid_key_id, Key, Keyring, KeyringError};
pub use verifier::{Verified, Verifier};

type HmacSha256 = Hmac<Sha256>;

/// The format version that signs: the first dot-separated part of the token and the first
/// signed line.
pub const VERSION: &str = "v2";

/// The previous version (no audience), still verified for one release with a warning.
pub const LEGACY_VERSION: &str = "v1";

/// How far a request's timestamp may be from the verifier's clock, either way, by default.
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;

/// How many nonces a [`Verifier`] remembers by default before it refuses new requests.
pub const DEFAULT_REPLAY_CAPACITY: usize = 100_000;

/// A token's format version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// No audience: any worker holding the key accepts it (verified for one more release).
    V1,
    /// Bound to the worker's audience.
    V2,
}

impl Version {
    /// The version as the token spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1 => LEGACY_VERSION,
            Version::V2 => VERSION,
        }
    }
}

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
    /// The MAC does not match: another key, another request, or (v2) another audience.
    #[error("signature does not match the request (a v2 bearer: for this worker's audience)")]
    BadSignature,
    /// A v2 bearer reached a verifier that was given no audience to check it against.
    #[error("a v2 bearer needs an audience and this verifier has none")]
    NoAudience,
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
            BearerError::NoAudience => "no_audience",
            BearerError::Expired { .. } => "expired",
            BearerError::Replayed => "replayed",
            BearerError::ReplayCacheFull => "replay_cache_full",
            BearerError::ReplayJournal(_) => "replay_journal_unavailable",
        }
    }
}

/// Seconds since the unix epoch on this machine's clock.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn body_hash(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// The exact bytes a `v1` bearer MACs: the v2 layout without the audience line.
pub fn signing_string(
    key_id: &str,
    ts: &str,
    nonce: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> String {
    format!(
        "{LEGACY_VERSION}\n{key_id}\n{ts}\n{nonce}\n{}\n{path}\n{}",
        method.to_ascii_uppercase(),
        body_hash(body)
    )
}

/// The exact bytes a `v2` bearer MACs (see the module docs).
pub fn signing_string_v2(
    key_id: &str,
    ts: &str,
    nonce: &str,
    audience: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> String {
    format!(
        "{VERSION}\n{key_id}\n{ts}\n{nonce}\n{audience}\n{}\n{path}\n{}",
        method.to_ascii_uppercase(),
        body_hash(body)
    )
}

fn mac_for(secret: &[u8], signed: &str) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(signed.as_bytes());
    mac
}

fn hex_mac(secret: &[u8], signed: &str) -> String {
    hex::encode(mac_for(secret, signed).finalize().into_bytes())
}

/// The deterministic core of `v1` signing, for its test vectors and for tests of the legacy
/// path: the full `Authorization` header value (`Bearer v1.<key_id>.<ts>.<nonce>.<sig>`).
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
    let sig = hex_mac(
        secret,
        &signing_string(key_id, &ts, nonce, method, path, body),
    );
    format!("Bearer {LEGACY_VERSION}.{key_id}.{ts}.{nonce}.{sig}")
}

/// The deterministic core of `v2` signing, for test vectors and for callers that manage their
/// own clock and nonces: `Bearer v2.<key_id>.<ts>.<nonce>.<sig>` for `audience` (an origin as
/// [`audience_of`] spells it).
pub fn sign_v2_at(
    key: &Key,
    audience: &str,
    ts: u64,
    nonce: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> String {
    let ts = ts.to_string();
    let signed = signing_string_v2(key.id(), &ts, nonce, audience, method, path, body);
    let sig = hex_mac(key.secret(), &signed);
    format!("Bearer {VERSION}.{}.{ts}.{nonce}.{sig}", key.id())
}

/// A token split into its parts, each still the exact text that was signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token<'a> {
    pub version: Version,
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
    let version = match version {
        VERSION => Version::V2,
        LEGACY_VERSION => Version::V1,
        _ => return Err(BearerError::Malformed("unsupported token version")),
    };
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
        version,
        key_id,
        ts_text,
        ts,
        nonce,
        sig,
    })
}
