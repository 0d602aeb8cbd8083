//! Registry credentials, found where the docker CLI and testcontainers find them:
//! `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`; for the image's registry a
//! `credHelpers` entry, else the `credsStore`, else an `auths` entry (`auth` as base64
//! `user:password`, or `username`/`password`, or an `identitytoken`). Read at every pull, so a
//! `docker login` takes effect without restarting hearth. No config, or nothing for the
//! registry, means an anonymous pull.
//!
//! Errors about credential material never carry the material ([`CredentialError`] has no
//! field that could hold it): a file that does not parse is named with the JSON path that is
//! wrong and what was expected there, never with serde's message (which quotes the value);
//! a helper's failure is its exit code and stderr, never its stdout (`helper.rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bollard::auth::DockerCredentials;
use serde::Deserialize;
use serde_json::Value;

use super::credential_helper::{run_helper, HelperRun};
pub use crate::credential_error::{CredentialError, HelperFailure};
pub use crate::image_ref::registry_of;

/// The key the docker CLI files Docker Hub's credentials under.
const DOCKER_HUB: &str = "https://index.docker.io/v1/";

/// The parts of the docker CLI's `config.json` that say where credentials are.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default)]
    creds_store: Option<String>,
}

/// One `auths` entry.
#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// The `config.json` the docker CLI would read: `$DOCKER_CONFIG/config.json`, else
/// `$HOME/.docker/config.json`.
pub fn config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".docker").join("config.json"))
}

/// The credentials for pulling `image`, or `None` for an anonymous pull.
///
/// # Errors
/// [`CredentialError`] naming the config file when it exists but cannot be read or parsed,
/// or when the credential helper it names fails.
pub async fn for_image(image: &str) -> Result<Option<DockerCredentials>, CredentialError> {
    let Some(path) = config_path() else {
        return Ok(None);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(CredentialError::Unreadable { file: path, source }),
    };
    let config = parse(&path, &text)?;
    lookup(&config, &path, registry_of(image), |helper, server| {
        Box::pin(run_helper(
            PathBuf::from(format!("docker-credential-{helper}")),
            server,
        ))
    })
    .await
}

/// Reads a docker config: its shape checked by hand first, so an error can say where it is
/// wrong without repeating what is there.
fn parse(file: &Path, text: &str) -> Result<DockerConfigFile, CredentialError> {
    let value: Value = serde_json::from_str(text).map_err(|e| CredentialError::NotJson {
        file: file.to_owned(),
        what: match e.classify() {
            serde_json::error::Category::Eof => "it ends early",
            serde_json::error::Category::Io
            | serde_json::error::Category::Syntax
            | serde_json::error::Category::Data => "a syntax error",
        },
        line: e.line(),
        column: e.column(),
    })?;
    check_shape(&value).map_err(|(path, expected)| CredentialError::Shape {
        file: file.to_owned(),
        path,
        expected,
    })?;
    // The shape is checked: what is left for serde cannot fail on a value. Its message is
    // dropped all the same.
    serde_json::from_value(value).map_err(|_| CredentialError::Shape {
        file: file.to_owned(),
        path: "the top level".into(),
        expected: "a docker config object",
    })
}

/// The first value of `config` whose shape is wrong, as `(JSON path, what it should be)`.
fn check_shape(config: &Value) -> Result<(), (String, &'static str)> {
    let Some(top) = config.as_object() else {
        return Err(("the top level".into(), "an object"));
    };
    let string_or_null = |v: &Value| matches!(v, Value::String(_) | Value::Null);
    if let Some(auths) = top.get("auths").filter(|v| !v.is_null()) {
        let entries = auths
            .as_object()
            .ok_or_else(|| ("auths".to_owned(), "an object of registry entries"))?;
        for (registry, entry) in entries {
            let at = format!("auths.{registry:?}");
            let fields = entry.as_object().ok_or_else(|| {
                (
                    at.clone(),
                    "an object (with auth, or username and password)",
                )
            })?;
            for field in ["auth", "username", "password", "identitytoken"] {
                if fields.get(field).is_some_and(|v| !string_or_null(v)) {
                    return Err((format!("{at}.{field}"), "a string"));
                }
            }
        }
    }
    if let Some(helpers) = top.get("credHelpers").filter(|v| !v.is_null()) {
        let names = helpers
            .as_object()
            .ok_or_else(|| ("credHelpers".to_owned(), "an object of registry → helper"))?;
        for (registry, name) in names {
            if !name.is_string() {
                return Err((
                    format!("credHelpers.{registry:?}"),
                    "a helper name (a string)",
                ));
            }
        }
    }
    match top.get("credsStore") {
        Some(v) if !string_or_null(v) => Err(("credsStore".into(), "a helper name (a string)")),
        _ => Ok(()),
    }
}

/// Finds `registry`'s credentials in `config` (read from `file`): its `credHelpers` entry,
/// else the `credsStore`, else its `auths` entry. `helper(name, server)` runs a credential
/// helper.
async fn lookup(
    config: &DockerConfigFile,
    file: &Path,
    registry: &str,
    helper: impl Fn(String, String) -> HelperRun,
) -> Result<Option<DockerCredentials>, CredentialError> {
    let server = if registry == "docker.io" {
        DOCKER_HUB
    } else {
        registry
    };
    let helped = |source| CredentialError::Helper {
        file: file.to_owned(),
        source,
    };
    if let Some(name) = config.cred_helpers.get(registry) {
        return helper(name.clone(), server.to_owned())
            .await
            .map_err(helped);
    }
    if let Some(name) = config.creds_store.as_deref().filter(|s| !s.is_empty()) {
        if let Some(found) = helper(name.to_owned(), server.to_owned())
            .await
            .map_err(helped)?
        {
            return Ok(Some(found));
        }
    }
    let entry = config
        .auths
        .iter()
        .find(|(key, _)| hostname(key) == hostname(server));
    let Some((key, entry)) = entry else {
        return Ok(None);
    };
    from_entry(entry, server)
        .map(Some)
        .map_err(|why| CredentialError::BadAuth {
            file: file.to_owned(),
            registry: server.to_owned(),
            path: format!("auths.{key:?}.auth"),
            why,
        })
}

/// `https://index.docker.io/v1/` → `index.docker.io`; keys in `auths` may carry a scheme and a
/// path, or neither. Docker Hub's names all compare equal.
fn hostname(key: &str) -> &str {
    let bare = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = bare.split('/').next().unwrap_or(bare);
    match host {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => "index.docker.io",
        other => other,
    }
}

/// The credentials an `auths` entry holds, or what is wrong with its `auth` field (in words
/// that never include it: the base64 decoder's own message names the offending byte).
fn from_entry(entry: &AuthEntry, server: &str) -> Result<DockerCredentials, &'static str> {
    let mut creds = DockerCredentials {
        serveraddress: Some(server.to_owned()),
        identitytoken: entry.identitytoken.clone().filter(|t| !t.is_empty()),
        ..Default::default()
    };
    if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
        let decoded = STANDARD.decode(auth.trim()).map_err(|_| "is not base64")?;
        let decoded = String::from_utf8(decoded).map_err(|_| "is not UTF-8 once decoded")?;
        let (user, password) = decoded
            .split_once(':')
            .ok_or("is not base64 of user:password")?;
        creds.username = Some(user.to_owned());
        creds.password = Some(password.to_owned());
    } else {
        creds.username.clone_from(&entry.username);
        creds.password.clone_from(&entry.password);
    }
    Ok(creds)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "/home/u/.docker/config.json";

    fn config(json: &str) -> DockerConfigFile {
        parse(Path::new(FILE), json).expect("config")
    }

    fn no_helper(_: String, _: String) -> HelperRun {
        Box::pin(async { panic!("no helper should run") })
    }

    async fn find(c: &DockerConfigFile, registry: &str) -> Option<DockerCredentials> {
        lookup(c, Path::new(FILE), registry, no_helper)
            .await
            .expect("lookup")
    }

    #[test]
    fn registry_hosts_are_named_as_the_docker_cli_names_them() {
        assert_eq!(registry_of("127.0.0.1:5000/app:v1"), "127.0.0.1:5000");
        assert_eq!(registry_of("localhost/app"), "localhost");
        assert_eq!(registry_of("ghcr.io/org/app@sha256:ab"), "ghcr.io");
        assert_eq!(registry_of("nginx:alpine"), "docker.io");
        assert_eq!(registry_of("library/nginx"), "docker.io");
        assert_eq!(hostname("https://index.docker.io/v1/"), "index.docker.io");
        assert_eq!(hostname("docker.io"), "index.docker.io");
        assert_eq!(hostname("http://127.0.0.1:5000"), "127.0.0.1:5000");
    }

    #[tokio::test]
    async fn auths_base64_and_plain_fields_are_read() {
        let c = config(
            r#"{"auths":{"127.0.0.1:5000":{"auth":"YWxpY2U6czNjcjN0"},
                "https://ghcr.io/v2/":{"username":"bob","password":"pw"},
                "https://index.docker.io/v1/":{"identitytoken":"tok"}}}"#,
        );
        let a = find(&c, "127.0.0.1:5000").await.expect("found");
        assert_eq!(
            (a.username.as_deref(), a.password.as_deref()),
            (Some("alice"), Some("s3cr3t"))
        );
        assert_eq!(a.serveraddress.as_deref(), Some("127.0.0.1:5000"));
        let b = find(&c, "ghcr.io").await.expect("found");
        assert_eq!(b.username.as_deref(), Some("bob"));
        let hub = find(&c, "docker.io").await.expect("found");
        assert_eq!(hub.identitytoken.as_deref(), Some("tok"));
        assert_eq!(hub.serveraddress.as_deref(), Some(DOCKER_HUB));
        assert!(find(&c, "quay.io").await.is_none());
    }

    /// `user:password` = `rtuser:s3cr3t-pw`, whose base64 is `cnR1c2VyOnMzY3IzdC1wdw==`.
    const SECRETS: [&str; 3] = ["s3cr3t-pw", "rtuser:s3cr3t-pw", "cnR1c2VyOnMzY3IzdC1wdw=="];

    fn assert_no_secret(what: &str, err: &CredentialError) {
        let text = format!("{err} | {err:?}");
        for s in SECRETS {
            assert!(!text.contains(s), "{what}: the error shows {s:?}: {text}");
        }
        assert!(text.contains(FILE), "{what}: names the file: {text}");
    }

    #[test]
    fn malformed_configs_name_the_path_never_the_value() {
        for (json, path) in [
            (
                r#"{"auths":{"127.0.0.1:5000":"cnR1c2VyOnMzY3IzdC1wdw=="}}"#,
                r#"auths."127.0.0.1:5000""#,
            ),
            (
                r#"{"auths":{"127.0.0.1:5000":{"username":"rtuser","password":["s3cr3t-pw"]}}}"#,
                r#"auths."127.0.0.1:5000".password"#,
            ),
            (
                r#"{"auths":{"r":{"auth":{"v":"cnR1c2VyOnMzY3IzdC1wdw=="}}}}"#,
                r#"auths."r".auth"#,
            ),
            (r#"{"auths":["cnR1c2VyOnMzY3IzdC1wdw=="]}"#, "auths"),
            (r#"{"credsStore":{"s3cr3t-pw":1}}"#, "credsStore"),
            (
                r#"{"credHelpers":{"r":["s3cr3t-pw"]}}"#,
                r#"credHelpers."r""#,
            ),
            (r#""cnR1c2VyOnMzY3IzdC1wdw==""#, "the top level"),
        ] {
            let err = parse(Path::new(FILE), json).expect_err(json);
            assert_no_secret(json, &err);
            assert!(
                matches!(&err, CredentialError::Shape { path: p, .. } if p == path),
                "{json}: {err}"
            );
        }
        for json in [
            r#"{"auths":{"127.0.0.1:5000":{"auth":"cnR1c2VyOnMzY3IzdC1wdw=="#,
            r#"{"auths":{"127.0.0.1:5000":{"auth":cnR1c2VyOnMzY3IzdC1wdw==}}}"#,
        ] {
            let err = parse(Path::new(FILE), json).expect_err(json);
            assert_no_secret(json, &err);
            assert!(matches!(err, CredentialError::NotJson { .. }), "{err}");
            assert!(err.to_string().contains("line 1"), "{err}");
        }
    }

    #[tokio::test]
    async fn a_malformed_auth_entry_names_the_registry_not_the_entry() {
        for auth in ["cnR1c2VyOnMzY3IzdC1wdw=", "czNjcjN0LXB3", "!s3cr3t-pw"] {
            let c = config(&format!(
                r#"{{"auths":{{"127.0.0.1:5000":{{"auth":"{auth}"}}}}}}"#
            ));
            let err = lookup(&c, Path::new(FILE), "127.0.0.1:5000", no_helper)
                .await
                .expect_err(auth);
            assert_no_secret(auth, &err);
            let text = format!("{err} {err:?}");
            assert!(!text.contains(auth) && !text.contains("czNjcjN0"), "{text}");
            assert!(text.contains("127.0.0.1:5000"), "{text}");
        }
    }

    #[tokio::test]
    async fn cred_helpers_win_then_the_store_then_auths() {
        let c = config(
            r#"{"credHelpers":{"ghcr.io":"gh"},"credsStore":"desktop",
                "auths":{"127.0.0.1:5000":{"auth":"YWxpY2U6czNjcjN0"},"quay.io":{}}}"#,
        );
        let calls = std::sync::Mutex::new(Vec::new());
        let helper = |name: String, server: String| -> HelperRun {
            calls
                .lock()
                .expect("calls")
                .push(format!("{name}:{server}"));
            Box::pin(async move {
                Ok((name == "gh").then(|| DockerCredentials {
                    username: Some("from-gh".into()),
                    ..Default::default()
                }))
            })
        };
        let file = Path::new(FILE);
        let gh = lookup(&c, file, "ghcr.io", &helper).await.expect("gh");
        assert_eq!(gh.and_then(|g| g.username).as_deref(), Some("from-gh"));
        // The store has nothing for this registry, so its auths entry answers.
        let local = lookup(&c, file, "127.0.0.1:5000", &helper)
            .await
            .expect("local");
        assert_eq!(local.and_then(|l| l.username).as_deref(), Some("alice"));
        assert_eq!(
            *calls.lock().expect("calls"),
            vec!["gh:ghcr.io", "desktop:127.0.0.1:5000"]
        );
    }
}
