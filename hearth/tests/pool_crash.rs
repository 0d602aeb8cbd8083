//! The warm pool under kill -9, with the real `hearth` binary on a real engine: killed in
//! the middle of building a member, and in the middle of a claim, a restarted daemon adopts
//! only whole members, removes the rest, hands no member out twice and leaves no orphan. On
//! Docker when HEARTH_E2E=1, and on Swarm when the engine is also a swarm manager
//! (HEARTH_SWARM=1: must be).

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use hearth::client::HearthClient;
use hearth_protocol::hearth::{ProvisioningProfile, Status, Tier};
use hearth_protocol::labels;
use hearth_testkit::daemon::{self as kit, Serve};
use hearth_testkit::objects;
use nix::sys::signal::Signal;
use support::Sweep;

const BIN: &str = env!("CARGO_BIN_EXE_hearth");

/// The backend the daemons serve.
#[derive(Debug, Clone, Copy)]
struct On {
    /// Its `--driver`.
    driver: &'static str,
    /// Put before the instance ids, so the backends' runs never share objects.
    prefix: &'static str,
    /// The engine objects of one workspace (on Swarm, the two role services and the door's
    /// besides their task containers).
    objects: usize,
}

const DOCKER: On = On {
    driver: "local-docker",
    prefix: "",
    objects: 5,
};

const SWARM: On = On {
    driver: "swarm",
    prefix: "s",
    objects: 9,
};

/// A daemon process, killed if the test ends without stopping it.
struct Daemon(kit::Daemon);

impl Daemon {
    fn spawn(on: On, socket: &Path, state: &Path, instance: &str, extra: &[&str]) -> Daemon {
        let image = support::test_image();
        let serve = Serve::new(socket, state)
            .driver(on.driver)
            .instance(instance)
            .test_label()
            .args(["--pool", "solo=1"])
            .images(&image, &image)
            .args(extra);
        let mut cmd = serve.command(Path::new(BIN));
        cmd.stderr(Stdio::null());
        Daemon(kit::Daemon::spawn(cmd, socket))
    }

    fn signal(&mut self, sig: Signal) {
        self.0.signal(sig);
        let _ = self.0.child.wait();
    }
}

async fn client(socket: &Path) -> HearthClient {
    let client = kit::answering(socket, Duration::from_secs(60)).await;
    client.with_timeout(Duration::from_secs(120))
}

/// Waits until the solo pool has `n` ready members.
async fn pool_ready(client: &HearthClient, n: u32) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let pools = client.pool().await.expect("pool");
        if pools.iter().any(|p| p.tier == Tier::Solo && p.ready == n) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "pool never had {n} ready: {pools:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn book(state: &Path) -> serde_json::Value {
    std::fs::read(state.join("pool.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn member_ids(state: &Path) -> Vec<String> {
    book(state)["members"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// Engine objects labelled with `instance` whose workspace label is `slug` (services too; an
/// engine outside a swarm lists none).
fn objects_of(instance: &str, slug: &str) -> usize {
    let workspace = format!("{}={slug}", labels::WORKSPACE);
    objects::names_on(None, vec![objects::instance_filter(instance), workspace]).len()
}

fn dirs() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = support::short_tempdir();
    let socket = dir.path().join("h.sock");
    let state = dir.path().join("state");
    (dir, socket, state)
}

/// kill -9 while a member is being built: the next start removes the half-built member and
/// builds a whole one; nothing else is left on the engine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_refill_leaves_no_half_member() {
    if support::e2e("kill_9_mid_refill_leaves_no_half_member") {
        mid_refill(DOCKER).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swarm_kill_9_mid_refill_leaves_no_half_member() {
    if support::swarm_e2e("swarm_kill_9_mid_refill_leaves_no_half_member") {
        mid_refill(SWARM).await;
    }
}

async fn mid_refill(on: On) {
    let (_dir, socket, state) = dirs();
    let instance = format!("{}prefill{}", on.prefix, std::process::id());
    let _sweep = Sweep(instance.clone());
    // Waiting for port 81, which the stand-in does not serve, holds the build in readiness
    // with its containers running: the middle we want to crash in.
    let mut first = Daemon::spawn(
        on,
        &socket,
        &state,
        &instance,
        &["--service-port", "81", "--readiness-timeout", "120"],
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let half = loop {
        if let Some(id) = member_ids(&state).first() {
            if objects_of(&instance, id) >= on.objects {
                break id.clone();
            }
        }
        assert!(Instant::now() < deadline, "no member build got going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    first.signal(Signal::SIGKILL);
    assert!(
        objects_of(&instance, &half) >= on.objects,
        "the crash left the half member"
    );

    let _second = Daemon::spawn(on, &socket, &state, &instance, &[]);
    let c = client(&socket).await;
    pool_ready(&c, 1).await;
    assert_eq!(
        objects_of(&instance, &half),
        0,
        "the half member is removed"
    );
    let members = member_ids(&state);
    assert_eq!(members.len(), 1);
    assert_ne!(members[0], half);
    assert_eq!(
        support::engine_objects(&instance).len(),
        on.objects,
        "no orphans: one whole member's objects"
    );
}

/// kill -9 while a claim is thawing its member: the next start rolls the provision back,
/// removing the member (it is never handed out again), and the pool refills.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_claim_never_hands_a_member_out_twice() {
    if support::e2e("kill_9_mid_claim_never_hands_a_member_out_twice") {
        mid_claim(DOCKER).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swarm_kill_9_mid_claim_never_hands_a_member_out_twice() {
    if support::swarm_e2e("swarm_kill_9_mid_claim_never_hands_a_member_out_twice") {
        mid_claim(SWARM).await;
    }
}

async fn mid_claim(on: On) {
    let (_dir, socket, state) = dirs();
    let instance = format!("{}pclaim{}", on.prefix, std::process::id());
    let _sweep = Sweep(instance.clone());
    let mut first = Daemon::spawn(on, &socket, &state, &instance, &[]);
    pool_ready(&client(&socket).await, 1).await;
    first.signal(Signal::SIGTERM);
    // Point the member's recorded endpoint at a port nothing serves: its claim then keeps
    // checking for an answer after the member is bound — the middle we crash in.
    let member = member_ids(&state)[0].clone();
    let mut b = book(&state);
    b["members"][&member]["reference"]["services"][0]["endpoint"] = "http://127.0.0.1:1".into();
    std::fs::write(
        state.join("pool.json"),
        serde_json::to_vec(&b).expect("json"),
    )
    .expect("write");

    let mut second = Daemon::spawn(on, &socket, &state, &instance, &[]);
    let c = client(&socket).await;
    pool_ready(&c, 1).await;
    let caller = c.clone();
    let call = tokio::spawn(async move {
        caller
            .provision("crash", &ProvisioningProfile::for_tier(Tier::Solo))
            .await
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while book(&state)["bindings"]["crash"].is_null() {
        assert!(Instant::now() < deadline, "the claim never began");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    second.signal(Signal::SIGKILL);
    assert!(
        call.await.expect("join").is_err(),
        "the caller saw the daemon die"
    );

    let _third = Daemon::spawn(on, &socket, &state, &instance, &[]);
    let c = client(&socket).await;
    assert_eq!(c.status("crash").await.expect("status"), Status::Failed);
    assert_eq!(
        objects_of(&instance, &member),
        0,
        "the claimed member is removed"
    );
    pool_ready(&c, 1).await;
    let after = c
        .provision("after", &ProvisioningProfile::for_tier(Tier::Solo))
        .await
        .expect("provision");
    let claim = after.pool.expect("claimed from the refilled pool");
    assert_ne!(claim.member, member, "never handed out twice");
    c.teardown("after").await.expect("teardown");
    c.teardown("crash").await.expect("teardown");
    pool_ready(&c, 1).await;
    assert_eq!(
        support::engine_objects(&instance).len(),
        on.objects,
        "no orphans: one whole member's objects, {:?}",
        support::engine_objects(&instance)
    );
}
