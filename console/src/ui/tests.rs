//! The page's routes against a real console on port 0 (hearth stood in by `StaticHearth`,
//! which counts its calls): login codes, the page header on cookie writes, the security
//! headers, the page's weight, and bad input answered in the console's JSON error shape.

use std::sync::Arc;
use std::time::Duration;

use hearth_protocol::hatch::types;
use reqwest::redirect::Policy;
use serde_json::{json, Value};

use super::login::LoginCodes;
use crate::sink::HatchSink;
use crate::static_hearth::StaticHearth;
use crate::AppState;

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

struct Console {
    url: String,
    state: AppState,
    hearth: Arc<StaticHearth>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Console {
    /// A console whose login codes live for `code_ttl`.
    async fn start(code_ttl: Duration) -> Console {
        let dir = tempfile::tempdir().expect("tmp");
        let sink = HatchSink::open(dir.path().join("hatch.jsonl")).expect("sink");
        let hearth = Arc::new(StaticHearth::new("http://127.0.0.1:9"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let mut state = crate::test_state(sink, hearth.clone(), port, TOKEN);
        state.logins = Arc::new(LoginCodes::with_ttl(code_ttl));
        tokio::spawn(crate::serve(
            listener,
            state.clone(),
            std::future::pending(),
        ));
        Console {
            url: format!("http://127.0.0.1:{port}"),
            state,
            hearth,
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .no_proxy()
                .build()
                .expect("client"),
            _dir: dir,
        }
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(format!("{}{path}", self.url))
    }

    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(format!("{}{path}", self.url))
    }

    /// `GET path` with the admin token, as JSON.
    async fn admin_json(&self, path: &str) -> Value {
        self.get(path)
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json")
    }

    /// Opens `/login?code=CODE`.
    async fn open_login(&self, code: &str) -> reqwest::Response {
        self.get(&format!("/login?code={code}"))
            .send()
            .await
            .expect("login")
    }

    /// Logs in with a fresh code; returns the `name=value` cookie pair.
    async fn login(&self) -> String {
        let resp = self.open_login(&self.state.logins.mint()).await;
        assert_eq!(resp.status().as_u16(), 303);
        let cookie = resp.headers()["set-cookie"].to_str().expect("ascii");
        cookie.split(';').next().expect("pair").to_owned()
    }
}

/// Status and the `error.code` of a JSON error answer.
async fn error_of(resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.expect("a JSON error body");
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(body["error"]["message"].is_string(), "no message in {body}");
    (status, code)
}

#[tokio::test]
async fn a_login_code_opens_one_session_and_redirects_home() {
    let c = Console::start(super::login::CODE_TTL).await;
    let code = c.state.logins.mint();
    let resp = c.open_login(&code).await;
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(resp.headers()["location"], "/");
    let cookie = resp.headers()["set-cookie"].to_str().expect("ascii");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    let pair = cookie.split(';').next().expect("pair");
    let resp = c
        .get("/api/hearth/workspaces")
        .header("cookie", pair)
        .send()
        .await
        .expect("list");
    assert_eq!(resp.status().as_u16(), 200, "the session works");

    let again = c.open_login(&code).await;
    assert_eq!(error_of(again).await, (401, "login_refused".to_owned()));
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let c = Console::start(Duration::ZERO).await;
    let code = c.state.logins.mint();
    let resp = c.open_login(&code).await;
    assert_eq!(error_of(resp).await, (401, "login_refused".to_owned()));
}

#[tokio::test]
async fn bad_login_requests_get_json_errors() {
    let c = Console::start(super::login::CODE_TTL).await;
    for (path, want) in [
        ("/login", (400, "invalid_request")),
        ("/login?code=", (400, "invalid_request")),
        ("/login?code=a&code=b", (400, "invalid_request")),
        ("/login?code=not-a-code", (401, "login_refused")),
    ] {
        let resp = c.get(path).send().await.expect("send");
        assert_eq!(error_of(resp).await, (want.0, want.1.to_owned()), "{path}");
    }
}

#[tokio::test]
async fn console_ui_codes_need_the_admin_token_and_work_once() {
    let c = Console::start(super::login::CODE_TTL).await;
    let resp = c.post("/api/ui/login-codes").send().await.expect("send");
    assert_eq!(error_of(resp).await, (401, "unauthorized".to_owned()));
    let body: Value = c
        .post("/api/ui/login-codes")
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("mint")
        .json()
        .await
        .expect("json");
    assert_eq!(body["expires_in_secs"], 120);
    let path = body["login_path"].as_str().expect("path");
    let resp = c.get(path).send().await.expect("login");
    assert_eq!(resp.status().as_u16(), 303);
}

#[tokio::test]
async fn cookie_writes_need_the_page_header_and_hearth_never_sees_the_refused() {
    let c = Console::start(super::login::CODE_TTL).await;
    let cookie = c.login().await;
    let pause = "/api/hearth/workspaces/acme/pause";

    let resp = c
        .post(pause)
        .header("cookie", &cookie)
        .send()
        .await
        .expect("send");
    assert_eq!(
        error_of(resp).await,
        (403, "page_header_missing".to_owned())
    );
    let resp = c
        .post(pause)
        .header("cookie", &cookie)
        .header(super::PAGE_HEADER, "1")
        .header("origin", "http://evil.example")
        .send()
        .await
        .expect("send");
    assert_eq!(error_of(resp).await, (403, "forbidden_origin".to_owned()));
    assert_eq!(c.hearth.calls(), 0, "a refused request reached hearth");

    let resp = c
        .post(pause)
        .header("cookie", &cookie)
        .header(super::PAGE_HEADER, "1")
        .header("origin", &c.url)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 200);
    // Scripts with the bearer token need no page header.
    let resp = c.post(pause).bearer_auth(TOKEN).send().await.expect("send");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(c.hearth.calls(), 2);
}

#[tokio::test]
async fn the_page_is_served_with_a_strict_csp_no_inline_script_and_under_100_kb() {
    let c = Console::start(super::login::CODE_TTL).await;
    let resp = c.get("/").send().await.expect("page");
    assert_eq!(resp.status().as_u16(), 200);
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_owned();
    assert!(csp.starts_with("default-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(resp.headers()["x-frame-options"], "DENY");
    let html = resp.text().await.expect("html");
    for tag in html.split("<script").skip(1) {
        let open = tag.split('>').next().unwrap_or_default();
        assert!(
            open.contains("src=\"/ui/"),
            "inline or foreign script: <script{open}>"
        );
    }
    assert!(!html.contains(" style="), "inline style attribute");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "the page refers to another origin"
    );
    let mut weight = html.len();
    for path in ["/ui/app.js", "/ui/app.css", "/ui/favicon.svg"] {
        let resp = c.get(path).send().await.expect("asset");
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        weight += resp.bytes().await.expect("bytes").len();
    }
    assert!(weight <= 100 * 1024, "the page weighs {weight} bytes");
    let js = c
        .get("/ui/app.js")
        .send()
        .await
        .expect("js")
        .text()
        .await
        .expect("text");
    assert!(
        !js.contains("http://") && !js.contains("https://"),
        "the script names another origin"
    );
}

#[tokio::test]
async fn the_page_routes_answer_bad_input_with_json_errors() {
    let c = Console::start(super::login::CODE_TTL).await;
    for (path, want) in [
        ("/api/ui/chain?workspace=Not_A_Slug", (400, "invalid_slug")),
        (
            "/api/ui/chain?workspace=a&workspace=b",
            (400, "invalid_request"),
        ),
        ("/api/ui/workspaces/Not_A_Slug/steps", (400, "invalid_slug")),
        ("/api/ui/workspaces/acme/steps", (501, "unsupported")),
        ("/api/hatch/junit", (404, "not_found")),
        ("/api/ui/nothing-here", (404, "not_found")),
    ] {
        let resp = c.get(path).bearer_auth(TOKEN).send().await.expect("send");
        assert_eq!(error_of(resp).await, (want.0, want.1.to_owned()), "{path}");
    }
    let resp = c.get("/api/ui/chain").send().await.expect("send");
    assert_eq!(error_of(resp).await, (401, "unauthorized".to_owned()));
}

#[tokio::test]
async fn the_chain_route_gives_verifys_verdict_per_workspace() {
    let c = Console::start(super::login::CODE_TTL).await;
    let sink = &c.state.sink;
    let append = |ty: &'static str, subject: &'static str, data: Value| {
        sink.append_blocking(ty, subject, data).expect("append");
    };
    append(types::PROVISIONING_STARTED, "acme", json!({}));
    append(types::PROVISIONED, "acme", json!({}));
    append(types::PROVISIONING_STARTED, "other", json!({}));
    append(
        types::RUN_STARTED,
        "r1",
        json!({"workspace": "acme", "prompts": 2}),
    );
    append(types::NODE_SUCCEEDED, "r1", json!({}));
    append(types::NODE_SUCCEEDED, "r1", json!({}));
    append(types::RUN_ENDED, "r1", json!({"outcome": "succeeded"}));
    append(types::DECOMMISSION_STARTED, "acme", json!({}));
    append(types::DECOMMISSIONED, "acme", json!({}));
    let body = c.admin_json("/api/ui/chain?workspace=acme").await;
    assert_eq!(body["summary"], "OK — all 8 acts in order");
    assert_eq!(body["workspaces"], json!(["acme", "other"]));
    assert_eq!(body["junit"], false);
    let body = c.admin_json("/api/ui/chain?workspace=other").await;
    assert_eq!(body["verdict"]["ok"], false);
    assert_eq!(body["verdict"]["gap"]["code"], "provision_unfinished");

    let log = c
        .get("/api/hatch/log")
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("log");
    assert!(log.headers()["content-disposition"]
        .to_str()
        .expect("cd")
        .contains("hatch.jsonl"));
    assert_eq!(log.text().await.expect("text").lines().count(), 9);
}

#[test]
fn the_gate_opens_exactly_the_pages_files_and_exchanges() {
    let mut served: Vec<&str> = super::ASSETS.iter().map(|(p, _, _)| *p).collect();
    served.extend(["/login", super::meta::PATH, "/healthz"]);
    served.sort_unstable();
    let mut open = crate::gate::OPEN_GETS.to_vec();
    open.sort_unstable();
    assert_eq!(
        open, served,
        "gate::OPEN_GETS and the page's open routes differ"
    );
}
