//! Chaos against the real engine: `kill -9` hearth at a random point of a provision and of
//! a teardown, round after round, restart it on the same state dir, and require a coherent
//! answer each time — the status hearth reports agrees with the objects the engine holds
//! under the daemon's instance label — and nothing left on the engine after the teardown.
//! Docker-backed (HEARTH_E2E=1).

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use hearth::client::HearthClient;
use hearth_protocol::hearth::{ProvisioningProfile, Status, Tier};
use hearth_testkit::daemon::{Daemon, Serve};
use rand::Rng;
use support::Sweep;

/// Rounds of (provision, kill, restart, teardown, kill, restart).
const ROUNDS: usize = 10;
/// Kill points are drawn from these windows after the call starts: a solo provision takes
/// about a second here, a teardown about half of one.
const PROVISION_WINDOW_MS: u64 = 1400;
const TEARDOWN_WINDOW_MS: u64 = 700;
/// How long a restarted daemon may take to settle an interrupted verb.
const SETTLE: Duration = Duration::from_secs(10);

/// Starts hearth on `socket`/`state` and waits until it answers (it reconciles first).
async fn start(socket: &Path, state: &Path, instance: &str) -> (Daemon, HearthClient) {
    let image = support::test_image();
    let serve = Serve::new(socket, state)
        .driver("local-docker")
        .instance(instance)
        .test_label()
        .images(&image, &image);
    let daemon = Daemon::spawn(
        serve.command(Path::new(env!("CARGO_BIN_EXE_hearth"))),
        socket,
    );
    let client = daemon.ready(Duration::from_secs(20)).await;
    (daemon, client.with_timeout(Duration::from_secs(60)))
}

/// Kills (-9) the daemon `after` the call began, unless the call finished first.
async fn kill_during<F>(daemon: Daemon, after: Duration, call: F) -> &'static str
where
    F: std::future::Future + Send + 'static,
    F::Output: Send,
{
    let call = tokio::spawn(call);
    tokio::time::sleep(after).await;
    let killed = if call.is_finished() {
        "after"
    } else {
        "during"
    };
    drop(daemon);
    let _ = call.await;
    killed
}

/// What hearth says about `slug` (None: it has no record), checked against the engine.
async fn coherent(client: &HearthClient, slug: &str, instance: &str, when: &str) -> Option<Status> {
    // An interrupted verb reads as pending until reconcile settles it; the daemon retries a
    // workspace the engine would not let go of yet (a create it was still finishing).
    let deadline = Instant::now() + SETTLE;
    let status = loop {
        let status = match client.status(slug).await {
            Ok(s) => Some(s),
            Err(e) if e.code() == "not_found" => None,
            Err(e) => panic!("{when}: status of {slug} failed: {e}"),
        };
        let pending = matches!(status, Some(Status::Provisioning | Status::TearingDown));
        if !pending || Instant::now() > deadline {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let objects = support::engine_objects(instance);
    match status {
        Some(Status::Ready) => assert!(
            !objects.is_empty(),
            "{when}: {slug} is ready but the engine holds nothing of it"
        ),
        Some(Status::Failed | Status::TierTornDown) | None => assert!(
            objects.is_empty(),
            "{when}: {slug} is {status:?} but the engine still holds {objects:?}"
        ),
        Some(other) => {
            panic!("{when}: {SETTLE:?} after a restart {slug} still reads {other}")
        }
    }
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_points_of_provision_and_teardown_stays_coherent() {
    if !support::e2e("kill_9_at_random_points_of_provision_and_teardown_stays_coherent") {
        return;
    }
    let dir = support::short_tempdir();
    let socket = dir.path().join("h.sock");
    let state = dir.path().join("state");
    let instance = format!("chaos{}", std::process::id());
    let _sweep = Sweep(instance.clone());
    let mut rng = rand::rng();
    let began = Instant::now();
    for round in 0..ROUNDS {
        let slug = format!("chaos{round}");
        let (daemon, client) = start(&socket, &state, &instance).await;
        let after = Duration::from_millis(rng.random_range(0..PROVISION_WINDOW_MS));
        let c = client.clone();
        let s = slug.clone();
        let killed = kill_during(daemon, after, async move {
            c.provision(&s, &ProvisioningProfile::for_tier(Tier::Solo))
                .await
        })
        .await;
        let (daemon, client) = start(&socket, &state, &instance).await;
        let when = format!("round {round}, killed {killed} provision at {after:?}");
        let status = coherent(&client, &slug, &instance, &when).await;
        eprintln!("{when}: restarted as {status:?}");
        // The teardown is killed on a live workspace, where it has work to interrupt.
        if status != Some(Status::Ready) {
            client
                .provision(&slug, &ProvisioningProfile::for_tier(Tier::Solo))
                .await
                .unwrap_or_else(|e| panic!("{when}: provision again after restart: {e}"));
        }

        let after = Duration::from_millis(rng.random_range(0..TEARDOWN_WINDOW_MS));
        let c = client.clone();
        let s = slug.clone();
        let killed = kill_during(daemon, after, async move { c.teardown(&s).await }).await;
        let (daemon, client) = start(&socket, &state, &instance).await;
        let when = format!("round {round}, killed {killed} teardown at {after:?}");
        let status = coherent(&client, &slug, &instance, &when).await;
        eprintln!("{when}: restarted as {status:?}");
        // Whatever the crash left, one more teardown settles it, and nothing remains.
        if status.is_some() {
            client
                .teardown(&slug)
                .await
                .expect("teardown after restart");
            assert_eq!(
                client.status(&slug).await.expect("status"),
                Status::TierTornDown,
                "{when}"
            );
        }
        assert!(
            support::engine_objects(&instance).is_empty(),
            "{when}: left behind {:?}",
            support::engine_objects(&instance)
        );
        drop(daemon);
    }
    eprintln!("{ROUNDS} rounds in {:?}", began.elapsed());
}
