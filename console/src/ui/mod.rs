//! The console's web page: one HTML page, its script, style and icon embedded in the binary
//! (nothing fetched from anywhere but the console itself), the `/login?code=…` exchange of a
//! single-use code for a cookie session, and the read-only views the page needs besides the
//! API it shares with scripts (live workspace list, boot steps, the chain's verdict, log
//! downloads).
//!
//! The page changes nothing by itself: every action it offers is a request to the same API
//! routes scripts use (`/api/hearth/…`, `/api/ralph/runs`), so HATCH records it as today and
//! hearth's dispatcher is the only way to the engine.
//!
//! - [`login`]: the single-use codes; [`cli`]: `console ui`, a fresh link from the shell.
//! - `live`: server-sent workspace lists and boot steps.
//! - `chain`: `hatch verify`'s verdict for one workspace, and the log and JUnit downloads.

mod chain;
pub mod cli;
mod live;
pub mod login;
pub mod meta;

use axum::extract::State;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::auth::session_set_cookie;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::AppState;

/// The header the page adds to every request that changes state. A cookie alone is not
/// enough for those (the gate refuses them): a page from another origin cannot add a custom
/// header without a CORS preflight the console never grants.
pub const PAGE_HEADER: &str = "x-hearth-console";

/// The page's Content-Security-Policy: script, style, images and connections from the
/// console's own origin only; no inline script, no framing, no plugins.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'; object-src 'none'";

const INDEX_HTML: &str = include_str!("../../assets/index.html");
const APP_JS: &str = include_str!("../../assets/app.js");
const APP_CSS: &str = include_str!("../../assets/app.css");
const FAVICON_SVG: &str = include_str!("../../assets/favicon.svg");

/// The page's files, by path: what `GET` serves without a session (they hold no data).
const ASSETS: &[(&str, &str, &str)] = &[
    ("/", "text/html; charset=utf-8", INDEX_HTML),
    ("/ui/app.js", "text/javascript; charset=utf-8", APP_JS),
    ("/ui/app.css", "text/css; charset=utf-8", APP_CSS),
    ("/ui/favicon.svg", "image/svg+xml", FAVICON_SVG),
];

/// Headers every console answer carries, page or JSON, the framework's and the connection
/// bounds' own refusals included (the server puts them on last, see
/// `hearth_serve::Limits::answer_headers`): the CSP, no sniffing, no framing, no referrer (a
/// login code must never leak through one), and nothing kept in a cache.
pub static SECURITY_HEADERS: [(HeaderName, HeaderValue); 5] = [
    (
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    ),
    (
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ),
    (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    (
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    ),
    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
];

/// The page's routes, merged into the console's router behind the same gate.
pub fn routes() -> Router<AppState> {
    let mut router = Router::new()
        .route("/login", get(login))
        .route("/api/ui/login-codes", post(mint_code))
        .route("/api/ui/workspaces/live", get(live::workspaces))
        .route("/api/ui/workspaces/{slug}/steps", get(live::steps))
        .route("/api/ui/chain", get(chain::chain))
        .route("/api/hatch/log", get(chain::download_log))
        .route("/api/hatch/junit", get(chain::download_junit))
        .route(
            meta::PATH,
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    meta::META.as_str(),
                )
            }),
        );
    for (path, content_type, body) in ASSETS {
        router = router.route(
            path,
            get(move || async move { ([(header::CONTENT_TYPE, *content_type)], *body) }),
        );
    }
    router
}

/// `?code=…`.
#[derive(Debug, Deserialize)]
struct LoginQuery {
    #[serde(default)]
    code: Option<String>,
}

/// `GET /login?code=…`: a good code opens a cookie session and redirects to `/` (so the
/// code leaves the address bar); any other answers `login_refused`.
async fn login(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<LoginQuery>,
) -> Result<Response, ApiError> {
    let Some(code) = q.code.filter(|c| !c.is_empty()) else {
        return Err(ApiError::BadRequest(
            "missing ?code=: open the link `console serve` or `console ui` printed".to_owned(),
        ));
    };
    if let Err(reason) = state.logins.redeem(&code) {
        tracing::warn!(reason = ?reason, "login code refused");
        return Err(ApiError::LoginRefused);
    }
    let id = state.auth.open_session();
    tracing::info!("login code redeemed; page session opened");
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, session_set_cookie(&id)),
            (header::LOCATION, "/".to_owned()),
        ],
    )
        .into_response())
}

/// `POST /api/ui/login-codes` (admin token or session): a fresh single-use code, for
/// `console ui`.
async fn mint_code(State(state): State<AppState>) -> Json<serde_json::Value> {
    let code = state.logins.mint();
    Json(json!({
        "code": code,
        "login_path": format!("/login?code={code}"),
        "expires_in_secs": state.logins.ttl().as_secs(),
    }))
}

#[cfg(test)]
mod tests;
