//! The docker CLI's contexts, read from its files: `currentContext` in
//! `$DOCKER_CONFIG/config.json`, a context's endpoint in
//! `contexts/meta/<sha256 of its name>/meta.json`, and its TLS material in
//! `contexts/tls/<sha256>/docker/{ca,cert,key}.pem`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::error::ResolveError;

/// The context that means "no context": `DOCKER_HOST`, else the default socket.
const DEFAULT_CONTEXT: &str = "default";

/// The docker CLI's directory (`DOCKER_CONFIG`, else `~/.docker`); `None` with no home.
#[derive(Debug, Clone)]
pub(crate) struct ConfigDir {
    dir: Option<PathBuf>,
}

/// The part of `config.json` that names the current context.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigFile {
    #[serde(default)]
    current_context: Option<String>,
}

/// A context's `meta.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Meta {
    #[serde(default)]
    name: String,
    #[serde(default)]
    endpoints: BTreeMap<String, MetaEndpoint>,
}

/// One endpoint of a context (hearth reads `docker`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MetaEndpoint {
    #[serde(default)]
    host: Option<String>,
    #[serde(default, rename = "SkipTLSVerify")]
    skip_tls_verify: bool,
}

/// What a context says about its engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) host: String,
    pub(crate) skip_tls_verify: bool,
    /// `contexts/tls/<sha>/docker`, when the context has TLS material.
    pub(crate) tls_dir: Option<PathBuf>,
}

/// The directory name the CLI files a context under: the hex SHA-256 of its name.
pub fn digest(name: &str) -> String {
    hex::encode(Sha256::digest(name.as_bytes()))
}

impl ConfigDir {
    pub(crate) fn new(dir: Option<PathBuf>) -> ConfigDir {
        ConfigDir { dir }
    }

    pub(crate) fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The current context and the file that names it; `None` when no config.json exists or
    /// it names none (or names `default`).
    ///
    /// # Errors
    /// [`ResolveError::BadFile`] when config.json exists and does not parse.
    pub(crate) fn current_context(&self) -> Result<Option<(String, PathBuf)>, ResolveError> {
        let Some(dir) = &self.dir else {
            return Ok(None);
        };
        let path = dir.join("config.json");
        let Some(text) = read(&path)? else {
            return Ok(None);
        };
        let config: ConfigFile =
            serde_json::from_str(&text).map_err(|e| ResolveError::BadFile {
                path: path.clone(),
                detail: e.to_string(),
            })?;
        Ok(config
            .current_context
            .filter(|c| !c.is_empty() && c != DEFAULT_CONTEXT)
            .map(|c| (c, path)))
    }

    /// The names of the contexts that exist, for the hint of an unknown one.
    fn known(&self) -> Vec<String> {
        let Some(dir) = &self.dir else {
            return Vec::new();
        };
        let Ok(entries) = std::fs::read_dir(dir.join("contexts/meta")) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path().join("meta.json")).ok())
            .filter_map(|t| serde_json::from_str::<Meta>(&t).ok())
            .map(|m| m.name)
            .collect();
        names.sort();
        names
    }
}

/// The endpoint of context `name` (`None` for `default`), asked for by `from`.
///
/// # Errors
/// [`ResolveError::UnknownContext`] when it has no meta.json, [`ResolveError::BadFile`] when
/// that does not parse or has no docker endpoint.
pub(crate) fn endpoint(
    config: &ConfigDir,
    name: &str,
    from: &str,
) -> Result<Option<Found>, ResolveError> {
    if name == DEFAULT_CONTEXT {
        return Ok(None);
    }
    let base = config
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(".docker"));
    let id = digest(name);
    let path = base.join("contexts/meta").join(&id).join("meta.json");
    let Some(text) = read(&path)? else {
        return Err(ResolveError::UnknownContext {
            name: name.to_owned(),
            from: from.to_owned(),
            path,
            known: config.known(),
        });
    };
    let bad = |detail: String| ResolveError::BadFile {
        path: path.clone(),
        detail,
    };
    let meta: Meta = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let docker = meta
        .endpoints
        .get("docker")
        .ok_or_else(|| bad("it has no docker endpoint".into()))?;
    let host = docker
        .host
        .clone()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad("its docker endpoint has no Host".into()))?;
    let tls_dir = base.join("contexts/tls").join(&id).join("docker");
    Ok(Some(Found {
        host,
        skip_tls_verify: docker.skip_tls_verify,
        tls_dir: tls_dir.is_dir().then_some(tls_dir),
    }))
}

/// A file's text, `None` when it does not exist.
fn read(path: &Path) -> Result<Option<String>, ResolveError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ResolveError::BadFile {
            path: path.to_path_buf(),
            detail: e.to_string(),
        }),
    }
}

/// Writes a context as `docker context create NAME --docker host=HOST` would, with TLS
/// material when given (`(ca, cert, key)` PEM text): for tests and tools that set up a
/// CLI directory without the CLI.
///
/// # Errors
/// When a file cannot be written.
pub fn write(
    config_dir: &Path,
    name: &str,
    host: &str,
    tls: Option<(&str, &str, &str)>,
) -> std::io::Result<()> {
    let id = digest(name);
    let meta = config_dir.join("contexts/meta").join(&id);
    std::fs::create_dir_all(&meta)?;
    let body = serde_json::json!({
        "Name": name,
        "Metadata": {},
        "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": false}},
    });
    std::fs::write(meta.join("meta.json"), body.to_string())?;
    if let Some((ca, cert, key)) = tls {
        let dir = config_dir.join("contexts/tls").join(&id).join("docker");
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("ca.pem"), ca)?;
        std::fs::write(dir.join("cert.pem"), cert)?;
        std::fs::write(dir.join("key.pem"), key)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_is_the_sha256_of_the_name_as_the_cli_files_it() {
        // `docker context create colima …` files it under this id (sha256 of "colima").
        assert_eq!(
            digest("colima"),
            "f24fd3749c1368328e2b149bec149cb6795619f244c5b584e844961215dadd16"
        );
    }

    #[test]
    fn a_context_file_that_does_not_parse_names_its_path() {
        let dir = tempfile::tempdir().expect("tmp");
        let meta = dir.path().join("contexts/meta").join(digest("x"));
        std::fs::create_dir_all(&meta).expect("dir");
        std::fs::write(meta.join("meta.json"), "{not json").expect("write");
        let config = ConfigDir::new(Some(dir.path().into()));
        let e = endpoint(&config, "x", "DOCKER_CONTEXT").expect_err("bad");
        assert!(matches!(e, ResolveError::BadFile { .. }), "{e}");
        assert!(e.to_string().contains("meta.json"), "{e}");
    }

    #[test]
    fn an_unknown_context_lists_the_known_ones() {
        let dir = tempfile::tempdir().expect("tmp");
        write(dir.path(), "colima", "unix:///c.sock", None).expect("write");
        let config = ConfigDir::new(Some(dir.path().into()));
        let e = endpoint(&config, "orbstack", "DOCKER_CONTEXT").expect_err("unknown");
        assert!(e.hint().contains("colima"), "{}", e.hint());
        let found = endpoint(&config, "colima", "x")
            .expect("ok")
            .expect("found");
        assert_eq!(found.host, "unix:///c.sock");
        assert_eq!(found.tls_dir, None);
    }
}
