//! `hearth config check [--config FILE]`: reads the config file as `hearth serve` would and
//! checks every tier's template, running nothing. Exit 0 with one line per tier, or exit 1
//! with every problem, each naming its key path.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use hearth_protocol::hearth::Tier;

use super::commands::{print_as, EXIT_FAILED};
use super::ConfigCheckArgs;
use crate::config::FileConfig;
use crate::template::{Template, Templates};

/// Runs `hearth config check`.
pub(super) fn run(a: &ConfigCheckArgs) -> ExitCode {
    let path = a
        .config
        .clone()
        .or_else(|| std::env::var_os("HEARTH_CONFIG").map(Into::into));
    match check(path.as_deref()) {
        Ok((templates, images, port)) => {
            let tiers: Vec<(Tier, Template, bool)> =
                [Tier::Solo, Tier::Team, Tier::Studio, Tier::Bespoke]
                    .into_iter()
                    .map(|t| {
                        let own = templates.by_tier.contains_key(&t);
                        (t, templates.for_tier(t, &images, port), own)
                    })
                    .collect();
            let json = serde_json::json!({
                "ok": true,
                "config": path.as_ref().map(|p| p.display().to_string()),
                "tiers": tiers.iter().map(|(t, tpl, own)| (t.as_str(), serde_json::json!({
                    "template": if *own { "own" } else { "default" },
                    "front_door": tpl.front_door,
                    "roles": tpl.roles.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
                    "start_order": waves(tpl),
                }))).collect::<BTreeMap<_, _>>(),
            });
            print_as(a.output.output, &json, || {
                tiers
                    .iter()
                    .map(|(t, tpl, own)| summary(*t, tpl, *own))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("hearth config check: {message}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// The file's templates, the `[images]` a default template runs and the service port.
fn check(path: Option<&Path>) -> Result<(Templates, BTreeMap<String, String>, u16), String> {
    let file = match path {
        Some(p) => FileConfig::load(p).map_err(|e| e.to_string())?,
        None => FileConfig::default(),
    };
    let mut images = BTreeMap::new();
    for (role, image) in [
        ("cairnet", &file.images.cairnet),
        ("lore", &file.images.lore),
    ] {
        if let Some(i) = image {
            images.insert(role.to_owned(), i.clone());
        }
    }
    let templates = file
        .templates(&images, path)
        .map_err(|e| format!("{e:#}"))?;
    Ok((templates, images, file.service_port.unwrap_or(80)))
}

/// The start waves of a checked template, by name.
fn waves(t: &Template) -> Vec<Vec<&str>> {
    crate::template::order::waves(t)
        .unwrap_or_default()
        .iter()
        .map(|w| w.iter().map(|r| r.name.as_str()).collect())
        .collect()
}

/// `solo: 3 roles (lore, migrate once, cairnet), front door cairnet, start lore → migrate →
/// cairnet`.
fn summary(tier: Tier, t: &Template, own: bool) -> String {
    let roles: Vec<String> = t
        .roles
        .iter()
        .map(|r| {
            let mut s = r.name.clone();
            if r.once {
                s.push_str(" once");
            }
            if let Some(p) = r.port {
                s.push_str(&format!(":{p}"));
            }
            s
        })
        .collect();
    let order: Vec<String> = waves(t).iter().map(|w| w.join(" + ")).collect();
    format!(
        "{tier}: {} template, {} role{} ({}), front door {}, start {}",
        if own { "own" } else { "default" },
        t.roles.len(),
        if t.roles.len() == 1 { "" } else { "s" },
        roles.join(", "),
        t.front_door,
        order.join(" → ")
    )
}
