//! The engine connection: made lazily (so hearth starts, and answers `docker_unavailable`,
//! while the engine is down), with the API version negotiated, and bollard's errors mapped to
//! hearth's, saying what was being attempted.

use std::time::Duration;

use bollard::Docker;
use tokio::sync::OnceCell;

use super::flavor::Flavor;
use crate::error::HearthError;

/// How long connecting and negotiating may take before the engine counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A lazily negotiated engine client.
#[derive(Debug, Default)]
pub struct Engine {
    /// Where the engine listens (`unix://…`, `tcp://…`); `None` means `DOCKER_HOST`, or the
    /// platform's default socket.
    host: Option<String>,
    /// Set once the first call has negotiated the API version; retried until then.
    client: OnceCell<Docker>,
    /// Which engine answers and what it can do, read once after the first connection.
    flavor: OnceCell<Flavor>,
}

impl Engine {
    /// An engine at `DOCKER_HOST`, or the platform's default socket.
    pub fn from_env() -> Self {
        Engine::default()
    }

    /// An engine at `host` (`unix:///run/podman/podman.sock`, …), whatever `DOCKER_HOST` says.
    pub fn at(host: impl Into<String>) -> Self {
        Engine {
            host: Some(host.into()),
            ..Engine::default()
        }
    }

    /// Which engine answers (Docker or Podman) and what it cannot do; found on first use
    /// and logged then.
    ///
    /// # Errors
    /// [`HearthError::DockerUnavailable`] if the engine does not answer.
    pub async fn flavor(&self) -> Result<&Flavor, HearthError> {
        let docker = self.client().await?;
        self.flavor
            .get_or_try_init(|| async {
                let version = docker
                    .version()
                    .await
                    .map_err(|e| map_err("read the engine's version", e))?;
                let info = docker
                    .info()
                    .await
                    .map_err(|e| map_err("read the engine's info", e))?;
                let flavor = Flavor::detect(&version, &info);
                tracing::info!(
                    engine = %flavor.kind,
                    version = %flavor.version,
                    pause = flavor.no_pause.as_deref().unwrap_or("supported"),
                    limits = flavor.no_limits.as_deref().unwrap_or("supported"),
                    "{flavor}"
                );
                Ok(flavor)
            })
            .await
    }

    /// The negotiated client.
    ///
    /// # Errors
    /// [`HearthError::DockerUnavailable`] if the engine does not answer.
    pub async fn client(&self) -> Result<&Docker, HearthError> {
        self.client
            .get_or_try_init(|| async {
                let unavailable = |detail: String| HearthError::DockerUnavailable {
                    detail: match &self.host {
                        Some(host) => format!("{detail} (engine at {host})"),
                        None => format!(
                            "{detail} (DOCKER_HOST={})",
                            std::env::var("DOCKER_HOST")
                                .unwrap_or_else(|_| "unset: the local socket".into())
                        ),
                    },
                };
                let docker = match &self.host {
                    Some(host) => Docker::connect_with_host(host),
                    None => Docker::connect_with_defaults(),
                }
                .map_err(|e| unavailable(e.to_string()))?;
                match tokio::time::timeout(CONNECT_TIMEOUT, docker.negotiate_version()).await {
                    Ok(Ok(d)) => Ok(d),
                    Ok(Err(e)) => Err(unavailable(e.to_string())),
                    Err(_) => Err(unavailable(format!("no answer within {CONNECT_TIMEOUT:?}"))),
                }
            })
            .await
    }
}

/// Maps a bollard error to hearth's: an HTTP answer from the engine is a driver failure
/// naming what was attempted; anything else (no socket, refused, reset) means the engine is
/// not there.
pub fn map_err(attempted: impl Into<String>, e: bollard::errors::Error) -> HearthError {
    let attempted = attempted.into();
    match e {
        bollard::errors::Error::DockerResponseServerError {
            status_code,
            message,
        } => HearthError::driver(
            attempted,
            format!("engine answered {status_code}: {message}"),
        ),
        other => HearthError::DockerUnavailable {
            detail: format!("{attempted}: {other}"),
        },
    }
}

/// Whether `e` is the engine saying "no such object".
pub fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}
