//! worker-stub binary: parses flags, sets up tracing, binds, and serves until SIGINT/SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use hearth_protocol::bearer::Keyring;
use worker_stub::state::StateDir;
use worker_stub::{Config, Fault};

/// Stand-in for `ralph serve`: accepts HMAC-signed runs and streams KAHN frames over SSE.
#[derive(Debug, Parser)]
#[command(name = "worker-stub", version = hearth_cli_kit::VERSION, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    logging: hearth_cli_kit::log::LogArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve POST /runs, GET /runs/{id}/events and GET /healthz.
    ///
    /// With port 0 the first stdout line is `listening http://127.0.0.1:NNNNN`.
    Serve(ServeArgs),
    /// Write shell completions and man pages (used by `make deb`).
    #[command(hide = true)]
    GenerateAssets(hearth_cli_kit::assets::GenerateArgs),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Address to listen on (loopback by default; port 0 picks a free port).
    #[arg(long, env = "WORKER_STUB_LISTEN", default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Keys file of `key_id:secret` lines; every key listed is accepted.
    #[arg(long, env = "WORKER_STUB_KEYS")]
    keys: PathBuf,
    /// Switch on a failure mode (repeatable): `bad-frame` (node frames break the KAHN schema),
    /// `fail-node=N` (node N fails), `drop-stream-after=N` (each run's first event stream is
    /// closed after N frames), `slow=MS` (each node takes MS ms).
    #[arg(long = "fault", value_name = "FAULT")]
    faults: Vec<Fault>,
    /// Directory (created 0700, one worker at a time) for the replay journal, so a captured
    /// bearer stays refused across a restart. [default: $XDG_STATE_HOME/hearth-worker or
    /// ~/.local/state/hearth-worker]
    #[arg(long, env = "WORKER_STUB_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// The URL the console addresses this worker by (repeatable); bearers (v2) are signed for
    /// its origin. Default: the listen address's own (`http://127.0.0.1:PORT`, and
    /// `http://localhost:PORT` on loopback). Set it behind a proxy or a DNS name.
    #[arg(long = "audience", env = "WORKER_STUB_AUDIENCE", value_name = "URL")]
    audiences: Vec<String>,
    /// Seconds a node waits for the workspace endpoint to answer.
    #[arg(long, default_value_t = 2)]
    node_timeout_secs: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<std::process::ExitCode> {
    let cli = Cli::parse();
    let args = match cli.command {
        Command::Serve(args) => args,
        Command::GenerateAssets(a) => {
            return Ok(hearth_cli_kit::assets::run(
                <Cli as clap::CommandFactory>::command(),
                &a,
            ))
        }
    };
    hearth_cli_kit::log::init(
        hearth_cli_kit::log::filter(None, "info"),
        cli.logging.log_format,
    );
    let keys = Keyring::load(&args.keys).context("loading --keys")?;
    let mut config = Config::new(keys).with_faults(&args.faults);
    config.node_timeout = std::time::Duration::from_secs(args.node_timeout_secs);
    config.audiences = args.audiences;
    let dir = args.state_dir.unwrap_or_else(StateDir::default_path);
    // Held until the worker stops: the lock keeps a second worker off this journal.
    let state = StateDir::open(&dir)
        .context("worker-stub refuses to start: it cannot keep its replay journal")?;
    config.replay_journal = Some(state.journal());
    let stop = hearth_serve::shutdown::on_signal()?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening http://{addr}")?;
        out.flush()?;
    }
    tracing::info!(%addr, faults = ?args.faults, state_dir = %dir.display(), "worker-stub serving");
    worker_stub::run(listener, config, stop.cancelled_owned()).await?;
    drop(state);
    tracing::info!("worker-stub stopped");
    Ok(std::process::ExitCode::SUCCESS)
}
