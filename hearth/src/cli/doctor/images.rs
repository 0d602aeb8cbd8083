//! The doctor's image checks: each role's image present on the engine, or else pullable (its
//! registry reachable, credentials found or an anonymous pull; no secret is ever printed);
//! and the lock: present, and drifted or not, as `hearth lock --check` says, without pulling.

use std::time::Duration;

use hearth_protocol::hearth::DriverName;

use super::{Check, ONE_CHECK};
use crate::cli::settings::Settings;
use crate::driver::engine::{credentials, is_not_found, pins, Engine, EngineKind, PullPolicy};

/// Bound on reaching a registry's port.
const REGISTRY_CONNECT: Duration = Duration::from_secs(3);

/// The images' checks, then the lock's.
pub(super) async fn checks(settings: &Settings, engine: &Engine) -> Vec<Check> {
    let images = &settings.docker.images;
    let mut checks: Vec<Check> = futures::future::join_all(images.iter().map(|(role, image)| {
        let name = format!("image {role}");
        async move {
            let check = image_check(&name, image, settings.docker.pull, engine);
            Check::bounded(&name, ONE_CHECK, check).await
        }
    }))
    .await;
    checks.push(Check::bounded("lock", ONE_CHECK + ONE_CHECK, lock(settings, engine)).await);
    checks
}

async fn image_check(name: &str, image: &str, pull: PullPolicy, engine: &Engine) -> Check {
    let docker = match engine.client().await {
        Ok(d) => d,
        Err(e) => return Check::fail(name, e.to_string(), e.hint().unwrap_or_default()),
    };
    match docker.inspect_image(image).await {
        Ok(found) => {
            let id = found.id.unwrap_or_default();
            return Check::ok(name, format!("{image} present ({})", short(&id)));
        }
        Err(e) if !is_not_found(&e) => {
            return Check::fail(name, format!("{image}: {e}"), "check the engine")
        }
        Err(_) => {}
    }
    if pull == PullPolicy::Never {
        return Check::fail(
            name,
            format!("{image} is not on the engine and the pull policy is never"),
            "build or load it (`make images` for the stand-in), or allow pulls (--pull if-missing)",
        );
    }
    let registry = credentials::registry_of(image);
    if let Err(why) = reachable(registry).await {
        return Check::fail(
            name,
            format!(
                "{image} is not on the engine and its registry {registry} is unreachable: {why}"
            ),
            "run `make images` to build the offline stand-in and set HEARTH_IMAGE_<ROLE>=\
             hearth-standin:local, or pull the image where a registry answers",
        );
    }
    let creds = match credentials::for_image(image).await {
        Ok(Some(_)) => format!("credentials for {registry} found"),
        Ok(None) => "no credentials: an anonymous pull".to_owned(),
        Err(e) => {
            return Check::warn(
                name,
                format!("{image} is not on the engine; its credentials cannot be read: {e}"),
                "fix the docker config or credential helper it names",
            )
        }
    };
    Check::warn(
        name,
        format!("{image} is not on the engine; {registry} answers, {creds}: the first provision pulls it"),
        format!("pull it now to make the first provision fast: `docker pull {image}`"),
    )
}

/// Whether the registry's port accepts a connection (Docker Hub's is registry-1.docker.io).
async fn reachable(registry: &str) -> Result<(), String> {
    let host = if registry == "docker.io" {
        "registry-1.docker.io"
    } else {
        registry
    };
    let addr = if host
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        host.to_owned()
    } else {
        format!("{host}:443")
    };
    match tokio::time::timeout(REGISTRY_CONNECT, tokio::net::TcpStream::connect(&addr)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("{addr}: {e}")),
        Err(_) => Err(format!("{addr}: no answer within {REGISTRY_CONNECT:?}")),
    }
}

/// The lock: absent, or each role's pin compared with what its tag points at now.
async fn lock(settings: &Settings, engine: &Engine) -> Check {
    let Some(live) = &settings.docker.lock else {
        return Check::ok("lock", "none: roles run their images as tagged now");
    };
    let path = live.path().display().to_string();
    let lock = live.current();
    let podman = matches!(engine.flavor().await, Ok(f) if f.kind == EngineKind::Podman);
    let mut moved = Vec::new();
    let mut unchecked = Vec::new();
    for (role, locked) in &lock.roles {
        if let Some(asked) = settings
            .docker
            .images
            .get(role)
            .filter(|a| **a != locked.image)
        {
            moved.push(format!(
                "{role} (the lock pins {}, {asked} is asked for)",
                locked.image
            ));
            continue;
        }
        // Podman learns a registry digest only by pulling; the doctor changes nothing.
        if podman && locked.digest.contains('@') {
            unchecked.push(role.clone());
            continue;
        }
        match pins::current(engine, role, locked, ONE_CHECK).await {
            Ok(now) if now == locked.digest => {}
            Ok(now) => moved.push(format!(
                "{role} (locked {}, now {})",
                short(&locked.digest),
                short(&now)
            )),
            Err(e) => moved.push(format!("{role} ({})", e)),
        }
    }
    if !moved.is_empty() {
        return Check::fail(
            "lock",
            format!("{path}: drifted: {}", moved.join("; ")),
            "`hearth lock` re-pins to what the tags are now; rebuilding or pulling the locked \
             image restores the lock (`hearth lock --check` says the same)",
        );
    }
    if !unchecked.is_empty() {
        return Check::warn(
            "lock",
            format!(
                "{path}: registry pins of {} not checked on Podman",
                unchecked.join(", ")
            ),
            "`hearth lock --check` compares them (it pulls the tags)",
        );
    }
    if settings.driver == DriverName::Fake {
        return Check::ok(
            "lock",
            format!("{path}: present (not used by --driver fake)"),
        );
    }
    Check::ok("lock", format!("{path}: no role's tag moved"))
}

/// `sha256:0123456789ab…` (or `repo@sha256:…`) → `sha256:0123456789ab`.
fn short(id: &str) -> &str {
    let id = id.rsplit_once('@').map_or(id, |(_, d)| d);
    let end = id.find(':').map_or(12, |i| i + 13).min(id.len());
    &id[..end]
}

#[cfg(test)]
mod tests {
    #[test]
    fn digests_are_shortened_to_twelve_hex_digits() {
        assert_eq!(
            super::short("sha256:0123456789abcdef"),
            "sha256:0123456789ab"
        );
        assert_eq!(
            super::short("127.0.0.1:5000/app@sha256:0123456789abcdef"),
            "sha256:0123456789ab"
        );
        assert_eq!(super::short("sha256:01"), "sha256:01");
    }
}
