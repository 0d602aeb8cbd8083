//! What `hearth lock` pins and what `hearth lock --check` compares: a registry image's
//! digest in its own repository (`repo@sha256:…`, asked of the registry by pulling the tag as
//! `docker pull` does), or a local build's image ID (it has no registry digest).

use std::time::Duration;

use tracing::warn;

use super::credentials;
use super::pull::{cause_of, pull};
use crate::driver::engine::flavor::EngineKind;
use crate::driver::engine::{is_not_found, map_err, Engine};
use crate::error::{HearthError, ImageCause};
use crate::journal::Steps;
use crate::lockfile::LockedImage;
use crate::slug::Slug;

/// What a role's image was pinned to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// `repo@sha256:…` or, for a local build, the image ID.
    pub digest: String,
    /// The image ID (what a provision reports as `image_digest`).
    pub id: String,
    /// Said to the user when the pin is not what was asked for in full (the registry did not
    /// answer and the engine's copy was pinned).
    pub note: Option<String>,
}

/// The repository of a reference, as the engine spells it in `RepoDigests`:
/// `127.0.0.1:5000/app:v1` → `127.0.0.1:5000/app`, `docker.io/library/nginx:alpine` → `nginx`.
pub fn repository(image: &str) -> &str {
    let name = image.split_once('@').map_or(image, |(n, _)| n);
    let name = match (name.rfind(':'), name.rfind('/')) {
        (Some(colon), Some(slash)) if colon > slash => &name[..colon],
        (Some(colon), None) => &name[..colon],
        _ => name,
    };
    name.strip_prefix("docker.io/library/")
        .or_else(|| name.strip_prefix("docker.io/"))
        .unwrap_or(name)
}

/// The digest of `image` in its own repository among an image's `RepoDigests`.
fn own_digest(image: &str, repo_digests: &[String]) -> Option<String> {
    let repo = repository(image);
    repo_digests
        .iter()
        .find(|d| d.split_once('@').is_some_and(|(r, _)| r == repo))
        .cloned()
}

/// Pins `role`'s `image`: a registry image is pulled (fetching a tag the engine does not have,
/// or refreshing one that moved) and pinned to its registry digest; a local build to its ID.
///
/// # Errors
/// `image_unavailable` if the image is neither on the engine nor pullable,
/// `docker_unavailable`.
pub async fn pin(
    engine: &Engine,
    role: &str,
    image: &str,
    bound: Duration,
) -> Result<Pin, HearthError> {
    let docker = engine.client().await?;
    let local = match docker.inspect_image(image).await {
        Ok(img) => Some(img),
        Err(e) if is_not_found(&e) => None,
        Err(e) => return Err(map_err(format!("inspect image {image}"), e)),
    };
    let mut note = None;
    if let Some(img) = &local {
        if own_digest(image, img.repo_digests.as_deref().unwrap_or_default()).is_none() {
            let id = img.id.clone().unwrap_or_default();
            return Ok(Pin {
                digest: id.clone(),
                id,
                note: None,
            });
        }
    }
    // Nobody follows a lock's steps; the CLI prints the outcome.
    let steps = Steps::detached(&Slug::parse("lock").expect("a valid slug"));
    if let Err(e) = pull(engine, role, image, bound, &steps).await {
        if local.is_none() {
            return Err(e);
        }
        warn!(role, image, error = %e, "lock: pinning the engine's copy");
        note = Some(format!(
            "could not ask the registry ({e}); pinned the copy the engine has"
        ));
    }
    let img = docker
        .inspect_image(image)
        .await
        .map_err(|e| map_err(format!("inspect image {image}"), e))?;
    let id = img.id.unwrap_or_default();
    let digest = own_digest(image, img.repo_digests.as_deref().unwrap_or_default())
        .unwrap_or_else(|| id.clone());
    Ok(Pin { digest, id, note })
}

/// What the registry's `image` (a tag, `role`'s) points at now, as `repo@sha256:…`, asked of
/// the registry through the engine without pulling; on Podman, which has no such question
/// (`/distribution`), by pulling the tag within `bound`, as `podman pull` would.
///
/// # Errors
/// `image_unavailable` with its cause when the registry does not say.
pub async fn registry_digest(
    engine: &Engine,
    role: &str,
    image: &str,
    bound: Duration,
) -> Result<String, HearthError> {
    if engine.flavor().await?.kind == EngineKind::Podman {
        return pulled_digest(engine, role, image, bound).await;
    }
    let docker = engine.client().await?;
    let unavailable = |cause, detail| HearthError::ImageUnavailable {
        role: role.to_owned(),
        image: image.to_owned(),
        cause,
        detail,
    };
    let creds = credentials::for_image(image)
        .await
        .map_err(|source| HearthError::Credentials {
            role: role.to_owned(),
            image: image.to_owned(),
            source: Box::new(source),
        })?;
    match docker.inspect_registry_image(image, creds).await {
        Ok(d) => Ok(format!(
            "{}@{}",
            repository(image),
            d.descriptor.digest.unwrap_or_default()
        )),
        Err(bollard::errors::Error::DockerResponseServerError { message, .. }) => {
            Err(unavailable(cause_of(&message), message))
        }
        Err(e) => Err(map_err(format!("ask the registry about {image}"), e)),
    }
}

/// What `image` points at in its registry, learnt by pulling it: the digest the engine
/// recorded for the pulled image in the image's own repository.
async fn pulled_digest(
    engine: &Engine,
    role: &str,
    image: &str,
    bound: Duration,
) -> Result<String, HearthError> {
    // Nobody follows these steps; the caller says what it found.
    let steps = Steps::detached(&Slug::parse("lock").expect("a valid slug"));
    pull(engine, role, image, bound, &steps).await?;
    let docker = engine.client().await?;
    let img = docker
        .inspect_image(image)
        .await
        .map_err(|e| map_err(format!("inspect image {image} after pulling it"), e))?;
    own_digest(image, img.repo_digests.as_deref().unwrap_or_default()).ok_or_else(|| {
        HearthError::ImageUnavailable {
            role: role.to_owned(),
            image: image.to_owned(),
            cause: ImageCause::Failed,
            detail: "the engine recorded no registry digest for the pulled image".into(),
        }
    })
}

/// What a locked `role`'s tag points at now: the registry's digest for a registry pin, the
/// engine's image ID for a local build. Equal to `locked.digest` when nothing moved.
///
/// # Errors
/// As [`registry_digest`]; for a local build, `image_unavailable` if the tag is gone.
pub async fn current(
    engine: &Engine,
    role: &str,
    locked: &LockedImage,
    bound: Duration,
) -> Result<String, HearthError> {
    if locked.digest.contains('@') {
        return registry_digest(engine, role, &locked.image, bound).await;
    }
    let docker = engine.client().await?;
    match docker.inspect_image(&locked.image).await {
        Ok(img) => Ok(img.id.unwrap_or_default()),
        Err(e) if is_not_found(&e) => Err(HearthError::ImageUnavailable {
            role: role.to_owned(),
            image: locked.image.clone(),
            cause: ImageCause::NotFound,
            detail: "the local build is no longer on the engine".into(),
        }),
        Err(e) => Err(map_err(format!("inspect image {}", locked.image), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_drop_tag_and_digest_keep_the_registry_port() {
        assert_eq!(repository("127.0.0.1:5000/app:v1"), "127.0.0.1:5000/app");
        assert_eq!(repository("127.0.0.1:5000/app"), "127.0.0.1:5000/app");
        assert_eq!(
            repository("127.0.0.1:5000/app@sha256:ab"),
            "127.0.0.1:5000/app"
        );
        assert_eq!(repository("nginx:alpine"), "nginx");
        assert_eq!(repository("docker.io/library/nginx:alpine"), "nginx");
        assert_eq!(repository("docker.io/org/app:1"), "org/app");
    }

    #[test]
    fn the_digest_of_the_images_own_repository_is_chosen() {
        let digests = vec![
            "127.0.0.1:6000/other@sha256:11".to_owned(),
            "127.0.0.1:5000/app@sha256:22".to_owned(),
        ];
        assert_eq!(
            own_digest("127.0.0.1:5000/app:v1", &digests).as_deref(),
            Some("127.0.0.1:5000/app@sha256:22")
        );
        assert_eq!(own_digest("hearth-standin:local", &digests), None);
    }
}
