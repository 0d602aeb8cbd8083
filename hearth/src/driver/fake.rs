//! The Fake driver: workspaces in memory, each service role of the tier's template a real HTTP
//! listener on a loopback port (so a worker's request to the endpoint works as it would
//! against containers; `GET /env` answers the role's rendered environment, as the stand-in
//! image does). Roles start in the template's order, one-shots are marked done at once. It
//! can be told to fail, hang or be slow on any verb, and it passes the same conformance suite
//! as LocalDocker.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::http::StatusCode;
use chrono::Utc;
use hearth_protocol::hearth::{
    DeploymentRef, DriverName, ProvisioningProfile, ServiceRef, Status, StatusResponse, Tier,
};
use hearth_protocol::verb::Verb;

use super::{local_roles, status_from_states, ContainerState, Step};
use super::{Driver, ObjectKind, Owned};
use crate::error::HearthError;
use crate::journal::Steps;
use crate::slug::Slug;
use crate::template::{refs, Role, Template, Templates};

/// Where an injected fault strikes: a verb (a wake counts as `resume`), or `refill`, the
/// provision of a warm-pool member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultOn {
    Verb(Verb),
    Refill,
}

impl std::str::FromStr for FaultOn {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "refill" => Ok(FaultOn::Refill),
            verb => verb
                .parse()
                .map(FaultOn::Verb)
                .map_err(|_| format!("unknown fake fault target {verb:?} (a verb, or refill)")),
        }
    }
}

/// Failure injection, chosen when the driver is built (`--fake-fault` on the CLI).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FakeFaults {
    /// Verbs that fail with `driver_failure`.
    pub fail: Vec<FaultOn>,
    /// Verbs that never finish (until their deadline or cancellation).
    pub hang: Vec<FaultOn>,
    /// Added before every step of every verb.
    pub delay: Duration,
}

impl FakeFaults {
    /// Parses `fail:VERB`, `hang:VERB` (`VERB` also `refill`) or `delay:MS`.
    ///
    /// # Errors
    /// A message naming the accepted forms.
    pub fn add(&mut self, spec: &str) -> Result<(), String> {
        match spec.split_once(':') {
            Some(("fail", on)) => self.fail.push(on.parse()?),
            Some(("hang", on)) => self.hang.push(on.parse()?),
            Some(("delay", ms)) => {
                let ms: u64 = ms.parse().map_err(|_| format!("bad delay {ms:?}"))?;
                self.delay = Duration::from_millis(ms);
            }
            _ => {
                return Err(format!(
                    "unknown fake fault {spec:?} (expected fail:VERB, hang:VERB or delay:MS)"
                ))
            }
        }
        Ok(())
    }
}

#[derive(Debug)]
struct Service {
    role: String,
    /// The loopback port of its listener; `None` for a one-shot, which listens on nothing.
    port: Option<u16>,
    /// The image it runs (the override, the template's, or `fake` for the default template).
    image: String,
    state: ContainerState,
    /// Answers 503 while set, like a frozen container that cannot serve.
    paused: Arc<AtomicBool>,
    /// The listener task; aborted when the service stops.
    server: Option<tokio::task::JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Workspace {
    network: bool,
    volumes: Vec<String>,
    services: Vec<Service>,
    /// The roles' start waves (teardown and hibernate walk them backwards).
    waves: Vec<Vec<String>>,
}

/// The in-memory driver.
#[derive(Debug)]
pub struct FakeDriver {
    faults: FakeFaults,
    /// Every workspace with at least one object, keyed by slug.
    workspaces: Arc<Mutex<HashMap<String, Workspace>>>,
    /// The digest every role's image has now; a test changes it to stand for an image
    /// rebuilt under the same tag (or a new lock).
    digest: Mutex<String>,
    /// The configured templates (`[tiers]`); a tier without one runs the default two roles.
    templates: Templates,
}

/// The Fake's image digest until a test says otherwise.
const FAKE_DIGEST: &str = "sha256:fake";

impl Default for FakeDriver {
    fn default() -> Self {
        FakeDriver::new(FakeFaults::default())
    }
}

impl FakeDriver {
    /// A fake that behaves according to `faults`.
    pub fn new(faults: FakeFaults) -> Self {
        FakeDriver {
            faults,
            workspaces: Arc::default(),
            digest: Mutex::new(FAKE_DIGEST.to_owned()),
            templates: Templates::default(),
        }
    }

    /// The same fake, running `templates` for the tiers they name.
    #[must_use]
    pub fn with_templates(mut self, templates: Templates) -> Self {
        self.templates = templates;
        self
    }

    /// The template `tier` runs, and whether it is the file's (else the default one).
    fn template(&self, tier: Tier) -> (Template, bool) {
        let own = self.templates.by_tier.contains_key(&tier);
        (self.templates.for_tier(tier, &BTreeMap::new(), 80), own)
    }

    /// Stands for an image rebuilt under the same tag: services created from now on run
    /// `digest`, and [`Driver::image_digests`] answers it.
    pub fn set_image_digest(&self, digest: &str) {
        *self.digest.lock().unwrap_or_else(|p| p.into_inner()) = digest.to_owned();
    }

    fn image_digest(&self) -> String {
        self.digest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    async fn gate(&self, verb: Verb) -> Result<(), HearthError> {
        self.pace().await;
        self.fault(FaultOn::Verb(verb)).await
    }

    /// The configured latency of one step.
    async fn pace(&self) {
        if !self.faults.delay.is_zero() {
            tokio::time::sleep(self.faults.delay).await;
        }
    }

    /// The injected failure or hang for `on`, if any.
    async fn fault(&self, on: FaultOn) -> Result<(), HearthError> {
        if self.faults.hang.contains(&on) {
            std::future::pending::<()>().await;
        }
        if self.faults.fail.contains(&on) {
            let what = match on {
                FaultOn::Verb(verb) => verb.as_str(),
                FaultOn::Refill => "refill",
            };
            return Err(HearthError::driver(
                format!("{what} (fake)"),
                "failure injected by --fake-fault",
            ));
        }
        Ok(())
    }

    fn with<R>(&self, slug: &str, f: impl FnOnce(&mut Workspace) -> R) -> R {
        let mut map = self.workspaces.lock().unwrap_or_else(|p| p.into_inner());
        f(map.entry(slug.to_owned()).or_default())
    }

    /// Removes `slug`'s workspace, its listeners stopped; what it held, if anything.
    fn remove(&self, slug: &str) -> Option<Workspace> {
        let mut map = self.workspaces.lock().unwrap_or_else(|p| p.into_inner());
        let mut ws = map.remove(slug)?;
        for s in &mut ws.services {
            if let Some(h) = s.server.take() {
                h.abort();
            }
        }
        Some(ws)
    }

    /// Starts `role` of `slug` as `tier` runs it: a listener for a service, a run that is
    /// done at once for a one-shot. Records the steps a container engine's driver records.
    async fn start_role(
        &self,
        slug: &Slug,
        profile: &ProvisioningProfile,
        t: &Template,
        own: bool,
        role: &Role,
        steps: &Steps,
    ) -> Result<(), HearthError> {
        let image = if own
            || profile
                .driver_flags
                .contains_key(&crate::template::image_flag(&role.name))
        {
            role.image_for(profile)
        } else {
            "fake".to_owned()
        };
        let paused = Arc::new(AtomicBool::new(false));
        let (port, server, state) = if role.once {
            (None, None, ContainerState::EXITED)
        } else {
            let env = rendered_env(slug, profile.tier, t, role)?;
            let (port, server) = serve(&role.name, paused.clone(), env).await?;
            (Some(port), Some(server), ContainerState::RUNNING)
        };
        self.with(slug.as_str(), |ws| {
            if let Some(old) = ws.services.iter_mut().find(|s| s.role == role.name) {
                if let Some(h) = old.server.take() {
                    h.abort();
                }
            }
            ws.services.retain(|s| s.role != role.name);
            ws.services.push(Service {
                role: role.name.clone(),
                port,
                image,
                state,
                paused,
                server,
            });
            // Kept in the template's order, whatever the start order.
            ws.services
                .sort_by_key(|s| t.roles.iter().position(|r| r.name == s.role));
        });
        steps.step(Step::ContainerStarted, Some(&role.name), None);
        let done = if role.once {
            Step::RoleCompleted
        } else {
            Step::RoleReady
        };
        steps.step(done, Some(&role.name), None);
        Ok(())
    }

    /// Starts every role of `t` in start order; one-shots again only if `once_too` (a wake
    /// runs the order again, one-shots included, as the engine drivers do).
    async fn start_all(
        &self,
        slug: &Slug,
        profile: &ProvisioningProfile,
        steps: &Steps,
        once_too: bool,
    ) -> Result<(), HearthError> {
        let (t, own) = self.template(profile.tier);
        for role in start_order(&t)? {
            if role.once && !once_too {
                continue;
            }
            self.start_role(slug, profile, &t, own, role, steps).await?;
        }
        Ok(())
    }

    fn reference(&self, slug: &Slug, profile: &ProvisioningProfile) -> DeploymentRef {
        let digest = self.image_digest();
        let (t, _) = self.template(profile.tier);
        // The ref lists the roles that serve: a one-shot is done, not a service (as the
        // engine drivers answer).
        let services: Vec<ServiceRef> = self.with(slug.as_str(), |ws| {
            ws.services
                .iter()
                .filter(|s| s.port.is_some() || t.role(&s.role).is_none_or(|r| !r.once))
                .map(|s| ServiceRef {
                    role: s.role.clone(),
                    image: s.image.clone(),
                    image_digest: digest.clone(),
                    container_id: format!("fake-{slug}-{}", s.role),
                    endpoint: s
                        .port
                        .map(|p| format!("http://127.0.0.1:{p}"))
                        .unwrap_or_default(),
                })
                .collect()
        });
        let endpoint = services
            .iter()
            .find(|s| s.role == t.front_door)
            .map(|s| s.endpoint.clone())
            .unwrap_or_default();
        DeploymentRef {
            workspace_slug: slug.to_string(),
            tier: profile.tier,
            driver: DriverName::Fake,
            endpoint,
            secrets_vault_path: format!("vault://hearth/{slug}"),
            created: Utc::now(),
            last_status: Status::Ready,
            resource_caps: Some(profile.caps()),
            services,
            pool: None,
        }
    }

    /// Moves every service role of `slug` to `state`, one role after the other with the
    /// configured latency between them, as the engine does: in between, the roles disagree.
    /// Pausing and stopping go in reverse start order, resuming in start order; one-shots,
    /// done, stay as they are.
    async fn set_state(&self, slug: &str, state: ContainerState) {
        let waves = self.with(slug, |ws| ws.waves.clone());
        let order: Vec<String> = if state == ContainerState::RUNNING {
            waves.into_iter().flatten().collect()
        } else {
            reverse(waves)
        };
        for role in order {
            self.pace().await;
            self.with(slug, |ws| {
                for s in ws
                    .services
                    .iter_mut()
                    .filter(|s| s.role == role && s.port.is_some())
                {
                    s.state = state;
                    s.paused
                        .store(state == ContainerState::PAUSED, Ordering::SeqCst);
                    if state == ContainerState::EXITED {
                        if let Some(h) = s.server.take() {
                            h.abort();
                        }
                    }
                }
            });
        }
    }
}

/// Start waves walked backwards: the last wave first, each wave in the template's order.
fn reverse(waves: Vec<Vec<String>>) -> Vec<String> {
    waves.into_iter().rev().flatten().collect()
}

/// The start waves of `t` (a checked template has no cycle; one is refused, never looped on).
fn waves(t: &Template) -> Result<Vec<Vec<&Role>>, HearthError> {
    crate::template::order::waves(t).map_err(|cycle| HearthError::InvalidRequest {
        message: format!(
            "the template's roles wait in a cycle: {}",
            cycle.join(" → ")
        ),
    })
}

/// The waves by role name, as a workspace keeps them.
fn wave_names(waves: &[Vec<&Role>]) -> Vec<Vec<String>> {
    waves
        .iter()
        .map(|w| w.iter().map(|r| r.name.clone()).collect())
        .collect()
}

/// The roles of `t` in start order.
fn start_order(t: &Template) -> Result<Vec<&Role>, HearthError> {
    Ok(waves(t)?.into_iter().flatten().collect())
}

/// `role`'s `env`, references rendered as the Fake's roles reach each other (each by its
/// name, on the port it listens on in the template).
fn rendered_env(
    slug: &Slug,
    tier: Tier,
    t: &Template,
    role: &Role,
) -> Result<BTreeMap<String, String>, HearthError> {
    let ctx = refs::Context {
        slug: slug.to_string(),
        tier: tier.to_string(),
        roles: t
            .roles
            .iter()
            .map(|r| (r.name.clone(), (r.name.clone(), r.port)))
            .collect(),
    };
    let mut env = BTreeMap::from([("HEARTH_ROLE".to_owned(), role.name.clone())]);
    for (k, v) in &role.env {
        let value = refs::render(v, &ctx).map_err(|e| HearthError::InvalidRequest {
            message: format!("role {} env {k}: {e}", role.name),
        })?;
        env.insert(k.clone(), value);
    }
    Ok(env)
}

/// Removes a half-built workspace if the provision future is dropped before it finishes.
struct Rollback<'a> {
    driver: &'a FakeDriver,
    slug: String,
    armed: bool,
}

impl Drop for Rollback<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.driver.remove(&self.slug);
        }
    }
}

#[async_trait]
impl Driver for FakeDriver {
    fn name(&self) -> DriverName {
        DriverName::Fake
    }

    async fn provision(
        &self,
        slug: &Slug,
        profile: &ProvisioningProfile,
        steps: &Steps,
    ) -> Result<DeploymentRef, HearthError> {
        let mut guard = Rollback {
            driver: self,
            slug: slug.to_string(),
            armed: true,
        };
        let (t, own) = self.template(profile.tier);
        let waves = waves(&t)?;
        t.check_image_flags(profile)
            .map_err(|message| HearthError::InvalidRequest { message })?;
        self.pace().await;
        self.with(slug.as_str(), |ws| {
            ws.network = true;
            ws.waves = wave_names(&waves);
        });
        steps.step(Step::NetworkCreated, None, None);
        let order: Vec<&Role> = waves.into_iter().flatten().collect();
        for (i, role) in order.iter().enumerate() {
            self.pace().await;
            // An injected provision fault strikes half-way, once the network and the first
            // role exist, so that what is tested is the rollback of real leftovers.
            if i + 1 == order.len() {
                self.fault(FaultOn::Verb(Verb::Provision)).await?;
                // `fail:refill` strikes only warm-pool members, so cold provisions still work.
                if super::pool_flag(profile).is_some() {
                    self.fault(FaultOn::Refill).await?;
                }
            }
            if role.volume.is_some() {
                self.with(slug.as_str(), |ws| ws.volumes.push(role.name.clone()));
            }
            self.start_role(slug, profile, &t, own, role, steps).await?;
        }
        guard.armed = false;
        Ok(self.reference(slug, profile))
    }

    async fn status(&self, r: &DeploymentRef) -> Result<Status, HearthError> {
        Ok(self.observe(r).await?.status)
    }

    async fn observe(&self, r: &DeploymentRef) -> Result<StatusResponse, HearthError> {
        let map = self.workspaces.lock().unwrap_or_else(|p| p.into_inner());
        let Some(ws) = map.get(&r.workspace_slug) else {
            return Ok(StatusResponse {
                status: Status::TierTornDown,
                roles: Vec::new(),
            });
        };
        // A one-shot, done, has exited: the workspace's status is its services'.
        let found: Vec<(&str, ContainerState)> = ws
            .services
            .iter()
            .filter(|s| s.port.is_some())
            .map(|s| (s.role.as_str(), s.state))
            .collect();
        Ok(StatusResponse {
            status: status_from_states(found.iter().map(|(_, s)| *s)),
            roles: local_roles(found.iter().map(|(r, _)| *r), &found),
        })
    }

    async fn upgrade(
        &self,
        r: &DeploymentRef,
        profile: &ProvisioningProfile,
        steps: &Steps,
    ) -> Result<DeploymentRef, HearthError> {
        self.gate(Verb::Upgrade).await?;
        let slug = Slug::parse(&r.workspace_slug)?;
        let (t, _) = self.template(profile.tier);
        t.check_image_flags(profile)
            .map_err(|message| HearthError::InvalidRequest { message })?;
        let waves = waves(&t)?;
        // An upgrade runs the one-shots again (a migration for the new images).
        self.start_all(&slug, profile, steps, true).await?;
        // Another tier may run other roles: the ones it has no more go (their volumes stay,
        // as data does across an upgrade, until teardown).
        self.with(slug.as_str(), |ws| {
            ws.waves = wave_names(&waves);
            for s in ws.services.iter_mut().filter(|s| t.role(&s.role).is_none()) {
                if let Some(h) = s.server.take() {
                    h.abort();
                }
            }
            ws.services.retain(|s| t.role(&s.role).is_some());
        });
        let mut out = self.reference(&slug, profile);
        out.created = r.created;
        Ok(out)
    }

    async fn teardown(&self, slug: &Slug, steps: &Steps) -> Result<(), HearthError> {
        self.gate(Verb::Teardown).await?;
        if let Some(ws) = self.remove(slug.as_str()) {
            // The steps LocalDocker records, in its order: containers (in reverse start
            // order), network, volumes.
            let mut removed = reverse(ws.waves.clone());
            removed.extend(
                ws.services
                    .iter()
                    .map(|s| s.role.clone())
                    .filter(|r| !ws.waves.iter().flatten().any(|w| w == r)),
            );
            for role in removed
                .iter()
                .filter(|r| ws.services.iter().any(|s| &s.role == *r))
            {
                steps.step(Step::ContainerRemoved, Some(role), None);
            }
            if ws.network {
                steps.step(Step::NetworkRemoved, None, Some(format!("fake_{slug}")));
            }
            for v in &ws.volumes {
                let name = format!("fake_{slug}_{v}-data");
                steps.step(Step::VolumeRemoved, None, Some(name));
            }
        }
        Ok(())
    }

    async fn pause(&self, r: &DeploymentRef, steps: &Steps) -> Result<DeploymentRef, HearthError> {
        self.gate(Verb::Pause).await?;
        self.set_state(&r.workspace_slug, ContainerState::PAUSED)
            .await;
        steps.step(Step::Paused, None, None);
        Ok(r.clone())
    }

    async fn resume(&self, r: &DeploymentRef, steps: &Steps) -> Result<DeploymentRef, HearthError> {
        self.gate(Verb::Resume).await?;
        self.set_state(&r.workspace_slug, ContainerState::RUNNING)
            .await;
        steps.step(Step::Resumed, None, None);
        Ok(r.clone())
    }

    async fn hibernate(
        &self,
        r: &DeploymentRef,
        steps: &Steps,
    ) -> Result<DeploymentRef, HearthError> {
        self.gate(Verb::Hibernate).await?;
        self.set_state(&r.workspace_slug, ContainerState::EXITED)
            .await;
        steps.step(Step::Stopped, None, None);
        Ok(r.clone())
    }

    async fn wake(&self, r: &DeploymentRef, steps: &Steps) -> Result<DeploymentRef, HearthError> {
        self.gate(Verb::Resume).await?;
        let slug = Slug::parse(&r.workspace_slug)?;
        let mut profile = ProvisioningProfile {
            resource_caps: r.resource_caps.clone(),
            ..ProvisioningProfile::for_tier(r.tier)
        };
        // The images it ran before it slept, overrides included.
        for s in r.services.iter().filter(|s| s.image != "fake") {
            profile.driver_flags.insert(
                crate::template::image_flag(&s.role),
                serde_json::Value::String(s.image.clone()),
            );
        }
        // The services again, in start order; a one-shot that completed stays done.
        self.start_all(&slug, &profile, steps, true).await?;
        let mut out = self.reference(&slug, &profile);
        out.created = r.created;
        Ok(out)
    }

    async fn owned(&self) -> Result<Vec<Owned>, HearthError> {
        let map = self.workspaces.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        for (slug, ws) in map.iter() {
            let obj = |kind, name: String, state: Option<ContainerState>| Owned {
                slug: slug.clone(),
                kind,
                name,
                state: state.map(|s| s.to_string()),
            };
            if ws.network {
                out.push(obj(ObjectKind::Network, format!("fake_{slug}"), None));
            }
            for v in &ws.volumes {
                out.push(obj(
                    ObjectKind::Volume,
                    format!("fake_{slug}_{v}-data"),
                    None,
                ));
            }
            for s in &ws.services {
                out.push(obj(
                    ObjectKind::Container,
                    format!("fake_{slug}_{}", s.role),
                    Some(s.state),
                ));
            }
        }
        Ok(out)
    }

    async fn image_digests(
        &self,
        profile: &ProvisioningProfile,
    ) -> Result<std::collections::BTreeMap<String, String>, HearthError> {
        let digest = self.image_digest();
        let (t, _) = self.template(profile.tier);
        Ok(t.roles
            .iter()
            .map(|r| (r.name.clone(), digest.clone()))
            .collect())
    }
}

/// A loopback HTTP listener standing in for one service: `GET /env[?prefix=P]` answers its
/// environment as one JSON object (as the stand-in image does), anything else its role.
async fn serve(
    role: &str,
    paused: Arc<AtomicBool>,
    env: BTreeMap<String, String>,
) -> Result<(u16, tokio::task::JoinHandle<()>), HearthError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| HearthError::driver(format!("bind a loopback port for role {role}"), e))?;
    let port = listener
        .local_addr()
        .map_err(|e| HearthError::driver("read the bound port", e))?
        .port();
    let name = role.to_owned();
    let env = Arc::new(env);
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let paused = paused.clone();
        let env = env.clone();
        let role = name.clone();
        async move {
            if paused.load(Ordering::SeqCst) {
                return (StatusCode::SERVICE_UNAVAILABLE, "paused\n".to_owned());
            }
            if uri.path() == "/env" {
                let prefix = uri
                    .query()
                    .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("prefix=")))
                    .unwrap_or_default();
                let picked: BTreeMap<&String, &String> =
                    env.iter().filter(|(k, _)| k.starts_with(prefix)).collect();
                let body = serde_json::to_string(&picked).unwrap_or_default();
                return (StatusCode::OK, body);
            }
            (
                StatusCode::OK,
                format!("{{\"ok\":true,\"role\":\"{role}\"}}\n"),
            )
        }
    });
    let task_role = role.to_owned();
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(role = %task_role, error = %e, "fake service stopped");
        }
    });
    Ok((port, server))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::Journal;

    #[tokio::test]
    async fn teardown_records_the_removal_steps_local_docker_records() {
        let fake = FakeDriver::default();
        let slug = Slug::parse("gone").expect("slug");
        let log = Journal::default();
        let profile = ProvisioningProfile::for_tier(hearth_protocol::hearth::Tier::Solo);
        fake.provision(&slug, &profile, &log.steps(&slug))
            .await
            .expect("provision");
        let teardown = Journal::default();
        fake.teardown(&slug, &teardown.steps(&slug))
            .await
            .expect("teardown");
        let steps: Vec<(String, Option<String>)> = teardown
            .snapshot(&slug)
            .into_iter()
            .map(|e| (e.step, e.role))
            .collect();
        let role = |r: &str| Some(r.to_owned());
        assert_eq!(
            steps,
            vec![
                ("container_removed".to_owned(), role("cairnet")),
                ("container_removed".to_owned(), role("lore")),
                ("network_removed".to_owned(), None),
                ("volume_removed".to_owned(), None),
                ("volume_removed".to_owned(), None),
            ]
        );
        // Nothing left: a second teardown removes nothing and records nothing.
        let again = Journal::default();
        fake.teardown(&slug, &again.steps(&slug))
            .await
            .expect("teardown again");
        assert!(again.snapshot(&slug).is_empty());
    }

    /// An upgrade to a tier with other roles leaves the new tier's roles only, in its order.
    #[tokio::test]
    async fn an_upgrade_to_another_template_keeps_only_its_roles() {
        let templates = crate::template::file::tests::read(crate::template::file::tests::EXAMPLE)
            .expect("template");
        let fake = FakeDriver::default().with_templates(templates);
        let slug = Slug::parse("up").expect("slug");
        let log = Journal::default();
        let solo = ProvisioningProfile::for_tier(hearth_protocol::hearth::Tier::Solo);
        let r = fake
            .provision(&slug, &solo, &log.steps(&slug))
            .await
            .expect("provision");
        let roles = |r: &DeploymentRef| -> Vec<String> {
            r.services.iter().map(|s| s.role.clone()).collect()
        };
        assert_eq!(
            roles(&r),
            ["lore", "cairnet"],
            "the roles that serve (migrate is a one-shot)"
        );
        assert_eq!(r.services[0].image, "registry.example.com/lore:1.4");
        let team = ProvisioningProfile::for_tier(hearth_protocol::hearth::Tier::Team);
        let up = fake
            .upgrade(&r, &team, &log.steps(&slug))
            .await
            .expect("upgrade");
        assert_eq!(
            roles(&up),
            ["cairnet", "lore"],
            "the default template's roles"
        );
        assert!(
            up.services.iter().all(|s| s.image == "fake"),
            "the wire as before"
        );
        assert_eq!(fake.status(&up).await.expect("status"), Status::Ready);
    }
}
