//! Template scenarios on the Engine-API backends (Docker, Podman and Swarm): workspaces of the
//! user's own shape, modelled with the stand-in's knobs (images/README.md) — a one-shot
//! migration that leaves a marker, a TCP-ready role that boots slowly, an HTTP role behind a
//! slow health path that depends on both and reaches the other by name — and the failures a
//! real service has: a health path that stays 503, a one-shot exiting 3, a service that exits
//! while it is waited on. Every failure rolls back, checked by label on the engine.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hearth::dispatcher::Deadlines;
use hearth::driver::fake::FakeFaults;
use hearth::driver::ObjectKind;
use hearth::template::{Condition, Probe, Ready, Role, StatusRange, Template};
use hearth_protocol::hearth::{LifecycleEvent, ProvisioningProfile, Status, Tier};
use support::{docker_cli, docker_config, http_status, test_image, Backend, Kind};

fn role(name: &str, port: Option<u16>, env: &[(&str, &str)], probe: Probe) -> Role {
    Role {
        name: name.to_owned(),
        image: test_image(),
        port,
        command: None,
        once: false,
        depends_on: BTreeMap::new(),
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        limits: None,
        ready: Ready {
            probe,
            timeout: Some(Duration::from_secs(20)),
            interval: Some(Duration::from_millis(20)),
        },
        volume: Some("/data".to_owned()),
        placement: Vec::new(),
    }
}

fn http(path: &str, low: u16, high: u16) -> Probe {
    Probe::Http {
        path: path.to_owned(),
        port: None,
        status: StatusRange { low, high },
        timeout: None,
    }
}

fn tcp(port: u16) -> Probe {
    Probe::Tcp {
        port,
        timeout: None,
    }
}

/// The one-shot: `migrate` exits `code` after 300 ms of work lines.
fn migrate(code: &str, lines: &str) -> Role {
    let mut r = role(
        "migrate",
        None,
        &[
            ("ONESHOT_EXIT", code),
            ("ONESHOT_MS", "300"),
            ("ONESHOT_LINES", lines),
        ],
        Probe::None,
    );
    r.once = true;
    r
}

/// The TCP-ready role: HTTP on 9000, a TCP listener on 9001, both bound only after 700 ms.
fn lore() -> Role {
    role(
        "lore",
        Some(9000),
        &[
            ("PORT", "9000"),
            ("TCP_PORT", "9001"),
            ("LISTEN_DELAY_MS", "700"),
        ],
        tcp(9001),
    )
}

/// The front door: HTTP on 8080 whose /healthz answers 503 for its first 1.2 s, with a
/// ready line; it needs lore ready and migrate completed, and gets lore's address by reference.
fn cairnet(health_delay_ms: &str) -> Role {
    let mut r = role(
        "cairnet",
        Some(8080),
        &[
            ("PORT", "8080"),
            ("HEALTH_DELAY_MS", health_delay_ms),
            ("READY_LINE", "cairnet is ready"),
            ("LORE_URL", "{{lore.url}}"),
            ("LORE_HOST", "{{ lore.host }}"),
            ("WHERE", "{{workspace.slug}}/{{tier}}"),
        ],
        Probe::All(vec![
            tcp(8080),
            http("/healthz", 200, 299),
            Probe::Log {
                regex: "^cairnet is ready$".to_owned(),
                times: 1,
                timeout: None,
            },
        ]),
    );
    r.depends_on = BTreeMap::from([
        ("lore".to_owned(), Condition::Ready),
        ("migrate".to_owned(), Condition::Completed),
    ]);
    r
}

fn three_roles(migrate: Role, cairnet: Role) -> Template {
    Template {
        front_door: "cairnet".to_owned(),
        roles: vec![cairnet, lore(), migrate],
    }
}

fn backend(kind: Kind, template: Template, readiness: Duration) -> Backend {
    let mut config = docker_config();
    config.templates.by_tier.insert(Tier::Solo, template);
    config.readiness_timeout = readiness;
    Backend::with(kind, FakeFaults::default(), config, Deadlines::default())
}

fn solo() -> ProvisioningProfile {
    ProvisioningProfile::for_tier(Tier::Solo)
}

/// The step that says a role's engine object was made: its container on Docker and Podman,
/// its service on Swarm (whose task containers the swarm makes, on whichever node).
fn created(kind: Kind) -> &'static str {
    match kind {
        Kind::Swarm => "service_created",
        _ => "container_created",
    }
}

/// The seq of the first `step` of `role`.
fn at(events: &[LifecycleEvent], step: &str, role: &str) -> Option<u64> {
    events
        .iter()
        .find(|e| e.step == step && e.role.as_deref() == Some(role))
        .map(|e| e.seq)
}

async fn body(url: &str) -> String {
    reqwest::get(url)
        .await
        .expect("GET")
        .text()
        .await
        .expect("body")
}

/// The file `name` in the volume of `role`, read on the host (hearth runs beside the engine).
fn volume_file(b: &Backend, role: &str, name: &str) -> String {
    let volume = b
        .engine_objects()
        .into_iter()
        .find(|o| o.ends_with(&format!("_{role}-data")))
        .unwrap_or_default();
    let out = docker_cli(b.host())
        .args(["volume", "inspect", "--format", "{{.Mountpoint}}", &volume])
        .output()
        .expect("docker volume inspect");
    let mountpoint = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    std::fs::read_to_string(format!("{mountpoint}/{name}")).unwrap_or_default()
}

/// Three roles come up in order, each as its probe says; references render to the names the
/// roles reach each other by; hibernate and wake go through the order again; teardown leaves
/// nothing.
async fn three_roles_start_in_order(kind: Kind) {
    let b = backend(
        kind,
        three_roles(migrate("0", "3"), cairnet("1200")),
        Duration::from_secs(30),
    );
    let r = b
        .dispatcher
        .provision("tpl", solo())
        .await
        .expect("provision");
    assert_eq!(r.last_status, Status::Ready);
    let roles: Vec<&str> = r.services.iter().map(|s| s.role.as_str()).collect();
    assert_eq!(
        roles,
        ["cairnet", "lore"],
        "the services; the one-shot is done"
    );
    let front = &r.services[0].endpoint;
    assert_eq!(&r.endpoint, front, "cairnet is the front door");
    assert_eq!(http_status(&format!("{front}/healthz")).await, Ok(200));

    let events = b.dispatcher.events("tpl").expect("events");
    let cairnet_created = at(&events, created(kind), "cairnet").expect("cairnet created");
    let completed = at(&events, "role_completed", "migrate").expect("migrate completed");
    let lore_ready = at(&events, "probe_passed", "lore").expect("lore's probe passed");
    assert!(
        completed < cairnet_created,
        "cairnet waited for the migration: {events:?}"
    );
    assert!(
        lore_ready < cairnet_created,
        "cairnet waited for lore: {events:?}"
    );
    // migrate and lore do not wait for each other: both were created before either was done.
    let lore_created = at(&events, created(kind), "lore").expect("lore created");
    let migrate_created = at(&events, created(kind), "migrate").expect("created");
    assert!(
        lore_created < completed && migrate_created < lore_ready,
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| e.step == "probe_waiting"
            && e.role.as_deref() == Some("cairnet")
            && e.detail.as_deref().unwrap_or("").contains("answered 503")),
        "the waterfall shows cairnet's 503s: {events:?}"
    );

    let env = body(&format!("{front}/env")).await;
    assert!(env.contains(r#""LORE_URL":"http://lore:9000""#), "{env}");
    assert!(env.contains(r#""LORE_HOST":"lore""#), "{env}");
    assert!(env.contains(r#""WHERE":"tpl/solo""#), "{env}");
    assert!(env.contains(r#""ROCKY_SEATS":"1""#), "the caps stay: {env}");
    let peer = body(&format!("{front}/peer?url=http://lore:9000/healthz")).await;
    assert!(
        peer.contains(r#""status":200"#),
        "cairnet reaches lore by name: {peer}"
    );
    let marker = volume_file(&b, "migrate", ".standin-oneshot");
    assert_eq!(
        marker.trim(),
        "role=migrate exit=0",
        "the one-shot left its marker"
    );
    assert_eq!(
        b.dispatcher.status("tpl").await.expect("status"),
        Status::Ready
    );

    b.dispatcher.hibernate("tpl").await.expect("hibernate");
    let woken = b.dispatcher.resume("tpl").await.expect("wake");
    assert_eq!(woken.last_status, Status::Ready);
    assert_eq!(
        http_status(&format!("{}/healthz", woken.endpoint)).await,
        Ok(200)
    );
    let events = b.dispatcher.events("tpl").expect("events");
    let stops: Vec<&str> = events
        .iter()
        .filter(|e| e.step == "stopped")
        .filter_map(|e| e.role.as_deref())
        .collect();
    assert_eq!(
        stops.first(),
        Some(&"cairnet"),
        "dependents stop first: {stops:?}"
    );

    b.dispatcher.teardown("tpl").await.expect("teardown");
    assert!(b.engine_objects().is_empty(), "{:?}", b.engine_objects());
}

/// A health path that stays 503: the provision fails naming role, probe and observation, and
/// nothing is left.
/// (8 s: long enough for a loaded machine to start the role and bind it, so the last
/// observation is the 503, not a refused connection; 5 s was not always.)
async fn health_that_stays_503_fails_and_rolls_back(kind: Kind) {
    let mut front = cairnet("600000");
    front.ready = Ready {
        probe: http("/healthz", 200, 399),
        timeout: Some(Duration::from_secs(8)),
        interval: Some(Duration::from_millis(50)),
    };
    let b = backend(
        kind,
        three_roles(migrate("0", "3"), front),
        Duration::from_secs(30),
    );
    let err = b
        .dispatcher
        .provision("sick", solo())
        .await
        .expect_err("503");
    let text = err.to_string();
    assert_eq!(err.code(), "driver_failure");
    assert!(
        text.starts_with("cairnet: GET /healthz answered 503 for 8 s ("),
        "{text}"
    );
    assert!(text.ends_with(" attempts)"), "{text}");
    assert!(
        b.engine_objects().is_empty(),
        "rolled back: {:?}",
        b.engine_objects()
    );
    assert_eq!(
        b.dispatcher.status("sick").await.expect("status"),
        Status::Failed
    );
}

/// A one-shot exiting 3 fails at once with its code and its last lines; what depends on it
/// never starts.
async fn oneshot_exiting_3_fails_with_code_and_log(kind: Kind) {
    let mut mig = migrate("3", "25");
    // A bound far beyond what the failure takes, so "at once" is not "at its timeout" even on
    // a loaded machine.
    mig.ready.timeout = Some(Duration::from_secs(300));
    let b = backend(
        kind,
        three_roles(mig, cairnet("0")),
        Duration::from_secs(30),
    );
    let started = Instant::now();
    let err = b
        .dispatcher
        .provision("mig", solo())
        .await
        .expect_err("exit 3");
    let text = err.to_string();
    assert!(
        text.starts_with("migrate: exited with code 3 before it completed"),
        "{text}"
    );
    assert!(
        text.contains("oneshot done, exit 3"),
        "its last log lines: {text}"
    );
    assert!(
        text.contains("oneshot work 25/25") && !text.contains("work 1/25\n"),
        "{text}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "not at its 300 s timeout"
    );
    let events = b.dispatcher.events("mig").expect("events");
    assert_eq!(at(&events, created(kind), "cairnet"), None, "{events:?}");
    assert!(
        b.engine_objects().is_empty(),
        "rolled back: {:?}",
        b.engine_objects()
    );
}

/// A service that exits while it is waited on fails at once, not at its timeout.
async fn service_exiting_while_waited_on_fails_at_once(kind: Kind) {
    let mut dying = role("lore", Some(9000), &[("ONESHOT_EXIT", "5")], tcp(9000));
    dying.ready.timeout = Some(Duration::from_secs(300));
    let template = Template {
        front_door: "lore".to_owned(),
        roles: vec![dying],
    };
    let b = backend(kind, template, Duration::from_secs(300));
    let started = Instant::now();
    let err = b
        .dispatcher
        .provision("dies", solo())
        .await
        .expect_err("exits");
    let text = err.to_string();
    assert!(
        text.starts_with("lore: exited with code 5 while hearth waited for it to be ready"),
        "{text}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "{:?}",
        started.elapsed()
    );
    assert!(
        b.engine_objects().is_empty(),
        "rolled back: {:?}",
        b.engine_objects()
    );
    let left = b.objects("dies").await;
    assert!(
        left.iter().all(|o| o.kind != ObjectKind::Container),
        "{left:?}"
    );
}

/// Upgrade recreates the roles whose container changes and keeps the others, and every role
/// keeps its volume.
async fn upgrade_recreates_only_changed_roles(kind: Kind) {
    let b = backend(
        kind,
        three_roles(migrate("0", "3"), cairnet("0")),
        Duration::from_secs(30),
    );
    let first = b
        .dispatcher
        .provision("upg", solo())
        .await
        .expect("provision");
    let id_of = |r: &hearth_protocol::hearth::DeploymentRef, role: &str| {
        r.services
            .iter()
            .find(|s| s.role == role)
            .map(|s| s.container_id.clone())
            .expect(role)
    };
    // By name: the engine lists them in no promised order.
    let volumes = |b: &Backend| -> Vec<String> {
        let mut v: Vec<String> = b
            .engine_objects()
            .into_iter()
            .filter(|o| o.ends_with("-data"))
            .collect();
        v.sort();
        v
    };
    let before = volumes(&b);
    assert_eq!(before.len(), 3, "one volume per role: {before:?}");
    // Only cairnet's image reference changes (the same image, by its ID).
    let image_id = first.services[0].image_digest.clone();
    let mut profile = solo();
    profile.driver_flags.insert(
        "cairnet_image".into(),
        serde_json::Value::String(image_id.clone()),
    );
    let up = b.dispatcher.upgrade("upg", profile).await.expect("upgrade");
    assert_ne!(
        id_of(&up, "cairnet"),
        id_of(&first, "cairnet"),
        "cairnet recreated"
    );
    assert_eq!(
        id_of(&up, "lore"),
        id_of(&first, "lore"),
        "lore unchanged, kept"
    );
    assert_eq!(up.services[0].image, image_id);
    assert_eq!(volumes(&b), before, "volumes kept");
    assert_eq!(
        http_status(&format!("{}/healthz", up.endpoint)).await,
        Ok(200)
    );
    let env = body(&format!("{}/env", up.endpoint)).await;
    assert!(env.contains(r#""LORE_URL":"http://lore:9000""#), "{env}");
    b.dispatcher.teardown("upg").await.expect("teardown");
    assert!(b.engine_objects().is_empty(), "{:?}", b.engine_objects());
}

/// The environment the engine holds for the one-shot `migrate` of `b`'s workspace: its
/// container's (Docker, Podman) or its job service's (Swarm).
fn migrate_env(b: &Backend) -> String {
    let instance = format!("label=dev.hearth.instance={}", b.instance);
    let role = "label=dev.hearth.role=migrate";
    let (list, inspect, format): (&[&str], &[&str], &str) = match b.kind {
        Kind::Swarm => (
            &["service", "ls", "-q", "--filter"],
            &["service", "inspect", "-f"],
            "{{json .Spec.TaskTemplate.ContainerSpec.Env}}",
        ),
        _ => (
            &["ps", "-aq", "--filter"],
            &["inspect", "-f"],
            "{{json .Config.Env}}",
        ),
    };
    let run = |args: Vec<&str>| {
        let out = support::docker_cli(b.host())
            .args(&args)
            .output()
            .expect("docker");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let ids = run([list, &[instance.as_str(), "--filter", role]].concat());
    let id = ids
        .lines()
        .next()
        .expect("the one-shot's object")
        .to_owned();
    run([inspect, &[format, id.as_str()]].concat())
}

/// An upgrade runs the one-shot again as the template and the profile make it now: with the
/// profile's new caps in its environment, not the ones it was first made with.
async fn upgrade_runs_the_oneshot_as_made_now(kind: Kind) {
    let b = backend(
        kind,
        three_roles(migrate("0", "1"), cairnet("0")),
        Duration::from_secs(30),
    );
    b.dispatcher
        .provision("ups", solo())
        .await
        .expect("provision");
    assert!(
        migrate_env(&b).contains("ROCKY_SEATS=1\""),
        "the tier's default caps: {}",
        migrate_env(&b)
    );
    let mut profile = solo();
    let mut caps = profile.caps();
    caps.seats = 7;
    profile.resource_caps = Some(caps);
    b.dispatcher.upgrade("ups", profile).await.expect("upgrade");
    let env = migrate_env(&b);
    assert!(env.contains("ROCKY_SEATS=7\""), "the upgrade's caps: {env}");
    b.dispatcher.teardown("ups").await.expect("teardown");
    assert!(b.engine_objects().is_empty(), "{:?}", b.engine_objects());
}

macro_rules! on_engines {
    ($($name:ident),* $(,)?) => {
        mod docker {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if !super::support::e2e(concat!("templates::docker::", stringify!($name))) {
                        return;
                    }
                    super::$name(super::Kind::Docker).await;
                }
            )*
        }
        mod swarm {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if !super::support::swarm_e2e(concat!("templates::swarm::", stringify!($name))) {
                        return;
                    }
                    super::$name(super::Kind::Swarm).await;
                }
            )*
        }
        mod podman {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if !super::support::podman::e2e(concat!("templates::podman::", stringify!($name))) {
                        return;
                    }
                    super::$name(super::Kind::Podman).await;
                }
            )*
        }
    };
}

on_engines!(
    three_roles_start_in_order,
    health_that_stays_503_fails_and_rolls_back,
    oneshot_exiting_3_fails_with_code_and_log,
    service_exiting_while_waited_on_fails_at_once,
    upgrade_recreates_only_changed_roles,
    upgrade_runs_the_oneshot_as_made_now,
);

/// A template of software hearth did not write: Debian's busybox-static (`httpd`, `sh`,
/// `wget`) in a `FROM scratch` image (`make images`). `kv` is ready when it listens inside
/// and answers its own health check through `exec`; `web` waits for it, gets its address by
/// reference (checked inside the container, by `exec`) and is ready on an HTTP probe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_busybox_template() {
    if !support::e2e("templates::docker_busybox_template") {
        return;
    }
    let image = "hearth-busybox:local";
    assert!(
        support::cli_ok(None, &["image", "inspect", image]),
        "HEARTH_E2E=1 but {image} is absent: run `make images` (needs busybox-static)"
    );
    let busybox = |name: &str, port: u16, probe: Probe| {
        let mut r = role(name, Some(port), &[], probe);
        r.image = image.to_owned();
        r.volume = None;
        let port = port.to_string();
        r.command = Some(
            ["httpd", "-f", "-p", port.as_str(), "-h", "/www"]
                .map(str::to_owned)
                .to_vec(),
        );
        r
    };
    let exec = |script: &str| Probe::Exec {
        command: vec!["sh".into(), "-c".into(), script.to_owned()],
        timeout: None,
    };
    let kv = busybox(
        "kv",
        7000,
        Probe::All(vec![
            tcp(7000),
            exec("wget -q -O - http://127.0.0.1:7000/healthz"),
        ]),
    );
    let mut web = busybox(
        "web",
        8080,
        Probe::All(vec![
            http("/healthz", 200, 299),
            exec(r#"test "$PEER" = "http://kv:7000""#),
        ]),
    );
    web.env = BTreeMap::from([("PEER".to_owned(), "{{kv.url}}".to_owned())]);
    web.depends_on = BTreeMap::from([("kv".to_owned(), Condition::Ready)]);
    let template = Template {
        front_door: "web".to_owned(),
        roles: vec![web, kv],
    };
    let b = backend(Kind::Docker, template, Duration::from_secs(30));
    let r = b
        .dispatcher
        .provision("bb", solo())
        .await
        .expect("provision");
    assert_eq!(
        http_status(&format!("{}/healthz", r.endpoint)).await,
        Ok(200)
    );
    let events = b.dispatcher.events("bb").expect("events");
    let kv_ready = at(&events, "probe_passed", "kv").expect("kv ready");
    assert!(
        kv_ready < at(&events, "container_created", "web").expect("web"),
        "{events:?}"
    );
    b.dispatcher.teardown("bb").await.expect("teardown");
    assert!(b.engine_objects().is_empty(), "{:?}", b.engine_objects());
}
