//! The one rule for identifiers another process hands us (a worker's run ids and SSE frame
//! ids): checked once, where they enter the console, before they reach a URL, a log line or
//! HATCH. A worker's answer is data from outside; an id that breaks this rule is refused, never
//! escaped, cut or passed on.

/// Longest identifier accepted, in bytes (a UUID is 36).
pub const MAX_IDENT_BYTES: usize = 128;

/// How much of a refused identifier an error message quotes (escaped).
const PREVIEW_CHARS: usize = 40;

/// Why a worker-supplied identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentError {
    #[error("{what} is empty")]
    Empty { what: &'static str },
    #[error("{what} is {len} bytes, over the cap of {MAX_IDENT_BYTES}")]
    TooLong { what: &'static str, len: usize },
    #[error(
        "{what} {preview} holds {found} at byte {at}: an identifier is ASCII letters, digits, \
         '.', '_' and '-', starting with a letter or digit"
    )]
    BadChar {
        what: &'static str,
        /// The identifier's start, escaped (`"run-\u{7}-x"`), safe in any log line.
        preview: String,
        /// The refused character, escaped.
        found: String,
        at: usize,
    },
}

impl IdentError {
    /// The stable snake_case code for the wire, logs and HATCH.
    pub fn code(&self) -> &'static str {
        match self {
            IdentError::Empty { .. } | IdentError::TooLong { .. } | IdentError::BadChar { .. } => {
                "invalid_identifier"
            }
        }
    }
}

fn allowed(i: usize, b: u8) -> bool {
    b.is_ascii_alphanumeric() || (i > 0 && matches!(b, b'.' | b'_' | b'-'))
}

/// Checks `id` (named `what` in the error) against the rule:
/// `^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`. No `/`, `?`, `%`, `#`, space or control character
/// can appear, and `.`/`..` cannot be a whole id, so an id is one URL path segment as it
/// stands, one log field, and one HATCH subject its reader accepts.
///
/// # Errors
/// [`IdentError`] naming the first rule broken.
pub fn check(what: &'static str, id: &str) -> Result<(), IdentError> {
    if id.is_empty() {
        return Err(IdentError::Empty { what });
    }
    if id.len() > MAX_IDENT_BYTES {
        return Err(IdentError::TooLong {
            what,
            len: id.len(),
        });
    }
    match id.bytes().enumerate().find(|&(i, b)| !allowed(i, b)) {
        None => Ok(()),
        Some((at, _)) => {
            let found = id[at..]
                .chars()
                .next()
                .map_or_else(String::new, |c| c.escape_debug().to_string());
            Err(IdentError::BadChar {
                what,
                preview: preview(id),
                found: format!("'{found}'"),
                at,
            })
        }
    }
}

/// Whether `id` follows the rule of [`check`].
pub fn is_valid(id: &str) -> bool {
    check("id", id).is_ok()
}

/// The first characters of untrusted text, escaped and quoted, for a message that must not
/// carry the text itself (control characters, megabytes).
pub fn preview(text: &str) -> String {
    let mut out: String = text.chars().take(PREVIEW_CHARS).collect::<String>();
    let cut = out.len() < text.len();
    out = format!("{:?}", out);
    if cut {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_keeps_uuids_and_refuses_what_the_red_team_sent() {
        for good in [
            "0b4f4c5e-5f8e-4c1a-9a59-1f0d5d1d6a11",
            "run-1",
            "r.2_x",
            "A",
        ] {
            assert_eq!(check("run id", good), Ok(()), "{good}");
        }
        let long = "a".repeat(MAX_IDENT_BYTES + 1);
        for bad in [
            "",
            "run-\u{7}-x",
            "run\n",
            "run-\u{1b}[31m",
            "../../healthz?x=",
            "..",
            ".",
            "-x",
            "a/b",
            "a%2fb",
            "a b",
            "é",
            long.as_str(),
        ] {
            let e = check("run id", bad).expect_err(bad);
            assert_eq!(e.code(), "invalid_identifier");
            assert!(!e.to_string().chars().any(char::is_control), "{e}");
            assert!(e.to_string().len() < 300, "{e}");
        }
        assert!(check("run id", &"a".repeat(MAX_IDENT_BYTES)).is_ok());
    }

    #[test]
    fn a_preview_is_escaped_and_short() {
        assert_eq!(preview("run-\u{7}-x"), r#""run-\u{7}-x""#);
        assert!(preview(&"x".repeat(100_000)).len() < 60);
    }
}
