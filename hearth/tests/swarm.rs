//! What only the Swarm driver has: a task that cannot start fails the provision with the
//! task's own words; data survives hibernate → wake and upgrade because each role stays on
//! the node holding its volume; a restarted daemon reopens its loopback relays on the same
//! ports. Runs when HEARTH_E2E=1 and the engine is a swarm manager (HEARTH_SWARM=1: must be).

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use std::sync::Arc;

use hearth::dispatcher::{Deadlines, Dispatcher};
use hearth::driver::swarm::Swarm;
use hearth::Store;
use hearth_protocol::hearth::{ProvisioningProfile, Status, Tier};
use support::{docker_config, engine_objects, http_status, Backend, Kind};

fn solo() -> ProvisioningProfile {
    ProvisioningProfile::for_tier(Tier::Solo)
}

/// A task the engine refuses (a memory limit below its minimum) fails the provision within
/// the readiness bound, naming the role and quoting the task's error; nothing is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_cannot_start_names_its_role_and_error() {
    if !support::swarm_e2e("a_task_that_cannot_start_names_its_role_and_error") {
        return;
    }
    let mut config = docker_config();
    // The manager accepts 5 MiB (its floor is 4), the engine refuses it (its floor is 6 MB).
    config.memory_bytes = 5 * 1024 * 1024;
    config.readiness_timeout = Duration::from_secs(20);
    let b = Backend::with(
        Kind::Swarm,
        Default::default(),
        config,
        Deadlines::default(),
    );
    let started = Instant::now();
    let err = b
        .dispatcher
        .provision("oom", solo())
        .await
        .expect_err("the task cannot start");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "failed fast, not at the bound: {:?}",
        started.elapsed()
    );
    assert_eq!(err.code(), "driver_failure");
    let msg = err.to_string();
    // Both roles start together and both are refused: the first refusal seen names its role.
    assert!(
        msg.contains("task of role cairnet") || msg.contains("task of role lore"),
        "{msg}"
    );
    assert!(msg.contains("rejected") || msg.contains("failed"), "{msg}");
    assert!(
        msg.to_lowercase().contains("memory"),
        "the task's own words: {msg}"
    );
    assert!(
        engine_objects(&b.instance).is_empty(),
        "rolled back: {:?}",
        engine_objects(&b.instance)
    );
    assert_eq!(
        b.dispatcher.status("oom").await.expect("status"),
        Status::Failed
    );
}

/// The mountpoint of a volume on this node.
fn mountpoint(volume: &str) -> std::path::PathBuf {
    let o = Command::new("docker")
        .args(["volume", "inspect", "--format", "{{.Mountpoint}}", volume])
        .output()
        .expect("docker volume inspect");
    assert!(o.status.success(), "volume {volume} exists");
    String::from_utf8_lossy(&o.stdout).trim().into()
}

/// The volumes the running task container of `service` mounts.
fn mounted_by(container: &str) -> String {
    let o = Command::new("docker")
        .args([
            "inspect",
            "--format",
            "{{range .Mounts}}{{.Name}} {{end}}",
            container,
        ])
        .output()
        .expect("docker inspect");
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

/// A marker written into each role's volume is still there, and mounted by the new task,
/// after hibernate → wake and after an upgrade.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_survives_hibernate_wake_and_upgrade() {
    if !support::swarm_e2e("data_survives_hibernate_wake_and_upgrade") {
        return;
    }
    let b = Backend::new(Kind::Swarm);
    let d = &b.dispatcher;
    d.provision("keep", solo()).await.expect("provision");
    let names = hearth::names::Names::new(
        &b.instance,
        &hearth::slug::Slug::parse("keep").expect("slug"),
    );
    for role in ["cairnet", "lore"] {
        let at = mountpoint(&names.volume(role)).join("marker");
        std::fs::write(&at, role).expect("write the marker");
    }
    d.hibernate("keep").await.expect("hibernate");
    let woken = d.resume("keep").await.expect("wake");
    let upgraded = d
        .upgrade("keep", ProvisioningProfile::for_tier(Tier::Team))
        .await
        .expect("upgrade");
    for (role, before) in ["cairnet", "lore"].iter().zip(&woken.services) {
        let after = upgraded
            .services
            .iter()
            .find(|s| s.role == *role)
            .expect("role");
        assert_ne!(before.container_id, after.container_id, "a new task");
        assert_eq!(before.endpoint, after.endpoint, "the relay keeps its port");
        assert_eq!(http_status(&after.endpoint).await, Ok(200));
        assert_eq!(mounted_by(&after.container_id), names.volume(role));
        let marker = mountpoint(&names.volume(role)).join("marker");
        assert_eq!(std::fs::read_to_string(marker).expect("marker kept"), *role);
    }
    d.teardown("keep").await.expect("teardown");
    assert!(engine_objects(&b.instance).is_empty());
}

/// A daemon that stops (its relays close) and starts again reopens each live role's relay on
/// the port it recorded: the endpoint in the record answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_reopens_the_relays_on_the_recorded_ports() {
    if !support::swarm_e2e("a_restart_reopens_the_relays_on_the_recorded_ports") {
        return;
    }
    let state = tempfile::tempdir().expect("tempdir");
    let instance = format!("t{:016x}", rand::random::<u64>());
    let _sweep = support::Sweep(instance.clone());
    let daemon = || {
        let driver = Arc::new(Swarm::new(docker_config(), instance.clone()));
        let store = Store::open(state.path()).expect("state");
        Dispatcher::new(driver, store, Deadlines::default())
    };
    let first = daemon();
    let r = first.provision("again", solo()).await.expect("provision");
    drop(first);
    for s in &r.services {
        assert!(
            http_status(&s.endpoint).await.is_err(),
            "{} is closed while no daemon runs",
            s.role
        );
    }
    let second = daemon();
    second.reconcile().await.expect("reconcile");
    assert_eq!(second.status("again").await.expect("status"), Status::Ready);
    for s in &r.services {
        assert_eq!(
            http_status(&s.endpoint).await,
            Ok(200),
            "{} answers on its recorded endpoint again",
            s.role
        );
    }
    second.teardown("again").await.expect("teardown");
    for s in &r.services {
        assert!(
            http_status(&s.endpoint).await.is_err(),
            "closed by teardown"
        );
    }
    assert!(engine_objects(&instance).is_empty());
}
