//! `console`: parses flags, sets up tracing, binds, and hands over to `console::serve`; also
//! routes `console hatch verify` to its checker.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};

/// The hearth console: LocalAuth, workspaces via hearth, runs via the worker, the HATCH log.
#[derive(Debug, Parser)]
#[command(name = "console", version = hearth_cli_kit::VERSION, about)]
struct Cli {
    #[command(flatten)]
    logging: hearth_cli_kit::log::LogArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the console API (loopback only unless --allow-non-loopback).
    Serve(ServeArgs),
    /// Print a fresh login link for the web page of a running console.
    Ui(console::ui::cli::UiArgs),
    /// Work with HATCH logs.
    Hatch {
        #[command(subcommand)]
        command: HatchCommand,
    },
    /// Write shell completions and man pages (used by `make deb`).
    #[command(hide = true)]
    GenerateAssets(hearth_cli_kit::assets::GenerateArgs),
}

#[derive(Debug, Subcommand)]
enum HatchCommand {
    /// Check a HATCH log against a chain of acts; names the first missing act.
    Verify(console::verify::VerifyArgs),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port and prints it as the first stdout line.
    #[arg(long, env = "CONSOLE_LISTEN", default_value = "127.0.0.1:7700")]
    listen: SocketAddr,
    /// hearth's unix socket.
    #[arg(long, env = "HEARTH_SOCKET")]
    hearth_socket: PathBuf,
    /// The worker's base URL (e.g. http://127.0.0.1:7800).
    #[arg(long, env = "CONSOLE_WORKER_URL")]
    worker_url: String,
    /// Keys file of `key_id:secret` lines; the first line signs requests to the worker.
    #[arg(long, env = "CONSOLE_KEYS")]
    keys: PathBuf,
    /// The HATCH audit log (JSONL, appended and fsynced per event). Default: STATE/hatch.jsonl.
    #[arg(long, env = "CONSOLE_HATCH")]
    hatch: Option<PathBuf>,
    /// Directory for the admin token (`console.token`, mode 0600).
    #[arg(long, env = "CONSOLE_STATE_DIR", default_value = ".hearth-console")]
    state_dir: PathBuf,
    /// Another Host header value to serve (e.g. console.internal:7700); repeatable.
    #[arg(long = "allow-host", env = "CONSOLE_ALLOW_HOST", value_delimiter = ',')]
    allow_hosts: Vec<String>,
    /// Permit listening on a non-loopback address (the API then faces the network).
    #[arg(long, env = "CONSOLE_ALLOW_NON_LOOPBACK")]
    allow_non_loopback: bool,
    /// Deadline for each call to hearth, in seconds.
    #[arg(long, env = "CONSOLE_HEARTH_TIMEOUT", default_value_t = 120)]
    hearth_timeout: u64,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "CONSOLE_BODY_LIMIT", default_value_t = console::DEFAULT_BODY_LIMIT)]
    body_limit: usize,
    /// Milliseconds a client may take to send a request head, and may stay idle between
    /// requests.
    #[arg(long, env = "CONSOLE_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    header_timeout_ms: u64,
    /// Milliseconds a request body may take to arrive whole, counted from its head; past it
    /// the request is answered 408 and the connection closed.
    #[arg(long, env = "CONSOLE_BODY_TIMEOUT_MS", default_value_t = 10_000)]
    body_timeout_ms: u64,
    /// Connections served at once (live tails included); at the cap a new client takes the
    /// slot of the connection that has waited on its client the longest.
    #[arg(long, env = "CONSOLE_MAX_CONNECTIONS", default_value_t = hearth_serve::Limits::MAX_CONNECTIONS)]
    max_connections: usize,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Hatch {
            command: HatchCommand::Verify(args),
        } => console::verify::run(&args),
        Command::Ui(args) => ui(&args),
        Command::GenerateAssets(args) => {
            hearth_cli_kit::assets::run(<Cli as clap::CommandFactory>::command(), &args)
        }
        Command::Serve(args) => {
            hearth_cli_kit::log::init(
                hearth_cli_kit::log::filter(None, "info"),
                cli.logging.log_format,
            );
            match serve(args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("console: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

#[tokio::main]
async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    if !args.listen.ip().is_loopback() && !args.allow_non_loopback {
        bail!(
            "--listen {} is not a loopback address; the console's API would face the network \
             (pass --allow-non-loopback if that is intended)",
            args.listen
        );
    }
    let stop = hearth_serve::shutdown::on_signal()?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let config = console::Config {
        hatch_file: args
            .hatch
            .unwrap_or_else(|| args.state_dir.join("hatch.jsonl")),
        hearth_socket: args.hearth_socket,
        worker_url: args.worker_url,
        keys_file: args.keys,
        state_dir: args.state_dir,
        allow_hosts: args.allow_hosts,
        hearth_timeout: Duration::from_secs(args.hearth_timeout),
        body_limit: args.body_limit,
        limits: hearth_serve::Limits {
            header_read_timeout: Duration::from_millis(args.header_timeout_ms),
            body_read_timeout: Duration::from_millis(args.body_timeout_ms),
            max_connections: args.max_connections,
            ..hearth_serve::Limits::default()
        },
    };
    let port = addr.port();
    let state = console::AppState::from_config(&config, port)?;
    let url = console::ui::cli::base_url(addr);
    let code = state.logins.mint();
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening http://{addr}")?;
    // The page's login link: single-use, good for two minutes (`console ui` prints another).
    writeln!(out, "ui {url}/login?code={code}")?;
    out.flush()?;
    drop(out);
    console::ui::cli::write_url_file(&config.state_dir, &url);
    let served = console::serve(listener, state, stop.cancelled_owned()).await;
    console::ui::cli::remove_url_file(&config.state_dir, &url);
    served?;
    Ok(())
}

/// `console ui`: prints a fresh login line, or why it cannot.
fn ui(args: &console::ui::cli::UiArgs) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("console ui: cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(console::ui::cli::login_line(args)) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("console ui: {e} ({})", e.code());
            ExitCode::FAILURE
        }
    }
}
