//! The keys a console signs with and a worker verifies with: `key_id:secret` lines, the first
//! signs, every one verifies. `Debug` never prints a secret.

use std::fmt;
use std::path::Path;

use super::{sign_at, sign_v2_at, unix_now};

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

    /// The secret bytes (for the MAC; never logged).
    pub(crate) fn secret(&self) -> &[u8] {
        &self.secret
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

    /// The `Authorization` header value (`Bearer v2.…`) for a request to the worker whose
    /// audience is `audience` (see [`audience_of`](super::audience_of)), signed with the first
    /// key at the current time with a fresh random nonce.
    pub fn sign(&self, audience: &str, method: &str, path: &str, body: &[u8]) -> String {
        let nonce = hex::encode(rand::random::<[u8; 16]>());
        sign_v2_at(
            self.signing_key(),
            audience,
            unix_now(),
            &nonce,
            method,
            path,
            body,
        )
    }

    /// A legacy `v1` bearer (no audience), as the previous release signed; for tests of the
    /// one-release compatibility path only.
    pub fn sign_v1(&self, method: &str, path: &str, body: &[u8]) -> String {
        let key = self.signing_key();
        let nonce = hex::encode(rand::random::<[u8; 16]>());
        sign_at(&key.id, &key.secret, unix_now(), &nonce, method, path, body)
    }
}
