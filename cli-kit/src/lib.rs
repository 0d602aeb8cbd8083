//! What every hearth binary (`hearth`, `console`, `worker-stub`, and the bench) shares at its
//! edge, so the three behave alike: how logs are set up ([`log`]), the version string with
//! the commit ([`VERSION`]), and the completions and man pages generated from each binary's
//! own clap definition ([`assets`]).

pub mod assets;
pub mod log;

/// `0.1.0 (1a2b3c4d5)`: the package version and the commit it was built from (`unknown`
/// when built outside git with no `HEARTH_COMMIT`). Use as `#[command(version = VERSION)]`.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("HEARTH_COMMIT"), ")");

/// The commit alone, for a start-up log line.
pub const COMMIT: &str = env!("HEARTH_COMMIT");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_names_the_package_version_and_a_commit() {
        assert!(VERSION.starts_with(env!("CARGO_PKG_VERSION")), "{VERSION}");
        assert!(VERSION.ends_with(&format!("({COMMIT})")), "{VERSION}");
        assert!(!COMMIT.is_empty());
    }
}
