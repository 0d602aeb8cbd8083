//! The start order on tokio's paused clock: what runs in parallel, what waits, what a failure
//! cancels.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::*;
use crate::template::{Probe, Ready};

fn role(name: &str, once: bool, deps: &[(&str, Condition)]) -> Role {
    Role {
        name: name.to_owned(),
        image: "img".to_owned(),
        port: None,
        command: None,
        once,
        depends_on: deps.iter().map(|(d, c)| ((*d).to_owned(), *c)).collect(),
        env: BTreeMap::new(),
        limits: None,
        ready: Ready {
            probe: Probe::None,
            timeout: None,
            interval: None,
        },
        volume: None,
        placement: Vec::new(),
    }
}

fn template(roles: Vec<Role>) -> Template {
    Template {
        front_door: roles[0].name.clone(),
        roles,
    }
}

#[derive(Debug, PartialEq)]
struct Failed(String);

impl From<Unmeetable> for Failed {
    fn from(u: Unmeetable) -> Self {
        Failed(u.to_string())
    }
}

/// A role that starts at once and is up after `secs` seconds; the log says when (in ms since
/// the run began) each role began and ended.
async fn up(
    role: &Role,
    signal: Signal,
    began: Instant,
    log: &Mutex<Vec<(String, u128, u128)>>,
    secs: &BTreeMap<&str, f64>,
) -> Result<String, Failed> {
    let start = began.elapsed().as_millis();
    signal.started();
    let wait = Duration::from_secs_f64(secs.get(role.name.as_str()).copied().unwrap_or(1.0));
    if role.name.starts_with("bad") {
        tokio::time::sleep(wait).await;
        return Err(Failed(format!("{} failed", role.name)));
    }
    tokio::select! {
        () = tokio::time::sleep(wait) => {}
        () = signal.canceled() => return Err(Failed(format!("{} canceled", role.name))),
    }
    log.lock()
        .unwrap()
        .push((role.name.clone(), start, began.elapsed().as_millis()));
    Ok(role.name.clone())
}

async fn run(t: &Template, secs: &[(&str, f64)]) -> (Result<Vec<String>, Failed>, u128, Log) {
    let secs: BTreeMap<&str, f64> = secs.iter().copied().collect();
    let log = Arc::new(Mutex::new(Vec::new()));
    let began = Instant::now();
    let out = bring_up(t, |r, s| {
        let log = log.clone();
        let secs = secs.clone();
        let r = r.clone();
        async move { up(&r, s, began, &log, &secs).await }
    })
    .await;
    let total = began.elapsed().as_millis();
    let log = log.lock().unwrap().clone();
    (out, total, log)
}

type Log = Vec<(String, u128, u128)>;

fn start_of(log: &Log, name: &str) -> u128 {
    log.iter().find(|(n, _, _)| n == name).expect(name).1
}

#[tokio::test(start_paused = true)]
async fn independent_roles_go_together() {
    let t = template(vec![role("a", false, &[]), role("b", false, &[])]);
    let (out, total, _) = run(&t, &[]).await;
    assert_eq!(out, Ok(vec!["a".to_owned(), "b".to_owned()]));
    assert_eq!(total, 1000, "two independent 1 s roles take 1 s, not 2");
}

#[tokio::test(start_paused = true)]
async fn dependents_wait_for_their_condition() {
    let t = template(vec![
        role(
            "web",
            false,
            &[("db", Condition::Ready), ("migrate", Condition::Completed)],
        ),
        role("migrate", true, &[("db", Condition::Ready)]),
        role("db", false, &[]),
        role("sidecar", false, &[("db", Condition::Started)]),
    ]);
    let (out, total, log) = run(&t, &[("db", 1.0), ("migrate", 0.5), ("web", 1.0)]).await;
    assert_eq!(
        out,
        Ok(vec![
            "web".to_owned(),
            "migrate".to_owned(),
            "db".to_owned(),
            "sidecar".to_owned()
        ]),
        "results come in the template's order"
    );
    assert_eq!(start_of(&log, "db"), 0);
    assert_eq!(
        start_of(&log, "sidecar"),
        0,
        "started, not ready, is enough"
    );
    assert_eq!(start_of(&log, "migrate"), 1000);
    assert_eq!(start_of(&log, "web"), 1500);
    assert_eq!(total, 2500);
}

#[tokio::test(start_paused = true)]
async fn the_first_failure_cancels_the_rest() {
    let t = template(vec![
        role("bad", false, &[]),
        role("slow", false, &[]),
        role("after", false, &[("bad", Condition::Ready)]),
        role("later", false, &[("slow", Condition::Ready)]),
    ]);
    let (out, total, log) = run(&t, &[("bad", 0.5), ("slow", 10.0)]).await;
    assert_eq!(
        out,
        Err(Failed("bad failed".to_owned())),
        "the first error, not a cancellation"
    );
    assert_eq!(total, 500, "the waits stop at once");
    assert!(log.is_empty(), "nothing else came up: {log:?}");
}

#[tokio::test(start_paused = true)]
async fn completed_of_a_service_is_unmeetable() {
    let t = template(vec![
        role("svc", false, &[]),
        role("web", false, &[("svc", Condition::Completed)]),
    ]);
    let (out, _, _) = run(&t, &[]).await;
    let err = out.expect_err("unmeetable");
    assert!(err.0.contains("not a one-shot"), "{err:?}");
}

#[test]
fn layers_go_forward_and_back() {
    let t = template(vec![
        role(
            "web",
            false,
            &[("db", Condition::Ready), ("migrate", Condition::Completed)],
        ),
        role("migrate", true, &[("db", Condition::Ready)]),
        role("db", false, &[]),
        role("cache", false, &[]),
    ]);
    assert_eq!(
        start_layers(&t),
        vec![
            vec!["db".to_owned(), "cache".to_owned()],
            vec!["migrate".to_owned()],
            vec!["web".to_owned()]
        ]
    );
    assert_eq!(reverse_layers(&t)[0], vec!["web".to_owned()]);
    // A cycle does not loop.
    let cyclic = template(vec![
        role("a", false, &[("b", Condition::Ready)]),
        role("b", false, &[("a", Condition::Ready)]),
    ]);
    assert_eq!(start_layers(&cyclic).concat().len(), 2);
}
