//! The agent projection on hearth's side: every verb call the dispatcher carries out is
//! POSTed as `agent.registered` (first call per workspace), `agent.invoked` and
//! `agent.completed`, in order; a sink that never answers costs a verb no time.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::post;
use axum::{Json, Router};
use hearth::agent::{Projection, Sink};
use hearth::dispatcher::{Deadlines, Dispatcher};
use hearth::driver::fake::FakeDriver;
use hearth::Store;
use hearth_protocol::agent::AgentEvent;
use hearth_protocol::hearth::{DriverName, ProvisioningProfile, Tier};

/// One POST the sink received: its `Authorization` header and its body.
type Received = (Option<String>, AgentEvent);

fn dispatcher(state: &std::path::Path, sink: Sink) -> Arc<Dispatcher> {
    let d = Dispatcher::new(
        Arc::new(FakeDriver::default()),
        Store::open(state).expect("state"),
        Deadlines::default(),
    );
    d.set_agent(Projection::start(sink, DriverName::Fake));
    d
}

#[tokio::test]
async fn each_verb_call_is_sent_in_order() {
    let got: Arc<Mutex<Vec<Received>>> = Arc::default();
    let seen = got.clone();
    let app = Router::new().route(
        "/agent",
        post(
            move |headers: axum::http::HeaderMap, Json(e): Json<AgentEvent>| async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                seen.lock().expect("lock").push((auth, e));
                axum::http::StatusCode::ACCEPTED
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/agent", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let state = tempfile::tempdir().expect("tmp");
    let d = dispatcher(
        state.path(),
        Sink {
            url,
            token: Some("s3cret".into()),
            timeout: Duration::from_secs(2),
        },
    );
    d.provision("acme", ProvisioningProfile::for_tier(Tier::Solo))
        .await
        .expect("provision");
    let err = d.resume("acme").await.expect_err("resume of a ready one");
    assert_eq!(err.code(), "conflict");
    d.teardown("acme").await.expect("teardown");
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.lock().expect("lock").len() < 7 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let got = got.lock().expect("lock").clone();
    let seq: Vec<(&str, &str, Option<&str>)> = got
        .iter()
        .map(|(_, e)| {
            (
                e.event_type.as_str(),
                e.capability.as_str(),
                e.outcome.map(|o| match o {
                    hearth_protocol::agent::Outcome::Ok => "ok",
                    hearth_protocol::agent::Outcome::Error => "error",
                }),
            )
        })
        .collect();
    assert_eq!(
        seq,
        [
            ("agent.registered", "driver.provision", None),
            ("agent.invoked", "driver.provision", None),
            ("agent.completed", "driver.provision", Some("ok")),
            ("agent.invoked", "driver.resume", None),
            ("agent.completed", "driver.resume", Some("error")),
            ("agent.invoked", "driver.teardown", None),
            ("agent.completed", "driver.teardown", Some("ok")),
        ]
    );
    for (auth, e) in &got {
        assert_eq!(auth.as_deref(), Some("Bearer s3cret"));
        assert_eq!(e.agent_id, "acme-driver-fake");
        assert_eq!(e.problem(), None, "{e:?}");
    }
    assert_eq!(got[4].1.error_code.as_deref(), Some("conflict"));
    assert_eq!(got[1].1.invocation_id, got[2].1.invocation_id);
}

/// A sink that accepts connections and never answers: each POST waits out its bound in the
/// background, and the verbs do not wait at all.
#[tokio::test]
async fn a_sink_that_never_answers_never_slows_a_verb() {
    let hole = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/agent", hole.local_addr().expect("addr"));
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in hole.incoming().flatten() {
            held.push(s);
        }
    });
    let state = tempfile::tempdir().expect("tmp");
    let d = dispatcher(
        state.path(),
        Sink {
            url,
            token: None,
            timeout: Duration::from_secs(5),
        },
    );
    let started = Instant::now();
    for slug in ["a", "b", "c"] {
        d.provision(slug, ProvisioningProfile::for_tier(Tier::Solo))
            .await
            .expect("provision");
        d.teardown(slug).await.expect("teardown");
    }
    // Any one event sent in line would cost its whole 5 s bound (15 of them: 75 s); the
    // verbs themselves take well under a second even on a loaded machine.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "verbs waited for the sink: {:?}",
        started.elapsed()
    );
    // A dead address: refused at once, logged, verbs unaffected.
    let d = dispatcher(
        &state.path().join("other"),
        Sink {
            url: "http://127.0.0.1:9/agent".into(),
            token: None,
            timeout: Duration::from_millis(200),
        },
    );
    d.provision("d", ProvisioningProfile::for_tier(Tier::Solo))
        .await
        .expect("provision with a dead sink");
}
