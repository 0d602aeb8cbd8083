//! `console hatch verify`: placeholder until the chain checker lands.

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `console hatch verify`.
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// The HATCH log to check.
    pub file: PathBuf,
}

/// Checks a log; not built yet.
pub fn run(args: &VerifyArgs) -> ExitCode {
    eprintln!(
        "console hatch verify {}: not built yet",
        args.file.display()
    );
    ExitCode::FAILURE
}
