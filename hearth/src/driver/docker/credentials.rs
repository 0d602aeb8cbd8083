//! Registry credentials, found where the docker CLI and testcontainers find them:
//! `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`; for the image's registry a
//! `credHelpers` entry, else the `credsStore`, else an `auths` entry (`auth` as base64
//! `user:password`, or `username`/`password`, or an `identitytoken`). Read at every pull, so a
//! `docker login` takes effect without restarting hearth. No config, or nothing for the
//! registry, means an anonymous pull.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bollard::auth::DockerCredentials;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

/// The key the docker CLI files Docker Hub's credentials under.
const DOCKER_HUB: &str = "https://index.docker.io/v1/";
/// Bound on one credential helper run: a helper waiting on a locked keychain must not hold a
/// provision for its whole deadline.
const HELPER_TIMEOUT: Duration = Duration::from_secs(10);

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

/// What `docker-credential-NAME get` prints.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperAnswer {
    username: String,
    secret: String,
}

/// The registry host an image reference is pulled from, as the docker CLI names it:
/// `127.0.0.1:5000/app:v1` → `127.0.0.1:5000`, `ghcr.io/o/app` → `ghcr.io`, and
/// `nginx:alpine` or `library/nginx` → `docker.io`.
pub fn registry_of(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first
        }
        _ => "docker.io",
    }
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
/// A message naming the config file when it exists but cannot be read or parsed, or when the
/// credential helper it names fails.
pub async fn for_image(image: &str) -> Result<Option<DockerCredentials>, String> {
    let Some(path) = config_path() else {
        return Ok(None);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let config: DockerConfigFile = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a docker config: {e}", path.display()))?;
    lookup(&config, registry_of(image), |helper, server| {
        Box::pin(run_helper(
            PathBuf::from(format!("docker-credential-{helper}")),
            server,
        ))
    })
    .await
    .map_err(|e| format!("{e} (credentials configured in {})", path.display()))
}

/// The future a helper runner returns.
type HelperRun = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Option<DockerCredentials>, String>> + Send>,
>;

/// Finds `registry`'s credentials in `config`: its `credHelpers` entry, else the
/// `credsStore`, else its `auths` entry. `helper(name, server)` runs a credential helper.
async fn lookup(
    config: &DockerConfigFile,
    registry: &str,
    helper: impl Fn(String, String) -> HelperRun,
) -> Result<Option<DockerCredentials>, String> {
    let server = if registry == "docker.io" {
        DOCKER_HUB
    } else {
        registry
    };
    if let Some(name) = config.cred_helpers.get(registry) {
        return helper(name.clone(), server.to_owned()).await;
    }
    if let Some(name) = config.creds_store.as_deref().filter(|s| !s.is_empty()) {
        if let Some(found) = helper(name.to_owned(), server.to_owned()).await? {
            return Ok(Some(found));
        }
    }
    let entry = config
        .auths
        .iter()
        .find(|(key, _)| hostname(key) == hostname(server))
        .map(|(_, entry)| entry);
    let Some(entry) = entry else {
        return Ok(None);
    };
    from_entry(entry, server).map(Some)
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

fn from_entry(entry: &AuthEntry, server: &str) -> Result<DockerCredentials, String> {
    let mut creds = DockerCredentials {
        serveraddress: Some(server.to_owned()),
        identitytoken: entry.identitytoken.clone().filter(|t| !t.is_empty()),
        ..Default::default()
    };
    if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
        let decoded = STANDARD
            .decode(auth.trim())
            .map_err(|e| format!("the auth entry for {server} is not base64: {e}"))?;
        let decoded = String::from_utf8(decoded)
            .map_err(|_| format!("the auth entry for {server} is not UTF-8"))?;
        let (user, password) = decoded
            .split_once(':')
            .ok_or_else(|| format!("the auth entry for {server} is not user:password"))?;
        creds.username = Some(user.to_owned());
        creds.password = Some(password.to_owned());
    } else {
        creds.username.clone_from(&entry.username);
        creds.password.clone_from(&entry.password);
    }
    Ok(creds)
}

/// Runs `program get` with `server` on stdin, as the docker CLI does. A helper that has
/// nothing for the server ("credentials not found") answers `None`.
async fn run_helper(program: PathBuf, server: String) -> Result<Option<DockerCredentials>, String> {
    let name = program.display().to_string();
    let run = async {
        let mut child = tokio::process::Command::new(&program)
            .arg("get")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot run the credential helper {name}: {e}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            match stdin.write_all(server.as_bytes()).await {
                // A helper that answers without reading its stdin has closed it: its answer
                // still counts.
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    return Err(format!("credential helper {name}: {e}"));
                }
                _ => {}
            }
        }
        child
            .wait_with_output()
            .await
            .map_err(|e| format!("credential helper {name}: {e}"))
    };
    let out = tokio::time::timeout(HELPER_TIMEOUT, run)
        .await
        .map_err(|_| {
            format!("credential helper {name} did not answer within {HELPER_TIMEOUT:?}")
        })??;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        if said.contains("credentials not found") {
            return Ok(None);
        }
        return Err(format!(
            "credential helper {name} failed for {server}: {}",
            said.trim()
        ));
    }
    let answer: HelperAnswer = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("credential helper {name} answered something else: {e}"))?;
    let mut creds = DockerCredentials {
        serveraddress: Some(server),
        ..Default::default()
    };
    // The helper protocol's way of handing over an identity token instead of a password.
    if answer.username == "<token>" {
        creds.identitytoken = Some(answer.secret);
    } else {
        creds.username = Some(answer.username);
        creds.password = Some(answer.secret);
    }
    Ok(Some(creds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    fn config(json: &str) -> DockerConfigFile {
        serde_json::from_str(json).expect("config")
    }

    fn no_helper(_: String, _: String) -> HelperRun {
        Box::pin(async { panic!("no helper should run") })
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
        let a = lookup(&c, "127.0.0.1:5000", no_helper)
            .await
            .expect("lookup")
            .expect("found");
        assert_eq!(
            (a.username.as_deref(), a.password.as_deref()),
            (Some("alice"), Some("s3cr3t"))
        );
        assert_eq!(a.serveraddress.as_deref(), Some("127.0.0.1:5000"));
        let b = lookup(&c, "ghcr.io", no_helper)
            .await
            .expect("lookup")
            .expect("found");
        assert_eq!(b.username.as_deref(), Some("bob"));
        let hub = lookup(&c, "docker.io", no_helper)
            .await
            .expect("lookup")
            .expect("found");
        assert_eq!(hub.identitytoken.as_deref(), Some("tok"));
        assert_eq!(hub.serveraddress.as_deref(), Some(DOCKER_HUB));
        assert!(lookup(&c, "quay.io", no_helper)
            .await
            .expect("lookup")
            .is_none());
    }

    #[tokio::test]
    async fn a_malformed_auth_entry_is_an_error_naming_the_registry() {
        let c = config(r#"{"auths":{"127.0.0.1:5000":{"auth":"bm9jb2xvbg=="}}}"#);
        let err = lookup(&c, "127.0.0.1:5000", no_helper)
            .await
            .expect_err("no colon");
        assert!(err.contains("127.0.0.1:5000"), "{err}");
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
        let gh = lookup(&c, "ghcr.io", &helper).await.expect("gh");
        assert_eq!(gh.and_then(|g| g.username).as_deref(), Some("from-gh"));
        // The store has nothing for this registry, so its auths entry answers.
        let local = lookup(&c, "127.0.0.1:5000", &helper).await.expect("local");
        assert_eq!(local.and_then(|l| l.username).as_deref(), Some("alice"));
        assert_eq!(
            *calls.lock().expect("calls"),
            vec!["gh:ghcr.io", "desktop:127.0.0.1:5000"]
        );
    }

    /// A helper script that answers as `docker-credential-*` helpers do.
    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        let path = dir.join(format!("docker-credential-{name}"));
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }

    #[tokio::test]
    async fn a_real_helper_gets_the_server_on_stdin() {
        let dir = tempfile::tempdir().expect("tmp");
        let helper = script(
            dir.path(),
            "echo",
            r#"[ "$1" = get ] || exit 3
read server
printf '{"ServerURL":"%s","Username":"u-%s","Secret":"pw"}' "$server" "$server""#,
        );
        let creds = run_helper(helper, "127.0.0.1:5000".into())
            .await
            .expect("helper")
            .expect("found");
        assert_eq!(creds.username.as_deref(), Some("u-127.0.0.1:5000"));
        assert_eq!(creds.password.as_deref(), Some("pw"));

        let token = script(
            dir.path(),
            "token",
            r#"printf '{"ServerURL":"x","Username":"<token>","Secret":"idt"}'"#,
        );
        let creds = run_helper(token, "x".into()).await.expect("helper");
        assert_eq!(creds.and_then(|c| c.identitytoken).as_deref(), Some("idt"));

        let missing = script(
            dir.path(),
            "missing",
            "echo 'credentials not found in native keychain'; exit 1",
        );
        assert!(run_helper(missing, "x".into()).await.expect("ok").is_none());

        let broken = script(dir.path(), "broken", "echo 'keychain locked' >&2; exit 1");
        let err = run_helper(broken, "x".into()).await.expect_err("fails");
        assert!(err.contains("keychain locked"), "{err}");
    }
}
