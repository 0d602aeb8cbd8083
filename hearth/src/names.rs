//! Engine object names. Each carries the daemon instance that made it, so two daemons on one
//! engine can hold the same slug at once: network `hearth-<inst>_<slug>`, containers
//! `hearth-<inst>_<slug>_<role>`, volumes `hearth-<inst>_<slug>_<role>-data`, where `<inst>` is
//! [`short_instance`] (eight hex digits). Names are for people reading `docker ps`; hearth finds
//! its objects by label (see `labels`), which is also how workspaces made under the first
//! scheme (`hearth_<slug>…`, with no instance) are still found and torn down.

use sha2::{Digest, Sha256};

use crate::slug::Slug;

/// The prefix on every object name hearth creates.
pub const PREFIX: &str = "hearth";

/// The instance as it appears in names: the first eight hex digits of its SHA-256, so any
/// instance id (a random one, or one given with `--instance`) makes a short, valid name part,
/// and two ids that share a prefix still differ.
pub fn short_instance(instance: &str) -> String {
    let digest = Sha256::digest(instance.as_bytes());
    hex::encode(&digest[..4])
}

/// The names of one workspace's objects, for one daemon instance.
#[derive(Debug, Clone)]
pub struct Names {
    /// `hearth-<short instance>_<slug>`: the shared start of every name.
    stem: String,
}

impl Names {
    /// The names of `slug`'s objects made by `instance`.
    pub fn new(instance: &str, slug: &Slug) -> Self {
        Names {
            stem: format!("{PREFIX}-{}_{slug}", short_instance(instance)),
        }
    }

    /// The workspace's bridge network.
    pub fn network(&self) -> String {
        self.stem.clone()
    }

    /// The container running `role`.
    pub fn container(&self, role: &str) -> String {
        format!("{}_{role}", self.stem)
    }

    /// The data volume of `role`.
    pub fn volume(&self, role: &str) -> String {
        format!("{}_{role}-data", self.stem)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_instance() {
        let s = Slug::parse("acme").expect("slug");
        let n = Names::new("i1", &s);
        let short = short_instance("i1");
        assert_eq!(short.len(), 8);
        assert_eq!(n.network(), format!("hearth-{short}_acme"));
        assert_eq!(n.container("lore"), format!("hearth-{short}_acme_lore"));
        assert_eq!(
            n.volume("cairnet"),
            format!("hearth-{short}_acme_cairnet-data")
        );
    }

    #[test]
    fn two_instances_never_share_a_name() {
        let s = Slug::parse("test").expect("slug");
        let (a, b) = (Names::new("run-1-a", &s), Names::new("run-1-b", &s));
        assert_ne!(a.network(), b.network());
        assert_ne!(a.container("cairnet"), b.container("cairnet"));
        assert_ne!(a.volume("lore"), b.volume("lore"));
    }

    #[test]
    fn the_short_form_is_stable_and_a_valid_name_part() {
        assert_eq!(short_instance("x"), short_instance("x"));
        let odd = short_instance("Weird id/with spaces");
        assert!(odd
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    }
}
