//! The `hearth` binary: parse flags, set up tracing, then serve or run one client command.

use std::process::ExitCode;

use clap::Parser;
use hearth::cli::{commands, serve, Cli, Command};
use hearth::client::HearthClient;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = cli
        .log
        .clone()
        .map(EnvFilter::new)
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    let command = cli.command.unwrap_or(Command::Serve(Box::default()));
    if let Command::Serve(args) = command {
        let run = async {
            let settings = serve::settings(cli.socket, &args)?;
            serve::run(settings, &args.fake_faults).await
        };
        return match run.await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("hearth: {e:#}");
                ExitCode::from(commands::EXIT_FAILED)
            }
        };
    }
    let socket = cli
        .socket
        .or_else(|| {
            hearth::config::env_or_origin("HEARTH_SOCKET", "ROCKY_HEARTH_SOCKET").map(Into::into)
        })
        .unwrap_or_else(hearth::config::default_socket);
    commands::run(&HearthClient::new(socket), command).await
}
