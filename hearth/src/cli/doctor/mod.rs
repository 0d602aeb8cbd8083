//! `hearth doctor`: what `hearth serve` would run with, checked one line per check (ok, warn
//! or fail, and a hint): the engine (where, why, reachable, what it is), the socket's
//! permission, each role's image, the lock, the state dir, a daemon on the socket, the
//! address pools. Every check is bounded and the engine's and the local checks run side by
//! side, so the whole run ends within `WHOLE_RUN` even with a dead engine or registry.
//! Exit 0 when nothing failed, 1 when something did; `-o json` for scripts.

mod engine;
mod images;
mod local;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use serde::Serialize;

use super::commands::{print_as, EXIT_FAILED};
use super::serve::ServeArgs;
use super::{Output, OutputArgs};
use crate::cli::settings::Settings;

/// Bound on the whole run; each check has a smaller bound of its own.
const WHOLE_RUN: Duration = Duration::from_secs(14);
/// Bound on one check that talks to something (the engine, a registry, the daemon).
const ONE_CHECK: Duration = Duration::from_secs(4);

/// `hearth doctor`: the settings `hearth serve` takes, and the output format.
#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Level {
    Ok,
    Warn,
    Fail,
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Check {
    /// What was checked: `engine`, `socket`, `image cairnet`, `state-dir`, …
    pub(crate) check: String,
    pub(crate) status: Level,
    /// What was found.
    pub(crate) detail: String,
    /// What to do about a warning or failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) hint: Option<String>,
}

impl Check {
    pub(crate) fn ok(check: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            check: check.into(),
            status: Level::Ok,
            detail: detail.into(),
            hint: None,
        }
    }

    pub(crate) fn warn(
        check: impl Into<String>,
        detail: impl Into<String>,
        hint: impl Into<String>,
    ) -> Check {
        Check {
            status: Level::Warn,
            hint: Some(hint.into()),
            ..Check::ok(check, detail)
        }
    }

    pub(crate) fn fail(
        check: impl Into<String>,
        detail: impl Into<String>,
        hint: impl Into<String>,
    ) -> Check {
        Check {
            status: Level::Fail,
            hint: Some(hint.into()),
            ..Check::ok(check, detail)
        }
    }

    /// A check that talks to something, failed when it outlives `bound`.
    pub(crate) async fn bounded(
        check: &str,
        bound: Duration,
        f: impl std::future::Future<Output = Check>,
    ) -> Check {
        tokio::time::timeout(bound, f).await.unwrap_or_else(|_| {
            Check::fail(
                check,
                format!("no answer within {bound:?}"),
                "whatever it waits on is stuck or unreachable: see the other checks",
            )
        })
    }
}

/// Runs every check and prints the report; `socket` is the daemon's socket.
pub(super) async fn run(socket: PathBuf, mut a: DoctorArgs) -> ExitCode {
    // The doctor writes nothing: no instance id is made for it.
    a.serve.instance.get_or_insert_with(|| "doctor".into());
    let checks = match Settings::resolve(Some(socket), &a.serve) {
        Ok(settings) => tokio::time::timeout(WHOLE_RUN, all(&settings))
            .await
            .unwrap_or_else(|_| {
                vec![Check::fail(
                    "doctor",
                    format!("the checks did not end within {WHOLE_RUN:?}"),
                    "a check is stuck: run again with --log debug",
                )]
            }),
        Err(e) => vec![Check::fail(
            "config",
            format!("{e:#}"),
            e.downcast_ref::<crate::error::HearthError>()
                .and_then(crate::error::HearthError::hint)
                .unwrap_or_else(|| "fix the setting named, then run `hearth doctor` again".into()),
        )],
    };
    report(a.out.output, &checks)
}

/// The checks, the local ones beside the engine's.
async fn all(settings: &Settings) -> Vec<Check> {
    let (mut engine, local) = tokio::join!(engine::checks(settings), local::checks(settings));
    engine.extend(local);
    engine
}

fn report(output: Output, checks: &[Check]) -> ExitCode {
    let failed = checks.iter().any(|c| c.status == Level::Fail);
    let width = checks.iter().map(|c| c.check.len()).max().unwrap_or(0);
    print_as(
        output,
        &serde_json::json!({ "ok": !failed, "checks": checks }),
        || {
            checks
                .iter()
                .map(|c| {
                    let status = match c.status {
                        Level::Ok => "ok",
                        Level::Warn => "warn",
                        Level::Fail => "fail",
                    };
                    let hint = c
                        .hint
                        .as_ref()
                        .map(|h| format!(" — hint: {h}"))
                        .unwrap_or_default();
                    format!("{status:<4}  {:<width$}  {}{hint}", c.check, c.detail)
                })
                .collect::<Vec<_>>()
                .join("\n")
        },
    );
    if failed {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}
