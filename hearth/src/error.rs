//! hearth's one error type: every variant has a stable wire code, an HTTP status, whether a
//! retry can help, and a hint saying what to do. Handlers map it to the Go hearth's error body
//! (`{"error":{"code","message","retryable"}}`, plus our `hint`).

use std::time::Duration;

use hearth_protocol::hearth::{ErrorBody, Status, Tier};

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

    #[error("the Docker engine is not reachable: {detail}")]
    DockerUnavailable { detail: String },

    #[error("image {image} for role {role} is not present and could not be pulled: {detail}")]
    ImageUnavailable {
        role: String,
        image: String,
        detail: String,
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

    #[error("failed to {attempted}: {detail}")]
    Driver { attempted: String, detail: String },

    #[error("the {engine} backend cannot {what}: {reason}")]
    Unsupported {
        engine: &'static str,
        what: String,
        reason: String,
    },

    #[error("hearth's state could not be {attempted}: {detail}")]
    State { attempted: String, detail: String },
}

impl HearthError {
    /// The stable snake_case code sent on the wire.
    pub fn code(&self) -> &'static str {
        match self {
            HearthError::InvalidRequest { .. } => "invalid_request",
            HearthError::InvalidSlug { .. } => "invalid_slug",
            HearthError::TierMismatch { .. } => "tier_mismatch",
            HearthError::NotFound { .. } => "not_found",
            HearthError::Conflict { .. } => "conflict",
            HearthError::DockerUnavailable { .. } => "docker_unavailable",
            HearthError::ImageUnavailable { .. } => "image_unavailable",
            HearthError::ImageDrift { .. } => "image_drift",
            HearthError::DeadlineExceeded { .. } => "deadline_exceeded",
            HearthError::Canceled { .. } => "context_canceled",
            HearthError::Driver { .. } => "driver_failure",
            HearthError::Unsupported { .. } => "unsupported",
            HearthError::State { .. } => "state_unavailable",
        }
    }

    /// The HTTP status the RPC answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            HearthError::InvalidRequest { .. } | HearthError::InvalidSlug { .. } => 400,
            HearthError::NotFound { .. } => 404,
            HearthError::TierMismatch { .. } | HearthError::Conflict { .. } => 409,
            HearthError::ImageUnavailable { .. } | HearthError::ImageDrift { .. } => 424,
            HearthError::Canceled { .. } => 499,
            HearthError::Driver { .. } | HearthError::State { .. } => 500,
            HearthError::DockerUnavailable { .. } => 503,
            HearthError::Unsupported { .. } => 501,
            HearthError::DeadlineExceeded { .. } => 504,
        }
    }

    /// Whether the same call may succeed if simply tried again.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            HearthError::DockerUnavailable { .. }
                | HearthError::DeadlineExceeded { .. }
                | HearthError::Canceled { .. }
        )
    }

    /// What the caller can do about it.
    pub fn hint(&self) -> Option<String> {
        let hint = match self {
            HearthError::InvalidRequest { .. } => {
                "see `hearth --help` or the README's RPC section for the request shapes".into()
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
            HearthError::DockerUnavailable { .. } => {
                "start the Docker engine (`sudo systemctl start docker` or `dockerd`) or point \
                 DOCKER_HOST at one"
                    .into()
            }
            HearthError::ImageUnavailable { role, .. } => format!(
                "no registry answered: run `make images` to build the offline stand-in, then \
                 set HEARTH_IMAGE_{}=hearth-standin:local (or pull the image yourself)",
                role.to_uppercase()
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
            HearthError::Driver { .. } => {
                "run `hearth events SLUG` and `docker ps -a --filter label=dev.hearth.managed-by=hearth` to see the engine's side"
                    .into()
            }
            HearthError::State { .. } => "check that hearth's --state-dir is writable".into(),
            HearthError::Unsupported { .. } => {
                "see docs/backends.md for what each backend can do; use another driver for it"
                    .into()
            }
        };
        Some(hint)
    }

    /// The wire body for this error.
    pub fn to_body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code().to_owned(),
            message: self.to_string(),
            retryable: self.retryable(),
            hint: self.hint(),
        }
    }

    /// Shorthand for a [`HearthError::Driver`] saying what was being attempted.
    pub fn driver(attempted: impl Into<String>, detail: impl std::fmt::Display) -> Self {
        HearthError::Driver {
            attempted: attempted.into(),
            detail: detail.to_string(),
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
    fn canceled_keeps_the_go_status_and_code() {
        let e = HearthError::Canceled {
            verb: "provision",
            slug: "a".into(),
        };
        assert_eq!(
            (e.http_status(), e.code(), e.retryable()),
            (499, "context_canceled", true)
        );
    }
}
