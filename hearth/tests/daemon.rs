//! The real `hearth` binary as a daemon: socket hygiene, graceful shutdown, and crash safety
//! (kill -9 in the middle of a provision, then a restart that reconciles from the labels).

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hearth_protocol::hearth::{ProvisioningProfile, Status, Tier};
use nix::sys::signal::Signal;
use support::crash::{self, Daemon, BIN};
use support::Sweep;

#[tokio::test]
async fn socket_is_private_under_umask_000_and_removed_on_sigterm() {
    let dir = support::short_tempdir();
    let socket = dir.path().join("h.sock");
    let state = dir.path().join("state");
    let child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 000; exec {BIN} serve --socket {} --state-dir {} --driver fake",
            socket.display(),
            state.display()
        ))
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let d = Daemon {
        child,
        socket: socket.clone(),
    };
    d.ready().await;
    let mode = std::fs::metadata(&socket)
        .expect("socket")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "socket mode {mode:o}");
    d.signal(Signal::SIGTERM);
    let (status, _) = d.wait();
    assert!(status.success(), "{status}");
    assert!(!socket.exists(), "socket removed on clean exit");
}

#[tokio::test]
async fn a_second_daemon_is_refused_and_the_first_untouched() {
    let dir = support::short_tempdir();
    let socket = dir.path().join("h.sock");
    let first = Daemon::spawn(&socket, &dir.path().join("s1"), &["--driver", "fake"]);
    let client = first.ready().await;
    client
        .provision("keep", &ProvisioningProfile::for_tier(Tier::Solo))
        .await
        .expect("provision");
    let second = Daemon::spawn(&socket, &dir.path().join("s2"), &["--driver", "fake"]);
    let (status, err) = second.wait();
    assert!(!status.success());
    assert!(err.contains("already serving"), "{err}");
    assert!(
        err.contains(&first.child.id().to_string()),
        "names the pid: {err}"
    );
    assert_eq!(
        client.status("keep").await.expect("first still serves"),
        Status::Ready
    );
}

#[tokio::test]
async fn a_stale_socket_from_a_killed_daemon_is_replaced() {
    let dir = support::short_tempdir();
    let socket = dir.path().join("h.sock");
    let state = dir.path().join("state");
    let first = Daemon::spawn(&socket, &state, &["--driver", "fake"]);
    first.ready().await;
    first.signal(Signal::SIGKILL);
    let _ = first.wait();
    assert!(socket.exists(), "a killed daemon leaves its socket");
    let again = Daemon::spawn(&socket, &state, &["--driver", "fake"]);
    again
        .ready()
        .await
        .healthz()
        .await
        .expect("serves on the old path");
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_provision_finish() {
    let dir = support::short_tempdir();
    let socket = dir.path().join("h.sock");
    let d = Daemon::spawn(
        &socket,
        &dir.path().join("state"),
        &["--driver", "fake", "--fake-fault", "delay:700"],
    );
    let client = d.ready().await;
    let c = client.clone();
    let call = tokio::spawn(async move {
        c.provision("slow", &ProvisioningProfile::for_tier(Tier::Solo))
            .await
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.status("slow").await.ok() != Some(Status::Provisioning) {
        assert!(Instant::now() < deadline, "provision never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    d.signal(Signal::SIGTERM);
    let answer = call.await.expect("join");
    assert_eq!(
        answer
            .expect("the in-flight provision finished")
            .last_status,
        Status::Ready
    );
    let (status, _) = d.wait();
    assert!(status.success());
    assert!(!socket.exists());
}

/// kill -9 in the middle of a provision; the next start rolls it back from the labels and
/// records the failure; teardown then leaves nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_provision_is_reconciled_on_restart() {
    if !support::e2e("kill_9_mid_provision_is_reconciled_on_restart") {
        return;
    }
    kill_9_mid_provision("local-docker", 5).await;
}

/// The same crash on a swarm: services, network and volumes, all found by label.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swarm_kill_9_mid_provision_is_reconciled_on_restart() {
    if !support::swarm_e2e("swarm_kill_9_mid_provision_is_reconciled_on_restart") {
        return;
    }
    // Two services, their two task containers, the network, the two volumes.
    kill_9_mid_provision("swarm", 7).await;
}

/// Crashes a daemon of `driver` once `objects` of its workspace exist on the engine, restarts
/// it, and checks that nothing is left.
async fn kill_9_mid_provision(driver: &str, objects: usize) {
    let instance = format!("crash{}{driver}", std::process::id());
    let _sweep = Sweep(instance.clone());
    let common = driver_args(driver, &instance);
    // Waiting for port 81, which the stand-in does not serve, holds the provision in
    // readiness with its containers running: the middle we want to crash in.
    let mut stuck = common.clone();
    stuck.extend(["--service-port", "81", "--readiness-timeout", "120"].map(String::from));
    let left = || support::engine_objects(&instance);
    crash::kill_9_mid_provision(crash::Crash {
        stuck: &stuck,
        restart: &common,
        env: &[],
        left: &left,
        settle: Duration::ZERO,
        midway: crash::Midway::Objects(&|objects_now: &[String]| objects_now.len() >= objects),
    })
    .await;
}

/// `hearth serve` flags for a Docker-backed daemon of `instance`, on the test image.
fn docker_args(instance: &str) -> Vec<String> {
    driver_args("local-docker", instance)
}

/// `hearth serve` flags for a daemon of `driver` and `instance`, on the test image.
fn driver_args(driver: &str, instance: &str) -> Vec<String> {
    let image = support::test_image();
    let label = support::test_label();
    [
        "--driver",
        driver,
        "--instance",
        instance,
        "--label",
        &label,
        "--image-cairnet",
        &image,
        "--image-lore",
        &image,
    ]
    .map(String::from)
    .to_vec()
}

#[tokio::test]
async fn events_follow_streams_each_step_as_it_happens() {
    use futures::StreamExt;
    let dir = support::short_tempdir();
    let d = Daemon::spawn(
        &dir.path().join("h.sock"),
        &dir.path().join("state"),
        &["--driver", "fake", "--fake-fault", "delay:50"],
    );
    let client = d.ready().await;
    let mut steps = Box::pin(client.follow_events("watch").await.expect("follow"));
    let c = client.clone();
    let call = tokio::spawn(async move {
        c.provision("watch", &ProvisioningProfile::for_tier(Tier::Solo))
            .await
    });
    let mut seen = Vec::new();
    while let Some(step) = tokio::time::timeout(Duration::from_secs(20), steps.next())
        .await
        .expect("a step within 20 s")
    {
        let step = step.expect("step");
        seen.push(step.step.clone());
        if step.step == "provision_done" {
            break;
        }
    }
    assert_eq!(seen.first().map(String::as_str), Some("provision_started"));
    assert_eq!(
        seen.iter().filter(|s| *s == "role_ready").count(),
        2,
        "{seen:?}"
    );
    call.await.expect("join").expect("provision");
}

/// `hearth lock` pins each role to its image ID; `serve --lock` provisions by it, and a
/// locked image that is gone is `image_drift` naming the role and both digests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_pins_images_and_refuses_drift() {
    if !support::e2e("lock_pins_images_and_refuses_drift") {
        return;
    }
    let dir = support::short_tempdir();
    let image = support::test_image();
    let lock = dir.path().join("hearth.lock");
    let out = Command::new(BIN)
        .args([
            "lock",
            "--cairnet-image",
            &image,
            "--lore-image",
            &image,
            "--out",
        ])
        .arg(&lock)
        .output()
        .expect("hearth lock");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pinned: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&lock).expect("lock file")).expect("json");
    let digest = pinned["roles"]["lore"]["digest"]
        .as_str()
        .expect("digest")
        .to_owned();
    assert!(
        digest.starts_with("sha256:"),
        "a local build pins to its image ID: {digest}"
    );

    let instance = format!("lock{}", std::process::id());
    let _sweep = Sweep(instance.clone());
    let args = |lock: &Path| -> Vec<String> {
        let mut a = docker_args(&instance);
        a.extend(["--lock".to_owned(), lock.display().to_string()]);
        a
    };
    let a = args(&lock);
    let d = Daemon::spawn(&dir.path().join("a.sock"), &dir.path().join("sa"), &a);
    let client = d.ready().await;
    let r = client
        .provision("locked", &ProvisioningProfile::for_tier(Tier::Solo))
        .await
        .expect("provision by digest");
    for s in &r.services {
        assert_eq!(s.image, digest, "ran the locked digest");
        assert_eq!(s.image_digest, digest);
    }
    client.teardown("locked").await.expect("teardown");
    drop(d);

    let drifted = dir.path().join("drift.lock");
    let gone = format!("sha256:{}", "0".repeat(64));
    let text = std::fs::read_to_string(&lock)
        .expect("lock")
        .replace(&digest, &gone);
    std::fs::write(&drifted, text).expect("write");
    let b = args(&drifted);
    let d = Daemon::spawn(&dir.path().join("b.sock"), &dir.path().join("sb"), &b);
    let err = d
        .ready()
        .await
        .provision("drift", &ProvisioningProfile::for_tier(Tier::Solo))
        .await
        .expect_err("drifted image");
    assert_eq!(err.code(), "image_drift");
    assert_eq!(err.http_status(), Some(424));
    let message = err.message();
    assert!(
        message.contains(&gone) && message.contains(&digest),
        "names both digests: {message}"
    );
    assert!(
        message.contains("role cairnet") || message.contains("role lore"),
        "{message}"
    );
    drop(d);

    // A configured image other than the locked one is drift too, not a silent bypass.
    let mut c = args(&lock);
    let at = c.iter().position(|a| a == "--image-lore").expect("flag") + 1;
    c[at] = "hearth-other:unlocked".to_owned();
    let d = Daemon::spawn(&dir.path().join("c.sock"), &dir.path().join("sc"), &c);
    let err = d
        .ready()
        .await
        .provision("other", &ProvisioningProfile::for_tier(Tier::Solo))
        .await
        .expect_err("an image the lock does not pin");
    assert_eq!(err.code(), "image_drift");
    assert!(
        err.message().contains("role lore") && err.message().contains("hearth-other:unlocked"),
        "{}",
        err.message()
    );
    assert!(support::engine_objects(&instance).is_empty());
}

#[tokio::test]
async fn a_second_daemon_on_the_same_state_dir_is_refused() {
    let dir = support::short_tempdir();
    let state = dir.path().join("state");
    let first = Daemon::spawn(&dir.path().join("a.sock"), &state, &["--driver", "fake"]);
    first.ready().await;
    let second = Daemon::spawn(&dir.path().join("b.sock"), &state, &["--driver", "fake"]);
    let (status, err) = second.wait();
    assert!(!status.success());
    assert!(err.contains("already uses state dir"), "{err}");
    first
        .client()
        .healthz()
        .await
        .expect("the first still serves");
}

/// kill -9 in the middle of waking a hibernated workspace: the restart keeps its data
/// volumes and records it failed; resume brings it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_wake_keeps_the_data() {
    if !support::e2e("kill_9_mid_wake_keeps_the_data") {
        return;
    }
    let dir = support::short_tempdir();
    let socket = dir.path().join("h.sock");
    let state = dir.path().join("state");
    let instance = format!("wake{}", std::process::id());
    let _sweep = Sweep(instance.clone());
    let common = docker_args(&instance);
    let solo = ProvisioningProfile::for_tier(Tier::Solo);
    let a = Daemon::spawn(&socket, &state, &common);
    let client = a.ready().await;
    client.provision("sleepy", &solo).await.expect("provision");
    client.hibernate("sleepy").await.expect("hibernate");
    a.signal(Signal::SIGTERM);
    let _ = a.wait();
    let volumes = |inst: &str| -> Vec<String> {
        support::engine_objects(inst)
            .into_iter()
            .filter(|o| o.ends_with("-data"))
            .collect()
    };
    assert_eq!(volumes(&instance).len(), 2);

    // A daemon waiting on a port the stand-in does not serve holds the wake in readiness.
    let mut stuck = common.clone();
    stuck.extend(["--service-port", "81", "--readiness-timeout", "120"].map(String::from));
    let b = Daemon::spawn(&socket, &state, &stuck);
    let c = b.ready().await;
    let waking = tokio::spawn(async move { c.resume("sleepy").await });
    let deadline = Instant::now() + Duration::from_secs(30);
    while b.client().status("sleepy").await.ok() != Some(Status::Provisioning) {
        assert!(Instant::now() < deadline, "the wake never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    b.signal(Signal::SIGKILL);
    let _ = b.wait();
    let _ = waking.await;

    let c = Daemon::spawn(&socket, &state, &common);
    let client = c.ready().await;
    assert_eq!(
        client.status("sleepy").await.expect("status"),
        Status::Failed
    );
    assert_eq!(
        volumes(&instance).len(),
        2,
        "the data volumes survived the interrupted wake"
    );
    let back = client
        .resume("sleepy")
        .await
        .expect("resume a failed workspace");
    assert_eq!(back.last_status, Status::Ready);
    for s in &back.services {
        assert_eq!(support::http_status(&s.endpoint).await, Ok(200));
    }
    client.teardown("sleepy").await.expect("teardown");
    assert!(support::engine_objects(&instance).is_empty());
}

/// A volume someone else still uses makes teardown fail and say so, not claim success; once
/// freed, teardown finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teardown_does_not_claim_a_volume_it_could_not_remove() {
    if !support::e2e("teardown_does_not_claim_a_volume_it_could_not_remove") {
        return;
    }
    let dir = support::short_tempdir();
    let instance = format!("busy{}", std::process::id());
    let _sweep = Sweep(instance.clone());
    let image = support::test_image();
    let d = Daemon::spawn(
        &dir.path().join("h.sock"),
        &dir.path().join("state"),
        &docker_args(&instance),
    );
    let client = d.ready().await;
    client
        .provision("busy", &ProvisioningProfile::for_tier(Tier::Solo))
        .await
        .expect("provision");
    let blocker = format!("busy-blocker-{instance}");
    let slug = hearth::slug::Slug::parse("busy").expect("slug");
    let lore_volume = hearth::names::Names::new(&instance, &slug).volume("lore");
    let volume = format!("{lore_volume}:/d");
    let out = Command::new("docker")
        .args([
            "run",
            "-d",
            "--init",
            "--network",
            "none",
            "--name",
            &blocker,
            "--label",
            &support::test_label(),
            "--label",
            &format!("dev.hearth.instance={instance}"),
        ])
        .args(["-v", &volume, &image])
        .output()
        .expect("docker run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = client
        .teardown("busy")
        .await
        .expect_err("a volume is in use");
    assert!(err.message().contains(&lore_volume), "{}", err.message());
    assert_eq!(
        client.status("busy").await.expect("status"),
        Status::TearingDown
    );
    let _ = Command::new("docker").args(["rm", "-f", &blocker]).output();
    client.teardown("busy").await.expect("teardown once freed");
    assert_eq!(
        client.status("busy").await.expect("status"),
        Status::TierTornDown
    );
    assert!(support::engine_objects(&instance).is_empty());
}
