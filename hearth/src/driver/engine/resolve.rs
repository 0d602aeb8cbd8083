//! Which engine to talk to, chosen in the docker CLI's order: the `--docker-host` flag (or
//! `docker_host` in hearth's config file) > `DOCKER_HOST` > `DOCKER_CONTEXT` > `currentContext`
//! in `$DOCKER_CONFIG/config.json` > the default socket; and, when nothing is set and the
//! default socket is absent, the well-known sockets (`probe`). The answer says why it was
//! chosen, for the start line and `hearth doctor`. A name that leads nowhere is an error,
//! never a fallback to another engine.

use std::fmt;
use std::path::{Path, PathBuf};

use super::context::{self, ConfigDir};
use super::error::ResolveError;
use super::probe;
use super::tls::{self, TlsFiles};

/// The default socket's path under the filesystem root.
const DEFAULT_SOCKET: &str = "var/run/docker.sock";

/// An engine address set explicitly, and by what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Given {
    pub host: String,
    /// What set it, as the start line says it: `the --docker-host flag`, `docker_host in
    /// /etc/hearth.toml`.
    pub by: String,
}

impl Given {
    /// hearth's own setting: the `--docker-host` flag, else `docker_host` in the config file
    /// at `file`.
    pub fn from_settings(
        flag: Option<&str>,
        in_file: Option<&str>,
        file: Option<&Path>,
    ) -> Option<Given> {
        let nonempty = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_owned);
        if let Some(host) = nonempty(flag) {
            return Some(Given {
                host,
                by: "the --docker-host flag".into(),
            });
        }
        nonempty(in_file).map(|host| Given {
            host,
            by: format!(
                "docker_host in {}",
                file.map_or_else(|| "the config file".into(), |p| p.display().to_string())
            ),
        })
    }
}

/// Everything the choice depends on, read once (from the process with [`Inputs::from_env`]),
/// so tests resolve against a temporary home without touching the process environment.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub given: Option<Given>,
    pub docker_host: Option<String>,
    pub docker_context: Option<String>,
    /// `DOCKER_CONFIG`: the CLI's directory (default `~/.docker`).
    pub docker_config: Option<PathBuf>,
    /// `DOCKER_TLS_VERIFY` set and non-empty.
    pub tls_verify: bool,
    /// `DOCKER_TLS` set and non-empty (TLS without verifying the server).
    pub tls_unverified: bool,
    /// `DOCKER_CERT_PATH` (default: the CLI's directory).
    pub cert_path: Option<PathBuf>,
    pub home: Option<PathBuf>,
    pub xdg_runtime_dir: Option<PathBuf>,
    /// The filesystem root the system-wide sockets are under (`/`; a temp dir in tests).
    pub root: PathBuf,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Inputs {
    /// The process's environment, with `given` from the flag or config file.
    pub fn from_env(given: Option<Given>) -> Inputs {
        Inputs {
            given,
            docker_host: env("DOCKER_HOST"),
            docker_context: env("DOCKER_CONTEXT"),
            docker_config: env("DOCKER_CONFIG").map(PathBuf::from),
            tls_verify: env("DOCKER_TLS_VERIFY").is_some(),
            tls_unverified: env("DOCKER_TLS").is_some(),
            cert_path: env("DOCKER_CERT_PATH").map(PathBuf::from),
            home: env("HOME").map(PathBuf::from),
            xdg_runtime_dir: env("XDG_RUNTIME_DIR").map(PathBuf::from),
            root: PathBuf::from("/"),
        }
    }

    /// The docker CLI's directory: `DOCKER_CONFIG`, else `~/.docker`.
    pub(crate) fn config_dir(&self) -> ConfigDir {
        ConfigDir::new(
            self.docker_config
                .clone()
                .or_else(|| self.home.as_ref().map(|h| h.join(".docker"))),
        )
    }

    /// `/var/run/docker.sock` under [`Inputs::root`].
    pub fn default_socket(&self) -> PathBuf {
        self.root.join(DEFAULT_SOCKET)
    }
}

/// Why an endpoint was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `--docker-host`, hearth's config file, or the caller's own configuration.
    Given(String),
    /// `DOCKER_HOST`.
    DockerHost,
    /// A context named by `DOCKER_CONTEXT`.
    EnvContext { name: String },
    /// The current context of the CLI's `config.json`.
    CurrentContext { name: String, config: PathBuf },
    /// Nothing set: the platform's default socket.
    Default,
    /// Nothing set, the default socket absent: the first well-known socket that answered.
    Probed { place: &'static str },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Given(by) => f.write_str(by),
            Source::DockerHost => f.write_str("DOCKER_HOST"),
            Source::EnvContext { name } => write!(f, "context {name:?}, from DOCKER_CONTEXT"),
            Source::CurrentContext { name, config } => write!(
                f,
                "context {name:?}, the current context in {}",
                config.display()
            ),
            Source::Default => f.write_str("the default socket; nothing else set"),
            Source::Probed { place } => write!(
                f,
                "{place}, found by probing the well-known sockets; nothing set and no {}",
                Path::new("/").join(DEFAULT_SOCKET).display()
            ),
        }
    }
}

/// The chosen engine: where, with which TLS material, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `unix:///…`, `tcp://HOST:PORT` or `ssh://…`.
    pub host: String,
    /// Client certificates and the CA to verify the engine with (a `tcp://` endpoint).
    pub tls: Option<TlsFiles>,
    pub source: Source,
}

impl Endpoint {
    /// An endpoint given by the caller's own configuration, as is (no TLS).
    pub fn given(host: impl Into<String>, by: impl Into<String>) -> Endpoint {
        Endpoint {
            host: host.into(),
            tls: None,
            source: Source::Given(by.into()),
        }
    }

    /// The socket's path, for a `unix://` endpoint.
    pub fn socket(&self) -> Option<&Path> {
        self.host.strip_prefix("unix://").map(Path::new)
    }
}

impl fmt::Display for Endpoint {
    /// `unix:///home/u/.colima/default/docker.sock (context "colima", the current context in
    /// /home/u/.docker/config.json)`, with `, TLS` when certificates are used.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tls = if self.tls.is_some() { ", TLS" } else { "" };
        write!(f, "{} ({}{tls})", self.host, self.source)
    }
}

/// Chooses the engine as the docker CLI would (see the module's doc).
///
/// # Errors
/// A [`ResolveError`] naming the setting or file at fault.
pub fn resolve(inputs: &Inputs) -> Result<Endpoint, ResolveError> {
    let config = inputs.config_dir();
    let endpoint = if let Some(g) = &inputs.given {
        env_tls(inputs, &config, &g.host, Source::Given(g.by.clone()))?
    } else if let Some(host) = &inputs.docker_host {
        env_tls(inputs, &config, host, Source::DockerHost)?
    } else if let Some(name) = &inputs.docker_context {
        let source = Source::EnvContext { name: name.clone() };
        match context::endpoint(&config, name, "DOCKER_CONTEXT")? {
            Some(found) => from_context(found, source)?,
            None => default(inputs, &config)?,
        }
    } else {
        match config.current_context()? {
            Some((name, file)) => {
                let from = format!("currentContext in {}", file.display());
                let source = Source::CurrentContext {
                    name: name.clone(),
                    config: file,
                };
                match context::endpoint(&config, &name, &from)? {
                    Some(found) => from_context(found, source)?,
                    None => default(inputs, &config)?,
                }
            }
            None => default(inputs, &config)?,
        }
    };
    check(&endpoint)?;
    Ok(endpoint)
}

/// The default context: the default socket, else the first well-known socket that answers.
fn default(inputs: &Inputs, config: &ConfigDir) -> Result<Endpoint, ResolveError> {
    let socket = inputs.default_socket();
    if socket.exists() {
        return env_tls(
            inputs,
            config,
            &format!("unix://{}", socket.display()),
            Source::Default,
        );
    }
    let places = probe::places(inputs);
    match probe::first_answering(&places) {
        Some((place, path)) => Ok(Endpoint {
            host: format!("unix://{}", path.display()),
            tls: None,
            source: Source::Probed { place },
        }),
        None => Err(ResolveError::NoEngine {
            looked: std::iter::once(socket)
                .chain(places.into_iter().map(|(_, p)| p))
                .map(|p| p.display().to_string())
                .collect(),
        }),
    }
}

/// An endpoint set by flag or `DOCKER_HOST`, with TLS as `DOCKER_TLS_VERIFY` and
/// `DOCKER_CERT_PATH` say.
fn env_tls(
    inputs: &Inputs,
    config: &ConfigDir,
    host: &str,
    source: Source,
) -> Result<Endpoint, ResolveError> {
    let tcp = is_tcp(host);
    if tcp && inputs.tls_unverified && !inputs.tls_verify {
        return Err(ResolveError::Unsupported {
            what: "DOCKER_TLS without DOCKER_TLS_VERIFY".into(),
            why: source.to_string(),
            detail: "hearth's engine client always verifies the engine's certificate".into(),
        });
    }
    let tls = if tcp && inputs.tls_verify {
        let dir = inputs
            .cert_path
            .clone()
            .or_else(|| config.dir().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from(".docker"));
        let why = format!("DOCKER_TLS_VERIFY, certificates from {}", dir.display());
        Some(tls::from_dir(host, &why, &dir, true)?)
    } else {
        None
    };
    Ok(Endpoint {
        host: normalise(host, tls.is_some()),
        tls,
        source,
    })
}

/// An endpoint read from a context's files.
fn from_context(found: context::Found, source: Source) -> Result<Endpoint, ResolveError> {
    if found.skip_tls_verify && is_tcp(&found.host) {
        return Err(ResolveError::Unsupported {
            what: "SkipTLSVerify".into(),
            why: source.to_string(),
            detail: "hearth's engine client always verifies the engine's certificate".into(),
        });
    }
    let tls = match &found.tls_dir {
        Some(dir) if is_tcp(&found.host) => Some(tls::from_dir(
            &found.host,
            &format!("{source}, TLS material in {}", dir.display()),
            dir,
            false,
        )?),
        _ => None,
    };
    Ok(Endpoint {
        host: normalise(&found.host, tls.is_some()),
        tls,
        source,
    })
}

fn is_tcp(host: &str) -> bool {
    host.starts_with("tcp://") || host.starts_with("https://") || host.starts_with("http://")
}

/// `tcp://HOST` gains the CLI's default port: 2376 with TLS, 2375 without.
fn normalise(host: &str, tls: bool) -> String {
    let Some(rest) = host.strip_prefix("tcp://") else {
        return host.to_owned();
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    if has_port {
        format!("tcp://{authority}")
    } else {
        format!("tcp://{authority}:{}", if tls { 2376 } else { 2375 })
    }
}

/// Refuses what hearth cannot connect to, and a unix socket that is not there.
fn check(endpoint: &Endpoint) -> Result<(), ResolveError> {
    let why = endpoint.source.to_string();
    if let Some(path) = endpoint.socket() {
        if !path.exists() {
            return Err(ResolveError::MissingSocket {
                path: path.to_path_buf(),
                why,
            });
        }
        return Ok(());
    }
    let known = ["tcp://", "http://", "https://", "ssh://"];
    if !known.iter().any(|s| endpoint.host.starts_with(s)) {
        return Err(ResolveError::BadHost {
            host: endpoint.host.clone(),
            why,
            detail: "hearth speaks unix://, tcp:// and ssh:// (npipe:// is Windows only)".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tcp_host_gains_the_clis_default_port() {
        assert_eq!(normalise("tcp://h", false), "tcp://h:2375");
        assert_eq!(normalise("tcp://h", true), "tcp://h:2376");
        assert_eq!(normalise("tcp://127.0.0.1:9/", true), "tcp://127.0.0.1:9");
        assert_eq!(normalise("unix:///x", true), "unix:///x");
    }

    #[test]
    fn the_flag_beats_docker_host_and_both_beat_contexts() {
        let dir = tempfile::tempdir().expect("tmp");
        let sock = dir.path().join("d.sock");
        std::fs::write(&sock, "").expect("file");
        let mut inputs = Inputs {
            given: Some(Given {
                host: format!("unix://{}", sock.display()),
                by: "the --docker-host flag".into(),
            }),
            docker_host: Some("tcp://127.0.0.1:1".into()),
            docker_context: Some("nowhere".into()),
            home: Some(dir.path().into()),
            root: dir.path().into(),
            ..Inputs::default()
        };
        let e = resolve(&inputs).expect("flag");
        assert_eq!(e.source, Source::Given("the --docker-host flag".into()));
        inputs.given = None;
        let e = resolve(&inputs).expect("DOCKER_HOST");
        assert_eq!(
            (e.host.as_str(), e.source),
            ("tcp://127.0.0.1:1", Source::DockerHost)
        );
        inputs.docker_host = None;
        let e = resolve(&inputs).expect_err("unknown context");
        assert!(matches!(e, ResolveError::UnknownContext { .. }), "{e}");
    }

    #[test]
    fn a_missing_socket_is_an_error_naming_it_never_a_fallback() {
        let dir = tempfile::tempdir().expect("tmp");
        let inputs = Inputs {
            docker_host: Some(format!("unix://{}/gone.sock", dir.path().display())),
            root: dir.path().into(),
            ..Inputs::default()
        };
        let e = resolve(&inputs).expect_err("missing");
        assert_eq!(e.code().as_str(), "engine_not_found");
        assert!(e.to_string().contains("gone.sock"), "{e}");
        assert!(e.to_string().contains("DOCKER_HOST"), "{e}");
    }

    #[test]
    fn docker_tls_without_verify_is_refused_as_unsupported() {
        let inputs = Inputs {
            docker_host: Some("tcp://127.0.0.1:2376".into()),
            tls_unverified: true,
            ..Inputs::default()
        };
        let e = resolve(&inputs).expect_err("unverified TLS");
        assert_eq!(e.code().as_str(), "unsupported");
        assert!(e.hint().contains("ssh -L"), "{}", e.hint());
    }
}
