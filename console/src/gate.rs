//! The gate every request passes first: Host allowlist, cross-site Origin refusal, body cap,
//! then LocalAuth (admin token or session cookie; a cookie that changes state also needs the
//! page's own header).
//!
//! A loopback port is reachable from any web page the user visits, so the Host check stops
//! DNS rebinding and the Origin check stops cross-site form posts and event-stream reads.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::SESSION_COOKIE;
use crate::error::ApiError;
use crate::ui::PAGE_HEADER;
use crate::AppState;

/// What is served without a token or session — decided here and nowhere else: the health
/// check, the token-for-session exchange, the page's login exchange, and the page's files
/// and `/ui/meta.json` (they hold no data). The page's own routes are checked against this
/// list by a test.
pub const OPEN_GETS: &[&str] = &[
    "/healthz",
    "/login",
    "/",
    "/ui/app.js",
    "/ui/app.css",
    "/ui/favicon.svg",
    "/ui/meta.json",
];

/// Whether `method path` is open (see [`OPEN_GETS`]); `POST /api/session` is how a session
/// starts.
pub fn is_open(method: &Method, path: &str) -> bool {
    let read = *method == Method::GET || *method == Method::HEAD;
    // Any method on /healthz reaches its route (which answers 405 to all but GET).
    path == "/healthz"
        || (read && OPEN_GETS.contains(&path))
        || (*method == Method::POST && path == "/api/session")
}

/// What the gate allows.
#[derive(Debug, Clone)]
pub struct GatePolicy {
    /// `Host` values served, lower-case (`127.0.0.1:PORT`, `localhost:PORT`, `[::1]:PORT`, and
    /// any `--allow-host`).
    pub allowed_hosts: Vec<String>,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
}

impl GatePolicy {
    /// The default allowlist for `port` plus `extra` hosts.
    pub fn for_port(port: u16, extra: &[String], body_limit: usize) -> Self {
        let mut allowed_hosts = vec![
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
        ];
        allowed_hosts.extend(extra.iter().map(|h| h.to_ascii_lowercase()));
        GatePolicy {
            allowed_hosts,
            body_limit,
        }
    }

    fn host_allowed(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.allowed_hosts.contains(&host)
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        let origin = origin.to_ascii_lowercase();
        self.allowed_hosts
            .iter()
            .any(|h| origin == format!("http://{h}") || origin == format!("https://{h}"))
    }
}

/// The gate middleware. (The security headers are not its business: the server puts them on
/// every answer last, so the framework's own rejections, which never pass here, carry them.)
pub async fn gate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match check(state, req, next).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

async fn check(state: AppState, req: Request, next: Next) -> Result<Response, ApiError> {
    let policy = &state.policy;
    let headers = req.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default();
    if !policy.host_allowed(&host) {
        return Err(ApiError::ForbiddenHost(host));
    }
    let declared_len = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared_len.is_some_and(|len| len > policy.body_limit as u64) {
        return Err(ApiError::PayloadTooLarge {
            limit: policy.body_limit,
        });
    }
    let state_changing = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if state_changing || wants_event_stream(headers) {
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("<non-ascii>");
            if !policy.origin_allowed(origin) {
                return Err(ApiError::ForbiddenOrigin(origin.to_owned()));
            }
        }
        if headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
        {
            return Err(ApiError::ForbiddenOrigin(
                "sec-fetch-site: cross-site".to_owned(),
            ));
        }
    }
    let open_route = is_open(req.method(), req.uri().path());
    if !open_route {
        match credential(&state, headers) {
            None => return Err(ApiError::Unauthorized),
            // A cookie rides along on any request the browser makes to this origin; a custom
            // header is something only the console's own script can add (another origin
            // would need a CORS preflight, which the console never grants).
            Some(Credential::Cookie) if state_changing && !headers.contains_key(PAGE_HEADER) => {
                return Err(ApiError::PageHeaderMissing(PAGE_HEADER));
            }
            Some(_) => {}
        }
    }
    Ok(next.run(req).await)
}

/// True for requests that ask for an SSE stream.
pub fn wants_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"))
}

/// How a request proved it is the local admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Credential {
    /// `Authorization: Bearer <admin token>` (scripts, the CLI).
    Bearer,
    /// A live session cookie (the page).
    Cookie,
}

fn credential(state: &AppState, headers: &HeaderMap) -> Option<Credential> {
    if let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        return auth
            .strip_prefix("Bearer ")
            .is_some_and(|t| state.auth.check_token(t.trim()))
            .then_some(Credential::Bearer);
    }
    session_cookie(headers)
        .is_some_and(|id| state.auth.check_session(&id))
        .then_some(Credential::Cookie)
}

/// The session id from the `Cookie` header, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn allowlist_covers_loopback_names_and_extras() {
        let p = GatePolicy::for_port(8080, &["Console.Local:8080".into()], 1024);
        assert!(p.host_allowed("127.0.0.1:8080"));
        assert!(p.host_allowed("LOCALHOST:8080"));
        assert!(p.host_allowed("[::1]:8080"));
        assert!(p.host_allowed("console.local:8080"));
        assert!(!p.host_allowed("127.0.0.1:8081"));
        assert!(!p.host_allowed("evil.example:8080"));
        assert!(p.origin_allowed("http://localhost:8080"));
        assert!(!p.origin_allowed("http://evil.example"));
        assert!(!p.origin_allowed("null"));
    }

    #[test]
    fn session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; hearth_console_session=abc123; c=d"),
        );
        assert_eq!(session_cookie(&h).as_deref(), Some("abc123"));
    }
}
