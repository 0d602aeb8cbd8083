//! The hearth console: LocalAuth in front of workspace routes (hearth's RPC on its unix
//! socket), runs submitted to the worker with an HMAC bearer and relayed from its KAHN stream,
//! and the HATCH audit log every act is written to before the console answers.
//!
//! - [`auth`]: the admin token and cookie sessions.
//! - [`gate`]: Host allowlist, Origin check, body cap, authentication.
//! - [`sink`]: the HATCH writer (append + fsync, poisoned on failure).
//! - [`hearth_api`]: the hearth verbs the console uses, over hearth's client.
//! - [`worker`]: signed submits and the event stream.
//! - [`relay`], [`runs`]: following a run and remembering what it did.
//! - [`routes`]: the HTTP API; [`error`]: its error answers.
//! - [`verify`]: `console hatch verify`.
//! - [`ui`]: the web page, its login codes and its live views.

pub mod auth;
pub mod error;
pub mod extract;
pub mod gate;
pub mod hearth_api;
pub mod relay;
pub mod routes;
pub mod runs;
pub mod sink;
#[cfg(any(test, feature = "test-support"))]
pub mod static_hearth;
pub mod ui;
pub mod verify;
pub mod worker;

use hearth_protocol::hearth::ErrorCode;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hearth_protocol::bearer::Keyring;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::LocalAuth;
use crate::gate::GatePolicy;
use crate::hearth_api::{Hearth, SocketHearth};
use crate::runs::Runs;
use crate::sink::HatchSink;
use crate::worker::WorkerClient;

/// Default request body cap (64 KiB).
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;
/// How long shutdown waits for acts and relays still in flight.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything `console serve` is configured with.
#[derive(Debug, Clone)]
pub struct Config {
    /// hearth's unix socket.
    pub hearth_socket: PathBuf,
    /// The worker's base URL.
    pub worker_url: String,
    /// The keys file (`key_id:secret` lines; the first signs).
    pub keys_file: PathBuf,
    /// The HATCH log.
    pub hatch_file: PathBuf,
    /// Where the admin token lives.
    pub state_dir: PathBuf,
    /// Extra `Host` values to serve besides the loopback names.
    pub allow_hosts: Vec<String>,
    /// Deadline for each hearth call.
    pub hearth_timeout: Duration,
    /// Request body cap in bytes.
    pub body_limit: usize,
    /// What one client may hold, and for how long (header/idle timeout, connection cap).
    pub limits: hearth_serve::Limits,
}

/// Why the console could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    #[error(transparent)]
    Sink(#[from] sink::SinkError),
    #[error("cannot load --keys {path}: {reason}")]
    Keys { path: PathBuf, reason: String },
    #[error("{0}")]
    Worker(String),
    #[error("serving failed: {0}")]
    Io(#[from] std::io::Error),
}

impl ConsoleError {
    /// Stable machine-readable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            ConsoleError::Auth(e) => e.code(),
            ConsoleError::Sink(e) => e.code(),
            ConsoleError::Keys { .. } => ErrorCode::KeysUnreadable,
            ConsoleError::Worker(_) => ErrorCode::InvalidWorkerUrl,
            ConsoleError::Io(_) => ErrorCode::Io,
        }
    }
}

/// What every route shares. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub sink: HatchSink,
    pub hearth: Arc<dyn Hearth>,
    pub worker: WorkerClient,
    pub auth: Arc<LocalAuth>,
    pub runs: Runs,
    pub policy: Arc<GatePolicy>,
    /// The connection bounds [`serve`] holds every client to.
    pub limits: hearth_serve::Limits,
    /// Outstanding single-use login codes for the page.
    pub logins: Arc<ui::login::LoginCodes>,
    /// Cancelled when shutdown begins: live tails and `?wait=` polls end so the server can
    /// drain.
    pub stopping: CancellationToken,
    /// Acts (hearth calls with their outcome events) and run relays in flight; shutdown waits
    /// for them, bounded by [`DRAIN_TIMEOUT`].
    pub tasks: TaskTracker,
}

impl AppState {
    /// A state from its parts, with no runs yet and nothing in flight.
    pub fn new(
        sink: HatchSink,
        hearth: Arc<dyn Hearth>,
        worker: WorkerClient,
        auth: LocalAuth,
        policy: GatePolicy,
    ) -> Self {
        AppState {
            sink,
            hearth,
            worker,
            auth: Arc::new(auth),
            runs: Runs::default(),
            policy: Arc::new(policy),
            limits: hearth_serve::Limits::default(),
            logins: Arc::default(),
            stopping: CancellationToken::new(),
            tasks: TaskTracker::new(),
        }
    }

    /// Builds the state from `config` for a console listening on `port`: mints or loads the
    /// token, opens the HATCH log, loads the keys.
    ///
    /// # Errors
    /// [`ConsoleError`] naming what could not be set up.
    pub fn from_config(config: &Config, port: u16) -> Result<Self, ConsoleError> {
        let auth = LocalAuth::load_or_mint(&config.state_dir)?;
        let sink = HatchSink::open(&config.hatch_file)?;
        let keys = Keyring::load(&config.keys_file).map_err(|e| ConsoleError::Keys {
            path: config.keys_file.clone(),
            reason: e.to_string(),
        })?;
        let worker = WorkerClient::new(&config.worker_url, keys).map_err(ConsoleError::Worker)?;
        let hearth = Arc::new(SocketHearth::new(
            config.hearth_socket.clone(),
            config.hearth_timeout,
        ));
        let policy = GatePolicy::for_port(port, &config.allow_hosts, config.body_limit);
        let mut state = AppState::new(sink, hearth, worker, auth, policy);
        state.limits = config.limits;
        Ok(state)
    }
}

/// A state for the crate's own route tests: `token` as the admin token, a worker nobody
/// serves, the default gate for `port`.
#[cfg(test)]
pub(crate) fn test_state(
    sink: HatchSink,
    hearth: Arc<dyn Hearth>,
    port: u16,
    token: &str,
) -> AppState {
    let keys = Keyring::parse("k1:a-long-enough-secret-for-tests\n").expect("keys");
    AppState::new(
        sink,
        hearth,
        WorkerClient::new("http://127.0.0.1:9", keys).expect("worker"),
        LocalAuth::with_token(token.to_owned()),
        GatePolicy::for_port(port, &[], DEFAULT_BODY_LIMIT),
    )
}

/// Serves the console with `state` on `listener` until `shutdown` resolves; then ends live
/// tails and waits (up to [`DRAIN_TIMEOUT`]) for acts and relays still in flight.
///
/// # Errors
/// [`ConsoleError::Io`] when the server stops with an error.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ConsoleError> {
    tracing::info!(
        addr = %listener.local_addr()?,
        hatch = %state.sink.path().display(),
        "console serving"
    );
    let stopping = state.stopping.clone();
    let tasks = state.tasks.clone();
    let signal = {
        let stopping = stopping.clone();
        async move {
            shutdown.await;
            tracing::info!("shutting down");
            stopping.cancel();
        }
    };
    // TCP_NODELAY on every accepted connection: a response written in more than one piece
    // (an SSE live tail, a long-poll answer) must not wait out Nagle against the client's
    // delayed ACK — ~40 ms per exchange on Linux loopback.
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "could not set TCP_NODELAY");
        }
    });
    let limits = hearth_serve::Limits {
        answer_headers: &ui::SECURITY_HEADERS,
        ..state.limits
    };
    hearth_serve::serve(listener, routes::router(state), limits, signal).await?;
    stopping.cancel();
    if !hearth_serve::shutdown::drain(&tasks, DRAIN_TIMEOUT).await {
        tracing::warn!(
            in_flight = tasks.len(),
            "shutdown drain timed out; some runs end without ralph.run.ended"
        );
    }
    Ok(())
}
