//! Single-use login codes for the page: `console serve` (and `console ui`) print a link
//! `/login?code=…`; opening it once, within [`CODE_TTL`], trades the code for a cookie
//! session. The code is a bearer secret for two minutes at most, and useless after its first
//! use, so a link left in a terminal's scrollback or a browser's history opens nothing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// How long a printed code stays good.
pub const CODE_TTL: Duration = Duration::from_secs(120);
/// Codes outstanding at once; minting past it drops the oldest, so a script that mints in a
/// loop cannot grow the console's memory.
pub const MAX_CODES: usize = 64;

/// Why a code did not open a session. The page answers every reason alike (a caller learns
/// nothing from which), but the console's log says which one it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Never minted here, or already used.
    Unknown,
    /// Minted, but older than its time to live.
    Expired,
}

/// The outstanding codes.
#[derive(Debug)]
pub struct LoginCodes {
    /// SHA-256 of each outstanding code → when it expires. Only hashes are kept, so the map
    /// never holds a usable secret.
    codes: Mutex<HashMap<[u8; 32], Instant>>,
    ttl: Duration,
}

impl Default for LoginCodes {
    fn default() -> Self {
        LoginCodes::with_ttl(CODE_TTL)
    }
}

impl LoginCodes {
    /// Codes that live for `ttl`.
    pub fn with_ttl(ttl: Duration) -> Self {
        LoginCodes {
            codes: Mutex::new(HashMap::new()),
            ttl,
        }
    }

    /// How long a fresh code lives.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A fresh code (128 random bits, hex), good once until `ttl` from now.
    pub fn mint(&self) -> String {
        self.mint_at(Instant::now())
    }

    /// Trades `code` for the right to open one session; the code is gone either way.
    ///
    /// # Errors
    /// [`Refusal`] when the code is unknown, used or expired.
    pub fn redeem(&self, code: &str) -> Result<(), Refusal> {
        self.redeem_at(code, Instant::now())
    }

    /// [`mint`](Self::mint) with the clock in the caller's hand (tests).
    pub fn mint_at(&self, now: Instant) -> String {
        let code = hex::encode(rand::random::<[u8; 16]>());
        let mut codes = self.codes.lock().unwrap_or_else(|p| p.into_inner());
        codes.retain(|_, expiry| *expiry > now);
        while codes.len() >= MAX_CODES {
            let oldest = codes.iter().min_by_key(|(_, e)| **e).map(|(k, _)| *k);
            match oldest {
                Some(k) => codes.remove(&k),
                None => break,
            };
        }
        codes.insert(key(&code), now + self.ttl);
        code
    }

    /// [`redeem`](Self::redeem) with the clock in the caller's hand (tests).
    ///
    /// # Errors
    /// As [`redeem`](Self::redeem).
    pub fn redeem_at(&self, code: &str, now: Instant) -> Result<(), Refusal> {
        let mut codes = self.codes.lock().unwrap_or_else(|p| p.into_inner());
        match codes.remove(&key(code)) {
            Some(expiry) if expiry > now => Ok(()),
            Some(_) => Err(Refusal::Expired),
            None => Err(Refusal::Unknown),
        }
    }
}

fn key(code: &str) -> [u8; 32] {
    Sha256::digest(code.trim().as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_opens_once() {
        let codes = LoginCodes::default();
        let code = codes.mint();
        assert_eq!(code.len(), 32);
        assert!(code.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(codes.redeem(&code), Ok(()));
        assert_eq!(codes.redeem(&code), Err(Refusal::Unknown), "second use");
    }

    #[test]
    fn a_code_expires_after_its_ttl() {
        let codes = LoginCodes::default();
        let t0 = Instant::now();
        let fresh = codes.mint_at(t0);
        let stale = codes.mint_at(t0);
        assert_eq!(
            codes.redeem_at(&fresh, t0 + CODE_TTL - Duration::from_millis(1)),
            Ok(())
        );
        assert_eq!(
            codes.redeem_at(&stale, t0 + CODE_TTL),
            Err(Refusal::Expired)
        );
        assert_eq!(
            codes.redeem_at(&stale, t0 + CODE_TTL),
            Err(Refusal::Unknown),
            "an expired code is gone too"
        );
    }

    #[test]
    fn unknown_and_forged_codes_are_refused() {
        let codes = LoginCodes::default();
        let _real = codes.mint();
        assert_eq!(codes.redeem(""), Err(Refusal::Unknown));
        assert_eq!(
            codes.redeem("00000000000000000000000000000000"),
            Err(Refusal::Unknown)
        );
    }

    #[test]
    fn minting_is_bounded() {
        let codes = LoginCodes::default();
        let t0 = Instant::now();
        let first = codes.mint_at(t0);
        for i in 1..=MAX_CODES {
            codes.mint_at(t0 + Duration::from_millis(i as u64));
        }
        assert_eq!(
            codes.codes.lock().expect("lock").len(),
            MAX_CODES,
            "never more than MAX_CODES outstanding"
        );
        assert_eq!(
            codes.redeem_at(&first, t0 + Duration::from_secs(1)),
            Err(Refusal::Unknown),
            "the oldest code made room"
        );
    }
}
