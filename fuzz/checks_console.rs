//! What the console's fuzz targets check, written once: `fuzz_targets/hatch_verify.rs` and
//! `fuzz_targets/console_request.rs` call these on libFuzzer's inputs, and
//! `console/tests/fuzz_corpus.rs` replays every committed corpus entry through them.
#![allow(dead_code)]

use std::sync::{Arc, OnceLock};

use console::auth::LocalAuth;
use console::gate::GatePolicy;
use console::sink::HatchSink;
use console::static_hearth::StaticHearth;
use console::verify::{check_events, render_text, Chain};
use console::worker::WorkerClient;
use console::AppState;
use hearth_protocol::bearer::Keyring;
use hearth_protocol::hatch::read_log;
use hearth_protocol::limits::MAX_PROMPTS;

/// One target's check.
pub type Check = fn(&[u8]);

/// The targets by name, for the corpus replay.
pub const TARGETS: &[(&str, Check)] = &[
    ("hatch_verify", hatch_verify),
    ("console_request", console_request),
];

/// `prompts(8, little-endian u64) log…`: `hatch verify` on any log with any prompt count
/// (huge ones included) never panics nor builds an oversized chain: past the protocol's cap
/// it is an error, within it a verdict that renders; and the page's chain over the same log
/// (which reads the count from the log's `ralph.run.started`) answers too.
pub fn hatch_verify(data: &[u8]) {
    let (head, log) = data.split_at(data.len().min(8));
    let mut raw = [0u8; 8];
    raw[..head.len()].copy_from_slice(head);
    let prompts = u64::from_le_bytes(raw);
    let Ok(log) = read_log(log) else {
        return;
    };
    let n = usize::try_from(prompts).unwrap_or(usize::MAX);
    match check_events(&log.events, Chain::ProvisionThenRalph, n) {
        Ok(verdict) => {
            assert!(n <= MAX_PROMPTS, "a chain of {n} acts was built");
            assert!(!verdict.ok || verdict.matched.len() == verdict.acts);
            let _ = render_text(&verdict);
        }
        Err(e) => {
            assert!(n > MAX_PROMPTS, "{n} prompts refused: {e}");
            assert_eq!(e.code(), "too_many_prompts");
        }
    }
}

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

/// The console the request target talks to: a HATCH log in a temp dir, hearth stood in by
/// `StaticHearth`, a worker nobody serves. Built once per process.
fn app() -> &'static (tokio::runtime::Runtime, AppState, tempfile::TempDir) {
    static APP: OnceLock<(tokio::runtime::Runtime, AppState, tempfile::TempDir)> = OnceLock::new();
    APP.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("tmp");
        let keys = Keyring::parse("k1:fuzzing-secret-fuzzing-secret\n").expect("keys");
        let state = AppState::new(
            HatchSink::open(dir.path().join("hatch.jsonl")).expect("sink"),
            Arc::new(StaticHearth::new("http://127.0.0.1:9")),
            WorkerClient::new("http://127.0.0.1:9", keys).expect("worker"),
            LocalAuth::with_token(TOKEN.to_owned()),
            GatePolicy::for_port(8080, &[], console::DEFAULT_BODY_LIMIT),
        );
        (rt, state, dir)
    })
}

/// `METHOD SP PATH?QUERY \n (Name: value \n)* \n body`: any request, through the console's
/// real router in-process (`tower::ServiceExt::oneshot`), authenticated when its headers say
/// so. Never a panic; every error answer carries the one error shape; the HATCH log stays
/// readable by its own reader after whatever the request did.
pub fn console_request(data: &[u8]) {
    use tower::ServiceExt;
    let Some(req) = request_of(data) else {
        return;
    };
    let (rt, state, _dir) = app();
    let resp = rt
        .block_on(console::routes::router(state.clone()).oneshot(req))
        .expect("the router is infallible");
    let status = resp.status();
    let body = rt
        .block_on(http_body_util::BodyExt::collect(resp.into_body()))
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    if status.is_client_error() || status.is_server_error() {
        let v: serde_json::Value = serde_json::from_slice(&body)
            .unwrap_or_else(|_| panic!("{status} without a JSON error body"));
        assert!(v["error"]["code"].is_string(), "{status}: {v}");
    }
    assert!(
        state.sink.read().is_ok(),
        "the HATCH log became unreadable after a {status} answer"
    );
}

/// The request `data` describes, if it is one the `http` crate can build.
fn request_of(data: &[u8]) -> Option<axum::http::Request<axum::body::Body>> {
    let text = String::from_utf8_lossy(data);
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let (method, target) = lines.next()?.split_once(' ')?;
    let mut req = axum::http::Request::builder()
        .method(method)
        .uri(target)
        .header("host", "127.0.0.1:8080");
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let value = value.trim().replace("$TOKEN", TOKEN);
        req = req.header(name.trim(), value);
    }
    req.body(axum::body::Body::from(body.to_owned())).ok()
}
