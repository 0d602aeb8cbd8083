//! The `hearth` binary's whole run (`src/main.rs` only calls it).

use std::process::ExitCode;

use super::{commands, serve, Cli, Command};
use crate::client::HearthClient;
use clap::Parser;

/// What the `hearth` binary does: parse its flags, set up tracing, then serve or run one
/// client command; the exit code says how it went.
pub async fn main() -> ExitCode {
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
                    .downcast_ref::<crate::error::HearthError>()
                    .and_then(crate::error::HearthError::hint)
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
            crate::config::env_or_origin("HEARTH_SOCKET", "ROCKY_HEARTH_SOCKET").map(Into::into)
        })
        .unwrap_or_else(crate::config::default_socket);
    commands::run(&HearthClient::new(socket), command).await
}
