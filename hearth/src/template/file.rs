//! The config file's `[tiers.<tier>]`, read into the model. The role tables are plain serde
//! (`deny_unknown_fields`, so a typo is an error naming the key); `ready` is read by hand, so
//! a bad probe is named by its key path (`tiers.solo.roles.lore.ready.all[1].status`) and
//! kind, not by a serde variant. Everything found wrong is collected, not only the first.
//!
//! ```toml
//! [tiers.solo]
//! front_door = "cairnet"
//! [tiers.solo.roles.lore]
//! image = "registry.example.com/lore:1.4"
//! port = 9000
//! ready = { tcp = 9000 }
//! volume = "/var/lib/lore"
//! [tiers.solo.roles.migrate]
//! image = "registry.example.com/cairnet:2.0"
//! command = ["cairnet", "migrate"]
//! once = true
//! depends_on = { lore = "ready" }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use hearth_protocol::hearth::Tier;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::check::{Problem, Problems};
use super::{Condition, Limits, Probe, Ready, Role, StatusRange, Template, Templates};

/// `[tiers.<tier>]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTier {
    /// Whose endpoint is the workspace's (default: the first service role).
    pub front_door: Option<String>,
    /// `[tiers.<tier>.roles.<role>]`, in the file's order.
    #[serde(default)]
    pub roles: Ordered<FileRole>,
}

/// `[tiers.<tier>.roles.<role>]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRole {
    /// Required, except for `cairnet` and `lore`, which fall back to `[images]`.
    pub image: Option<String>,
    pub port: Option<u16>,
    pub command: Option<Vec<String>>,
    #[serde(default)]
    pub once: bool,
    /// Role → `started`, `ready` or `completed`.
    #[serde(default)]
    pub depends_on: BTreeMap<String, String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub limits: Option<FileRoleLimits>,
    /// Read by this module's `ready`; absent means `tcp` on the role's port, or `none` without one.
    pub ready: Option<toml::Value>,
    pub volume: Option<String>,
    #[serde(default)]
    pub placement: Vec<String>,
}

/// A role's `limits = { memory_mb = 512, cpus = 1.0, pids = 512 }`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRoleLimits {
    pub memory_mb: Option<u64>,
    pub cpus: Option<f64>,
    pub pids: Option<i64>,
}

/// A TOML table's entries in the order the file writes them (the start order of independent
/// roles, and the default front door, follow it).
#[derive(Debug, Clone)]
pub struct Ordered<T>(pub Vec<(String, T)>);

impl<T> Default for Ordered<T> {
    fn default() -> Self {
        Ordered(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Ordered<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Ordered<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table of roles")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, T>()? {
                    out.push((k, v));
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// The probe kinds, as the file spells them.
pub const PROBE_KINDS: [&str; 8] = [
    "http",
    "tcp",
    "log",
    "exec",
    "healthcheck",
    "none",
    "all",
    "any",
];

/// Reads every `[tiers.<tier>]` into [`Templates`] and checks them ([`super::check`]).
/// `images` is `[images]` (role → image), the image of a `cairnet` or `lore` role that names
/// none.
///
/// # Errors
/// Every problem found, each with its key path.
pub fn templates(
    tiers: &BTreeMap<String, FileTier>,
    images: &BTreeMap<String, String>,
) -> Result<Templates, Problems> {
    let mut problems = Vec::new();
    let mut out = Templates::default();
    for (name, tier) in tiers {
        let path = format!("tiers.{name}");
        let Ok(t) = name.parse::<Tier>() else {
            problems.push(Problem::new(
                &path,
                format!("unknown tier {name:?} (expected solo, team, studio or bespoke)"),
            ));
            continue;
        };
        let template = template(tier, images, &path, &mut problems);
        problems.extend(super::check::template(&template, &path));
        out.by_tier.insert(t, template);
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(Problems(problems))
    }
}

/// One tier's template, as well as it can be read; what cannot be read goes to `problems`.
fn template(
    tier: &FileTier,
    images: &BTreeMap<String, String>,
    path: &str,
    problems: &mut Vec<Problem>,
) -> Template {
    let roles: Vec<Role> = tier
        .roles
        .0
        .iter()
        .map(|(name, r)| role(name, r, images, &format!("{path}.roles.{name}"), problems))
        .collect();
    let front_door = tier.front_door.clone().unwrap_or_else(|| {
        roles
            .iter()
            .find(|r| !r.once)
            .or(roles.first())
            .map(|r| r.name.clone())
            .unwrap_or_default()
    });
    Template { front_door, roles }
}

fn role(
    name: &str,
    r: &FileRole,
    images: &BTreeMap<String, String>,
    path: &str,
    problems: &mut Vec<Problem>,
) -> Role {
    let image = r
        .image
        .clone()
        .or_else(|| images.get(name).cloned())
        .unwrap_or_else(|| {
            problems.push(Problem::new(
                &format!("{path}.image"),
                "missing: every role names the image it runs",
            ));
            String::new()
        });
    let mut depends_on = BTreeMap::new();
    for (dep, cond) in &r.depends_on {
        match condition(cond) {
            Some(c) => {
                depends_on.insert(dep.clone(), c);
            }
            None => problems.push(Problem::new(
                &format!("{path}.depends_on.{dep}"),
                format!("{cond:?} is not a condition (expected started, ready or completed)"),
            )),
        }
    }
    let ready = match &r.ready {
        Some(v) => ready(v, &format!("{path}.ready"), problems),
        None => Ready {
            probe: match r.port {
                Some(port) if !r.once => Probe::Tcp {
                    port,
                    timeout: None,
                },
                _ => Probe::None,
            },
            timeout: None,
            interval: None,
        },
    };
    Role {
        name: name.to_owned(),
        image,
        port: r.port,
        command: r.command.clone(),
        once: r.once,
        depends_on,
        env: r.env.clone(),
        limits: r.limits.map(|l| Limits {
            memory_mb: l.memory_mb,
            cpus: l.cpus,
            pids: l.pids,
        }),
        ready,
        volume: r.volume.clone(),
        placement: r.placement.clone(),
    }
}

fn condition(raw: &str) -> Option<Condition> {
    [Condition::Started, Condition::Ready, Condition::Completed]
        .into_iter()
        .find(|c| c.as_str() == raw)
}

/// `ready = { … }`: one probe, plus the outer `timeout` and `interval_ms`. A probe that cannot
/// be read is recorded in `problems` and stands as `none`.
fn ready(v: &toml::Value, path: &str, problems: &mut Vec<Problem>) -> Ready {
    let mut out = Ready {
        probe: Probe::None,
        timeout: None,
        interval: None,
    };
    let Some(table) = v.as_table() else {
        problems.push(Problem::new(
            path,
            "not a table: write it as `ready = { http = \"/healthz\" }` (or tcp, log, exec, \
             healthcheck, none, all, any)",
        ));
        return out;
    };
    let mut probe_table = table.clone();
    if let Some(t) = probe_table.remove("timeout") {
        out.timeout = seconds(&t, &format!("{path}.timeout"), problems);
    }
    if let Some(i) = probe_table.remove("interval_ms") {
        out.interval = match i.as_integer() {
            Some(ms) if (1..=60_000).contains(&ms) => Some(Duration::from_millis(ms as u64)),
            _ => {
                problems.push(Problem::new(
                    &format!("{path}.interval_ms"),
                    format!("{i} is not a pause in milliseconds (1 to 60000)"),
                ));
                None
            }
        };
    }
    if let Some(p) = probe(&probe_table, path, problems) {
        out.probe = p;
    }
    out
}

/// One probe table (`{ http = "/healthz", status = 204 }`); `None` (with the problems
/// recorded) if it cannot be read.
fn probe(table: &toml::Table, path: &str, problems: &mut Vec<Problem>) -> Option<Probe> {
    let kind = probe_kind(table, path, problems)?;
    let bad = stray_keys(table, kind, path, problems);
    let timeout = table
        .get("timeout")
        .and_then(|t| seconds(t, &format!("{path}.timeout"), problems));
    let before = problems.len();
    let value = &table[kind];
    let probe = match kind {
        "http" => http_probe(value, table, path, timeout, problems),
        "tcp" => Some(Probe::Tcp {
            port: port(value, &format!("{path}.{kind}"), problems).unwrap_or(0),
            timeout,
        }),
        "log" => log_probe(value, table, path, timeout, problems),
        "exec" => exec_probe(value, path, timeout, problems),
        "healthcheck" | "none" => flag_probe(kind, value, path, timeout, problems),
        _ => combined_probe(kind, value, path, problems),
    }?;
    (!bad && problems.len() == before).then_some(probe)
}

/// The one probe kind a table names; `None` (recorded) for none or several.
fn probe_kind<'t>(
    table: &'t toml::Table,
    path: &str,
    problems: &mut Vec<Problem>,
) -> Option<&'t str> {
    let kinds: Vec<&str> = table
        .keys()
        .map(String::as_str)
        .filter(|k| PROBE_KINDS.contains(k))
        .collect();
    let kind = match kinds.as_slice() {
        [one] => Some(*one),
        [] => {
            let what = match table.keys().find(|k| k.as_str() != "timeout") {
                Some(k) => format!("unknown probe kind `{k}`"),
                None => "no probe kind".to_owned(),
            };
            problems.push(Problem::new(
                path,
                format!("{what} (expected one of {})", PROBE_KINDS.join(", ")),
            ));
            return None;
        }
        many => {
            problems.push(Problem::new(
                path,
                format!(
                    "one probe kind per table, found {} (combine probes with all = [ … ] or \
                     any = [ … ])",
                    many.join(" and ")
                ),
            ));
            return None;
        }
    };
    kind
}

/// Records every key beside `kind` that its probe does not take; whether there was one.
fn stray_keys(table: &toml::Table, kind: &str, path: &str, problems: &mut Vec<Problem>) -> bool {
    let allowed: &[&str] = match kind {
        "http" => &["status", "port", "timeout"],
        "log" => &["times", "timeout"],
        _ => &["timeout"],
    };
    let mut bad = false;
    for k in table.keys().filter(|k| k.as_str() != kind) {
        if !allowed.contains(&k.as_str()) {
            let what = if PROBE_KINDS.contains(&k.as_str()) || k == "interval_ms" {
                format!("`{k}` is not allowed here")
            } else {
                format!("unknown key `{k}` for a {kind} probe")
            };
            problems.push(Problem::new(
                &format!("{path}.{k}"),
                format!("{what} (allowed beside {kind}: {})", allowed.join(", ")),
            ));
            bad = true;
        }
    }
    bad
}

/// `{ http = PATH, status, port }`.
fn http_probe(
    value: &toml::Value,
    table: &toml::Table,
    path: &str,
    timeout: Option<Duration>,
    problems: &mut Vec<Problem>,
) -> Option<Probe> {
    let kind = "http";
    let here = |k: &str| format!("{path}.{k}");
    Some({
        let path_value = match value.as_str() {
            Some(p) if p.starts_with('/') => p.to_owned(),
            _ => {
                problems.push(Problem::new(
                    &here(kind),
                    format!("{value} is not a request path (one that starts with `/`)"),
                ));
                String::new()
            }
        };
        let status = match table.get("status") {
            None => StatusRange::default(),
            Some(s) => status(s, &here("status"), problems),
        };
        let port = table
            .get("port")
            .and_then(|p| port(p, &here("port"), problems));
        Probe::Http {
            path: path_value,
            port,
            status,
            timeout,
        }
    })
}

/// `{ log = REGEX, times }`.
fn log_probe(
    value: &toml::Value,
    table: &toml::Table,
    path: &str,
    timeout: Option<Duration>,
    problems: &mut Vec<Problem>,
) -> Option<Probe> {
    let kind = "log";
    let here = |k: &str| format!("{path}.{k}");
    Some({
        let regex = value.as_str().map(str::to_owned).unwrap_or_else(|| {
            problems.push(Problem::new(
                &here(kind),
                format!("{value} is not a regular expression (a string)"),
            ));
            String::new()
        });
        let times = match table.get("times") {
            None => 1,
            Some(t) => match t.as_integer() {
                Some(n) if (1..=10_000).contains(&n) => n as u32,
                _ => {
                    problems.push(Problem::new(
                        &here("times"),
                        format!("{t} is not a count (1 to 10000)"),
                    ));
                    1
                }
            },
        };
        Probe::Log {
            regex,
            times,
            timeout,
        }
    })
}

/// `{ exec = [COMMAND…] }`.
fn exec_probe(
    value: &toml::Value,
    path: &str,
    timeout: Option<Duration>,
    problems: &mut Vec<Problem>,
) -> Option<Probe> {
    let kind = "exec";
    let here = |k: &str| format!("{path}.{k}");
    Some({
        let command: Option<Vec<String>> = value.as_array().and_then(|a| {
            a.iter()
                .map(|s| s.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
        });
        match command {
            Some(c) if !c.is_empty() => Probe::Exec {
                command: c,
                timeout,
            },
            _ => {
                problems.push(Problem::new(
                    &here(kind),
                    format!(
                        "{value} is not a command: a non-empty list of strings \
                         (exec = [\"pg_isready\", \"-q\"])"
                    ),
                ));
                Probe::None
            }
        }
    })
}

/// `{ healthcheck = true }` or `{ none = true }`.
fn flag_probe(
    kind: &str,
    value: &toml::Value,
    path: &str,
    timeout: Option<Duration>,
    problems: &mut Vec<Problem>,
) -> Option<Probe> {
    let here = |k: &str| format!("{path}.{k}");
    Some({
        if value.as_bool() != Some(true) {
            problems.push(Problem::new(
                &here(kind),
                format!("write `{kind} = true` ({value} is not a probe)"),
            ));
        }
        if kind == "healthcheck" {
            Probe::Healthcheck { timeout }
        } else {
            Probe::None
        }
    })
}

/// `{ all = [ … ] }` or `{ any = [ … ] }`.
fn combined_probe(
    kind: &str,
    value: &toml::Value,
    path: &str,
    problems: &mut Vec<Problem>,
) -> Option<Probe> {
    let here = |k: &str| format!("{path}.{k}");
    Some({
        let Some(items) = value.as_array().filter(|a| !a.is_empty()) else {
            problems.push(Problem::new(
                &here(kind),
                format!("{value} is not a non-empty list of probes ({kind} = [ {{ tcp = 80 }} ])"),
            ));
            return None;
        };
        let mut inner = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let at = format!("{path}.{kind}[{i}]");
            match item.as_table() {
                Some(t) => inner.extend(probe(t, &at, problems)),
                None => problems.push(Problem::new(&at, format!("{item} is not a probe table"))),
            }
        }
        if kind == "all" {
            Probe::All(inner)
        } else {
            Probe::Any(inner)
        }
    })
}

/// A timeout in seconds (an integer or a fraction), more than 0 and at most a day.
fn seconds(v: &toml::Value, path: &str, problems: &mut Vec<Problem>) -> Option<Duration> {
    let secs = v.as_integer().map(|i| i as f64).or_else(|| v.as_float());
    match secs {
        Some(s) if s > 0.0 && s <= 86_400.0 => Some(Duration::from_secs_f64(s)),
        _ => {
            problems.push(Problem::new(
                path,
                format!("{v} is not a timeout in seconds (more than 0, at most 86400)"),
            ));
            None
        }
    }
}

/// A port, 1 to 65535.
fn port(v: &toml::Value, path: &str, problems: &mut Vec<Problem>) -> Option<u16> {
    match v.as_integer().and_then(|p| u16::try_from(p).ok()) {
        Some(p) if p > 0 => Some(p),
        _ => {
            problems.push(Problem::new(
                path,
                format!("{v} is not a port (1 to 65535)"),
            ));
            None
        }
    }
}

/// `status = 204` or `status = "200-299"`.
fn status(v: &toml::Value, path: &str, problems: &mut Vec<Problem>) -> StatusRange {
    let code = |n: i64| u16::try_from(n).ok().filter(|c| (100..=599).contains(c));
    let parsed = match v {
        toml::Value::Integer(n) => code(*n).map(|c| StatusRange { low: c, high: c }),
        toml::Value::String(s) => match s.split_once('-') {
            Some((lo, hi)) => match (lo.trim().parse::<i64>(), hi.trim().parse::<i64>()) {
                (Ok(lo), Ok(hi)) => code(lo)
                    .zip(code(hi))
                    .filter(|(lo, hi)| lo <= hi)
                    .map(|(low, high)| StatusRange { low, high }),
                _ => None,
            },
            None => s
                .trim()
                .parse::<i64>()
                .ok()
                .and_then(code)
                .map(|c| StatusRange { low: c, high: c }),
        },
        _ => None,
    };
    parsed.unwrap_or_else(|| {
        problems.push(Problem::new(
            path,
            format!("{v} is not a status: a code (204) or a range (\"200-299\") within 100-599"),
        ));
        StatusRange::default()
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The issue's example, as a user writes it.
    pub(crate) const EXAMPLE: &str = include_str!("../../tests/templates/three-roles.toml");

    #[derive(Deserialize)]
    struct Doc {
        tiers: BTreeMap<String, FileTier>,
    }

    pub(crate) fn read(text: &str) -> Result<Templates, Problems> {
        let doc: Doc = toml::from_str(text).expect("toml");
        templates(&doc.tiers, &BTreeMap::new())
    }

    /// The problems of `text`, as lines.
    pub(crate) fn refusals(text: &str) -> Vec<String> {
        match read(text) {
            Ok(_) => Vec::new(),
            Err(p) => p.0.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn the_issue_example_reads_into_the_model() {
        let t = read(EXAMPLE).expect("valid");
        let solo = &t.by_tier[&Tier::Solo];
        let names: Vec<&str> = solo.roles.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["lore", "migrate", "cairnet"], "the file's order");
        assert_eq!(solo.front_door, "cairnet");
        let cairnet = solo.role("cairnet").expect("cairnet");
        assert_eq!(cairnet.port, Some(8080));
        assert_eq!(cairnet.depends_on["migrate"], Condition::Completed);
        assert_eq!(cairnet.env["MODE"], "e2e");
        assert_eq!(cairnet.limits.and_then(|l| l.memory_mb), Some(512));
        assert_eq!(cairnet.ready.timeout, Some(Duration::from_secs(60)));
        assert_eq!(cairnet.ready.interval, Some(Duration::from_millis(100)));
        assert_eq!(
            cairnet.ready.probe,
            Probe::All(vec![
                Probe::Tcp {
                    port: 8080,
                    timeout: None
                },
                Probe::Http {
                    path: "/healthz".into(),
                    port: None,
                    status: StatusRange {
                        low: 200,
                        high: 299
                    },
                    timeout: None
                }
            ])
        );
        let migrate = solo.role("migrate").expect("migrate");
        assert!(migrate.once);
        assert_eq!(migrate.ready.probe, Probe::None, "a one-shot's default");
        assert_eq!(
            migrate.command.as_deref(),
            Some(&["cairnet".to_owned(), "migrate".to_owned()][..])
        );
        assert_eq!(
            solo.role("lore").and_then(|r| r.volume.as_deref()),
            Some("/var/lib/lore")
        );
    }

    #[test]
    fn every_probe_kind_reads() {
        let text = r#"
[tiers.team.roles.a]
image = "a:1"
port = 80
ready = { any = [
  { http = "/", status = 204, port = 81, timeout = 2 },
  { log = "listening on \\d+", times = 2 },
  { exec = ["true"] },
  { healthcheck = true },
  { none = true },
  { all = [ { tcp = 80, timeout = 0.5 } ] },
] }
"#;
        let t = read(text).expect("valid");
        let Probe::Any(probes) = &t.by_tier[&Tier::Team].roles[0].ready.probe else {
            panic!("any");
        };
        assert_eq!(probes.len(), 6);
        assert_eq!(
            probes[0],
            Probe::Http {
                path: "/".into(),
                port: Some(81),
                status: StatusRange {
                    low: 204,
                    high: 204
                },
                timeout: Some(Duration::from_secs(2))
            }
        );
        assert_eq!(
            probes[1],
            Probe::Log {
                regex: "listening on \\d+".into(),
                times: 2,
                timeout: None
            }
        );
        assert!(matches!(&probes[2], Probe::Exec { command, .. } if command == &["true"]));
        assert_eq!(probes[3], Probe::Healthcheck { timeout: None });
        assert_eq!(probes[4], Probe::None);
        assert_eq!(
            probes[5],
            Probe::All(vec![Probe::Tcp {
                port: 80,
                timeout: Some(Duration::from_millis(500))
            }])
        );
        // No `ready`: tcp on the role's port.
        let t = read("[tiers.solo.roles.x]\nimage = \"x\"\nport = 5432\n").expect("valid");
        assert_eq!(
            t.by_tier[&Tier::Solo].roles[0].ready.probe,
            Probe::Tcp {
                port: 5432,
                timeout: None
            }
        );
    }

    #[test]
    fn bad_probes_are_named_by_their_key_path() {
        let role = |ready: &str| {
            format!("[tiers.solo.roles.web]\nimage = \"w\"\nport = 80\nready = {ready}\n")
        };
        for (ready, wants) in [
            (
                "{ grpc = 80 }",
                "tiers.solo.roles.web.ready: unknown probe kind `grpc`",
            ),
            (
                "{ tcp = 80, http = \"/\" }",
                "one probe kind per table, found",
            ),
            (
                "{ http = \"healthz\" }",
                "tiers.solo.roles.web.ready.http: \"healthz\" is not a request path",
            ),
            (
                "{ http = \"/\", status = \"299-200\" }",
                "tiers.solo.roles.web.ready.status:",
            ),
            (
                "{ http = \"/\", status = 700 }",
                "ready.status: 700 is not a status",
            ),
            ("{ tcp = 0 }", "ready.tcp: 0 is not a port"),
            (
                "{ tcp = 80, times = 2 }",
                "ready.times: unknown key `times` for a tcp probe",
            ),
            (
                "{ all = [ { tcp = 80 }, { htp = \"/\" } ] }",
                "ready.all[1]: unknown probe kind `htp`",
            ),
            ("{ all = [] }", "ready.all: [] is not a non-empty list"),
            ("{ exec = [] }", "ready.exec: [] is not a command"),
            (
                "{ healthcheck = false }",
                "ready.healthcheck: write `healthcheck = true`",
            ),
            (
                "{ tcp = 80, timeout = -1 }",
                "ready.timeout: -1 is not a timeout",
            ),
            (
                "{ tcp = 80, interval_ms = 0 }",
                "ready.interval_ms: 0 is not a pause",
            ),
            (
                "{ all = [ { tcp = 80, interval_ms = 5 } ] }",
                "ready.all[0].interval_ms: `interval_ms` is not allowed here",
            ),
            ("\"tcp\"", "tiers.solo.roles.web.ready: not a table"),
            ("{ timeout = 5 }", "ready: no probe kind"),
        ] {
            let got = refusals(&role(ready));
            assert!(
                got.iter().any(|p| p.contains(wants)),
                "ready = {ready}: wanted {wants:?} in {got:?}"
            );
        }
    }

    #[test]
    fn bad_tiers_and_conditions_are_named() {
        let got = refusals("[tiers.gold.roles.a]\nimage = \"a\"\n");
        assert_eq!(
            got,
            ["tiers.gold: unknown tier \"gold\" (expected solo, team, studio or bespoke)"]
        );
        let got = refusals(
            "[tiers.solo.roles.a]\nimage = \"a\"\nport = 1\n[tiers.solo.roles.b]\nimage = \"b\"\nport = 2\ndepends_on = { a = \"healthy\" }\n",
        );
        assert_eq!(
            got,
            ["tiers.solo.roles.b.depends_on.a: \"healthy\" is not a condition (expected started, ready or completed)"]
        );
        let got = refusals("[tiers.solo.roles.a]\nport = 1\n");
        assert_eq!(
            got,
            ["tiers.solo.roles.a.image: missing: every role names the image it runs"]
        );
    }

    #[test]
    fn unknown_role_keys_are_an_error_naming_the_key() {
        let err = toml::from_str::<Doc>("[tiers.solo.roles.a]\nimgae = \"a\"\n")
            .err()
            .expect("typo refused");
        assert!(err.to_string().contains("imgae"), "{err}");
    }

    #[test]
    fn the_default_images_stand_for_cairnet_and_lore() {
        let doc: Doc = toml::from_str("[tiers.solo.roles.lore]\nport = 80\n").expect("toml");
        let images = [("lore".to_owned(), "hearth-standin:local".to_owned())].into();
        let t = templates(&doc.tiers, &images).expect("valid");
        assert_eq!(
            t.by_tier[&Tier::Solo].roles[0].image,
            "hearth-standin:local"
        );
        assert_eq!(t.by_tier[&Tier::Solo].front_door, "lore");
    }
}
