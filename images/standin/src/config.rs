//! The knobs: each is an environment variable and an argv flag (the flag wins, so a
//! template's `command` can override what the image's `ENV` says), parsed into one `Config`.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Every knob as (flag, variable, what it is), in the order `--help` lists them.
const KNOBS: &[(&str, &str, &str)] = &[
    ("--port", "PORT", "HTTP listen port (default 80)"),
    (
        "--tcp-port",
        "TCP_PORT",
        "a second, TCP-only listener (default none)",
    ),
    (
        "--tcp-mode",
        "TCP_MODE",
        "what the TCP listener does: close | echo (default close)",
    ),
    (
        "--health-path",
        "HEALTH_PATH",
        "the health path (default /healthz)",
    ),
    (
        "--health-delay-ms",
        "HEALTH_DELAY_MS",
        "the health path answers 503 this long after start (default 0)",
    ),
    (
        "--listen-delay-ms",
        "LISTEN_DELAY_MS",
        "bind the listeners only this long after start (default 0)",
    ),
    (
        "--ready-line",
        "READY_LINE",
        "printed on stdout once listening and healthy (default none)",
    ),
    (
        "--oneshot-exit",
        "ONESHOT_EXIT",
        "one-shot mode: no listener, exit with this code 0-255",
    ),
    (
        "--oneshot-ms",
        "ONESHOT_MS",
        "one-shot: how long its work takes (default 0)",
    ),
    (
        "--oneshot-lines",
        "ONESHOT_LINES",
        "one-shot: how many work lines it logs (default 3)",
    ),
];

/// What the TCP-only listener does with a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TcpMode {
    /// Accept and close at once: the port is open, nothing more.
    Close,
    /// Read one line and write it back, then close.
    Echo,
}

/// One-shot mode: do "work" for a while, log, leave a marker, exit with a chosen code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Oneshot {
    /// The process's exit code.
    pub(crate) exit: u8,
    /// How long the work lasts (the log lines are spread over it).
    pub(crate) work: Duration,
    /// How many numbered work lines are logged (more than 20 lets a log tail be checked).
    pub(crate) lines: u32,
}

/// Everything the server or the one-shot needs, parsed once at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Config {
    pub(crate) port: u16,
    pub(crate) tcp_port: Option<u16>,
    pub(crate) tcp_mode: TcpMode,
    pub(crate) health_path: String,
    pub(crate) health_delay: Duration,
    pub(crate) listen_delay: Duration,
    pub(crate) ready_line: Option<String>,
    pub(crate) oneshot: Option<Oneshot>,
    /// `HEARTH_ROLE` (hearth sets it): named in every answer and log line.
    pub(crate) role: String,
}

/// Why the knobs could not be read; the process prints it and exits with code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConfigError {
    /// `--help` was asked for: not an error, but nothing runs.
    Help,
    UnknownFlag(String),
    MissingValue(&'static str),
    BadValue {
        /// The flag or variable the value came from, as the user wrote it.
        source: String,
        value: String,
        expected: &'static str,
    },
    /// A knob that only means something alongside another one.
    Needs {
        knob: &'static str,
        needs: &'static str,
    },
    SamePort(u16),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Help => f.write_str(&usage()),
            Self::UnknownFlag(flag) => {
                write!(f, "unknown argument {flag:?}; hint: --help lists the flags")
            }
            Self::MissingValue(flag) => {
                write!(f, "{flag} needs a value (`{flag} VALUE` or `{flag}=VALUE`)")
            }
            Self::BadValue {
                source,
                value,
                expected,
            } => {
                write!(f, "{source}: {value:?} is not {expected}")
            }
            Self::Needs { knob, needs } => write!(
                f,
                "{knob} only applies with {needs}; hint: set {needs} too or drop {knob}"
            ),
            Self::SamePort(port) => write!(
                f,
                "TCP_PORT and PORT are both {port}; hint: give the TCP listener its own port"
            ),
        }
    }
}

/// The `--help` text, built from `KNOBS` so it never drifts from what is parsed.
pub(crate) fn usage() -> String {
    let mut out = String::from(
        "hearth-standin [FLAGS] — every flag is also an environment variable; the flag wins\n",
    );
    for (flag, var, what) in KNOBS {
        out.push_str(&format!("  {flag:<18} {var:<16} {what}\n"));
    }
    out.push_str(
        "  HEARTH_ROLE names the role in answers; GET /env, /peer?url=, /data/NAME are always on\n",
    );
    out
}

/// The knobs' raw values: argv over environment, empty values counting as unset.
struct Raw {
    values: BTreeMap<&'static str, (String, String)>,
}

impl Raw {
    fn read(args: &[String], env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut values = BTreeMap::new();
        for (_, var, _) in KNOBS {
            if let Some(v) = env(var).filter(|v| !v.is_empty()) {
                values.insert(*var, ((*var).to_owned(), v));
            }
        }
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            if arg == "--help" || arg == "-h" {
                return Err(ConfigError::Help);
            }
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) => (f, Some(v.to_owned())),
                None => (arg.as_str(), None),
            };
            let Some((flag, var, _)) = KNOBS.iter().find(|(f, _, _)| *f == flag) else {
                return Err(ConfigError::UnknownFlag(arg.clone()));
            };
            let value = match inline {
                Some(v) => v,
                None => it.next().cloned().ok_or(ConfigError::MissingValue(flag))?,
            };
            values.insert(*var, ((*flag).to_owned(), value));
        }
        Ok(Self { values })
    }

    fn has(&self, var: &str) -> bool {
        self.values.contains_key(var)
    }

    fn text(&self, var: &str) -> Option<String> {
        self.values.get(var).map(|(_, v)| v.clone())
    }

    /// Parses a value with `parse`, naming the flag or variable it came from on failure.
    fn parsed<T>(
        &self,
        var: &str,
        expected: &'static str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, ConfigError> {
        let Some((source, value)) = self.values.get(var) else {
            return Ok(None);
        };
        parse(value.trim())
            .map(Some)
            .ok_or_else(|| ConfigError::BadValue {
                source: source.clone(),
                value: value.clone(),
                expected,
            })
    }

    fn port(&self, var: &str) -> Result<Option<u16>, ConfigError> {
        self.parsed(var, "a port (1-65535)", |v| {
            v.parse().ok().filter(|p| *p != 0)
        })
    }

    fn millis(&self, var: &str) -> Result<Duration, ConfigError> {
        let ms = self.parsed(var, "a number of milliseconds", |v| v.parse().ok())?;
        Ok(Duration::from_millis(ms.unwrap_or(0)))
    }
}

impl Config {
    /// Reads the knobs from `args` (without the program name) and `env`.
    ///
    /// # Errors
    /// A `ConfigError` naming the flag or variable and what it should have been.
    pub(crate) fn parse(
        args: &[String],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let raw = Raw::read(args, env)?;
        let port = raw.port("PORT")?.unwrap_or(80);
        let tcp_port = raw.port("TCP_PORT")?;
        if tcp_port == Some(port) {
            return Err(ConfigError::SamePort(port));
        }
        let tcp_mode = raw.parsed("TCP_MODE", "close or echo", |v| match v {
            "close" => Some(TcpMode::Close),
            "echo" => Some(TcpMode::Echo),
            _ => None,
        })?;
        if tcp_mode.is_some() && tcp_port.is_none() {
            return Err(ConfigError::Needs {
                knob: "TCP_MODE",
                needs: "TCP_PORT",
            });
        }
        let health_path = raw.parsed("HEALTH_PATH", "a path starting with /", |v| {
            (v.starts_with('/') && !v.contains(['?', ' '])).then(|| v.to_owned())
        })?;
        Ok(Self {
            port,
            tcp_port,
            tcp_mode: tcp_mode.unwrap_or(TcpMode::Close),
            health_path: health_path.unwrap_or_else(|| "/healthz".to_owned()),
            health_delay: raw.millis("HEALTH_DELAY_MS")?,
            listen_delay: raw.millis("LISTEN_DELAY_MS")?,
            ready_line: raw.text("READY_LINE"),
            oneshot: oneshot(&raw)?,
            role: env("HEARTH_ROLE").unwrap_or_default(),
        })
    }
}

/// The one-shot knobs: `ONESHOT_EXIT` switches the mode on; the others need it.
fn oneshot(raw: &Raw) -> Result<Option<Oneshot>, ConfigError> {
    let exit = raw.parsed("ONESHOT_EXIT", "an exit code (0-255)", |v| {
        v.parse::<u8>().ok()
    })?;
    let lines = raw.parsed("ONESHOT_LINES", "a number of lines", |v| {
        v.parse::<u32>().ok()
    })?;
    let Some(exit) = exit else {
        for knob in ["ONESHOT_MS", "ONESHOT_LINES"] {
            if raw.has(knob) {
                return Err(ConfigError::Needs {
                    knob,
                    needs: "ONESHOT_EXIT",
                });
            }
        }
        return Ok(None);
    };
    Ok(Some(Oneshot {
        exit,
        work: raw.millis("ONESHOT_MS")?,
        lines: lines.unwrap_or(3),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::parse(&args, &move |k| {
            env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn defaults_are_todays_behaviour() {
        let c = parse(&[], &[]).unwrap();
        assert_eq!(c.port, 80);
        assert_eq!(c.tcp_port, None);
        assert_eq!(c.health_path, "/healthz");
        assert_eq!(c.health_delay, Duration::ZERO);
        assert_eq!(c.listen_delay, Duration::ZERO);
        assert_eq!(c.ready_line, None);
        assert_eq!(c.oneshot, None);
    }

    #[test]
    fn env_sets_every_knob() {
        let c = parse(
            &[],
            &[
                ("PORT", "8080"),
                ("TCP_PORT", "9000"),
                ("TCP_MODE", "echo"),
                ("HEALTH_PATH", "/ready"),
                ("HEALTH_DELAY_MS", "1500"),
                ("LISTEN_DELAY_MS", "250"),
                ("READY_LINE", "lore is up"),
                ("HEARTH_ROLE", "lore"),
            ],
        )
        .unwrap();
        assert_eq!(
            (c.port, c.tcp_port, c.tcp_mode),
            (8080, Some(9000), TcpMode::Echo)
        );
        assert_eq!(c.health_path, "/ready");
        assert_eq!(c.health_delay, Duration::from_millis(1500));
        assert_eq!(c.listen_delay, Duration::from_millis(250));
        assert_eq!(c.ready_line.as_deref(), Some("lore is up"));
        assert_eq!(c.role, "lore");
    }

    #[test]
    fn argv_wins_over_env_in_both_spellings() {
        let c = parse(
            &["--port", "8081", "--ready-line=from argv"],
            &[("PORT", "8080"), ("READY_LINE", "env")],
        )
        .unwrap();
        assert_eq!(c.port, 8081);
        assert_eq!(c.ready_line.as_deref(), Some("from argv"));
    }

    #[test]
    fn empty_env_counts_as_unset() {
        assert_eq!(
            parse(&[], &[("PORT", ""), ("READY_LINE", "")]).unwrap(),
            parse(&[], &[]).unwrap()
        );
    }

    #[test]
    fn oneshot_knobs() {
        let c = parse(
            &["--oneshot-exit", "3"],
            &[("ONESHOT_MS", "40"), ("ONESHOT_LINES", "30")],
        )
        .unwrap();
        assert_eq!(
            c.oneshot,
            Some(Oneshot {
                exit: 3,
                work: Duration::from_millis(40),
                lines: 30
            })
        );
        let c = parse(&[], &[("ONESHOT_EXIT", "0")]).unwrap();
        assert_eq!(
            c.oneshot,
            Some(Oneshot {
                exit: 0,
                work: Duration::ZERO,
                lines: 3
            })
        );
    }

    #[test]
    fn bad_values_name_their_source_and_what_was_expected() {
        let err = parse(&["--port", "http"], &[]).unwrap_err();
        assert_eq!(err.to_string(), r#"--port: "http" is not a port (1-65535)"#);
        let err = parse(&[], &[("PORT", "0")]).unwrap_err();
        assert_eq!(err.to_string(), r#"PORT: "0" is not a port (1-65535)"#);
        let err = parse(&[], &[("ONESHOT_EXIT", "256")]).unwrap_err();
        assert!(
            err.to_string()
                .contains("ONESHOT_EXIT: \"256\" is not an exit code"),
            "{err}"
        );
        let err = parse(&[], &[("HEALTH_PATH", "healthz")]).unwrap_err();
        assert!(err.to_string().contains("a path starting with /"), "{err}");
        let err = parse(&[], &[("HEALTH_DELAY_MS", "1s")]).unwrap_err();
        assert!(err.to_string().contains("milliseconds"), "{err}");
        assert!(parse(&[], &[("TCP_MODE", "shout"), ("TCP_PORT", "9")]).is_err());
    }

    #[test]
    fn flags_are_checked() {
        assert_eq!(
            parse(&["--prot", "1"], &[]),
            Err(ConfigError::UnknownFlag("--prot".to_owned()))
        );
        assert_eq!(
            parse(&["serve"], &[]),
            Err(ConfigError::UnknownFlag("serve".to_owned()))
        );
        assert_eq!(
            parse(&["--port"], &[]),
            Err(ConfigError::MissingValue("--port"))
        );
        assert_eq!(parse(&["--help"], &[]), Err(ConfigError::Help));
        assert!(
            usage().contains("--listen-delay-ms  LISTEN_DELAY_MS"),
            "{}",
            usage()
        );
    }

    #[test]
    fn knobs_that_need_another_are_refused() {
        let err = parse(&[], &[("TCP_MODE", "echo")]).unwrap_err();
        assert_eq!(
            err,
            ConfigError::Needs {
                knob: "TCP_MODE",
                needs: "TCP_PORT"
            }
        );
        let err = parse(&["--oneshot-ms", "5"], &[]).unwrap_err();
        assert_eq!(
            err,
            ConfigError::Needs {
                knob: "ONESHOT_MS",
                needs: "ONESHOT_EXIT"
            }
        );
        assert_eq!(
            parse(&[], &[("TCP_PORT", "80")]),
            Err(ConfigError::SamePort(80))
        );
    }
}
