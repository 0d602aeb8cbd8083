//! Workspace slugs: DNS labels, checked before anything touches an engine.

use std::fmt;

use crate::error::HearthError;

/// A validated workspace slug (`^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$`).
///
/// Slugs become parts of container, network and volume names, so they are held to the
/// strictest rule those names share: a lower-case DNS label of at most 32 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slug(String);

impl Slug {
    /// The longest slug accepted.
    pub const MAX_LEN: usize = 32;

    /// Checks `raw` and wraps it.
    ///
    /// # Errors
    /// [`HearthError::InvalidSlug`] naming what is wrong with it.
    pub fn parse(raw: &str) -> Result<Slug, HearthError> {
        let why = if raw.is_empty() {
            Some("it is empty")
        } else if raw.len() > Self::MAX_LEN {
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
            Some(why) => Err(HearthError::InvalidSlug {
                slug: raw.chars().take(64).collect(),
                why,
            }),
            None => Ok(Slug(raw.to_owned())),
        }
    }

    /// The slug as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dns_labels() {
        for ok in ["a", "test", "acme-42", "0", "a1-b2-c3", &"x".repeat(32)] {
            assert!(Slug::parse(ok).is_ok(), "{ok} should be accepted");
        }
    }

    #[test]
    fn refuses_everything_else() {
        let long = "x".repeat(33);
        for bad in [
            "", "-a", "a-", "Acme", "a_b", "a.b", "a b", "ä", &long, "../etc", "a/b",
        ] {
            let err = Slug::parse(bad).expect_err(bad);
            assert_eq!(err.code(), "invalid_slug", "{bad}");
        }
    }
}
