//! `console ui`: a fresh login link for the page of a console that is already running. It
//! reads what `console serve` left in the state directory — the admin token
//! (`console.token`) and the address it listens on (`console.url`) — and asks that console,
//! over loopback and with the token, for a new single-use code.

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
    pub fn code(&self) -> &'static str {
        match self {
            UiError::State { .. } => "state_unreadable",
            UiError::Unreachable { .. } => "console_unreachable",
            UiError::Refused { .. } => "console_refused",
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

/// Records `url` in `state_dir` for `console ui` (best effort: the page works without it).
pub fn write_url_file(state_dir: &Path, url: &str) {
    let path = state_dir.join(URL_FILE);
    if let Err(e) = std::fs::write(&path, format!("{url}\n")) {
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
        None => read(URL_FILE)?,
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
