//! Workspace templates: which roles a tier's workspace runs, what each listens on, how hearth
//! knows it is ready and in which order the roles start. A template is data (the config
//! file's `[tiers.<tier>]`); with no `[tiers]` section every tier runs the default template,
//! today's two roles (`cairnet`, `lore`) on one port with an HTTP probe on `/`.
//!
//! This module holds the validated model every driver reads. Parsing and checking the file
//! (`file`, `check`), rendering `{{ROLE.host}}` references (`refs`) and running roles in
//! dependency order (`order`) live beside it; probing a running role is the drivers' work
//! (`driver::probe`).

use std::collections::BTreeMap;
use std::time::Duration;

pub mod order;
pub mod refs;

use hearth_protocol::hearth::Tier;

/// The roles of the default template, in the order they are listed.
pub const DEFAULT_ROLES: [&str; 2] = ["cairnet", "lore"];

/// The default template's front door.
pub const DEFAULT_FRONT_DOOR: &str = "cairnet";

/// Every tier's template. A tier with no entry runs [`Template::default_for`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Templates {
    pub by_tier: BTreeMap<Tier, Template>,
}

/// One tier's workspace shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// The role whose endpoint is the workspace's endpoint (a service role, never a one-shot).
    pub front_door: String,
    /// The roles in the order the file lists them (start order comes from `depends_on`).
    pub roles: Vec<Role>,
}

/// One role of a template.
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    /// Its name: a DNS label (`[a-z0-9-]`, at most 30 characters), unique in the template.
    pub name: String,
    /// The image reference, as written (`hearth.lock` may pin it to a digest).
    pub image: String,
    /// The port it listens on inside its container; `None` for a role with no listener (a
    /// one-shot, a worker). Published on 127.0.0.1 at an engine-chosen host port.
    pub port: Option<u16>,
    /// The command, replacing the image's (references rendered at create time).
    pub command: Option<Vec<String>>,
    /// A one-shot: done when it exits 0; never restarted, never "failed because it stopped".
    pub once: bool,
    /// The roles it waits for, and for what.
    pub depends_on: BTreeMap<String, Condition>,
    /// Extra environment (values may hold references), beside the `ROCKY_*` caps.
    pub env: BTreeMap<String, String>,
    /// Per-role limits; `None` means the tier's caps.
    pub limits: Option<Limits>,
    /// How hearth knows it is ready.
    pub ready: Ready,
    /// Where the role's own volume is mounted (kept across upgrade and hibernate); `None`
    /// means no volume.
    pub volume: Option<String>,
    /// Swarm placement constraints (`node.labels.zone==b`); empty means the swarm's own
    /// scheduling. Other backends ignore it (the Kubernetes manifests map it where they can).
    pub placement: Vec<String>,
}

/// What a dependent role waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Condition {
    /// Its container has started.
    Started,
    /// Its readiness probe passed.
    Ready,
    /// It is a one-shot and exited 0.
    Completed,
}

impl Condition {
    /// The file's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Started => "started",
            Condition::Ready => "ready",
            Condition::Completed => "completed",
        }
    }
}

/// Per-role resource limits (`limits = { memory_mb = 512, cpus = 1.0, pids = 512 }`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub memory_mb: Option<u64>,
    pub cpus: Option<f64>,
    pub pids: Option<i64>,
}

/// A role's readiness: a probe, the bound on the whole wait, and the pause between attempts.
#[derive(Debug, Clone, PartialEq)]
pub struct Ready {
    pub probe: Probe,
    /// The outer bound (`ready.timeout`, seconds); `None` means the daemon's readiness timeout.
    pub timeout: Option<Duration>,
    /// The pause between attempts (`ready.interval_ms`); `None` means hearth's own backoff
    /// (a few ms, growing to 50 ms).
    pub interval: Option<Duration>,
}

/// One readiness check.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    /// An HTTP GET of `path` on `port` (default: the role's) answering a status in `status`.
    Http {
        path: String,
        port: Option<u16>,
        status: StatusRange,
        timeout: Option<Duration>,
    },
    /// Something listens on `port` inside the container (not merely the published port,
    /// which docker-proxy accepts before anything listens).
    Tcp {
        port: u16,
        timeout: Option<Duration>,
    },
    /// The role's log (stdout and stderr) matched `regex` at least `times` times.
    Log {
        regex: String,
        times: u32,
        timeout: Option<Duration>,
    },
    /// `command` run in the container exits 0.
    Exec {
        command: Vec<String>,
        timeout: Option<Duration>,
    },
    /// The image's own HEALTHCHECK reports `healthy`.
    Healthcheck { timeout: Option<Duration> },
    /// Ready as soon as it has started.
    None,
    /// Every probe passes (checked in order; each stays passed).
    All(Vec<Probe>),
    /// Any probe passes.
    Any(Vec<Probe>),
}

/// An inclusive range of HTTP status codes (`"200-299"`, `204`); default 200–399.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRange {
    pub low: u16,
    pub high: u16,
}

impl Default for StatusRange {
    fn default() -> Self {
        StatusRange {
            low: 200,
            high: 399,
        }
    }
}

impl StatusRange {
    /// Whether `code` is in the range.
    pub fn contains(self, code: u16) -> bool {
        (self.low..=self.high).contains(&code)
    }
}

impl Template {
    /// Today's workspace: `cairnet` and `lore` with `images` (role → image; a role missing
    /// from it runs `nginx:alpine`), both on `port`, ready on an HTTP 2xx/3xx to `GET /`, each
    /// with a volume at `/data`, `cairnet` the front door.
    pub fn default_for(images: &BTreeMap<String, String>, port: u16) -> Template {
        let roles = DEFAULT_ROLES
            .iter()
            .map(|name| Role {
                name: (*name).to_owned(),
                image: images
                    .get(*name)
                    .cloned()
                    .unwrap_or_else(|| "nginx:alpine".to_owned()),
                port: Some(port),
                command: None,
                once: false,
                depends_on: BTreeMap::new(),
                env: BTreeMap::new(),
                limits: None,
                ready: Ready {
                    probe: Probe::Http {
                        path: "/".to_owned(),
                        port: None,
                        status: StatusRange::default(),
                        timeout: None,
                    },
                    timeout: None,
                    interval: None,
                },
                volume: Some("/data".to_owned()),
                placement: Vec::new(),
            })
            .collect();
        Template {
            front_door: DEFAULT_FRONT_DOOR.to_owned(),
            roles,
        }
    }

    /// The role named `name`.
    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.name == name)
    }

    /// The roles that run as services (not one-shots), in the file's order.
    pub fn services(&self) -> impl Iterator<Item = &Role> {
        self.roles.iter().filter(|r| !r.once)
    }
}

impl Templates {
    /// The template of `tier`, or the default one built from `images` and `port`.
    pub fn for_tier(&self, tier: Tier, images: &BTreeMap<String, String>, port: u16) -> Template {
        self.by_tier
            .get(&tier)
            .cloned()
            .unwrap_or_else(|| Template::default_for(images, port))
    }
}
