//! Route behaviour that needs a hand on the console's insides: a HATCH sink that fails.

use std::fs::File;
use std::sync::Arc;

use serde_json::json;

use crate::sink::HatchSink;
use crate::static_hearth::StaticHearth;

const TOKEN: &str = "feedfacefeedfacefeedfacefeedface";

/// A console on port 0 writing to `sink`, in front of a [`StaticHearth`]; the hearth and the
/// port.
async fn serve(sink: HatchSink) -> (Arc<StaticHearth>, u16) {
    let hearth = Arc::new(StaticHearth::new("http://127.0.0.1:9"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let state = crate::test_state(sink, hearth.clone(), port, TOKEN);
    tokio::spawn(crate::serve(listener, state, std::future::pending()));
    (hearth, port)
}

#[tokio::test]
async fn a_failing_hatch_sink_answers_500_and_hearth_is_never_called() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("hatch.jsonl");
    let sink = HatchSink::open(&path).expect("sink");
    // A read-only handle: the next append fails as on a full or read-only disk.
    sink.swap_file(File::open(&path).expect("ro"));
    let (hearth, port) = serve(sink).await;

    let http = reqwest::Client::new();
    for (method, path, body) in [
        (
            "POST",
            "/api/hearth/workspaces",
            json!({"slug": "acme", "tier": "solo"}),
        ),
        ("DELETE", "/api/hearth/workspaces/acme", json!(null)),
    ] {
        let req = http
            .request(
                method.parse().expect("method"),
                format!("http://127.0.0.1:{port}{path}"),
            )
            .bearer_auth(TOKEN);
        let req = if body.is_null() { req } else { req.json(&body) };
        let resp = req.send().await.expect("send");
        assert_eq!(resp.status().as_u16(), 500, "{method} {path}");
        let body: serde_json::Value = resp.json().await.expect("json");
        assert_eq!(body["error"]["code"], "hatch_unavailable");
    }
    assert_eq!(
        hearth.calls(),
        0,
        "the console must not act without its log"
    );
    assert_eq!(std::fs::read_to_string(&path).expect("read"), "");
}

#[tokio::test]
async fn status_relays_the_roles_to_the_admin_alone() {
    let dir = tempfile::tempdir().expect("tmp");
    let sink = HatchSink::open(dir.path().join("hatch.jsonl")).expect("sink");
    let (hearth, port) = serve(sink).await;
    let url = format!("http://127.0.0.1:{port}/api/hearth/workspaces/acme/status");
    let http = reqwest::Client::new();

    let anonymous = http.get(&url).send().await.expect("send");
    assert_eq!(anonymous.status().as_u16(), 401);
    assert_eq!(hearth.calls(), 0, "hearth is not asked for a stranger");

    let resp = http
        .get(&url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 200);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(
        body,
        json!({"status": "ready", "roles": [{"role": "cairnet", "state": "running"}]})
    );
    let bad = http
        .get(format!(
            "http://127.0.0.1:{port}/api/hearth/workspaces/Not_A_Slug/status"
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("send");
    assert_eq!(
        bad.status().as_u16(),
        400,
        "a bad slug is refused before hearth"
    );
    assert_eq!(hearth.calls(), 1);
}
