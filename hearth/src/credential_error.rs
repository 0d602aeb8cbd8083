//! Why registry credentials could not be had: the config file's and the credential helpers'
//! failures, as errors that never hold credential material (no value read from the config
//! file, nothing of a helper's stdout), so no message, log line, event or audit line made from
//! one can show a password, a token or `user:password` in base64. Reading the config and
//! running the helpers is the engine room's (`driver::engine::credentials`).

use std::path::PathBuf;
use std::time::Duration;

/// Why the credentials for a pull could not be had. No variant holds a value read from the
/// config file or a helper's stdout, so no message, log line, event or audit line made from
/// one can show a password, a token or `user:password` in base64.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The config file exists but cannot be read.
    #[error("cannot read the docker config {}: {source}", file.display())]
    Unreadable {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The config file is not JSON (truncated, or a syntax error).
    #[error("the docker config {} is not JSON: {what} at line {line}, column {column}", file.display())]
    NotJson {
        file: PathBuf,
        /// `ends early` or `has a syntax error`.
        what: &'static str,
        line: usize,
        column: usize,
    },
    /// A key has a value of the wrong shape: `auths."127.0.0.1:5000"` a string, not an object.
    #[error("the docker config {} is not a docker config: {path} should be {expected}", file.display())]
    Shape {
        file: PathBuf,
        /// The JSON path of the value, its registry key included.
        path: String,
        expected: &'static str,
    },
    /// A registry's `auth` field is not base64 of `user:password`.
    #[error("the docker config {}: the auth entry for {registry} ({path}) {why}", file.display())]
    BadAuth {
        file: PathBuf,
        registry: String,
        path: String,
        why: &'static str,
    },
    /// The credential helper the config names failed.
    #[error("{source} (the helper is named in {})", file.display())]
    Helper {
        file: PathBuf,
        #[source]
        source: HelperFailure,
    },
}

/// Why a credential helper gave no credentials. Holds nothing of the helper's stdout.
#[derive(Debug, thiserror::Error)]
pub enum HelperFailure {
    #[error("cannot run the credential helper {helper}: {source}")]
    Spawn {
        helper: String,
        #[source]
        source: std::io::Error,
    },
    #[error("credential helper {helper} did not answer within {after:?}")]
    Timeout { helper: String, after: Duration },
    /// It exited unsuccessfully; `stderr` is what it said there (trimmed, capped).
    #[error("credential helper {helper} failed for {server} ({exit}){}", if stderr.is_empty() { String::new() } else { format!(": {stderr}") })]
    Failed {
        helper: String,
        server: String,
        /// `exit code 1`, or `killed by signal 9`.
        exit: String,
        stderr: String,
    },
    /// It exited 0 but its stdout is not `{"Username": …, "Secret": …}`.
    #[error("credential helper {helper} answered something other than {{\"Username\", \"Secret\"}} for {server}: {why}")]
    Answer {
        helper: String,
        server: String,
        why: &'static str,
    },
}
