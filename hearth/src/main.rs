//! The `hearth` binary: parse flags, set up tracing, then serve or run one client command.

use std::process::ExitCode;

use clap::Parser;
use hearth::cli::{commands, serve, Cli, Command};
use hearth::client::HearthClient;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    hearth_cli_kit::log::init(
        hearth_cli_kit::log::filter(cli.log.as_deref(), "info"),
        cli.logging.log_format,
    );

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
                if let Some(hint) = e
                    .downcast_ref::<hearth::error::HearthError>()
                    .and_then(hearth::error::HearthError::hint)
                {
                    eprintln!("hint: {hint}");
                }
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
