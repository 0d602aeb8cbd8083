//! The `hearth` binary: parse flags, set up tracing, then serve or run one client command
//! (all of it in the library's private `cli` module, behind `hearth::run_cli`).

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    hearth::run_cli().await
}
