//! Workspace slugs: DNS labels, checked before anything touches an engine (the rule itself
//! lives in `hearth_protocol::slug`).

use std::fmt;

use crate::error::HearthError;

/// A validated workspace slug: the rule is [`hearth_protocol::slug`], shared with the console
/// and the CLI; this type only carries the proof that a string passed it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slug(String);

impl Slug {
    /// The longest slug accepted.
    pub const MAX_LEN: usize = hearth_protocol::slug::MAX_LEN;

    /// Checks `raw` and wraps it.
    ///
    /// # Errors
    /// [`HearthError::InvalidSlug`] naming what is wrong with it.
    pub fn parse(raw: &str) -> Result<Slug, HearthError> {
        match hearth_protocol::slug::parse(raw) {
            Ok(ok) => Ok(Slug(ok.to_owned())),
            Err(e) => Err(HearthError::InvalidSlug {
                slug: e.slug,
                why: e.why,
            }),
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
