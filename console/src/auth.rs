//! LocalAuth: the admin token minted into `STATE/console.token` and the cookie sessions it
//! opens. No IdP and no cloud: holding the token (readable only by the console's user) is
//! what makes a caller the local admin.

use hearth_protocol::hearth::ErrorCode;
use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The token file's name inside the state directory.
pub const TOKEN_FILE: &str = "console.token";
/// The session cookie's name.
pub const SESSION_COOKIE: &str = "hearth_console_session";
/// How long a cookie session lives.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 60 * 60);

/// Why the admin token could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The state directory or token file could not be created or read.
    #[error("cannot set up the admin token at {path}: {reason}")]
    Io { path: PathBuf, reason: String },
    /// The token file is readable by others; it may have leaked.
    #[error("{path} has mode {mode:o}, readable by other users; remove it to mint a new token (or chmod 600 it if you know it did not leak)")]
    TooOpen { path: PathBuf, mode: u32 },
    /// The state directory is writable by others (or is another user's): whoever can write
    /// it can replace the token.
    #[error(transparent)]
    InsecureDir(#[from] hearth_serve::private::PrivateError),
    /// The token file holds no usable token.
    #[error(
        "{path} does not hold a token of at least 32 hex characters; remove it to mint a new one"
    )]
    Malformed { path: PathBuf },
}

impl AuthError {
    /// Stable machine-readable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            AuthError::Io { .. } => ErrorCode::TokenIo,
            AuthError::TooOpen { .. } => ErrorCode::TokenTooOpen,
            AuthError::Malformed { .. } => ErrorCode::TokenMalformed,
            AuthError::InsecureDir(e) => e.code(),
        }
    }
}

/// The local admin's credentials: the token and the sessions opened with it.
#[derive(Debug)]
pub struct LocalAuth {
    token: String,
    /// Open sessions, keyed by the SHA-256 of the session id (so the map never holds a
    /// usable secret and a lookup leaks nothing about one), valued by expiry.
    sessions: Mutex<HashMap<[u8; 32], Instant>>,
}

impl LocalAuth {
    /// Reads `STATE/console.token`, or mints a 256-bit token into it (mode 0600 from the
    /// moment the file exists) at first start. Creates `state_dir` (0700) if missing, and refuses one that others can write.
    ///
    /// # Errors
    /// [`AuthError`] when the directory or file cannot be set up, the file is readable by
    /// others, or it holds no token.
    pub fn load_or_mint(state_dir: &Path) -> Result<Self, AuthError> {
        let io = |path: &Path, e: std::io::Error| AuthError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        hearth_serve::private::private_dir(state_dir)?;
        let path = state_dir.join(TOKEN_FILE);
        let fresh = hex::encode(rand::random::<[u8; 32]>());
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(mut file) => {
                file.write_all(format!("{fresh}\n").as_bytes())
                    .and_then(|()| file.sync_all())
                    .and_then(|()| crate::sink::sync_parent(&path))
                    .map_err(|e| io(&path, e))?;
                tracing::info!(path = %path.display(), "minted a new admin token");
                return Ok(Self::with_token(fresh));
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(&path, e)),
        }
        let meta = std::fs::metadata(&path).map_err(|e| io(&path, e))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(AuthError::TooOpen { path, mode });
        }
        let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
        let token = text.trim();
        if token.len() < 32 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AuthError::Malformed { path });
        }
        Ok(Self::with_token(token.to_owned()))
    }

    /// Auth with a known token (tests, embedding).
    pub fn with_token(token: String) -> Self {
        LocalAuth {
            token,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// True when `candidate` is the admin token; compared in constant time.
    pub fn check_token(&self, candidate: &str) -> bool {
        let a = Sha256::digest(candidate.as_bytes());
        let b = Sha256::digest(self.token.as_bytes());
        a.ct_eq(&b).into()
    }

    /// Opens a session and returns its id (256 random bits) for the cookie.
    pub fn open_session(&self) -> String {
        let id = hex::encode(rand::random::<[u8; 32]>());
        let now = Instant::now();
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.retain(|_, expiry| *expiry > now);
            sessions.insert(Self::key(&id), now + SESSION_TTL);
        }
        id
    }

    /// True when `id` names a live session.
    pub fn check_session(&self, id: &str) -> bool {
        let now = Instant::now();
        self.sessions
            .lock()
            .map(|s| s.get(&Self::key(id)).is_some_and(|expiry| *expiry > now))
            .unwrap_or(false)
    }

    /// Ends a session; unknown ids are ignored.
    pub fn close_session(&self, id: &str) {
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.remove(&Self::key(id));
        }
    }

    fn key(id: &str) -> [u8; 32] {
        Sha256::digest(id.as_bytes()).into()
    }
}

/// The `Set-Cookie` value that hands a browser session `id`: HttpOnly (no script reads it),
/// SameSite=Strict (no other site's page sends it).
pub fn session_set_cookie(id: &str) -> String {
    format!(
        "{SESSION_COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        SESSION_TTL.as_secs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_minted_0600_and_reused() {
        let dir = tempfile::tempdir().expect("tmp");
        let state = dir.path().join("state");
        let a = LocalAuth::load_or_mint(&state).expect("mint");
        let path = state.join(TOKEN_FILE);
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(a.token.len(), 64);
        let b = LocalAuth::load_or_mint(&state).expect("reuse");
        assert_eq!(a.token, b.token);
        assert!(b.check_token(&a.token));
        assert!(!b.check_token("nope"));
    }

    #[test]
    fn a_world_readable_token_is_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        LocalAuth::load_or_mint(dir.path()).expect("mint");
        let path = dir.path().join(TOKEN_FILE);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = LocalAuth::load_or_mint(dir.path()).expect_err("too open");
        assert_eq!(err.code(), "token_too_open");
    }

    #[test]
    fn sessions_open_check_and_close() {
        let auth = LocalAuth::with_token("t".repeat(64));
        let id = auth.open_session();
        assert!(auth.check_session(&id));
        assert!(!auth.check_session("forged"));
        auth.close_session(&id);
        assert!(!auth.check_session(&id));
    }
}
