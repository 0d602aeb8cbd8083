//! `console ui`: a fresh login link for the page of a console that is already running. It
//! reads what `console serve` left in the state directory — the admin token
//! (`console.token`) and the address it listens on (`console.url`) — and asks that console,
//! over loopback and with the token, for a new single-use code.
//!
//! `console.url` decides where the admin token is sent, so it is trusted only as far as
//! `console.token` is: it must belong to this user and be writable by nobody else, and the
//! address it names must be a loopback one — otherwise nothing is sent anywhere.

use hearth_protocol::hearth::ErrorCode;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::auth::TOKEN_FILE;

/// The file `console serve` writes its base URL to, beside the token.
pub const URL_FILE: &str = "console.url";
/// How long `console ui` waits for the console.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Arguments of `console ui`.
#[derive(clap::Args, Debug)]
pub struct UiArgs {
    /// The running console's state directory (where `console.token` and `console.url` are).
    #[arg(long, env = "CONSOLE_STATE_DIR", default_value = ".hearth-console")]
    pub state_dir: PathBuf,
    /// The console's base URL (default: the one `console serve` wrote to STATE/console.url).
    #[arg(long, env = "CONSOLE_URL")]
    pub url: Option<String>,
}

/// Why no link could be made.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// A state file is missing or unreadable.
    #[error("cannot read {path}: {reason} — is `console serve --state-dir {dir}` running?")]
    State {
        path: PathBuf,
        dir: PathBuf,
        reason: String,
    },
    /// The console did not answer.
    #[error("the console at {url} did not answer: {reason} — is it running?")]
    Unreachable { url: String, reason: String },
    /// `console.url` could have been written by someone else.
    #[error("{0} — `console ui` sends the admin token where that file points, so it must be this user's alone")]
    Untrusted(#[from] hearth_serve::private::PrivateError),
    /// `console.url` names an address off this machine's loopback.
    #[error("{path} names {url}, which is not a loopback address; refusing to send the admin token there (hint: pass --url to name a console yourself)")]
    NotLoopback { path: PathBuf, url: String },
    /// The console answered with an error.
    #[error("the console at {url} refused ({status}): {body}")]
    Refused {
        url: String,
        status: u16,
        body: String,
    },
}

impl UiError {
    /// Stable machine-readable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            UiError::State { .. } => ErrorCode::StateUnreadable,
            UiError::Untrusted(e) => e.code(),
            UiError::NotLoopback { .. } => ErrorCode::NotLoopback,
            UiError::Unreachable { .. } => ErrorCode::ConsoleUnreachable,
            UiError::Refused { .. } => ErrorCode::ConsoleRefused,
        }
    }
}

/// The base URL a browser should use for a console bound to `addr`: the address itself, or
/// 127.0.0.1 when it is bound to every interface.
pub fn base_url(addr: std::net::SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("http://127.0.0.1:{}", addr.port())
    } else {
        format!("http://{addr}")
    }
}

/// Records `url` in `state_dir` for `console ui`, 0600 whatever the umask (best effort: the
/// page works without it).
pub fn write_url_file(state_dir: &Path, url: &str) {
    let path = state_dir.join(URL_FILE);
    if let Err(e) = hearth_serve::private::write_atomic(&path, format!("{url}\n").as_bytes()) {
        tracing::warn!(path = %path.display(), error = %e, "cannot record the console's URL; `console ui` will need --url");
    }
}

/// Removes the URL file at exit, if it still names `url` (another console may have taken
/// the state directory over since).
pub fn remove_url_file(state_dir: &Path, url: &str) {
    let path = state_dir.join(URL_FILE);
    if std::fs::read_to_string(&path).is_ok_and(|s| s.trim() == url) {
        let _ = std::fs::remove_file(&path);
    }
}

/// The URL `console serve` recorded, if this user alone could have written it and it names
/// a loopback address.
fn recorded_url(state_dir: &Path) -> Result<String, UiError> {
    let path = state_dir.join(URL_FILE);
    if !path.exists() {
        return Err(UiError::State {
            reason: "no such file".to_owned(),
            path,
            dir: state_dir.to_owned(),
        });
    }
    hearth_serve::private::check_dir(state_dir)?;
    let url = hearth_serve::private::read_owned(&path)?.trim().to_owned();
    if !is_loopback_url(&url) {
        return Err(UiError::NotLoopback { path, url });
    }
    Ok(url)
}

/// Whether `url` is plain `http` to a loopback address (`127.0.0.0/8`, `::1`, `localhost`),
/// with nothing (user info) that could make a client read the host differently.
fn is_loopback_url(url: &str) -> bool {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return false;
    };
    // The parser has already normalised the host (`127.1` → `127.0.0.1`, IPv6 in brackets).
    let host = parsed.host_str().unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback_host = match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    };
    parsed.scheme() == "http"
        && loopback_host
        && parsed.username().is_empty()
        && parsed.password().is_none()
}

#[derive(Debug, Deserialize)]
struct CodeAnswer {
    login_path: String,
}

/// Asks the running console for a code and returns the line to print:
/// `ui http://127.0.0.1:PORT/login?code=…`.
///
/// # Errors
/// [`UiError`] naming the missing file, or the console's silence or refusal.
pub async fn login_line(args: &UiArgs) -> Result<String, UiError> {
    let read = |name: &str| {
        let path = args.state_dir.join(name);
        std::fs::read_to_string(&path)
            .map(|s| s.trim().to_owned())
            .map_err(|e| UiError::State {
                path,
                dir: args.state_dir.clone(),
                reason: e.to_string(),
            })
    };
    let token = read(TOKEN_FILE)?;
    let url = match &args.url {
        Some(u) => u.trim_end_matches('/').to_owned(),
        None => recorded_url(&args.state_dir)?,
    };
    let unreachable = |e: reqwest::Error| UiError::Unreachable {
        url: url.clone(),
        reason: e.to_string(),
    };
    let http = reqwest::Client::builder()
        .timeout(CALL_TIMEOUT)
        .no_proxy()
        .build()
        .map_err(unreachable)?;
    let resp = http
        .post(format!("{url}/api/ui/login-codes"))
        .bearer_auth(&token)
        .send()
        .await
        .map_err(unreachable)?;
    let status = resp.status().as_u16();
    if !resp.status().is_success() {
        return Err(UiError::Refused {
            url,
            status,
            body: resp.text().await.unwrap_or_default(),
        });
    }
    let answer: CodeAnswer = resp.json().await.map_err(unreachable)?;
    Ok(format!("ui {url}{}", answer.login_path))
}

#[cfg(test)]
mod tests {
    use super::is_loopback_url;

    #[test]
    fn only_plain_http_to_loopback_is_trusted() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.3.2.1:1",
            "http://[::1]:9",
            "http://localhost:5",
            "http://LOCALHOST:5",
        ] {
            assert!(is_loopback_url(ok), "{ok}");
        }
        for bad in [
            "http://0.0.0.0:1",
            "http://10.0.0.1:80",
            "http://example.com:80",
            "http://127.0.0.1.example.com:80",
            "http://127.0.0.1@example.com:80",
            "http://user:pw@127.0.0.1:80",
            "https://example.com",
            "ftp://127.0.0.1",
            "127.0.0.1:80",
            "",
        ] {
            assert!(!is_loopback_url(bad), "{bad}");
        }
    }
}
