//! The configuration every Engine-API backend (Docker, Podman, Swarm) builds a workspace
//! from: where the engine is, the images and how they are supplied, the limits, the subnet
//! pool and the templates.

use std::collections::BTreeMap;
use std::time::Duration;

use super::images::PullPolicy;
use super::subnets::SubnetPool;
use crate::driver::SOLO_ROLES;
use crate::lockfile::LiveLock;
use crate::template::{Template, Templates};

/// How an Engine-API backend (Docker, Podman, Swarm) builds a workspace.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The engine's address (`unix:///run/podman/podman.sock`), as the caller sets it;
    /// `None` means the engine the docker CLI would choose.
    pub host: Option<String>,
    /// The endpoint `hearth serve` chose at start (before `host`).
    pub endpoint: Option<crate::driver::engine::Endpoint>,
    /// The image per role (`cairnet`, `lore`).
    pub images: BTreeMap<String, String>,
    pub pull: PullPolicy,
    /// Bound on one pull: a registry that accepts the connection and stalls is
    /// `image_unavailable` after this, well inside the provision deadline.
    pub pull_timeout: Duration,
    /// Images pinned by `hearth lock`; when set, roles run the locked image ID. Followed on
    /// disk: a new lock applies from the next provision (and pool check) on.
    pub lock: Option<LiveLock>,
    /// The port each service listens on inside its container.
    pub service_port: u16,
    pub memory_bytes: i64,
    pub nano_cpus: i64,
    pub pids_limit: i64,
    /// How long one role may take to answer HTTP after it started.
    pub readiness_timeout: Duration,
    /// Seconds the engine waits after SIGTERM before it kills a service.
    pub stop_timeout_secs: i32,
    /// Labels the operator adds to every object (e.g. `dev.hearth.test=1`).
    pub extra_labels: Vec<(String, String)>,
    /// Where workspace networks go once the engine's default address pools are used up.
    pub subnet_pool: SubnetPool,
    /// The config file's `[tiers]`; a tier with none runs the default template (`images`
    /// on `service_port`).
    pub templates: Templates,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            host: None,
            endpoint: None,
            images: SOLO_ROLES
                .iter()
                .map(|r| ((*r).to_owned(), "nginx:alpine".to_owned()))
                .collect(),
            pull: PullPolicy::IfMissing,
            pull_timeout: Duration::from_secs(60),
            lock: None,
            service_port: 80,
            memory_bytes: 256 * 1024 * 1024,
            nano_cpus: 500_000_000,
            pids_limit: 256,
            readiness_timeout: Duration::from_secs(30),
            stop_timeout_secs: 10,
            extra_labels: Vec::new(),
            subnet_pool: SubnetPool::default(),
            templates: Templates::default(),
        }
    }
}

impl EngineConfig {
    /// The workspace shape of `tier`: its `[tiers.<tier>]` template, or the default one.
    pub fn template(&self, tier: hearth_protocol::hearth::Tier) -> Template {
        self.templates
            .for_tier(tier, &self.images, self.service_port)
    }
}
