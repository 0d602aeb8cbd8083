//! Why no engine endpoint could be chosen: each case names the file or setting at fault and
//! says what to do, and none of them falls back to another engine.

use std::path::PathBuf;

use hearth_protocol::hearth::ErrorCode;

/// Choosing the engine failed before any connection was tried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// A context was asked for (by `DOCKER_CONTEXT` or `currentContext`) that has no
    /// `meta.json`.
    #[error("context {name:?} ({from}) does not exist: no {}", path.display())]
    UnknownContext {
        name: String,
        /// What asked for it: `DOCKER_CONTEXT`, or `currentContext in …/config.json`.
        from: String,
        path: PathBuf,
        /// The contexts that do exist, to pick from.
        known: Vec<String>,
    },

    /// A file of the docker CLI's (config.json, a context's meta.json) is not what the CLI
    /// writes.
    #[error("{} does not parse: {detail}", path.display())]
    BadFile { path: PathBuf, detail: String },

    /// The endpoint is a unix socket and no file is there.
    #[error("no engine socket at {} ({why})", path.display())]
    MissingSocket { path: PathBuf, why: String },

    /// Nothing named an engine, the default socket is absent and no well-known socket
    /// answered.
    #[error("no engine found: nothing set (no --docker-host, DOCKER_HOST, DOCKER_CONTEXT or current context) and none of these sockets is there: {}", looked.join(", "))]
    NoEngine { looked: Vec<String> },

    /// TLS was asked for and a certificate file is missing.
    #[error("TLS for {host} ({why}) needs {}, which is missing", path.display())]
    MissingTls {
        host: String,
        why: String,
        path: PathBuf,
    },

    /// The endpoint's address is not one hearth can use.
    #[error("engine address {host:?} ({why}) is not usable: {detail}")]
    BadHost {
        host: String,
        why: String,
        detail: String,
    },

    /// Something the docker CLI can do and hearth's engine client cannot.
    #[error("{what} ({why}) is not supported: {detail}")]
    Unsupported {
        what: String,
        why: String,
        detail: String,
    },
}

impl ResolveError {
    /// The wire code: `engine_not_found` when no engine is where the settings point,
    /// `unsupported` for what hearth cannot speak, `engine_misconfigured` otherwise.
    pub fn code(&self) -> ErrorCode {
        match self {
            ResolveError::MissingSocket { .. } | ResolveError::NoEngine { .. } => {
                ErrorCode::EngineNotFound
            }
            ResolveError::Unsupported { .. } => ErrorCode::Unsupported,
            ResolveError::UnknownContext { .. }
            | ResolveError::BadFile { .. }
            | ResolveError::MissingTls { .. }
            | ResolveError::BadHost { .. } => ErrorCode::EngineMisconfigured,
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            ResolveError::UnknownContext { known, .. } => format!(
                "`docker context ls` lists the contexts ({}); create it with `docker context \
                 create NAME --docker host=unix:///…`, or unset DOCKER_CONTEXT / run `docker \
                 context use default`",
                if known.is_empty() {
                    "none but default here".to_owned()
                } else {
                    known.join(", ")
                }
            ),
            ResolveError::BadFile { .. } => "fix or remove the file (the docker CLI writes it: \
                 `docker context rm NAME` and create it again)"
                .into(),
            ResolveError::MissingSocket { .. } => "start the engine that serves it (`sudo \
                 systemctl start docker`, `colima start`, `podman machine start`, `systemctl \
                 --user start podman.socket`), or point --docker-host / DOCKER_HOST elsewhere"
                .into(),
            ResolveError::NoEngine { .. } => "start an engine, or say where it is: \
                 --docker-host unix:///path/docker.sock, DOCKER_HOST, or `docker context use \
                 NAME`; `hearth doctor` shows what was looked at"
                .into(),
            ResolveError::MissingTls { .. } => "put ca.pem, cert.pem and key.pem in \
                 DOCKER_CERT_PATH (default ~/.docker), or in the context's TLS store (`docker \
                 context create NAME --docker host=tcp://…,ca=…,cert=…,key=…`)"
                .into(),
            ResolveError::BadHost { .. } => "use unix:///path/to/docker.sock, \
                 tcp://HOST:PORT (with DOCKER_TLS_VERIFY=1 for TLS) or ssh://USER@HOST"
                .into(),
            ResolveError::Unsupported { .. } => "use a context with a unix:// or TLS-verified \
                 tcp:// endpoint, or forward the remote socket with `ssh -L \
                 /tmp/remote.sock:/var/run/docker.sock USER@HOST` and use unix:///tmp/remote.sock"
                .into(),
        }
    }
}
