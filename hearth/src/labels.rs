//! Labels on every engine object hearth creates (reverse-DNS keys). hearth finds its objects by
//! these, never by name alone, and only ever touches objects carrying its own instance label,
//! so two daemons sharing one engine never reap each other's workspaces. The keys themselves
//! live in [`hearth_protocol::labels`], where the test kit and the bench read them too.

use std::collections::HashMap;

use crate::slug::Slug;

pub use hearth_protocol::labels::{
    ENGINE_SOCKET, INSTANCE, MANAGED_BY, MANAGED_BY_VALUE, POOL, RELAY_PORT, ROLE, SWARM_PART,
    TIER, WORKSPACE,
};

/// The labels for one object of `slug`'s workspace, plus the operator's extra labels.
pub fn for_object(
    instance: &str,
    slug: &Slug,
    role: &str,
    tier: &str,
    extra: &[(String, String)],
) -> HashMap<String, String> {
    let mut labels: HashMap<String, String> = extra.iter().cloned().collect();
    labels.insert(MANAGED_BY.into(), MANAGED_BY_VALUE.into());
    labels.insert(INSTANCE.into(), instance.into());
    labels.insert(WORKSPACE.into(), slug.to_string());
    labels.insert(ROLE.into(), role.into());
    labels.insert(TIER.into(), tier.into());
    labels
}

/// Engine list filters selecting this instance's objects, of one workspace or all.
pub fn filter(instance: &str, slug: Option<&Slug>) -> HashMap<String, Vec<String>> {
    let mut wanted = vec![
        format!("{MANAGED_BY}={MANAGED_BY_VALUE}"),
        format!("{INSTANCE}={instance}"),
    ];
    if let Some(slug) = slug {
        wanted.push(format!("{WORKSPACE}={slug}"));
    }
    HashMap::from([("label".to_owned(), wanted)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_labels_carry_owner_workspace_role_and_tier() {
        let s = Slug::parse("acme").expect("slug");
        let l = for_object(
            "i1",
            &s,
            "lore",
            "solo",
            &[("dev.hearth.test".into(), "1".into())],
        );
        assert_eq!(l[MANAGED_BY], "hearth");
        assert_eq!(l[INSTANCE], "i1");
        assert_eq!(l[WORKSPACE], "acme");
        assert_eq!(l[ROLE], "lore");
        assert_eq!(l[TIER], "solo");
        assert_eq!(l["dev.hearth.test"], "1");
    }

    #[test]
    fn filter_is_scoped_to_the_instance() {
        let s = Slug::parse("acme").expect("slug");
        let f = filter("i1", Some(&s));
        assert_eq!(
            f["label"],
            vec![
                "dev.hearth.managed-by=hearth",
                "dev.hearth.instance=i1",
                "dev.hearth.workspace=acme"
            ]
        );
    }
}
