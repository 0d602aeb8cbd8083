//! A templated workspace under kill -9, with the real `hearth` binary on a real engine: a
//! 3-role template (a one-shot migration, a TCP-ready role, an HTTP role behind a slow health
//! path that depends on both) is killed at each boot-event point of its provision — every
//! distinct step (and role) its boot events show, one kill per point — and a restarted
//! hearth reconciles: nothing of the workspace is left on the engine (by label), it is
//! `failed`, and a re-provision of the same slug becomes ready. On Docker (HEARTH_E2E=1) and
//! on Podman (support::podman::e2e).
//!
//! The killed daemon runs the template with a health path that never turns 200, so the
//! provision is still going at every point; the restarted one runs it with a health path that
//! does after 1.2 s. The first crash is at the deepest point (cairnet's first probe attempts);
//! the steps it saw name the points of the others.

mod support;

use std::collections::BTreeSet;
use std::time::Instant;

use hearth_protocol::hearth::{LifecycleEvent, ProvisioningProfile, Status, Tier};
use support::crash::{self, Crash, Crashed, Midway};

/// The template, `@IMAGE@` the test image and `@HEALTH_MS@` how long cairnet's /healthz
/// answers 503.
const TEMPLATE: &str = r#"
[tiers.solo]
front_door = "cairnet"
[tiers.solo.roles.migrate]
image = "@IMAGE@"
once = true
env = { ONESHOT_EXIT = "0", ONESHOT_MS = "300", ONESHOT_LINES = "3" }
volume = "/data"
[tiers.solo.roles.lore]
image = "@IMAGE@"
port = 9000
env = { PORT = "9000", TCP_PORT = "9001", LISTEN_DELAY_MS = "700" }
ready = { tcp = 9001, timeout = 30, interval_ms = 20 }
volume = "/data"
[tiers.solo.roles.cairnet]
image = "@IMAGE@"
port = 8080
env = { PORT = "8080", HEALTH_DELAY_MS = "@HEALTH_MS@", LORE_URL = "{{lore.url}}" }
depends_on = { lore = "ready", migrate = "completed" }
ready = { all = [ { tcp = 8080 }, { http = "/healthz", status = "200-299" } ], timeout = 120, interval_ms = 50 }
volume = "/data"
"#;

/// A kill point: a boot event's step and role.
type Point = (String, Option<String>);

fn point(e: &LifecycleEvent) -> Point {
    (e.step.clone(), e.role.clone())
}

fn show(p: &Point) -> String {
    match &p.1 {
        Some(role) => format!("{} ({role})", p.0),
        None => p.0.clone(),
    }
}

/// The engine the daemons drive, and the instance their objects are labelled with.
struct On {
    host: Option<String>,
    instance: String,
    dir: tempfile::TempDir,
}

impl On {
    fn new(host: Option<String>, tag: &str) -> On {
        On {
            host,
            instance: format!("tplbench{tag}{}", std::process::id()),
            dir: support::short_tempdir(),
        }
    }

    /// `hearth serve` flags running the template with cairnet's health path 503 for
    /// `health_ms`.
    fn args(&self, name: &str, health_ms: &str) -> Vec<String> {
        let file = self.dir.path().join(name);
        let text = TEMPLATE
            .replace("@IMAGE@", &support::test_image())
            .replace("@HEALTH_MS@", health_ms);
        std::fs::write(&file, text).expect("write config");
        let mut args: Vec<String> = ["--driver", "local-docker", "--instance", &self.instance]
            .map(String::from)
            .to_vec();
        args.extend(["--label".to_owned(), support::test_label()]);
        args.extend(["--config".to_owned(), file.to_string_lossy().into_owned()]);
        if let Some(host) = &self.host {
            args.extend(["--docker-host".to_owned(), host.clone()]);
        }
        args
    }

    fn left(&self) -> Vec<String> {
        support::engine_objects_on(self.host.as_deref(), &self.instance)
    }
}

impl Drop for On {
    fn drop(&mut self) {
        support::sweep_instance_on(self.host.as_deref(), &self.instance);
    }
}

/// One crash once `reached` holds of the boot events; reconciled, torn down, nothing left.
async fn crash_when(on: &On, reached: &dyn Fn(&[LifecycleEvent]) -> bool) -> Crashed {
    let stuck = on.args("stuck.toml", "600000");
    let restart = on.args("ready.toml", "1200");
    let left = || on.left();
    crash::kill_9_mid_provision(Crash {
        stuck: &stuck,
        restart: &restart,
        env: &[],
        left: &left,
        settle: std::time::Duration::ZERO,
        midway: Midway::Events(reached),
    })
    .await
}

/// After the crash: the same slug provisions again to ready on the restarted daemon, its
/// front door answers, and its teardown leaves nothing.
async fn provisions_again(on: &On, crashed: &Crashed) {
    let client = crashed.daemon.client();
    let again = client
        .provision("crash", &ProvisioningProfile::for_tier(Tier::Solo))
        .await
        .expect("re-provision after the crash");
    assert_eq!(again.last_status, Status::Ready);
    assert_eq!(
        support::http_status(&format!("{}/healthz", again.endpoint)).await,
        Ok(200)
    );
    client.teardown("crash").await.expect("teardown");
    assert!(on.left().is_empty(), "{:?}", on.left());
}

/// The crash at every boot-event point of a templated provision.
async fn killed_at_every_boot_point(on: On) {
    let began = Instant::now();
    let deepest: Point = ("probe_waiting".to_owned(), Some("cairnet".to_owned()));
    let first = crash_when(&on, &|seen| seen.iter().any(|e| point(e) == deepest)).await;
    let mut points: Vec<Point> = Vec::new();
    for p in first.seen.iter().map(point) {
        if !points.contains(&p) {
            points.push(p);
        }
    }
    let roles: BTreeSet<&str> = points.iter().filter_map(|p| p.1.as_deref()).collect();
    assert_eq!(roles, BTreeSet::from(["cairnet", "lore", "migrate"]));
    for step in ["container_created", "container_started"] {
        for role in ["migrate", "lore", "cairnet"] {
            let p = (step.to_owned(), Some(role.to_owned()));
            assert!(points.contains(&p), "no {}: {points:?}", show(&p));
        }
    }
    for p in [("role_completed", "migrate"), ("probe_passed", "lore")] {
        let p = (p.0.to_owned(), Some(p.1.to_owned()));
        assert!(points.contains(&p), "no {}: {points:?}", show(&p));
    }
    eprintln!("killed after {}: left {:?}", show(&deepest), first.left);
    provisions_again(&on, &first).await;
    drop(first);

    for p in points.iter().filter(|p| **p != deepest) {
        let crashed = crash_when(&on, &|seen| seen.iter().any(|e| point(e) == *p)).await;
        let last = crashed.seen.last().map(point);
        eprintln!(
            "killed after {} (last step seen {}): left {:?}",
            show(p),
            last.as_ref().map(show).unwrap_or_default(),
            crashed.left
        );
        provisions_again(&on, &crashed).await;
    }
    eprintln!("{} kill points in {:.0?}", points.len(), began.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_template_killed_at_every_boot_point() {
    if support::e2e("docker_template_killed_at_every_boot_point") {
        killed_at_every_boot_point(On::new(None, "d")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn podman_template_killed_at_every_boot_point() {
    if support::podman::e2e("podman_template_killed_at_every_boot_point") {
        let host = support::podman::host();
        killed_at_every_boot_point(On::new(Some(host), "p")).await;
    }
}
