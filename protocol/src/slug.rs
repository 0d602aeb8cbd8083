//! The workspace slug rule, defined once: hearth, the console and the CLI all check a slug
//! with [`parse`], so no caller accepts what another refuses.
//!
//! Slugs become parts of container, network and volume names, so they are held to the
//! strictest rule those names share: a lower-case DNS label of at most [`MAX_LEN`] characters
//! (`^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$`). A *workspace's* slug is also never of a warm-pool
//! member's form (`pool-` and ten hex digits, [`is_pool_member`]): [`workspace`] checks both,
//! and is what every entry point that names a workspace uses.

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

/// Why a slug of a pool member's form is refused (see [`workspace`]).
pub const RESERVED_FOR_MEMBERS: &str =
    "names of the form pool-<10 hex digits> are reserved for warm-pool members";

/// The hint for a slug refused as [`RESERVED_FOR_MEMBERS`].
pub const RESERVED_HINT: &str =
    "pick another name: pool-<10 hex digits> names the warm pool's members";

/// Whether `slug` has the form of a warm-pool member's id: `pool-` and ten lower-case hex
/// digits. hearth names and labels a member's engine objects with it, so no workspace may be
/// called that.
pub fn is_pool_member(slug: &str) -> bool {
    slug.strip_prefix("pool-").is_some_and(|hex| {
        hex.len() == 10
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Checks `raw` as a workspace's slug: the slug rule ([`parse`]), and not of a pool member's
/// form ([`is_pool_member`]).
///
/// # Errors
/// [`SlugError`] naming what is wrong with it; `why` is [`RESERVED_FOR_MEMBERS`] for a
/// member's form.
pub fn workspace(raw: &str) -> Result<&str, SlugError> {
    let ok = parse(raw)?;
    if is_pool_member(ok) {
        return Err(SlugError {
            slug: ok.to_owned(),
            why: RESERVED_FOR_MEMBERS,
        });
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_member_ids_are_reserved_and_nothing_else() {
        for reserved in ["pool-0123456789", "pool-deadbeef00", "pool-ffffffffff"] {
            assert!(is_pool_member(reserved), "{reserved}");
            let err = workspace(reserved).expect_err(reserved);
            assert_eq!(err.why, RESERVED_FOR_MEMBERS);
            assert!(
                parse(reserved).is_ok(),
                "still a slug, only not a workspace's"
            );
        }
        for ok in [
            "pool",
            "pool-a",
            "pool-deadbeef0",
            "pool-deadbeef000",
            "pool-deadbeefzz",
            "xpool-deadbeef00",
        ] {
            assert!(!is_pool_member(ok), "{ok}");
            assert_eq!(workspace(ok), Ok(ok));
        }
        assert!(!is_pool_member("pool-DEADBEEF00"));
        assert!(
            workspace("pool-DEADBEEF00").is_err(),
            "upper case is no slug"
        );
    }

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
