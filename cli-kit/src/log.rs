//! One way to set up tracing for every binary: to stderr, text by default or one JSON object
//! per line (`--log-format json`) for log shippers, colour only when stderr is a terminal and
//! `NO_COLOR` is unset (<https://no-color.org>), so CI logs and files never carry ANSI escapes.

use std::io::IsTerminal;

use clap::{Args, ValueEnum};
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Text,
    /// One JSON object per event (timestamp, level, target, fields).
    Json,
}

/// The log flags every binary takes.
#[derive(Debug, Clone, Default, Args)]
pub struct LogArgs {
    /// Log line format on stderr: text or json
    #[arg(
        long,
        global = true,
        value_enum,
        env = "HEARTH_LOG_FORMAT",
        default_value_t
    )]
    pub log_format: LogFormat,
}

/// Whether log lines may carry colour: only on a terminal, and never with `NO_COLOR` set to
/// anything but the empty string.
pub fn colour(no_color: Option<&std::ffi::OsStr>, stderr_is_terminal: bool) -> bool {
    let refused = no_color.is_some_and(|v| !v.is_empty());
    stderr_is_terminal && !refused
}

/// The filter: `explicit` (a `--log` flag) if given, else `RUST_LOG`, else `default`.
pub fn filter(explicit: Option<&str>, default: &str) -> EnvFilter {
    explicit
        .map(EnvFilter::new)
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new(default))
}

/// Installs the global subscriber writing to stderr. A second call (a test harness that
/// already installed one) is ignored rather than a panic.
pub fn init(filter: EnvFilter, format: LogFormat) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(colour(
                std::env::var_os("NO_COLOR").as_deref(),
                std::io::stderr().is_terminal(),
            ))
            .try_init(),
        // JSON is for machines: never colour, whatever the terminal.
        LogFormat::Json => builder.json().with_ansi(false).try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour(None, true));
        assert!(!colour(None, false), "a pipe or a file gets no escapes");
        assert!(!colour(Some(OsStr::new("1")), true), "NO_COLOR=1 wins");
        assert!(
            colour(Some(OsStr::new("")), true),
            "an empty NO_COLOR is unset"
        );
    }
}
