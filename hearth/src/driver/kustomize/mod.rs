//! The kustomize driver: a workspace is a directory of Kubernetes manifests,
//! `<out>/<slug>/{kustomization.yaml, namespace.yaml, <role>.yaml…}`, that its owner applies
//! out-of-band (`kubectl apply -k <out>/<slug>`). hearth runs nothing itself: provision writes
//! the files (idempotent on slug and tier; another tier is `tier_mismatch`), status counts
//! them, upgrade writes them again keeping slug and creation time, teardown removes the
//! directory. The endpoint is `kustomize://<dir>`. Pause, resume, hibernate and wake answer
//! `unsupported`: there is nothing running here to freeze or stop.
//!
//! `emit` turns a template into manifests, `write` puts them on disk atomically, `status`
//! reads them back.

pub mod emit;
pub mod probe;
pub mod status;
pub mod write;
mod yaml;

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::Utc;
use hearth_protocol::hearth::{DeploymentRef, DriverName, ProvisioningProfile, ServiceRef, Status};

use super::engine::EngineConfig;
use super::DriverError;
use super::{Driver, ObjectKind, Owned, Step};
use crate::error::HearthError;
use crate::journal::Steps;
use crate::slug::Slug;
use emit::{Emitted, TierLimits, Workspace};
use status::Kustomization;

/// The kustomize driver.
#[derive(Debug)]
pub struct Kustomize {
    out: PathBuf,
    config: EngineConfig,
    instance: String,
}

impl Kustomize {
    /// A driver writing under `out`, building each tier's template from `config` (its
    /// `[tiers]`, images, lock and limits).
    pub fn new(out: impl Into<PathBuf>, config: EngineConfig, instance: impl Into<String>) -> Self {
        Kustomize {
            out: out.into(),
            config,
            instance: instance.into(),
        }
    }

    /// The out dir.
    pub fn out(&self) -> &Path {
        &self.out
    }

    /// The directory of `slug`'s workspace.
    pub fn dir(&self, slug: &Slug) -> PathBuf {
        self.out.join(slug.as_str())
    }

    /// The kustomization on disk for `slug`, if this instance wrote it.
    fn ours(&self, slug: &Slug) -> Result<Option<Kustomization>, HearthError> {
        Ok(Kustomization::read(&self.dir(slug))?
            .filter(|k| k.instance() == Some(self.instance.as_str())))
    }

    /// Writes `slug`'s manifests for `profile`, created at `created`, and answers its ref.
    fn write(
        &self,
        slug: &Slug,
        profile: &ProvisioningProfile,
        created: chrono::DateTime<Utc>,
        steps: &Steps,
    ) -> Result<DeploymentRef, HearthError> {
        let template = self.config.template(profile.tier);
        for role in &template.roles {
            write::component("role", &role.name)?;
        }
        let caps = profile.caps();
        let dir = self.dir(slug);
        if let Some(k) = Kustomization::read(&dir)? {
            if k.instance() != Some(self.instance.as_str()) {
                return Err(HearthError::Driver(DriverError::InUse {
                    attempted: format!("write {}", dir.display()),
                    detail: format!(
                        "it holds manifests of another hearth instance ({}); they are left \
                         alone",
                        k.instance().unwrap_or("none named")
                    ),
                    source: None,
                }));
            }
        }
        let shown = dir.display().to_string();
        let lock = self
            .config
            .lock
            .as_ref()
            .map(crate::lockfile::LiveLock::current);
        let Emitted { files, images } = emit::emit(&Workspace {
            slug,
            tier: profile.tier,
            caps: &caps,
            template: &template,
            instance: &self.instance,
            created,
            dir: &shown,
            limits: TierLimits {
                memory_bytes: self.config.memory_bytes,
                nano_cpus: self.config.nano_cpus,
                pids: self.config.pids_limit,
            },
            lock: lock.as_deref(),
        })?;
        write::replace(&self.out, slug.as_str(), &self.instance, &files)?;
        steps.step(Step::ManifestsWritten, None, Some(shown.clone()));
        let services = template
            .roles
            .iter()
            .map(|r| {
                let image = images.get(&r.name).cloned().unwrap_or_default();
                ServiceRef {
                    role: r.name.clone(),
                    image_digest: image
                        .split_once('@')
                        .map(|(_, d)| d.to_owned())
                        .unwrap_or_default(),
                    image,
                    container_id: format!(
                        "{}/{}",
                        if r.once { "job" } else { "deployment" },
                        r.name
                    ),
                    endpoint: r
                        .port
                        .filter(|_| !r.once)
                        .map(|p| format!("http://{}:{p}", emit::host(&r.name, slug)))
                        .unwrap_or_default(),
                }
            })
            .collect();
        Ok(DeploymentRef {
            workspace_slug: slug.to_string(),
            tier: profile.tier,
            driver: DriverName::Kustomize,
            endpoint: format!("kustomize://{shown}"),
            secrets_vault_path: format!("file://hearth/{slug}"),
            created,
            last_status: Status::Ready,
            resource_caps: Some(caps),
            services,
            pool: None,
        })
    }

    fn unsupported(what: &str) -> HearthError {
        HearthError::Driver(DriverError::Unsupported {
            engine: "the kustomize driver".into(),
            what: what.into(),
            reason: "it writes manifests that are applied out-of-band; hearth runs nothing it \
                     could freeze or stop (scale the Deployments with kubectl instead)"
                .into(),
        })
    }
}

#[async_trait]
impl Driver for Kustomize {
    fn name(&self) -> DriverName {
        DriverName::Kustomize
    }

    async fn provision(
        &self,
        slug: &Slug,
        profile: &ProvisioningProfile,
        steps: &Steps,
    ) -> Result<DeploymentRef, HearthError> {
        let existing = self.ours(slug)?;
        if let Some(live) = existing.as_ref().and_then(Kustomization::tier) {
            if live != profile.tier {
                return Err(HearthError::TierMismatch {
                    slug: slug.to_string(),
                    live,
                    asked: profile.tier,
                });
            }
        }
        let created = existing
            .as_ref()
            .and_then(Kustomization::created)
            // To the microsecond, as the kustomization keeps it.
            .unwrap_or_else(|| chrono::SubsecRound::trunc_subsecs(Utc::now(), 6));
        self.write(slug, profile, created, steps)
    }

    async fn status(&self, r: &DeploymentRef) -> Result<Status, HearthError> {
        let slug = Slug::parse(&r.workspace_slug)?;
        status::of_dir(&self.dir(&slug))
    }

    async fn upgrade(
        &self,
        r: &DeploymentRef,
        profile: &ProvisioningProfile,
        steps: &Steps,
    ) -> Result<DeploymentRef, HearthError> {
        let slug = Slug::parse(&r.workspace_slug)?;
        self.write(&slug, profile, r.created, steps)
    }

    async fn teardown(&self, slug: &Slug, steps: &Steps) -> Result<(), HearthError> {
        let dir = self.dir(slug);
        let there = dir.exists();
        if there && self.ours(slug)?.is_none() && status::of_dir(&dir)? != Status::TierTornDown {
            // Another daemon's (or someone's own) files: never removed by this one.
            if Kustomization::read(&dir)?.is_some() {
                return Err(HearthError::driver(
                    format!("remove {}", dir.display()),
                    "it was written by another hearth instance (or by hand); it is left alone",
                ));
            }
        }
        write::remove(&self.out, slug.as_str(), &self.instance)?;
        if there {
            steps.step(
                Step::ManifestsRemoved,
                None,
                Some(dir.display().to_string()),
            );
        }
        Ok(())
    }

    async fn pause(&self, _r: &DeploymentRef, _s: &Steps) -> Result<DeploymentRef, HearthError> {
        Err(Self::unsupported("pause a workspace"))
    }

    async fn resume(&self, _r: &DeploymentRef, _s: &Steps) -> Result<DeploymentRef, HearthError> {
        Err(Self::unsupported("resume a workspace"))
    }

    async fn hibernate(
        &self,
        _r: &DeploymentRef,
        _s: &Steps,
    ) -> Result<DeploymentRef, HearthError> {
        Err(Self::unsupported("hibernate a workspace"))
    }

    async fn wake(&self, _r: &DeploymentRef, _s: &Steps) -> Result<DeploymentRef, HearthError> {
        Err(Self::unsupported("wake a workspace"))
    }

    /// Every manifest of a workspace this instance wrote, and every temp dir it left (a
    /// write cut short by a crash), so that reconcile removes what no record owns.
    async fn owned(&self) -> Result<Vec<Owned>, HearthError> {
        let mut out = Vec::new();
        for name in write::entries(&self.out)? {
            if let Some(slug) = write::temp_of(&name, &self.instance) {
                out.push(Owned {
                    slug: slug.to_owned(),
                    kind: ObjectKind::Manifest,
                    name,
                    state: Some("partial".into()),
                });
                continue;
            }
            let Ok(slug) = Slug::parse(&name) else {
                continue;
            };
            if self.ours(&slug)?.is_none() {
                continue;
            }
            let dir = self.dir(&slug);
            for file in write::entries(&dir)? {
                out.push(Owned {
                    slug: name.clone(),
                    kind: ObjectKind::Manifest,
                    name: format!("{name}/{file}"),
                    state: None,
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}
