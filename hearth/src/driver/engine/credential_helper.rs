//! Running a docker credential helper (`docker-credential-NAME get`, the server on stdin) as
//! the docker CLI does, within a bound. Its stdout is the secret: it is parsed, never copied
//! into an error — a helper that fails after printing its answer, or answers something else,
//! is reported by its exit code, its stderr and what was wrong with the answer's shape.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use bollard::auth::DockerCredentials;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use crate::credential_error::HelperFailure;

/// Bound on one credential helper run: a helper waiting on a locked keychain must not hold a
/// provision for its whole deadline.
const HELPER_TIMEOUT: Duration = Duration::from_secs(10);
/// Most of a helper's stderr an error repeats: enough for its reason, not a dump.
const STDERR_SHOWN: usize = 400;
/// What helpers say (on stdout, by the helper protocol) when they hold nothing for a server.
const NOT_FOUND: &str = "credentials not found";

/// What `docker-credential-NAME get` prints.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperAnswer {
    username: String,
    secret: String,
}

/// The future a helper runner returns.
pub(super) type HelperRun = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Option<DockerCredentials>, HelperFailure>> + Send>,
>;

/// Runs `program get` with `server` on stdin, as the docker CLI does. A helper that has
/// nothing for the server ("credentials not found") answers `None`.
pub(super) async fn run_helper(
    program: PathBuf,
    server: String,
) -> Result<Option<DockerCredentials>, HelperFailure> {
    let helper = program.display().to_string();
    let out = tokio::time::timeout(HELPER_TIMEOUT, output(&program, &server))
        .await
        .map_err(|_| HelperFailure::Timeout {
            helper: helper.clone(),
            after: HELPER_TIMEOUT,
        })?
        .map_err(|source| HelperFailure::Spawn {
            helper: helper.clone(),
            source,
        })?;
    if !out.status.success() {
        // Only looked for, never repeated: stdout may hold the answer of a helper that
        // printed it and then failed.
        let not_found = |b: &[u8]| String::from_utf8_lossy(b).contains(NOT_FOUND);
        if not_found(&out.stdout) || not_found(&out.stderr) {
            return Ok(None);
        }
        return Err(HelperFailure::Failed {
            helper,
            server,
            exit: exit_of(out.status),
            stderr: shown(&out.stderr),
        });
    }
    let answer: HelperAnswer =
        serde_json::from_slice(&out.stdout).map_err(|e| HelperFailure::Answer {
            helper,
            server: server.clone(),
            why: match e.classify() {
                serde_json::error::Category::Data => "Username or Secret missing or not a string",
                serde_json::error::Category::Eof
                | serde_json::error::Category::Io
                | serde_json::error::Category::Syntax => "not JSON",
            },
        })?;
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

/// Runs the helper to completion with `server` on its stdin.
async fn output(program: &PathBuf, server: &str) -> std::io::Result<std::process::Output> {
    let mut child = tokio::process::Command::new(program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        match stdin.write_all(server.as_bytes()).await {
            // A helper that answers without reading its stdin has closed it: its answer
            // still counts.
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e),
            _ => {}
        }
    }
    child.wait_with_output().await
}

/// `exit code N` or `killed by signal N`.
fn exit_of(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        (None, None) => "no exit code".into(),
    }
}

/// A helper's stderr as an error repeats it: lossy UTF-8, trimmed, at most
/// [`STDERR_SHOWN`] characters.
fn shown(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text = text.trim();
    match text.char_indices().nth(STDERR_SHOWN) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

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
        let text = err.to_string();
        assert!(text.contains("keychain locked"), "{text}");
        assert!(text.contains("exit code 1"), "{text}");
    }

    #[tokio::test]
    async fn a_helper_failing_after_its_answer_is_reported_without_it() {
        let dir = tempfile::tempdir().expect("tmp");
        let leaky = script(
            dir.path(),
            "leaky",
            r#"printf '{"Username":"u","Secret":"s3cr3t-helper"}'; echo 'store locked' >&2; exit 4"#,
        );
        let err = run_helper(leaky, "x".into()).await.expect_err("fails");
        let text = format!("{err} {err:?}");
        assert!(!text.contains("s3cr3t-helper"), "{text}");
        assert!(
            text.contains("exit code 4") && text.contains("store locked"),
            "{text}"
        );

        let mistyped = script(
            dir.path(),
            "mistyped",
            r#"printf '{"Username":"u","Secret":["s3cr3t-helper"]}'"#,
        );
        let err = run_helper(mistyped, "x".into()).await.expect_err("shape");
        let text = format!("{err} {err:?}");
        assert!(!text.contains("s3cr3t-helper"), "{text}");
        assert!(text.contains("not a string"), "{text}");
    }
}
