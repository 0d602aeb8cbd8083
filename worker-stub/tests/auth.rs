//! The HMAC bearer at the worker's door: every bad request gets a 401 with its code, and no
//! run is created.

mod common;

use common::{dead_endpoint, run_body, Worker};
use hearth_protocol::bearer::{sign_at, unix_now, Keyring};

async fn post_raw(w: &Worker, path: &str, auth: Option<String>, body: &[u8]) -> (u16, String) {
    let mut req = reqwest::Client::new()
        .post(format!("{}{path}", w.base))
        .body(body.to_vec());
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let resp = req.send().await.expect("post");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let v: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status} {text}"));
    (
        status,
        v["error"]["code"].as_str().expect("code").to_owned(),
    )
}

fn body() -> Vec<u8> {
    serde_json::to_vec(&run_body(&dead_endpoint(), &["one"])).expect("json")
}

const SECRET: &[u8] = b"test-secret-0123456789";

fn nonce(n: u8) -> String {
    format!("{n:032x}")
}

#[tokio::test]
async fn bad_bearers_are_refused_and_run_nothing() {
    let w = Worker::start(&[]).await;
    let b = body();
    let now = unix_now();
    let wrong_keys = Keyring::parse("test-key:another-secret").expect("keys");
    let other_body = serde_json::to_vec(&run_body("http://127.0.0.1:9/", &["two"])).expect("json");
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("unsigned", None, "missing"),
        ("not a token", Some("Bearer nope".into()), "malformed"),
        (
            "unknown key",
            Some(sign_at(
                "other",
                SECRET,
                now,
                &nonce(1),
                "POST",
                "/runs",
                &b,
            )),
            "unknown_key",
        ),
        (
            "wrong secret",
            Some(wrong_keys.sign(&w.base, "POST", "/runs", &b)),
            "bad_signature",
        ),
        (
            "tampered body",
            Some(sign_at(
                "test-key",
                SECRET,
                now,
                &nonce(2),
                "POST",
                "/runs",
                &other_body,
            )),
            "bad_signature",
        ),
        (
            "tampered path",
            Some(sign_at(
                "test-key",
                SECRET,
                now,
                &nonce(3),
                "POST",
                "/runs?as=admin",
                &b,
            )),
            "bad_signature",
        ),
        (
            "tampered method",
            Some(sign_at(
                "test-key",
                SECRET,
                now,
                &nonce(4),
                "PUT",
                "/runs",
                &b,
            )),
            "bad_signature",
        ),
        (
            "expired",
            Some(sign_at(
                "test-key",
                SECRET,
                now - 305,
                &nonce(5),
                "POST",
                "/runs",
                &b,
            )),
            "expired",
        ),
        (
            "from the future",
            Some(sign_at(
                "test-key",
                SECRET,
                // Not +301: a second ticking between here and the worker's clock would put
                // it back inside the 300 s tolerance.
                now + 305,
                &nonce(6),
                "POST",
                "/runs",
                &b,
            )),
            "expired",
        ),
    ];
    for (what, auth, code) in cases {
        assert_eq!(
            post_raw(&w, "/runs", auth, &b).await,
            (401, code.to_owned()),
            "{what}"
        );
    }
    assert_eq!(
        w.runs_count().await,
        0,
        "a refused request must not create a run"
    );
}

#[tokio::test]
async fn a_replayed_submit_is_refused() {
    let w = Worker::start(&[]).await;
    let b = body();
    let auth = sign_at(
        "test-key",
        SECRET,
        unix_now(),
        &nonce(7),
        "POST",
        "/runs",
        &b,
    );
    assert_eq!(post_raw_ok(&w, &auth, &b).await, 200);
    assert_eq!(
        post_raw(&w, "/runs", Some(auth), &b).await,
        (401, "replayed".to_owned())
    );
    assert_eq!(w.runs_count().await, 1);
}

async fn post_raw_ok(w: &Worker, auth: &str, body: &[u8]) -> u16 {
    reqwest::Client::new()
        .post(format!("{}/runs", w.base))
        .header("authorization", auth)
        .body(body.to_vec())
        .send()
        .await
        .expect("post")
        .status()
        .as_u16()
}

#[tokio::test]
async fn event_streams_are_signed_too() {
    let w = Worker::start(&[]).await;
    let run_id = w.submit(&dead_endpoint(), &["one"]).await;
    let url = format!("{}/runs/{run_id}/events", w.base);
    let unsigned = reqwest::get(&url).await.expect("get");
    assert_eq!(unsigned.status(), 401);
    // A signature for another run's stream does not open this one.
    let other = w.keys.sign(&w.base, "GET", "/runs/other/events", b"");
    let resp = reqwest::Client::new()
        .get(&url)
        .header("authorization", other)
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn both_live_keys_are_accepted_during_rotation() {
    let w = Worker::start(&[]).await;
    let old_console = Keyring::parse("old-key:old-secret").expect("keys");
    let new_console =
        Keyring::parse("test-key:test-secret-0123456789\nold-key:old-secret").expect("keys");
    for console in [old_console, new_console] {
        let resp = w
            .submit_with(&console, &run_body(&dead_endpoint(), &["a"]))
            .await;
        assert_eq!(resp.status(), 200);
    }
    // A key dropped from the worker's file is refused.
    let retired = Keyring::parse("retired:old-secret").expect("keys");
    let resp = w
        .submit_with(&retired, &run_body(&dead_endpoint(), &["a"]))
        .await;
    assert_eq!(resp.status(), 401);
    assert_eq!(w.runs_count().await, 2);
}

#[tokio::test]
async fn bad_bodies_are_400_and_run_nothing() {
    let w = Worker::start(&[]).await;
    let ep = dead_endpoint();
    let many: Vec<&str> = vec!["p"; 9];
    let cases = [
        serde_json::json!({"workspace": "demo", "endpoint": ep, "prompts": []}),
        run_body(&ep, &many),
        run_body("not a url", &["p"]),
        run_body("ftp://127.0.0.1/", &["p"]),
        serde_json::json!({"workspace": "", "endpoint": ep, "prompts": ["p"]}),
        serde_json::json!({"endpoint": ep, "prompts": ["p"]}),
    ];
    for body in cases {
        let resp = w.submit_with(&w.keys, &body).await;
        assert_eq!(resp.status(), 400, "{body}");
        let v: serde_json::Value = resp.json().await.expect("json");
        assert_eq!(v["error"]["code"], "invalid_request", "{body}");
    }
    assert_eq!(w.runs_count().await, 0);
}

#[tokio::test]
async fn an_oversized_body_is_413_and_runs_nothing() {
    let w = Worker::start(&[]).await;
    let big = "x".repeat(300 * 1024);
    let resp = w
        .submit_with(&w.keys, &run_body(&dead_endpoint(), &[&big]))
        .await;
    assert_eq!(resp.status(), 413);
    let v: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(v["error"]["code"], "body_too_large");
    assert_eq!(w.runs_count().await, 0);
}
