//! Which image each role runs: the profile's `driver_flags.<role>_image`, else the configured
//! image; pinned to its locked digest when a lock is present; pulled according to the pull
//! policy (`pull.rs` does the pulling, `pins.rs` what `hearth lock` pins). With no registry
//! reachable and the image absent, this fails within seconds with `image_unavailable` and a
//! hint, never a hang.

use futures::future::try_join_all;
use hearth_protocol::hearth::{ProvisioningProfile, ServiceRef};

use super::pull::pull;
use super::{pins, EngineConfig};
use crate::driver::engine::{is_not_found, map_err, Engine};
use crate::error::{HearthError, ImageCause};
use crate::journal::Steps;
use crate::lockfile::LockedImage;
use crate::step::Step;
use crate::template::{Role, Template};

/// When to pull an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullPolicy {
    /// Pull only if the engine does not have it (default).
    #[default]
    IfMissing,
    /// Never pull: an absent image is `image_unavailable`.
    Never,
    /// Pull every time; a failed pull is `image_unavailable`.
    Always,
}

impl std::str::FromStr for PullPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "if-missing" => Ok(PullPolicy::IfMissing),
            "never" => Ok(PullPolicy::Never),
            "always" => Ok(PullPolicy::Always),
            other => Err(format!(
                "unknown pull policy {other:?} (expected if-missing, never or always)"
            )),
        }
    }
}

/// A role's image, resolved on the engine.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    /// The reference asked for (or the locked digest).
    pub image: String,
    /// The image ID the container will be created from.
    pub id: String,
}

impl Resolved {
    /// The image a role was recorded with in a ref (a wake does not resolve again).
    pub(crate) fn recorded(service: Option<&ServiceRef>) -> Resolved {
        Resolved {
            image: service.map(|s| s.image.clone()).unwrap_or_default(),
            id: service.map(|s| s.image_digest.clone()).unwrap_or_default(),
        }
    }
}

/// Resolves the image of every role of `template`, in its order, recording each as a step.
///
/// # Errors
/// As [`resolve`], for the first role that fails.
pub(crate) async fn resolve_all(
    engine: &Engine,
    config: &EngineConfig,
    template: &Template,
    profile: Option<&ProvisioningProfile>,
    steps: &Steps,
) -> Result<Vec<Resolved>, HearthError> {
    try_join_all(template.roles.iter().map(|role| async move {
        let r = resolve(engine, config, profile, role, steps).await?;
        steps.step(
            Step::ImageResolved,
            Some(&role.name),
            Some(format!("{} = {}", r.image, r.id)),
        );
        Ok::<Resolved, HearthError>(r)
    }))
    .await
}

/// What each role of `profile`'s tier would run now, role → image ID (the drivers' answer to
/// [`crate::driver::Driver::image_digests`]): resolved as a provision resolves it, so a new
/// lock, a moved tag, an image rebuilt under the same tag or a changed template changes it.
///
/// # Errors
/// As [`resolve`].
pub(crate) async fn digests(
    engine: &Engine,
    config: &EngineConfig,
    profile: &ProvisioningProfile,
) -> Result<std::collections::BTreeMap<String, String>, HearthError> {
    let steps = Steps::detached(&crate::slug::Slug::parse("pool")?);
    let template = config.template(profile.tier);
    let resolved = try_join_all(
        template
            .roles
            .iter()
            .map(|role| resolve(engine, config, Some(profile), role, &steps)),
    )
    .await?;
    Ok(template
        .roles
        .iter()
        .zip(resolved)
        .map(|(role, r)| (role.name.clone(), r.id))
        .collect())
}

/// The image reference `role` should run, before resolution: the profile's
/// `driver_flags.<role>_image` (the Go hearth's shape), else the template's.
pub(crate) fn wanted(profile: Option<&ProvisioningProfile>, role: &Role) -> String {
    profile
        .and_then(|p| p.driver_flags.get(&format!("{}_image", role.name)))
        .and_then(|v| v.as_str())
        .map_or_else(|| role.image.clone(), str::to_owned)
}

/// Resolves `role`'s image to an ID present on the engine, pulling it (with progress in
/// `steps`) as the pull policy says.
///
/// # Errors
/// `image_unavailable` (absent, not pullable), `image_drift` (locked digest neither present
/// nor pullable), or `docker_unavailable`.
pub(crate) async fn resolve(
    engine: &Engine,
    config: &EngineConfig,
    profile: Option<&ProvisioningProfile>,
    role: &Role,
    steps: &Steps,
) -> Result<Resolved, HearthError> {
    let asked = wanted(profile, role);
    let role = role.name.as_str();
    let lock = config.lock.as_ref().map(crate::lockfile::LiveLock::current);
    if let Some(locked) = lock.as_ref().and_then(|l| l.roles.get(role)) {
        if locked.image != asked {
            return Err(HearthError::ImageDrift {
                role: role.to_owned(),
                locked: format!("{} ({})", locked.digest, locked.image),
                found: format!(
                    "{asked} asked for instead; re-lock with `hearth lock` to change it"
                ),
            });
        }
        return resolve_locked(engine, config, role, locked, steps).await;
    }
    let docker = engine.client().await?;
    if config.pull == PullPolicy::Always {
        pull(engine, role, &asked, config.pull_timeout, steps).await?;
    }
    match docker.inspect_image(&asked).await {
        Ok(img) => Ok(Resolved {
            id: img.id.unwrap_or_else(|| asked.clone()),
            image: asked,
        }),
        Err(e) if is_not_found(&e) => {
            if config.pull == PullPolicy::Never {
                return Err(HearthError::ImageUnavailable {
                    role: role.to_owned(),
                    image: asked,
                    cause: ImageCause::NotPulled,
                    detail: "not present on the engine and the pull policy is never".into(),
                });
            }
            pull(engine, role, &asked, config.pull_timeout, steps).await?;
            let img = docker
                .inspect_image(&asked)
                .await
                .map_err(|e| map_err(format!("inspect image {asked} after pulling it"), e))?;
            Ok(Resolved {
                id: img.id.unwrap_or_else(|| asked.clone()),
                image: asked,
            })
        }
        Err(e) => Err(map_err(format!("inspect image {asked} for role {role}"), e)),
    }
}

/// The locked image: present on the engine, or pulled by its digest (never by its tag, which
/// may have moved). A digest the registry no longer has is `image_drift`, naming what the
/// tag points at now.
async fn resolve_locked(
    engine: &Engine,
    config: &EngineConfig,
    role: &str,
    locked: &LockedImage,
    steps: &Steps,
) -> Result<Resolved, HearthError> {
    let docker = engine.client().await?;
    let (image, digest) = (&locked.image, &locked.digest);
    let present = |img: bollard::models::ImageInspect| Resolved {
        image: digest.clone(),
        id: img.id.unwrap_or_else(|| locked.id.clone()),
    };
    match docker.inspect_image(digest).await {
        Ok(img) => return Ok(present(img)),
        Err(e) if is_not_found(&e) => {}
        Err(e) => {
            return Err(map_err(
                format!("inspect locked image {digest} for role {role}"),
                e,
            ))
        }
    }
    // A registry digest can be fetched again; an image ID (a local build) cannot.
    if digest.contains('@') && config.pull != PullPolicy::Never {
        match pull(engine, role, digest, config.pull_timeout, steps).await {
            Ok(_) => {
                let img = docker.inspect_image(digest).await.map_err(|e| {
                    map_err(format!("inspect locked image {digest} after pulling it"), e)
                })?;
                return Ok(present(img));
            }
            Err(HearthError::ImageUnavailable {
                cause: ImageCause::NotFound,
                ..
            }) => {}
            Err(e) => return Err(e),
        }
        let found = match pins::registry_digest(engine, role, image, config.pull_timeout).await {
            Ok(now) => format!("the registry's {image} now points at {now}"),
            Err(e) => format!("the registry has no {image} either ({e})"),
        };
        return Err(HearthError::ImageDrift {
            role: role.to_owned(),
            locked: format!("{digest} ({image}), which the registry no longer has"),
            found,
        });
    }
    let found = match docker.inspect_image(image).await {
        Ok(img) => img.id.unwrap_or_default(),
        Err(_) => "nothing (the image is absent)".to_owned(),
    };
    Err(HearthError::ImageDrift {
        role: role.to_owned(),
        locked: format!("{digest} ({image})"),
        found: format!("{found} for {image}"),
    })
}
