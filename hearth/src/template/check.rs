//! What makes a template unrunnable, found before anything runs: each problem names its key
//! path and what is wrong (`tiers.solo.roles.cairnet.depends_on: cycle cairnet → migrate →
//! cairnet`). `hearth config check` prints them; `hearth serve` refuses to start with them.

use std::collections::BTreeMap;
use std::fmt;

use super::refs::{self, Field, Ref};
use super::{Condition, Probe, Role, Template};

/// One thing wrong with a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key path (`tiers.solo.roles.lore.ready.all[1]`).
    pub path: String,
    pub what: String,
}

impl Problem {
    pub fn new(path: &str, what: impl Into<String>) -> Problem {
        Problem {
            path: path.to_owned(),
            what: what.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.what)
    }
}

/// Everything wrong with the `[tiers]` of a config file, one problem a line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "{n} problem{} in [tiers]:",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.0 {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

/// The longest role name: it goes into container, volume and service names beside the slug.
pub const ROLE_NAME_MAX: usize = 30;

/// Every problem of `t`, whose key path is `path` (`tiers.solo`).
pub fn template(t: &Template, path: &str) -> Vec<Problem> {
    let mut out = Vec::new();
    if t.roles.is_empty() {
        out.push(Problem::new(
            &format!("{path}.roles"),
            "no roles: a workspace runs at least one (add [TIER.roles.NAME] with an image)",
        ));
        return out;
    }
    front_door(t, path, &mut out);
    let mut ports: BTreeMap<u16, &str> = BTreeMap::new();
    for role in &t.roles {
        let at = format!("{path}.roles.{}", role.name);
        name(&role.name, &at, &mut out);
        if !role.image.is_empty() {
            if let Err(why) = crate::image_ref::check(&role.image) {
                out.push(Problem::new(
                    &format!("{at}.image"),
                    format!("{:?} is not an image reference: {why}", role.image),
                ));
            }
        }
        if let Some(port) = role.port {
            if port == 0 {
                out.push(Problem::new(
                    &format!("{at}.port"),
                    "0 is not a port (1 to 65535)",
                ));
            } else if let Some(first) = ports.insert(port, &role.name) {
                ports.insert(port, first);
                out.push(Problem::new(
                    &format!("{at}.port"),
                    format!("{port} is also role {first}'s port: each role listens on its own"),
                ));
            }
        }
        depends_on(t, role, &at, &mut out);
        references(t, role, &at, &mut out);
        probe(&role.ready.probe, role, &format!("{at}.ready"), &mut out);
        if let Some(v) = &role.volume {
            if !v.starts_with('/') {
                out.push(Problem::new(
                    &format!("{at}.volume"),
                    format!("{v:?} is not an absolute path in the container"),
                ));
            }
        }
    }
    if let Err(cycle) = super::order::waves(t) {
        out.push(Problem::new(
            &format!("{path}.roles.{}.depends_on", cycle[0]),
            format!("cycle {}", cycle.join(" → ")),
        ));
    }
    out
}

fn front_door(t: &Template, path: &str, out: &mut Vec<Problem>) {
    let at = format!("{path}.front_door");
    match t.role(&t.front_door) {
        None if t.front_door.is_empty() => out.push(Problem::new(&at, "missing")),
        None => out.push(Problem::new(
            &at,
            format!(
                "{:?} is not a role of this tier (its roles: {})",
                t.front_door,
                t.roles
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
        Some(r) if r.once => out.push(Problem::new(
            &at,
            format!(
                "{} is a one-shot (once = true): the front door is a service that keeps running",
                r.name
            ),
        )),
        Some(r) if r.port.is_none() => out.push(Problem::new(
            &at,
            format!(
                "{} has no port: the front door's endpoint is its port",
                r.name
            ),
        )),
        Some(_) => {}
    }
}

/// A role name: a DNS label of `[a-z0-9-]`, at most [`ROLE_NAME_MAX`] characters, not
/// `workspace` (a reference's own word).
fn name(n: &str, at: &str, out: &mut Vec<Problem>) {
    let why = if n.is_empty() || n.len() > ROLE_NAME_MAX {
        Some(format!("1 to {ROLE_NAME_MAX} characters"))
    } else if !n
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        Some("only a-z, 0-9 and -".to_owned())
    } else if n.starts_with('-') || n.ends_with('-') {
        Some("no - at either end".to_owned())
    } else if n == "workspace" {
        Some("`workspace` is reserved for {{workspace.slug}}".to_owned())
    } else {
        None
    };
    if let Some(why) = why {
        out.push(Problem::new(
            at,
            format!("{n:?} is not a role name: a DNS label ({why})"),
        ));
    }
}

fn depends_on(t: &Template, role: &Role, at: &str, out: &mut Vec<Problem>) {
    for (dep, cond) in &role.depends_on {
        let here = format!("{at}.depends_on.{dep}");
        match t.role(dep) {
            None => out.push(Problem::new(
                &here,
                format!("{dep} is not a role of this tier"),
            )),
            Some(d) if *cond == Condition::Completed && !d.once => out.push(Problem::new(
                &here,
                format!(
                    "`completed` waits for a one-shot, and {dep} is not one (once = true); \
                     wait for it to be `ready` or `started`"
                ),
            )),
            Some(_) if dep == &role.name => {
                out.push(Problem::new(&here, "a role cannot wait for itself"));
            }
            Some(_) => {}
        }
    }
}

/// The references of `env` values and `command`: well formed, to roles of this tier, and a
/// port only of a role that has one.
fn references(t: &Template, role: &Role, at: &str, out: &mut Vec<Problem>) {
    let texts = role
        .env
        .iter()
        .map(|(k, v)| (format!("{at}.env.{k}"), v))
        .chain(
            role.command
                .iter()
                .flatten()
                .enumerate()
                .map(|(i, c)| (format!("{at}.command[{i}]"), c)),
        );
    for (here, text) in texts {
        let refs = match refs::references(text) {
            Ok(r) => r,
            Err(e) => {
                out.push(Problem::new(&here, e.to_string()));
                continue;
            }
        };
        for r in refs {
            let Ref::Role { role: name, field } = r else {
                continue;
            };
            let field_name = match field {
                Field::Host => "host",
                Field::Port => "port",
                Field::Url => "url",
            };
            match t.role(&name) {
                None => out.push(Problem::new(
                    &here,
                    format!("`{{{{{name}.{field_name}}}}}` names no role of this tier"),
                )),
                Some(other) if other.port.is_none() && field != Field::Host => {
                    out.push(Problem::new(
                        &here,
                        format!("`{{{{{name}.{field_name}}}}}`: role {name} has no port"),
                    ));
                }
                Some(_) => {}
            }
        }
    }
}

/// What the file reader cannot know alone: a log regex that does not compile, an HTTP probe
/// with no port to ask.
fn probe(p: &Probe, role: &Role, at: &str, out: &mut Vec<Problem>) {
    match p {
        Probe::Http { port: None, .. } if role.port.is_none() => out.push(Problem::new(
            at,
            format!(
                "an http probe needs a port: give {} a port, or the probe one (port = 8080)",
                role.name
            ),
        )),
        Probe::Log { regex, .. } => {
            if let Err(e) = regex::Regex::new(regex) {
                out.push(Problem::new(
                    at,
                    format!("log regex {regex:?} does not compile: {e}"),
                ));
            }
        }
        Probe::All(ps) | Probe::Any(ps) => {
            for p in ps {
                probe(p, role, at, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::super::file::tests::refusals;

    const OK: &str = r#"
[tiers.solo.roles.lore]
image = "lore:1"
port = 9000
[tiers.solo.roles.migrate]
image = "cairnet:2"
once = true
depends_on = { lore = "ready" }
[tiers.solo.roles.cairnet]
image = "cairnet:2"
port = 8080
depends_on = { lore = "ready", migrate = "completed" }
"#;

    /// `OK` with `extra` appended to it (TOML merges the tables).
    fn with(extra: &str) -> Vec<String> {
        refusals(&format!("{OK}{extra}"))
    }

    fn starts(got: &[String], wants: &str) {
        assert!(
            got.iter().any(|p| p.starts_with(wants)),
            "wanted a problem starting {wants:?} in {got:?}"
        );
    }

    fn one(got: &[String], wants: &str) {
        assert!(
            got.iter().any(|p| p == wants),
            "wanted exactly {wants:?} in {got:?}"
        );
    }

    #[test]
    fn a_good_template_has_no_problem() {
        assert_eq!(refusals(OK), Vec::<String>::new());
        assert_eq!(
            refusals(super::super::file::tests::EXAMPLE),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_cycle_is_named_with_its_path() {
        let got = refusals(
            r#"
[tiers.solo.roles.migrate]
image = "m"
once = true
depends_on = { cairnet = "ready" }
[tiers.solo.roles.cairnet]
image = "c"
port = 80
depends_on = { migrate = "completed" }
"#,
        );
        one(
            &got,
            "tiers.solo.roles.migrate.depends_on: cycle migrate → cairnet → migrate",
        );
        let got = refusals(
            "[tiers.solo.roles.a]\nimage = \"a\"\nport = 1\ndepends_on = { a = \"started\" }\n",
        );
        one(
            &got,
            "tiers.solo.roles.a.depends_on.a: a role cannot wait for itself",
        );
        one(&got, "tiers.solo.roles.a.depends_on: cycle a → a");
    }

    #[test]
    fn dependencies_must_exist_and_completed_wants_a_one_shot() {
        let got = with("[tiers.solo.roles.web]\nimage = \"w\"\nport = 81\ndepends_on = { db = \"ready\", lore = \"completed\" }\n");
        one(
            &got,
            "tiers.solo.roles.web.depends_on.db: db is not a role of this tier",
        );
        starts(
            &got,
            "tiers.solo.roles.web.depends_on.lore: `completed` waits for a one-shot",
        );
    }

    #[test]
    fn the_front_door_is_a_service_role() {
        let got = with("[tiers.solo]\nfront_door = \"migrate\"\n");
        starts(&got, "tiers.solo.front_door: migrate is a one-shot");
        let got = with("[tiers.solo]\nfront_door = \"web\"\n");
        one(
            &got,
            "tiers.solo.front_door: \"web\" is not a role of this tier (its roles: lore, migrate, cairnet)",
        );
        // With no front_door, the first service role is the front door: lore.
        let t = super::super::file::tests::read(OK).expect("valid");
        assert_eq!(
            t.by_tier[&hearth_protocol::hearth::Tier::Solo].front_door,
            "lore"
        );
    }

    #[test]
    fn ports_are_not_shared() {
        let got = with("[tiers.solo.roles.web]\nimage = \"w\"\nport = 9000\n");
        one(
            &got,
            "tiers.solo.roles.web.port: 9000 is also role lore's port: each role listens on its own",
        );
    }

    #[test]
    fn references_name_roles_that_exist_and_have_ports() {
        let got = with(
            "[tiers.solo.roles.web]\nimage = \"w\"\nport = 81\nenv = { A = \"{{db.host}}\", B = \"{{migrate.url}}\", C = \"{{lore.ip}}\", D = \"{{lore.host\" }\ncommand = [\"run\", \"--peer={{nope.port}}\", \"{{workspace.slug}}-{{tier}}\"]\n",
        );
        one(
            &got,
            "tiers.solo.roles.web.env.A: `{{db.host}}` names no role of this tier",
        );
        one(
            &got,
            "tiers.solo.roles.web.env.B: `{{migrate.url}}`: role migrate has no port",
        );
        assert!(
            got.iter()
                .any(|p| p
                    .starts_with("tiers.solo.roles.web.env.C: `{{lore.ip}}` is not a reference")),
            "{got:?}"
        );
        starts(
            &got,
            "tiers.solo.roles.web.env.D: `{{` at byte 0 has no closing",
        );
        one(
            &got,
            "tiers.solo.roles.web.command[1]: `{{nope.port}}` names no role of this tier",
        );
        assert_eq!(got.len(), 5, "command[2] is fine: {got:?}");
    }

    #[test]
    fn images_names_and_roles_are_checked() {
        let got = with("[tiers.solo.roles.web]\nimage = \"Registry/App:1\"\nport = 81\n");
        starts(
            &got,
            "tiers.solo.roles.web.image: \"Registry/App:1\" is not an image reference",
        );
        let got = with("[tiers.solo.roles.Web_1]\nimage = \"w\"\nport = 81\n");
        starts(&got, "tiers.solo.roles.Web_1: \"Web_1\" is not a role name: a DNS label (only a-z, 0-9 and -)");
        let got = with("[tiers.solo.roles.workspace]\nimage = \"w\"\nport = 81\n");
        assert_eq!(got.len(), 1, "{got:?}");
        let got = refusals("[tiers.team]\nfront_door = \"x\"\n");
        assert_eq!(
            got,
            ["tiers.team.roles: no roles: a workspace runs at least one (add [TIER.roles.NAME] with an image)"]
        );
    }

    #[test]
    fn probes_volumes_and_limits_are_checked() {
        let got = with(
            "[tiers.solo.roles.w]\nimage = \"w\"\nready = { all = [ { http = \"/\" }, { log = \"(\" } ] }\nvolume = \"data\"\nlimits = { memory_mb = 1, cpus = 0.5 }\n",
        );
        starts(&got, "tiers.solo.roles.w.ready: an http probe needs a port");
        assert!(
            got.iter().any(
                |p| p.starts_with("tiers.solo.roles.w.ready: log regex \"(\" does not compile")
            ),
            "{got:?}"
        );
        one(
            &got,
            "tiers.solo.roles.w.volume: \"data\" is not an absolute path in the container",
        );
        assert_eq!(got.len(), 3, "limits are the config's to check: {got:?}");
    }
}
