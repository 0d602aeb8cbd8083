//! The workspace slug rule, defined once: hearth, the console and the CLI all check a slug
//! with [`parse`], so no caller accepts what another refuses.
//!
//! Slugs become parts of container, network and volume names, so they are held to the
//! strictest rule those names share: a lower-case DNS label of at most [`MAX_LEN`] characters
//! (`^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$`).

/// The longest slug accepted.
pub const MAX_LEN: usize = 32;

/// A hint for anyone whose slug was refused.
pub const HINT: &str = "a slug is 1 to 32 lower-case letters, digits and '-', starting and \
                        ending with a letter or digit, like acme-dev";

/// Why a slug was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{slug:?} is not a workspace slug: {why}")]
pub struct SlugError {
    /// The refused text, cut to 64 characters so a hostile one cannot flood a log.
    pub slug: String,
    /// What is wrong with it.
    pub why: &'static str,
}

/// Checks `raw` against the slug rule.
///
/// # Errors
/// [`SlugError`] naming what is wrong with it.
pub fn parse(raw: &str) -> Result<&str, SlugError> {
    let why = if raw.is_empty() {
        Some("it is empty")
    } else if raw.len() > MAX_LEN {
        Some("it is longer than 32 characters")
    } else if !raw
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        Some("only lower-case letters, digits and '-' are allowed")
    } else if raw.starts_with('-') || raw.ends_with('-') {
        Some("it must start and end with a letter or digit")
    } else {
        None
    };
    match why {
        Some(why) => Err(SlugError {
            slug: raw.chars().take(64).collect(),
            why,
        }),
        None => Ok(raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dns_labels() {
        for ok in ["a", "test", "acme-42", "0", "a1-b2-c3", &"x".repeat(32)] {
            assert_eq!(parse(ok), Ok(ok), "{ok} should be accepted");
        }
    }

    #[test]
    fn refuses_everything_else() {
        let long = "x".repeat(33);
        for bad in [
            "", "-a", "a-", "Acme", "a_b", "a.b", "a b", "ä", &long, "../etc", "a/b", "a\n",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
