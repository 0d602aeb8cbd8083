//! Engine object names: network `hearth_<slug>`, containers `hearth_<slug>_<role>`, volumes
//! `hearth_<slug>_<role>-data` (the Go hearth's scheme under our prefix). Names are for people
//! reading `docker ps`; hearth finds its objects by label (see `labels`).

use crate::slug::Slug;

/// The prefix on every object name hearth creates.
pub const PREFIX: &str = "hearth";

/// The workspace's bridge network.
pub fn network(slug: &Slug) -> String {
    format!("{PREFIX}_{slug}")
}

/// The container running `role`.
pub fn container(slug: &Slug, role: &str) -> String {
    format!("{PREFIX}_{slug}_{role}")
}

/// The data volume of `role`.
pub fn volume(slug: &Slug, role: &str) -> String {
    format!("{PREFIX}_{slug}_{role}-data")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_scheme() {
        let s = Slug::parse("acme").expect("slug");
        assert_eq!(network(&s), "hearth_acme");
        assert_eq!(container(&s, "lore"), "hearth_acme_lore");
        assert_eq!(volume(&s, "cairnet"), "hearth_acme_cairnet-data");
    }
}
