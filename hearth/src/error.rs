//! hearth's one error type: every variant has a stable wire code, an HTTP status, whether a
//! retry can help, and a hint saying what to do. Handlers map it to the Go hearth's error body
//! (`{"error":{"code","message","retryable"}}`, plus our `hint`).

use std::time::Duration;

use hearth_protocol::hearth::{ErrorBody, ErrorCode, Status, Tier};

use crate::credential_error::CredentialError;
use crate::driver_error::DriverError;
use crate::image_ref::registry_of;

/// Everything that can go wrong in hearth, as a caller sees it.
#[derive(Debug, thiserror::Error)]
pub enum HearthError {
    #[error("invalid request: {message}")]
    InvalidRequest { message: String },

    #[error("invalid slug {slug:?}: {why}")]
    InvalidSlug { slug: String, why: &'static str },

    #[error("workspace {slug} is live at tier {live}; it cannot be provisioned at tier {asked}")]
    TierMismatch {
        slug: String,
        live: Tier,
        asked: Tier,
    },

    #[error("no workspace named {slug}")]
    NotFound { slug: String },

    #[error("cannot {verb} workspace {slug} while it is {status}")]
    Conflict {
        slug: String,
        verb: &'static str,
        status: Status,
    },

    #[error(
        "image {image} for role {role} is not present and could not be pulled: {cause}: {detail}"
    )]
    ImageUnavailable {
        role: String,
        image: String,
        /// Why, in one word a script can match on; it also picks the hint.
        cause: ImageCause,
        detail: String,
    },

    /// The registry credentials for an image could not be had. The source never holds
    /// credential material (see [`CredentialError`]).
    #[error(
        "the registry credentials for image {image} (role {role}) could not be read: {source}"
    )]
    Credentials {
        role: String,
        image: String,
        /// Boxed: a pull's error stays small on the happy path's stack.
        #[source]
        source: Box<CredentialError>,
    },

    #[error("image for role {role} drifted from the lock: locked {locked}, found {found}")]
    ImageDrift {
        role: String,
        locked: String,
        found: String,
    },

    #[error("{verb} of {slug} exceeded its deadline of {after:?}{}", at.as_ref().map(|s| format!(" (stuck at: {s})")).unwrap_or_default())]
    DeadlineExceeded {
        verb: &'static str,
        slug: String,
        after: Duration,
        /// The last lifecycle step reached, so a stuck operation says where it stuck.
        at: Option<String>,
    },

    #[error("{verb} of {slug} was canceled by its caller")]
    Canceled { verb: &'static str, slug: String },

    /// What the driver (and its engine) said, typed; the engine's error is its source.
    #[error(transparent)]
    Driver(#[from] DriverError),

    #[error("hearth's state could not be {attempted}: {detail}")]
    State { attempted: String, detail: String },

    /// No engine endpoint could be chosen (an unknown context, a missing socket, …).
    #[error(transparent)]
    Engine(#[from] crate::engine_error::ResolveError),
    /// A lock file someone else could have written: refused, since whoever can write it
    /// picks the images hearth runs.
    #[error("lock file {} {why}; whoever can write it picks the images hearth runs", path.display())]
    UntrustedLock {
        path: std::path::PathBuf,
        why: String,
        /// The command that makes it trusted.
        fix: String,
    },
}

/// Why an image could not be had, as `image_unavailable` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageCause {
    /// Absent from the engine and the pull policy is `never`.
    NotPulled,
    /// The registry refused the pull for want of (valid) credentials.
    Unauthorized,
    /// The registry has no such repository, tag or digest.
    NotFound,
    /// No registry answered the connection.
    Unreachable,
    /// The pull outlived its bound (a registry that accepts and stalls).
    TimedOut,
    /// Anything else the engine reported.
    Failed,
}

impl std::fmt::Display for ImageCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ImageCause::NotPulled => "not pulled",
            ImageCause::Unauthorized => "unauthorized",
            ImageCause::NotFound => "not found",
            ImageCause::Unreachable => "registry unreachable",
            ImageCause::TimedOut => "timed out",
            ImageCause::Failed => "pull failed",
        })
    }
}

impl HearthError {
    /// The stable snake_case code sent on the wire.
    pub fn code(&self) -> ErrorCode {
        match self {
            HearthError::InvalidRequest { .. } => ErrorCode::InvalidRequest,
            HearthError::InvalidSlug { .. } => ErrorCode::InvalidSlug,
            HearthError::TierMismatch { .. } => ErrorCode::TierMismatch,
            HearthError::NotFound { .. } => ErrorCode::NotFound,
            HearthError::Conflict { .. } => ErrorCode::Conflict,
            HearthError::ImageUnavailable { .. } | HearthError::Credentials { .. } => {
                ErrorCode::ImageUnavailable
            }
            HearthError::ImageDrift { .. } => ErrorCode::ImageDrift,
            HearthError::DeadlineExceeded { .. } => ErrorCode::DeadlineExceeded,
            HearthError::Canceled { .. } => ErrorCode::ContextCanceled,
            HearthError::Driver(e) => e.code(),
            HearthError::State { .. } | HearthError::UntrustedLock { .. } => {
                ErrorCode::StateUnavailable
            }
            HearthError::Engine(e) => e.code(),
        }
    }

    /// The HTTP status the RPC answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            HearthError::InvalidRequest { .. } | HearthError::InvalidSlug { .. } => 400,
            HearthError::NotFound { .. } => 404,
            HearthError::TierMismatch { .. } | HearthError::Conflict { .. } => 409,
            HearthError::ImageUnavailable { .. }
            | HearthError::Credentials { .. }
            | HearthError::ImageDrift { .. } => 424,
            HearthError::Canceled { .. } => 499,
            HearthError::State { .. } | HearthError::UntrustedLock { .. } => 500,
            HearthError::Driver(e) => e.http_status(),
            HearthError::DeadlineExceeded { .. } => 504,
            HearthError::Engine(_) => 503,
        }
    }

    /// Whether the same call may succeed if simply tried again.
    pub fn retryable(&self) -> bool {
        match self {
            HearthError::DeadlineExceeded { .. } | HearthError::Canceled { .. } => true,
            HearthError::Driver(e) => e.retryable(),
            HearthError::InvalidRequest { .. }
            | HearthError::InvalidSlug { .. }
            | HearthError::TierMismatch { .. }
            | HearthError::NotFound { .. }
            | HearthError::Conflict { .. }
            | HearthError::ImageUnavailable { .. }
            | HearthError::Credentials { .. }
            | HearthError::ImageDrift { .. }
            | HearthError::State { .. }
            | HearthError::UntrustedLock { .. }
            | HearthError::Engine(_) => false,
        }
    }

    /// What the caller can do about it.
    pub fn hint(&self) -> Option<String> {
        let hint = match self {
            HearthError::InvalidRequest { .. } => {
                "see `hearth --help` or the book's RPC section (docs/src/daemon.md) for the request shapes".into()
            }
            HearthError::InvalidSlug { why, .. }
                if *why == hearth_protocol::slug::RESERVED_FOR_MEMBERS =>
            {
                hearth_protocol::slug::RESERVED_HINT.into()
            }
            HearthError::InvalidSlug { .. } => {
                "use a lower-case DNS label of 1-32 characters, e.g. `team-a1`".into()
            }
            HearthError::TierMismatch { .. } => {
                "call upgrade to change the tier of a live workspace".into()
            }
            HearthError::NotFound { .. } => {
                "list workspaces with `hearth ls`; provision it first".into()
            }
            HearthError::Conflict { .. } => {
                "check the workspace's status with `hearth status SLUG`".into()
            }
            HearthError::ImageUnavailable {
                cause: ImageCause::Unauthorized,
                image,
                ..
            } => format!(
                "`docker login {}` (hearth reads credentials as the docker CLI does: \
                 $DOCKER_CONFIG/config.json, else ~/.docker/config.json, with credHelpers and \
                 credsStore)",
                registry_of(image)
            ),
            HearthError::ImageUnavailable { role, .. } => format!(
                "no registry answered: run `make images` to build the offline stand-in, then \
                 set HEARTH_IMAGE_{}=hearth-standin:local (or pull the image yourself)",
                role.to_uppercase()
            ),
            HearthError::Credentials {
                image,
                source,
                ..
            } if matches!(**source, CredentialError::Helper { .. }) => format!(
                "the credential helper's own message says why; check it with `docker pull \
                 {image}`, or `docker login {}` again",
                registry_of(image)
            ),
            HearthError::Credentials { image, .. } => format!(
                "fix the docker config at the place named (or remove the entry and `docker \
                 login {}` again); hearth never repeats what is in it",
                registry_of(image)
            ),
            HearthError::ImageDrift { .. } => {
                "rebuild or pull the locked image, or re-lock with `hearth lock`".into()
            }
            HearthError::DeadlineExceeded { .. } => {
                "see where it stopped with `hearth events SLUG`; raise the deadline with \
                 --op-timeout if the engine is slow"
                    .into()
            }
            HearthError::Canceled { .. } => "call again; nothing was left behind".into(),
            HearthError::Driver(e) => e.hint(),
            HearthError::State { .. } => "check that hearth's --state-dir is writable".into(),
            HearthError::Engine(e) => e.hint(),
            HearthError::UntrustedLock { fix, .. } => fix.clone(),
        };
        Some(hint)
    }

    /// The wire body for this error.
    pub fn to_body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code(),
            message: self.to_string(),
            retryable: self.retryable(),
            hint: self.hint(),
        }
    }

    /// Shorthand for a driver's own failure ([`DriverError::Failed`]) saying what was being
    /// attempted.
    pub fn driver(attempted: impl Into<String>, detail: impl std::fmt::Display) -> Self {
        HearthError::Driver(DriverError::Failed {
            attempted: attempted.into(),
            detail: detail.to_string(),
        })
    }

    /// Shorthand for an engine that does not answer ([`DriverError::Unavailable`]).
    pub fn unavailable(attempted: impl Into<String>, detail: impl std::fmt::Display) -> Self {
        HearthError::Driver(DriverError::Unavailable {
            attempted: attempted.into(),
            detail: detail.to_string(),
            source: None,
        })
    }

    /// Whether the engine (or the guard) said no before anything changed, so the workspace
    /// keeps the status it had.
    pub fn is_refusal(&self) -> bool {
        match self {
            HearthError::Conflict { .. } => true,
            HearthError::Driver(e) => e.is_refusal(),
            HearthError::InvalidRequest { .. }
            | HearthError::InvalidSlug { .. }
            | HearthError::TierMismatch { .. }
            | HearthError::NotFound { .. }
            | HearthError::ImageUnavailable { .. }
            | HearthError::Credentials { .. }
            | HearthError::ImageDrift { .. }
            | HearthError::DeadlineExceeded { .. }
            | HearthError::Canceled { .. }
            | HearthError::State { .. }
            | HearthError::UntrustedLock { .. }
            | HearthError::Engine(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_unavailable_tells_how_to_get_the_stand_in() {
        let e = HearthError::ImageUnavailable {
            role: "lore".into(),
            image: "nginx:alpine".into(),
            cause: ImageCause::Unreachable,
            detail: "no such host".into(),
        };
        let body = e.to_body();
        assert_eq!(body.code, "image_unavailable");
        assert!(body.hint.as_deref().unwrap_or("").contains("make images"));
        assert!(body
            .hint
            .as_deref()
            .unwrap_or("")
            .contains("HEARTH_IMAGE_LORE"));
        assert!(!body.retryable);
    }

    #[test]
    fn unauthorized_tells_how_to_log_in_to_the_images_registry() {
        let e = HearthError::ImageUnavailable {
            role: "lore".into(),
            image: "127.0.0.1:5000/app:v1".into(),
            cause: ImageCause::Unauthorized,
            detail: "no basic auth credentials".into(),
        };
        let body = e.to_body();
        assert!(body.message.contains("unauthorized"), "{}", body.message);
        let hint = body.hint.unwrap_or_default();
        assert!(hint.contains("docker login 127.0.0.1:5000"), "{hint}");
    }

    #[test]
    fn canceled_keeps_the_go_status_and_code() {
        let e = HearthError::Canceled {
            verb: "provision",
            slug: "a".into(),
        };
        assert_eq!(
            (e.http_status(), e.code(), e.retryable()),
            (499, ErrorCode::ContextCanceled, true)
        );
    }
}
