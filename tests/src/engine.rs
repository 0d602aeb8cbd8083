//! The Docker engine side of the harness: whether Docker-backed tests run (`HEARTH_E2E=1`),
//! failing loudly when they should and cannot; the workspace image; and finding and sweeping
//! every object carrying a test's `dev.hearth.instance` label, also from a drop guard.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use bollard::Docker;
use hearth_testkit::objects;

pub use hearth_protocol::labels::{INSTANCE as INSTANCE_LABEL, TEST as TEST_LABEL_KEY};
pub use hearth_testkit::objects::{Labelled, SweepGuard};
pub use hearth_testkit::run::{
    docker_wanted, test_image, test_image_for, test_label, test_run, unique_instance,
    DEFAULT_TEST_IMAGE,
};

/// How long the engine gets to answer the first call.
const PING_TIMEOUT: Duration = Duration::from_secs(10);

/// How many prompts the play runs: `HEARTH_PLAY_PROMPTS`, else 4.
///
/// # Errors
/// If it is set to anything but a positive number.
pub fn play_prompts() -> anyhow::Result<usize> {
    match std::env::var("HEARTH_PLAY_PROMPTS") {
        Ok(v) if !v.is_empty() => match v.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => anyhow::bail!("HEARTH_PLAY_PROMPTS={v:?} is not a positive number of prompts"),
        },
        _ => Ok(4),
    }
}

/// The engine's unix socket: `DOCKER_HOST` when it is `unix://…`, else the default one.
pub fn engine_socket() -> PathBuf {
    std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/var/run/docker.sock"))
}

/// A negotiated client for the engine at `host` (`unix:///path`), or an error that says
/// loudly what is missing and what to do.
///
/// # Errors
/// When the engine does not answer.
pub async fn require_engine_at(host: &str) -> anyhow::Result<Docker> {
    let loud = |detail: String| {
        anyhow::anyhow!(
            "HEARTH_E2E=1 asks for the Docker-backed tests, but no Docker engine answers at \
             {host}: {detail}. Start the engine (sudo systemctl start docker, or sudo dockerd &) \
             or point DOCKER_HOST at one; run with HEARTH_E2E unset to run only the tests that \
             need no engine. These tests never skip when HEARTH_E2E=1."
        )
    };
    let path = host.strip_prefix("unix://").unwrap_or(host);
    let docker = Docker::connect_with_unix(path, 30, bollard::API_DEFAULT_VERSION)
        .map_err(|e| loud(e.to_string()))?;
    let docker = match tokio::time::timeout(PING_TIMEOUT, docker.negotiate_version()).await {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => return Err(loud(e.to_string())),
        Err(_) => return Err(loud(format!("no answer within {PING_TIMEOUT:?}"))),
    };
    match tokio::time::timeout(PING_TIMEOUT, docker.ping()).await {
        Ok(Ok(_)) => Ok(docker),
        Ok(Err(e)) => Err(loud(e.to_string())),
        Err(_) => Err(loud(format!("no ping answer within {PING_TIMEOUT:?}"))),
    }
}

/// The engine for a Docker-backed test: `Ok(None)` (after printing why the test is skipped)
/// when `HEARTH_E2E` is not 1; with it set, the engine and the test image, or a loud error.
///
/// # Errors
/// With `HEARTH_E2E=1`: no engine, or the image is not on it.
pub async fn engine_for(test: &str) -> anyhow::Result<Option<Docker>> {
    if !docker_wanted() {
        eprintln!(
            "SKIPPED {test}: needs a Docker engine and HEARTH_E2E is not 1 \
             (run `make e2e`, or HEARTH_E2E=1 cargo test -p hearth-e2e)"
        );
        return Ok(None);
    }
    require_docker().await.map(Some)
}

/// The engine at `DOCKER_HOST` (or the local socket) with the test image on it, or a loud
/// error naming what is missing.
///
/// # Errors
/// No engine, or the image is not on it.
pub async fn require_docker() -> anyhow::Result<Docker> {
    let socket = engine_socket();
    let docker = require_engine_at(&format!("unix://{}", socket.display())).await?;
    let image = test_image();
    if docker.inspect_image(&image).await.is_err() {
        bail!(
            "the workspace image {image} is not on the engine — run `make images` to build the \
             offline stand-in (or set HEARTH_TEST_IMAGE / STANDIN to an image the engine has)"
        );
    }
    Ok(docker)
}

/// Whether Swarm-backed e2e tests run: the engine (see [`engine_for`]) is a swarm manager.
/// Outside a swarm they are skipped with a message, unless `HEARTH_SWARM=1` asks for them,
/// which makes that a loud error.
///
/// # Errors
/// With `HEARTH_SWARM=1`: the engine is not a swarm manager.
pub async fn swarm_for(test: &str, docker: &Docker) -> anyhow::Result<bool> {
    let info = docker
        .info()
        .await
        .context("ask the engine about its swarm")?;
    let swarm = info.swarm.unwrap_or_default();
    let manager = swarm.control_available == Some(true)
        && swarm.local_node_state == Some(bollard::models::LocalNodeState::ACTIVE);
    if manager {
        return Ok(true);
    }
    if std::env::var("HEARTH_SWARM").is_ok_and(|v| v == "1") {
        bail!(
            "HEARTH_SWARM=1 asks for the Swarm-backed tests, but the engine is not a swarm \
             manager: run `docker swarm init --advertise-addr 127.0.0.1` (and `docker swarm \
             leave --force` afterwards), or unset HEARTH_SWARM"
        );
    }
    eprintln!(
        "SKIPPED {test}: the engine is not a swarm manager (set HEARTH_SWARM=1 to require it)"
    );
    Ok(false)
}

/// Every swarm service, container, network and volume labelled `dev.hearth.instance=INSTANCE`.
///
/// # Errors
/// When the engine does not answer a listing.
pub async fn find_instance(docker: &Docker, instance: &str) -> anyhow::Result<Labelled> {
    objects::find(docker, &[objects::instance_filter(instance)]).await
}

/// Force-removes everything labelled with `instance`; returns what was found.
///
/// # Errors
/// When the engine does not answer the listing (single removals are best effort).
pub async fn sweep_instance(docker: &Docker, instance: &str) -> anyhow::Result<Labelled> {
    objects::sweep(docker, &[objects::instance_filter(instance)]).await
}
