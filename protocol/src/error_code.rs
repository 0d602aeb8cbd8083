//! The wire error codes of hearth's RPC and the console's API: one enum that the daemon, its
//! client and the console all use, so a code is matched by the compiler, never by a string.
//! On the wire a code is its snake_case name; a code this build does not know (from a newer
//! or another server) still parses, as [`ErrorCode::Unknown`], and goes back out unchanged.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! codes {
    ($($(#[$doc:meta])* $variant:ident = $wire:literal,)*) => {
        /// A stable, machine-readable error code.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
            /// A code this build does not know, kept as it was sent.
            Unknown(String),
        }

        impl ErrorCode {
            /// Every code this build knows, for documentation and tests.
            pub const KNOWN: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code as it travels on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $(ErrorCode::$variant => $wire,)*
                    ErrorCode::Unknown(s) => s,
                }
            }

            /// Parses a wire code; an unknown one becomes [`ErrorCode::Unknown`].
            pub fn parse(s: &str) -> ErrorCode {
                match s {
                    $($wire => ErrorCode::$variant,)*
                    other => ErrorCode::Unknown(other.to_owned()),
                }
            }
        }
    };
}

codes! {
    // hearth's RPC (the Go hearth's three first, then ours).
    /// The request is malformed (400).
    InvalidRequest = "invalid_request",
    /// The engine or driver failed the verb (500).
    DriverFailure = "driver_failure",
    /// The caller went away or canceled (499, retryable).
    ContextCanceled = "context_canceled",
    /// The slug is not a DNS label (400).
    InvalidSlug = "invalid_slug",
    /// The slug is live at another tier (409).
    TierMismatch = "tier_mismatch",
    /// No such workspace (404).
    NotFound = "not_found",
    /// Refused in the workspace's present status, by hearth or by the engine (409).
    Conflict = "conflict",
    /// The container engine does not answer (503, retryable).
    DockerUnavailable = "docker_unavailable",
    /// A role's image is absent and cannot be pulled (424).
    ImageUnavailable = "image_unavailable",
    /// A role's image differs from the lock (424).
    ImageDrift = "image_drift",
    /// The verb ran past its deadline (504, retryable).
    DeadlineExceeded = "deadline_exceeded",
    /// hearth's own state could not be read or written (500).
    StateUnavailable = "state_unavailable",
    /// The backend cannot do this verb or enforce this limit (501).
    Unsupported = "unsupported",
    /// No engine is where the settings point: a missing socket, nothing found (503).
    EngineNotFound = "engine_not_found",
    /// The engine settings are wrong: an unknown context, a file that does not parse,
    /// missing TLS material (503).
    EngineMisconfigured = "engine_misconfigured",
    // The hearth client's own.
    /// Nothing answered on hearth's socket.
    HearthUnreachable = "hearth_unreachable",
    /// hearth answered something that is not the expected shape.
    BadAnswer = "bad_answer",
    // The console's API.
    /// No valid admin token or session (401).
    Unauthorized = "unauthorized",
    /// A `Host` outside the allowlist (403).
    ForbiddenHost = "forbidden_host",
    /// A cross-site `Origin` (403).
    ForbiddenOrigin = "forbidden_origin",
    /// A cookie-authenticated write without the page's own header (403).
    PageHeaderMissing = "page_header_missing",
    /// A page login code that is used, expired or unknown (401).
    LoginRefused = "login_refused",
    /// The request body is over the cap (413).
    PayloadTooLarge = "payload_too_large",
    /// The audit log cannot be written (500).
    HatchUnavailable = "hatch_unavailable",
    /// The worker refused a run (502).
    SubmitRejected = "submit_rejected",
    /// The worker could not be reached (502).
    WorkerUnreachable = "worker_unreachable",
    /// A number from outside (a HATCH log's prompt count, say) is past the protocol's limit
    /// (422).
    OutOfRange = "out_of_range",
    /// A bug or unexpected failure (500).
    Internal = "internal",
    // Either server, for the framework's own rejections.
    /// The route exists but not with this method (405).
    MethodNotAllowed = "method_not_allowed",
    /// The body is not sent as JSON (415).
    UnsupportedMediaType = "unsupported_media_type",
    /// The request body did not arrive within its deadline (408); the connection is closed.
    RequestTimeout = "request_timeout",
    /// The request head is over the cap (431).
    HeadTooLarge = "head_too_large",
    // What stops the console (or `console ui`, `console hatch verify`) before it serves.
    /// The admin token file cannot be read or written.
    TokenIo = "token_io",
    /// The admin token file is readable by others.
    TokenTooOpen = "token_too_open",
    /// The admin token file holds no usable token.
    TokenMalformed = "token_malformed",
    /// A private directory is open to others or owned by someone else.
    InsecureDirectory = "insecure_directory",
    /// A private file is open to others or owned by someone else.
    InsecureFile = "insecure_file",
    /// A file or socket operation failed.
    Io = "io",
    /// The HATCH log cannot be opened (or locked).
    HatchOpenFailed = "hatch_open_failed",
    /// A HATCH log line is not a CloudEvent the console wrote.
    HatchCorrupt = "hatch_corrupt",
    /// The HATCH log cannot be read.
    HatchUnreadable = "hatch_unreadable",
    /// The sink refused an event (its shape, its size).
    HatchEventRefused = "hatch_event_refused",
    /// The worker's key file cannot be loaded.
    KeysUnreadable = "keys_unreadable",
    /// The worker's URL is not a loopback http URL.
    InvalidWorkerUrl = "invalid_worker_url",
    /// `console ui`: the console's state (its URL file) cannot be read.
    StateUnreadable = "state_unreadable",
    /// `console ui`: the console's URL is not on loopback.
    NotLoopback = "not_loopback",
    /// `console ui`: nothing answers at the console's URL.
    ConsoleUnreachable = "console_unreachable",
    /// `console ui`: the console refused to mint a login code.
    ConsoleRefused = "console_refused",
    /// worker-stub: its state dir is held by another worker.
    StateDirInUse = "state_dir_in_use",
    /// A prompt count past the protocol's cap.
    TooManyPrompts = "too_many_prompts",
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for ErrorCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(ErrorCode::parse(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_code_round_trips() {
        for code in ErrorCode::KNOWN {
            let wire = serde_json::to_string(code).expect("ser");
            let back: ErrorCode = serde_json::from_str(&wire).expect("de");
            assert_eq!(&back, code);
            assert!(!matches!(back, ErrorCode::Unknown(_)), "{wire}");
        }
    }

    #[test]
    fn an_unknown_code_parses_and_goes_out_unchanged() {
        let c: ErrorCode = serde_json::from_str("\"quota_exceeded\"").expect("de");
        assert_eq!(c, ErrorCode::Unknown("quota_exceeded".into()));
        assert_eq!(
            serde_json::to_string(&c).expect("ser"),
            "\"quota_exceeded\""
        );
    }

    #[test]
    fn codes_keep_the_go_names() {
        assert_eq!(ErrorCode::InvalidRequest, "invalid_request");
        assert_eq!(ErrorCode::DriverFailure, "driver_failure");
        assert_eq!(ErrorCode::ContextCanceled, "context_canceled");
    }
}
