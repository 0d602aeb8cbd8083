//! Which image each role runs: the profile's `driver_flags.<role>_image`, else the configured
//! image; pinned to its locked digest when a lock is present; pulled according to the pull
//! policy. With no registry reachable and the image absent, this fails within seconds with
//! `image_unavailable` and a hint, never a hang.

use std::time::Duration;

use bollard::query_parameters::CreateImageOptions;
use futures::StreamExt;
use hearth_protocol::hearth::ProvisioningProfile;

use super::DockerConfig;
use crate::driver::engine::{is_not_found, map_err, Engine};
use crate::error::HearthError;

/// Bound on a pull, well inside the provision deadline: a registry that accepts connections
/// but never answers is `image_unavailable`, not a provision that runs out its clock.
const PULL_TIMEOUT: Duration = Duration::from_secs(60);

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
pub struct Resolved {
    /// The reference asked for (or the locked digest).
    pub image: String,
    /// The image ID the container will be created from.
    pub id: String,
}

/// The image reference `role` should run, before resolution.
pub fn wanted(config: &DockerConfig, profile: Option<&ProvisioningProfile>, role: &str) -> String {
    profile
        .and_then(|p| p.driver_flags.get(&format!("{role}_image")))
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .or_else(|| config.images.get(role).cloned())
        .unwrap_or_else(|| "nginx:alpine".to_owned())
}

/// Resolves `role`'s image to an ID present on the engine.
///
/// # Errors
/// `image_unavailable` (absent, not pullable), `image_drift` (locked digest not present), or
/// `docker_unavailable`.
pub async fn resolve(
    engine: &Engine,
    config: &DockerConfig,
    profile: Option<&ProvisioningProfile>,
    role: &str,
) -> Result<Resolved, HearthError> {
    let asked = wanted(config, profile, role);
    if let Some(locked) = config.lock.as_ref().and_then(|l| l.roles.get(role)) {
        if locked.image != asked {
            return Err(HearthError::ImageDrift {
                role: role.to_owned(),
                locked: format!("{} ({})", locked.digest, locked.image),
                found: format!(
                    "{asked} asked for instead; re-lock with `hearth lock` to change it"
                ),
            });
        }
        return resolve_locked(engine, role, &locked.image, &locked.digest, &locked.id).await;
    }
    let docker = engine.client().await?;
    if config.pull == PullPolicy::Always {
        pull(engine, role, &asked).await?;
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
                    detail: "not present on the engine and the pull policy is never".into(),
                });
            }
            pull(engine, role, &asked).await?;
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

async fn resolve_locked(
    engine: &Engine,
    role: &str,
    image: &str,
    digest: &str,
    id: &str,
) -> Result<Resolved, HearthError> {
    let docker = engine.client().await?;
    match docker.inspect_image(digest).await {
        Ok(img) => Ok(Resolved {
            image: digest.to_owned(),
            id: img.id.unwrap_or_else(|| id.to_owned()),
        }),
        Err(e) if is_not_found(&e) => {
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
        Err(e) => Err(map_err(
            format!("inspect locked image {digest} for role {role}"),
            e,
        )),
    }
}

async fn pull(engine: &Engine, role: &str, image: &str) -> Result<(), HearthError> {
    let docker = engine.client().await?;
    let options = CreateImageOptions {
        from_image: Some(image.to_owned()),
        ..Default::default()
    };
    let unavailable = |detail: String| HearthError::ImageUnavailable {
        role: role.to_owned(),
        image: image.to_owned(),
        detail,
    };
    let pulling = async {
        let mut stream = docker.create_image(Some(options), None, None);
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(err) = info.error_detail.and_then(|d| d.message) {
                        return Err(unavailable(err));
                    }
                }
                Err(bollard::errors::Error::DockerResponseServerError { message, .. }) => {
                    return Err(unavailable(message))
                }
                Err(e) => return Err(map_err(format!("pull image {image}"), e)),
            }
        }
        Ok(())
    };
    tokio::time::timeout(PULL_TIMEOUT, pulling)
        .await
        .unwrap_or_else(|_| {
            Err(unavailable(format!(
                "the pull took longer than {PULL_TIMEOUT:?}"
            )))
        })
}

/// What `hearth lock` pins an image to: its registry digest if it has one, else its ID.
///
/// # Errors
/// `image_unavailable` if the image is not on the engine, `docker_unavailable`.
pub async fn pin(
    engine: &Engine,
    role: &str,
    image: &str,
) -> Result<(String, String), HearthError> {
    let docker = engine.client().await?;
    let img = docker.inspect_image(image).await.map_err(|e| {
        if is_not_found(&e) {
            HearthError::ImageUnavailable {
                role: role.to_owned(),
                image: image.to_owned(),
                detail: "not present on the engine; build or pull it before locking".into(),
            }
        } else {
            map_err(format!("inspect image {image}"), e)
        }
    })?;
    let id = img.id.unwrap_or_default();
    let digest = img
        .repo_digests
        .unwrap_or_default()
        .into_iter()
        .next()
        .unwrap_or_else(|| id.clone());
    Ok((digest, id))
}
