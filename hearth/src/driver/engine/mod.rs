//! The engine room: what every driver that speaks the Docker Engine API (Docker, Podman's
//! compatible API, Swarm) shares. Here: the configuration (`config`), image supply (`images`
//! resolves and applies the pull policy and the lock, `pull` pulls with progress and a bound,
//! `credentials` finds registry logins as the docker CLI does, `credential_helper` runs the
//! helpers, `pins` is what `hearth lock` pins), hearth's own address pool (`subnets`), listing
//! (`objects`) and removal (`removal`) by label, the shared create shapes (`create`), telling
//! Docker from Podman (`flavor`), the HTTP readiness check (`readiness`), and the connection:
//! the endpoint chosen as the docker CLI chooses it
//! (`resolve`, reading `context` files, trying `probe`'s well-known sockets, with `tls`
//! material), the client made lazily (so hearth starts, and answers `docker_unavailable`,
//! while the engine is down), with the API version negotiated, and bollard's errors mapped to
//! hearth's, saying what was being attempted.

pub mod config;
pub mod context;
pub(crate) mod create;
mod credential_helper;
pub mod credentials;
pub mod flavor;
pub(crate) mod images;
pub(crate) mod objects;
pub mod pins;
mod pull;
pub mod readiness;
pub(crate) mod removal;
pub(crate) mod subnets;
pub(crate) mod template;
/// Why no engine endpoint could be chosen: on hearth's ground floor (`crate::engine_error`),
/// so `crate::error` needs nothing from this room.
use crate::engine_error as error;
pub mod probe;
pub mod resolve;
pub mod tls;

use std::time::Duration;

use bollard::Docker;
use tokio::sync::OnceCell;

use crate::driver_error::DriverError;
use crate::error::HearthError;

pub use config::EngineConfig;
pub use credentials::registry_of;
pub use error::ResolveError;
pub use flavor::{Capability, EngineKind, Flavor};
pub use images::PullPolicy;
pub use objects::summaries as list_container_summaries;
pub use pull::human_bytes;
pub use resolve::{resolve, Endpoint, Given, Inputs, Source};
pub use subnets::SubnetPool;
pub use tls::TlsFiles;

/// How long connecting and negotiating may take before the engine counts as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// bollard's bound on one engine call (its own default is two minutes); longer than any
/// single call hearth makes, shorter than the verbs' deadlines.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// A lazily negotiated engine client.
#[derive(Debug)]
pub struct Engine {
    /// Where the engine listens and why, or why no endpoint could be chosen (said by every
    /// call, so a library user gets the reason; `hearth serve` checks it at start).
    endpoint: Result<Endpoint, ResolveError>,
    /// Set once the first call has negotiated the API version; retried until then.
    client: OnceCell<Docker>,
    /// Which engine answers and what it can do, read once after the first connection.
    flavor: OnceCell<Flavor>,
}

impl Engine {
    /// The engine at `endpoint`.
    pub fn new(endpoint: Endpoint) -> Self {
        Engine::with(Ok(endpoint))
    }

    fn with(endpoint: Result<Endpoint, ResolveError>) -> Self {
        Engine {
            endpoint,
            client: OnceCell::new(),
            flavor: OnceCell::new(),
        }
    }

    /// The engine the docker CLI would talk to (flag aside): `DOCKER_HOST`, `DOCKER_CONTEXT`,
    /// the current context, the default socket, the well-known sockets.
    pub fn from_env() -> Self {
        Engine::resolved(&Inputs::from_env(None))
    }

    /// The engine `inputs` choose (see [`resolve()`]).
    pub fn resolved(inputs: &Inputs) -> Self {
        Engine::with(resolve(inputs))
    }

    /// An engine at `host` (`unix:///run/podman/podman.sock`, …), whatever `DOCKER_HOST` says.
    pub fn at(host: impl Into<String>) -> Self {
        Engine::new(Endpoint::given(host, "set by hearth's caller"))
    }

    /// The engine a driver's configuration names: the endpoint `hearth serve` resolved, else
    /// its explicit host, else the environment's.
    pub fn for_config(config: &EngineConfig) -> Self {
        match (&config.endpoint, &config.host) {
            (Some(e), _) => Engine::new(e.clone()),
            (None, Some(host)) => Engine::at(host.clone()),
            (None, None) => Engine::from_env(),
        }
    }

    /// Where the engine is and why it was chosen.
    ///
    /// # Errors
    /// The [`ResolveError`] that kept an endpoint from being chosen.
    pub fn endpoint(&self) -> Result<&Endpoint, HearthError> {
        self.endpoint
            .as_ref()
            .map_err(|e| HearthError::Engine(e.clone()))
    }

    /// Which engine answers (Docker or Podman) and what it cannot do; found on first use
    /// and logged then.
    ///
    /// # Errors
    /// `docker_unavailable` if the engine does not answer.
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
    /// `docker_unavailable` (a [`HearthError::Driver`]) if the engine does not answer (a certificate that
    /// does not verify says so, with the TLS library's reason), or the resolution error.
    pub async fn client(&self) -> Result<&Docker, HearthError> {
        let endpoint = self.endpoint()?;
        self.client
            .get_or_try_init(|| async {
                let unavailable = |detail: String| {
                    HearthError::unavailable(format!("connect to the engine {endpoint}"), detail)
                };
                let docker = connect(endpoint)
                    .map_err(|e| unavailable(tls::chain(&e)))?
                    .with_timeout(REQUEST_TIMEOUT);
                match tokio::time::timeout(CONNECT_TIMEOUT, docker.negotiate_version()).await {
                    Ok(Ok(d)) => Ok(d),
                    Ok(Err(e)) => Err(unavailable(tls::chain(&e))),
                    Err(_) => Err(unavailable(format!("no answer within {CONNECT_TIMEOUT:?}"))),
                }
            })
            .await
    }
}

/// A client for `endpoint`, by its scheme: a unix socket, TLS-verified or plain TCP, or SSH
/// (bollard runs the system `ssh` and `docker system dial-stdio` on the remote host).
fn connect(endpoint: &Endpoint) -> Result<Docker, bollard::errors::Error> {
    let secs = REQUEST_TIMEOUT.as_secs();
    let api = bollard::API_DEFAULT_VERSION;
    if let Some(path) = endpoint.socket() {
        return Docker::connect_with_unix(&path.to_string_lossy(), secs, api);
    }
    if let Some(t) = &endpoint.tls {
        return Docker::connect_with_ssl(&endpoint.host, &t.key, &t.cert, &t.ca, secs, api);
    }
    if endpoint.host.starts_with("ssh://") {
        return Docker::connect_with_ssh(&endpoint.host, secs, api, None);
    }
    Docker::connect_with_http(&endpoint.host, secs, api)
}

/// Maps a bollard error to hearth's, by kind: "no such object" is [`DriverError::Missing`], a
/// 409 is [`DriverError::InUse`] (a name or object held by something else), a timeout is
/// [`DriverError::Timeout`], any other HTTP answer [`DriverError::Engine`], and anything that
/// is not an answer at all (no socket, refused, reset) [`DriverError::Unavailable`]. The
/// bollard error stays attached as the source.
pub fn map_err(attempted: impl Into<String>, e: bollard::errors::Error) -> HearthError {
    let attempted = attempted.into();
    let err = match e {
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ref message,
        } => DriverError::Missing {
            attempted,
            what: format!("engine answered 404: {message}"),
            source: Some(Box::new(e)),
        },
        bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            ref message,
        } => DriverError::InUse {
            attempted,
            detail: format!("engine answered 409: {message}"),
            source: Some(Box::new(e)),
        },
        bollard::errors::Error::DockerResponseServerError {
            status_code,
            ref message,
        } => DriverError::Engine {
            attempted,
            status: status_code,
            message: message.clone(),
            source: Some(Box::new(e)),
        },
        bollard::errors::Error::RequestTimeoutError => DriverError::Timeout {
            attempted,
            after: REQUEST_TIMEOUT,
        },
        other => DriverError::Unavailable {
            attempted,
            detail: other.to_string(),
            source: Some(Box::new(other)),
        },
    };
    HearthError::Driver(err)
}

/// What engines say when an object is not in a state for the act asked (Docker 20.10 answers
/// unpause of a running container with a 500, not a 409; Podman words it alike).
const STATE_REFUSALS: [&str; 4] = [
    "is not paused",
    "is already paused",
    "is paused",
    "is not running",
];

/// As [`map_err`], for a verb the engine may refuse in the object's present state (pause,
/// unpause, stop): a 409, or an answer saying the object is not in a state for that, means
/// nothing changed.
pub fn map_refusal(attempted: impl Into<String>, e: bollard::errors::Error) -> HearthError {
    match e {
        bollard::errors::Error::DockerResponseServerError {
            status_code,
            ref message,
        } if status_code == 409 || STATE_REFUSALS.iter().any(|r| message.contains(r)) => {
            HearthError::Driver(DriverError::Refused {
                attempted: attempted.into(),
                reason: message.clone(),
                source: Some(Box::new(e)),
            })
        }
        other => map_err(attempted, other),
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

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::map_err;
    use crate::driver_error::DriverError;
    use crate::error::HearthError;

    /// Every kind keeps bollard's error as its source, the 404 too.
    #[test]
    fn a_missing_object_keeps_the_engines_error_as_its_source() {
        let e = bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            message: "No such container: x".to_owned(),
        };
        let HearthError::Driver(err) = map_err("inspect x", e) else {
            panic!("a driver error");
        };
        assert!(matches!(err, DriverError::Missing { .. }), "{err:?}");
        assert!(err.to_string().contains("No such container: x"), "{err}");
        let source = err.source().expect("the engine's error is kept");
        assert!(source.to_string().contains("No such container"), "{source}");
    }
}
