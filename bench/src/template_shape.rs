//! The templated workspace the templates section measures, written once: a one-shot
//! migration, then `lore`, then `cairnet` (the front door), each service waiting for the one
//! before it — as the config file hearth runs ([`config_toml`]) and as the roles the floor
//! builds in the same order ([`ROLES`]).

use std::fmt::Write as _;

/// How long the one-shot works before it exits 0.
pub(crate) const ONESHOT_MS: u32 = 200;

/// One role of the template.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RoleShape {
    /// The role's name (also its host on the workspace network).
    pub name: &'static str,
    /// The port it listens on inside its container; `None` for the one-shot.
    pub port: Option<u16>,
    /// The role it waits for, and for what (`completed` or `ready`).
    pub after: Option<(&'static str, &'static str)>,
}

impl RoleShape {
    /// The stand-in's knobs for it (images/README.md).
    pub(crate) fn env(&self) -> Vec<String> {
        match self.port {
            Some(port) => vec![format!("PORT={port}")],
            None => vec![
                "ONESHOT_EXIT=0".to_owned(),
                format!("ONESHOT_MS={ONESHOT_MS}"),
                "ONESHOT_LINES=3".to_owned(),
            ],
        }
    }
}

/// The roles in the order they start; each waits for the one before it.
pub(crate) const ROLES: [RoleShape; 3] = [
    RoleShape {
        name: "migrate",
        port: None,
        after: None,
    },
    RoleShape {
        name: "lore",
        port: Some(9000),
        after: Some(("migrate", "completed")),
    },
    RoleShape {
        name: "cairnet",
        port: Some(8080),
        after: Some(("lore", "ready")),
    },
];

/// The workspace's front door.
pub(crate) const FRONT_DOOR: &str = "cairnet";

/// Where every role's own volume is mounted.
pub(crate) const VOLUME_AT: &str = "/data";

/// The HTTP path each service is probed on (the stand-in answers it 200 once it listens).
pub(crate) const PROBE_PATH: &str = "/";

/// The template as hearth's config file (`--config`): the solo tier, every role on `image`.
pub(crate) fn config_toml(image: &str) -> String {
    let mut t = format!("[tiers.solo]\nfront_door = \"{FRONT_DOOR}\"\n");
    for role in ROLES {
        let _ = writeln!(t, "[tiers.solo.roles.{}]", role.name);
        let _ = writeln!(t, "image = \"{image}\"");
        let _ = writeln!(t, "volume = \"{VOLUME_AT}\"");
        let env: Vec<String> = role
            .env()
            .iter()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| format!("{k} = \"{v}\""))
            .collect();
        let _ = writeln!(t, "env = {{ {} }}", env.join(", "));
        match role.port {
            Some(port) => {
                let _ = writeln!(t, "port = {port}");
                let _ = writeln!(
                    t,
                    "ready = {{ http = \"{PROBE_PATH}\", status = \"200-299\" }}"
                );
            }
            None => t.push_str("once = true\n"),
        }
        if let Some((dep, condition)) = role.after {
            let _ = writeln!(t, "depends_on = {{ {dep} = \"{condition}\" }}");
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_is_one_valid_chain_hearth_accepts() {
        let text = config_toml("hearth-standin:local");
        let file: hearth::config::FileConfig = toml::from_str(&text).expect(&text);
        let images = hearth::driver::engine::EngineConfig::default().images;
        let templates = file.templates(&images, None).expect(&text);
        assert!(!templates.by_tier.is_empty(), "{text}");
        assert!(text.contains("depends_on = { lore = \"ready\" }"), "{text}");
        assert_eq!(ROLES.iter().filter(|r| r.port.is_none()).count(), 1);
        for pair in ROLES.windows(2) {
            assert_eq!(pair[1].after.map(|a| a.0), Some(pair[0].name));
        }
    }
}
