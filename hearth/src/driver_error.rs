//! What a driver's engine said, typed: the dispatcher decides from the kind (a refusal keeps
//! the workspace's status; an unreachable engine is retryable), the wire gets a stable code,
//! and the engine's own error stays attached as the source for logs.

use std::time::Duration;

use hearth_protocol::hearth::ErrorCode;

/// The engine's own error, kept as the source of a [`DriverError`].
pub(crate) type EngineError = Box<dyn std::error::Error + Send + Sync>;

/// A driver's failure, by kind.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The engine refused the act in the object's present state (pause of a container that is
    /// already paused, unpause of one that is not): nothing changed.
    #[error("{attempted}: the engine refused: {reason}")]
    Refused {
        attempted: String,
        reason: String,
        #[source]
        source: Option<EngineError>,
    },

    /// An object the workspace needs is not on the engine (removed outside hearth).
    #[error("failed to {attempted}: {what}")]
    Missing {
        attempted: String,
        what: String,
        #[source]
        source: Option<EngineError>,
    },

    /// The engine does not answer (no socket, refused, reset, or it went away mid-call).
    #[error("the engine is not reachable: {attempted}: {detail}")]
    Unavailable {
        attempted: String,
        detail: String,
        #[source]
        source: Option<EngineError>,
    },

    /// A name or object is held by something else (another container of that name, a
    /// volume still mounted): the engine answered 409.
    #[error("failed to {attempted}: {detail}")]
    InUse {
        attempted: String,
        detail: String,
        #[source]
        source: Option<EngineError>,
    },

    /// An engine call did not finish within its bound.
    #[error("failed to {attempted}: no answer within {after:?}")]
    Timeout { attempted: String, after: Duration },

    /// The backend cannot do this at all (a verb, or a limit it would silently ignore).
    #[error("{engine} cannot {what}: {reason}")]
    Unsupported {
        engine: String,
        what: String,
        reason: String,
    },

    /// The engine answered an error that is none of the above.
    #[error("failed to {attempted}: engine answered {status}: {message}")]
    Engine {
        attempted: String,
        status: u16,
        message: String,
        #[source]
        source: Option<EngineError>,
    },

    /// The driver's own check failed (a role never answered HTTP, a container stopped).
    #[error("failed to {attempted}: {detail}")]
    Failed { attempted: String, detail: String },

    /// A role's readiness probe did not pass in time: the role, the last observation (which
    /// names the probe: `GET /healthz answered 503`), how long hearth waited and how often it
    /// looked.
    #[error("{role}: {observation} for {after} ({attempts} attempts)")]
    NotReady {
        role: String,
        observation: String,
        /// Rendered (`60 s`, `0.5 s`).
        after: String,
        attempts: u32,
    },

    /// A role's process exited where it should not have: a one-shot with a non-zero code, a
    /// service while hearth waited on it. Its last log lines say why.
    #[error("{role}: exited with code {code} {when}; its last log lines:\n{log}")]
    Exited {
        role: String,
        code: i64,
        /// `while hearth waited for it to be ready`, `before it completed`.
        when: &'static str,
        log: String,
    },
}

impl DriverError {
    /// The wire code.
    pub fn code(&self) -> ErrorCode {
        match self {
            DriverError::Refused { .. } | DriverError::InUse { .. } => ErrorCode::Conflict,
            DriverError::Unavailable { .. } => ErrorCode::DockerUnavailable,
            DriverError::Timeout { .. } => ErrorCode::DeadlineExceeded,
            DriverError::Unsupported { .. } => ErrorCode::Unsupported,
            DriverError::Missing { .. }
            | DriverError::Engine { .. }
            | DriverError::Failed { .. }
            | DriverError::NotReady { .. }
            | DriverError::Exited { .. } => ErrorCode::DriverFailure,
        }
    }

    /// The HTTP status the RPC answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            DriverError::Refused { .. } | DriverError::InUse { .. } => 409,
            DriverError::Unavailable { .. } => 503,
            DriverError::Timeout { .. } => 504,
            DriverError::Unsupported { .. } => 501,
            DriverError::Missing { .. }
            | DriverError::Engine { .. }
            | DriverError::Failed { .. }
            | DriverError::NotReady { .. }
            | DriverError::Exited { .. } => 500,
        }
    }

    /// Whether the same call may succeed if tried again unchanged.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            DriverError::Unavailable { .. } | DriverError::Timeout { .. }
        )
    }

    /// Whether nothing changed: the engine said no before acting, so the workspace keeps the
    /// status it had.
    pub fn is_refusal(&self) -> bool {
        match self {
            DriverError::Refused { .. }
            | DriverError::Unsupported { .. }
            | DriverError::Unavailable { .. } => true,
            DriverError::Missing { .. }
            | DriverError::InUse { .. }
            | DriverError::Timeout { .. }
            | DriverError::Engine { .. }
            | DriverError::Failed { .. }
            | DriverError::NotReady { .. }
            | DriverError::Exited { .. } => false,
        }
    }

    /// What the caller can do about it.
    pub fn hint(&self) -> String {
        match self {
            DriverError::Refused { .. } => "the engine's state differs from hearth's record \
                 (changed outside hearth?): check `hearth status SLUG`, then call the verb \
                 that fits"
                .into(),
            DriverError::Missing { .. } => "objects were removed outside hearth: `hearth \
                 teardown SLUG`, then provision it again"
                .into(),
            DriverError::Unavailable { .. } => "start the engine (`sudo systemctl start \
                 docker`, `dockerd`, or `podman system service`) or point DOCKER_HOST at one"
                .into(),
            DriverError::InUse { .. } => "something outside this hearth holds that name or \
                 object: see `hearth events SLUG`, remove or rename the other one, and call \
                 again"
                .into(),
            DriverError::Timeout { .. } => "the engine is slow or stuck: check it, then call \
                 again"
                .into(),
            DriverError::Unsupported { .. } => "this backend cannot do it; see \
                 docs/src/backends.md for what each backend supports"
                .into(),
            DriverError::Engine { .. } | DriverError::Failed { .. } => "run `hearth events \
                 SLUG` to see which step failed, and the engine's own logs for why"
                .into(),
            DriverError::NotReady { .. } => "the role runs but its probe never passed: check \
                 the role's `port` and `ready` in the template (path, status, port) against \
                 what the image does, and `hearth events SLUG` for each attempt"
                .into(),
            DriverError::Exited { .. } => "the role's own log lines above say why it exited: \
                 fix its image, `command` or `env` in the template"
                .into(),
        }
    }
}
