//! The driver conformance suite: every scenario runs against the Fake driver always and
//! against LocalDocker on a real engine when HEARTH_E2E=1 (in CI it must). Assertions look at
//! the engine's objects (listed by label), not only at what hearth answers.

mod support;

use std::time::Duration;

use hearth::dispatcher::Deadlines;
use hearth::driver::fake::FakeFaults;
use hearth::driver::ObjectKind;
use hearth_protocol::hearth::{ProvisioningProfile, Status, Tier};
use support::matrix::{expect, Cell, Feature};
use support::{
    cgroup_limits, docker_config, engine_objects, http_status, listeners_on, Backend, Kind,
};

/// This scenario proves the feature done, so the matrix must say ✔ for the backend (a cell
/// `unsupported` needs a scenario that asserts that answer instead).
fn proves(b: &Backend, feature: Feature) {
    assert_eq!(
        expect(b.kind, feature),
        Cell::Yes,
        "docs/src/backends.md and support/matrix.rs say {feature:?} is not done on {:?}",
        b.kind
    );
}

fn solo() -> ProvisioningProfile {
    ProvisioningProfile::for_tier(Tier::Solo)
}

/// Provision is idempotent on (slug, tier, driver): the same ref, nothing new on the engine.
async fn provision_is_idempotent(b: Backend) {
    proves(&b, Feature::IdempotentProvision);
    let d = &b.dispatcher;
    let first = d.provision("idem", solo()).await.expect("provision");
    assert_eq!(first.last_status, Status::Ready);
    assert_eq!(first.services.len(), 2, "cairnet and lore");
    let objects = b.objects("idem").await;
    let services = objects
        .iter()
        .filter(|o| o.kind == ObjectKind::Service)
        .count();
    let door = usize::from(b.kind == Kind::Swarm);
    assert_eq!(
        services,
        if b.kind == Kind::Swarm { 2 + door } else { 0 },
        "one service per role on a swarm, and the door"
    );
    assert_eq!(
        objects
            .iter()
            .filter(|o| o.kind == ObjectKind::Container)
            .count(),
        2 + door
    );
    assert_eq!(
        objects
            .iter()
            .filter(|o| o.kind == ObjectKind::Network)
            .count(),
        1
    );
    assert_eq!(
        objects
            .iter()
            .filter(|o| o.kind == ObjectKind::Volume)
            .count(),
        2
    );
    let calls = b.calls();
    let again = d.provision("idem", solo()).await.expect("provision again");
    assert_eq!(again, first, "same call, same ref");
    assert_eq!(b.calls(), calls, "the repeat never reached the driver");
    assert_eq!(
        b.objects("idem").await,
        objects,
        "nothing new on the engine"
    );
    d.teardown("idem").await.expect("teardown");
}

/// Ready means ready: every service answers HTTP on its published loopback port.
async fn ready_means_every_service_answers(b: Backend) {
    proves(&b, Feature::Provision);
    let r = b
        .dispatcher
        .provision("ready", solo())
        .await
        .expect("provision");
    assert_eq!(
        r.endpoint,
        r.services
            .iter()
            .find(|s| s.role == "cairnet")
            .expect("cairnet")
            .endpoint
    );
    for s in &r.services {
        assert!(
            s.endpoint.starts_with("http://127.0.0.1:"),
            "published on loopback only: {}",
            s.endpoint
        );
        assert_eq!(
            http_status(&s.endpoint).await,
            Ok(200),
            "role {} answers",
            s.role
        );
        assert!(!s.image_digest.is_empty());
        // Nothing outside the machine reaches the workspace: every socket listening on the
        // endpoint's port is bound to loopback.
        let port: u16 = s
            .endpoint
            .rsplit(':')
            .next()
            .and_then(|p| p.trim_end_matches('/').parse().ok())
            .expect("endpoint port");
        let listening = listeners_on(port);
        assert!(!listening.is_empty(), "something listens on {port}");
        assert!(
            listening.iter().all(|a| a.ip().is_loopback()),
            "role {} is reachable beyond loopback: {listening:?}",
            s.role
        );
    }
    let steps: Vec<String> = b
        .dispatcher
        .events("ready")
        .expect("events")
        .into_iter()
        .map(|e| e.step)
        .collect();
    assert_eq!(
        steps.iter().filter(|s| *s == "role_ready").count(),
        2,
        "{steps:?}"
    );
    b.dispatcher.teardown("ready").await.expect("teardown");
}

/// Another tier for a live slug is tier_mismatch, and changes nothing.
async fn another_tier_is_a_mismatch(b: Backend) {
    proves(&b, Feature::TierMismatch);
    let d = &b.dispatcher;
    d.provision("tiers", solo()).await.expect("provision");
    let before = b.objects("tiers").await;
    let err = d
        .provision("tiers", ProvisioningProfile::for_tier(Tier::Team))
        .await
        .expect_err("tier mismatch");
    assert_eq!(err.code(), "tier_mismatch");
    assert!(err.hint().unwrap_or_default().contains("upgrade"));
    assert_eq!(b.objects("tiers").await, before);
    d.teardown("tiers").await.expect("teardown");
}

/// Status is read-only: asking changes nothing on the engine.
async fn status_is_read_only(b: Backend) {
    proves(&b, Feature::ReadOnlyStatus);
    let d = &b.dispatcher;
    d.provision("ro", solo()).await.expect("provision");
    let before = b.objects("ro").await;
    for _ in 0..3 {
        assert_eq!(d.status("ro").await.expect("status"), Status::Ready);
    }
    assert_eq!(b.objects("ro").await, before);
    d.teardown("ro").await.expect("teardown");
}

/// Upgrade keeps the slug, the network and the data volumes; the tier changes.
async fn upgrade_keeps_slug_and_volumes(b: Backend) {
    proves(&b, Feature::Upgrade);
    let d = &b.dispatcher;
    let first = d.provision("up", solo()).await.expect("provision");
    let volumes = |objs: &[hearth::driver::Owned]| -> Vec<String> {
        objs.iter()
            .filter(|o| o.kind != ObjectKind::Container)
            .map(|o| o.name.clone())
            .collect()
    };
    let before = volumes(&b.objects("up").await);
    let up = d
        .upgrade("up", ProvisioningProfile::for_tier(Tier::Team))
        .await
        .expect("upgrade");
    assert_eq!(up.workspace_slug, "up");
    assert_eq!(up.tier, Tier::Team);
    assert_eq!(up.created, first.created);
    assert_eq!(up.resource_caps.as_ref().map(|c| c.seats), Some(10));
    assert_eq!(
        volumes(&b.objects("up").await),
        before,
        "network and volumes kept"
    );
    assert_eq!(d.status("up").await.expect("status"), Status::Ready);
    for s in &up.services {
        assert_eq!(http_status(&s.endpoint).await, Ok(200));
    }
    // Provision at the new tier is now the idempotent call; the old tier is the mismatch.
    assert_eq!(
        d.provision("up", ProvisioningProfile::for_tier(Tier::Team))
            .await
            .expect("same")
            .tier,
        Tier::Team
    );
    d.teardown("up").await.expect("teardown");
}

/// Teardown removes everything, is idempotent, and is terminal, also across a restart.
async fn teardown_is_idempotent_and_terminal(b: Backend) {
    proves(&b, Feature::Teardown);
    let d = &b.dispatcher;
    d.provision("gone", solo()).await.expect("provision");
    d.teardown("gone").await.expect("teardown");
    let left = b.objects("gone").await;
    assert!(left.is_empty(), "nothing of it remains: {left:?}");
    d.teardown("gone").await.expect("teardown again");
    assert_eq!(
        d.status("gone").await.expect("status"),
        Status::TierTornDown
    );
    let err = d
        .pause("gone")
        .await
        .expect_err("pause a torn-down workspace");
    assert_eq!(err.code(), "conflict");
    let again = b.restarted();
    again.reconcile().await.expect("reconcile");
    assert_eq!(
        again.status("gone").await.expect("status after restart"),
        Status::TierTornDown
    );
    if b.kind.on_engine() {
        assert!(b.engine_objects().is_empty(), "{:?}", b.engine_objects());
    }
}

/// Unknown and invalid slugs.
async fn unknown_and_invalid_slugs(b: Backend) {
    let d = &b.dispatcher;
    assert_eq!(
        d.status("nobody").await.expect_err("unknown").code(),
        "not_found"
    );
    assert_eq!(
        d.pause("nobody").await.expect_err("unknown").code(),
        "not_found"
    );
    d.teardown("nobody")
        .await
        .expect("teardown of nothing is done");
    let calls = b.calls();
    for bad in ["Bad", "-x", "a_b", "", "../../etc", &"x".repeat(40)] {
        let err = d.provision(bad, solo()).await.expect_err("invalid slug");
        assert_eq!(err.code(), "invalid_slug", "{bad}");
        assert_eq!(
            d.teardown(bad).await.expect_err("invalid").code(),
            "invalid_slug"
        );
    }
    assert_eq!(b.calls(), calls, "invalid slugs never reach the driver");
}

/// A provision whose caller goes away leaves nothing behind.
async fn abandoned_provision_leaves_nothing(b: Backend) {
    proves(&b, Feature::AbandonedRollback);
    let d = b.dispatcher.clone();
    let task = tokio::spawn(async move { d.provision("bye", solo()).await });
    // Wait until the provision has created something, then walk away.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while b.objects("bye").await.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "provision never created anything"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    task.abort();
    let _ = task.await;
    b.wait_gone("bye").await;
    // The lock is released once the rollback is recorded; then the status says what happened.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let status = b.dispatcher.status("bye").await.expect("status");
        if status == Status::Failed {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "status stayed {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // And the slug can be provisioned afresh.
    b.dispatcher
        .provision("bye", solo())
        .await
        .expect("provision afresh");
    b.dispatcher.teardown("bye").await.expect("teardown");
}

/// pause ⇄ resume, hibernate → wake, with the engine's view matching the status.
async fn pause_resume_hibernate_wake(b: Backend) {
    let d = &b.dispatcher;
    d.provision("life", solo()).await.expect("provision");
    match expect(b.kind, Feature::PauseResume) {
        Cell::Yes => {}
        Cell::Unsupported => {
            let err = d.pause("life").await.expect_err("pause unsupported");
            assert_eq!(err.code(), "unsupported", "{err}");
            assert_eq!(d.status("life").await.expect("status"), Status::Ready);
            d.teardown("life").await.expect("teardown");
            return;
        }
        Cell::No => panic!("every backend answers pause, if only with `unsupported`"),
    }
    proves(&b, Feature::HibernateWake);
    d.pause("life").await.expect("pause");
    assert_eq!(d.status("life").await.expect("status"), Status::Paused);
    assert_eq!(b.container_states("life").await, vec!["paused", "paused"]);
    assert_eq!(
        d.pause("life").await.expect_err("pause twice").code(),
        "conflict"
    );
    assert_eq!(
        d.hibernate("life")
            .await
            .expect_err("hibernate paused")
            .code(),
        "conflict"
    );
    d.resume("life").await.expect("resume");
    assert_eq!(b.container_states("life").await, vec!["running", "running"]);
    d.hibernate("life").await.expect("hibernate");
    assert_eq!(d.status("life").await.expect("status"), Status::Hibernated);
    let objects = b.objects("life").await;
    let count = |k: ObjectKind| objects.iter().filter(|o| o.kind == k).count();
    assert_eq!(
        (count(ObjectKind::Network), count(ObjectKind::Volume)),
        (1, 2),
        "network and both volumes kept while hibernated"
    );
    if b.kind == Kind::Swarm {
        // Scaled to 0: the swarm removes the tasks' containers; the services stay.
        assert_eq!(b.container_states("life").await, Vec::<String>::new());
        let services: Vec<_> = objects
            .iter()
            .filter(|o| o.kind == ObjectKind::Service)
            .map(|o| o.state.clone().unwrap_or_default())
            .collect();
        assert_eq!(
            services,
            vec!["replicas=0", "replicas=0", "replicas=0"],
            "both roles and the door"
        );
    } else {
        assert_eq!(b.container_states("life").await, vec!["exited", "exited"]);
    }
    let woken = d.resume("life").await.expect("wake");
    assert_eq!(woken.last_status, Status::Ready);
    for s in &woken.services {
        assert_eq!(
            http_status(&s.endpoint).await,
            Ok(200),
            "{} answers after wake",
            s.role
        );
    }
    let steps: Vec<String> = d
        .events("life")
        .expect("events")
        .into_iter()
        .map(|e| e.step)
        .collect();
    assert!(steps.contains(&"woken".to_owned()), "{steps:?}");
    d.teardown("life").await.expect("teardown");
    b.wait_gone("life").await;
}

/// The limits hearth sets are the limits the kernel enforces on every service.
async fn limits_are_enforced(b: Backend) {
    let r = b
        .dispatcher
        .provision("caps", solo())
        .await
        .expect("provision");
    match expect(b.kind, Feature::Limits) {
        Cell::Yes => {
            for s in &r.services {
                let (memory, pids) = cgroup_limits(b.host(), &s.container_id);
                assert_eq!(memory, Some(b.config.memory_bytes), "memory of {}", s.role);
                assert_eq!(pids, Some(b.config.pids_limit), "pids of {}", s.role);
            }
        }
        // The Fake runs no processes, so there is nothing to limit.
        Cell::No => assert_eq!(b.kind, Kind::Fake),
        Cell::Unsupported => panic!("provision would have answered unsupported"),
    }
    b.dispatcher.teardown("caps").await.expect("teardown");
}

/// The three-role template every backend runs: a TCP-ready store, a one-shot migration that
/// waits for it, and a web front behind a slow health path that waits for both and reaches
/// the store by reference. `@IMAGE@` is the stand-in image; its knobs come from `env`.
const THREE_ROLES: &str = r#"
[tiers.solo]
front_door = "web"
[tiers.solo.roles.store]
image = "@IMAGE@"
port = 9000
env = { PORT = "9000" }
ready = { tcp = 9000 }
[tiers.solo.roles.migrate]
image = "@IMAGE@"
once = true
env = { ONESHOT_EXIT = "0", ONESHOT_MS = "300" }
depends_on = { store = "ready" }
[tiers.solo.roles.web]
image = "@IMAGE@"
port = 8080
env = { PORT = "8080", HEALTH_DELAY_MS = "1000", STORE_URL = "{{store.url}}", SLUG = "{{workspace.slug}}", TIER = "{{tier}}" }
depends_on = { store = "ready", migrate = "completed" }
ready = { http = "/healthz", status = "200-299", timeout = 30 }
volume = "/data"
"#;

/// The step that says a role's process runs, and the step of a teardown's ordered part: on
/// Swarm the swarm starts a role's task (`task_running`), and a teardown stops the roles
/// dependents first (`stopped`) before it removes every object at once; elsewhere hearth
/// starts and removes each container itself.
fn started_and_removed(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::Swarm => ("task_running", "stopped"),
        _ => ("container_started", "container_removed"),
    }
}

/// The position of the first event `step` of `role`, or a panic naming what is missing.
fn at(steps: &[hearth_protocol::hearth::LifecycleEvent], step: &str, role: &str) -> usize {
    steps
        .iter()
        .position(|e| e.step == step && e.role.as_deref() == Some(role))
        .unwrap_or_else(|| panic!("no {step} of {role} in {steps:?}"))
}

/// A template's roles start in dependency order, the one-shot completes before its
/// dependent starts, the front door is the workspace's endpoint, references are rendered,
/// and teardown goes in reverse order and leaves nothing.
async fn template_roles_start_in_order(b: Backend) {
    if expect(b.kind, Feature::Templates) != Cell::Yes {
        return;
    }
    let b = b.templated(THREE_ROLES);
    let d = &b.dispatcher;
    let r = d.provision("tpl", solo()).await.expect("provision");
    assert_eq!(r.last_status, Status::Ready);
    let roles: Vec<&str> = r.services.iter().map(|s| s.role.as_str()).collect();
    assert_eq!(
        roles,
        ["store", "web"],
        "every service role, the file's order (a one-shot is done, not a service)"
    );
    let web = r.services.iter().find(|s| s.role == "web").expect("web");
    assert_eq!(r.endpoint, web.endpoint, "the front door is web");
    assert_eq!(
        http_status(&format!("{}/healthz", r.endpoint)).await,
        Ok(200)
    );
    let env: serde_json::Value = reqwest::get(format!("{}/env", r.endpoint))
        .await
        .expect("GET /env")
        .json()
        .await
        .expect("json");
    let store_url = env["STORE_URL"].as_str().expect("STORE_URL rendered");
    assert!(
        store_url.starts_with("http://") && store_url.ends_with(":9000"),
        "{{{{store.url}}}} rendered: {store_url}"
    );
    assert_eq!(env["SLUG"], "tpl");
    assert_eq!(env["TIER"], "solo");

    let (started, removed_step) = started_and_removed(b.kind);
    let steps = d.events("tpl").expect("events");
    assert!(at(&steps, "role_ready", "store") < at(&steps, started, "migrate"));
    assert!(at(&steps, "role_completed", "migrate") < at(&steps, started, "web"));
    assert!(at(&steps, "role_completed", "migrate") < at(&steps, "role_ready", "web"));
    let objects = b.objects("tpl").await;
    let count = |k: ObjectKind| objects.iter().filter(|o| o.kind == k).count();
    assert_eq!(count(ObjectKind::Network), 1, "{objects:?}");
    assert_eq!(
        count(ObjectKind::Volume),
        1,
        "only web has a volume: {objects:?}"
    );
    assert_eq!(
        d.status("tpl").await.expect("status"),
        Status::Ready,
        "the one-shot's exit is not a failure"
    );

    // Hibernate and wake: wake runs the order again, the one-shot before its dependent.
    d.hibernate("tpl").await.expect("hibernate");
    let before = d.events("tpl").expect("events").len();
    let woken = d.resume("tpl").await.expect("wake");
    assert_eq!(woken.last_status, Status::Ready);
    let after = d.events("tpl").expect("events");
    let woke = &after[before..];
    assert!(
        at(woke, "role_completed", "migrate") < at(woke, "role_ready", "web"),
        "wake ran the one-shot before web: {woke:?}"
    );
    assert_eq!(
        http_status(&format!("{}/healthz", woken.endpoint)).await,
        Ok(200)
    );

    let before = d.events("tpl").expect("events").len();
    d.teardown("tpl").await.expect("teardown");
    let after = d.events("tpl").expect("events");
    let removed: Vec<&str> = after[before..]
        .iter()
        .filter(|e| e.step == removed_step)
        .filter_map(|e| e.role.as_deref())
        .collect();
    assert_eq!(removed, ["web", "migrate", "store"], "reverse start order");
    b.wait_gone("tpl").await;
}

/// Bad templates are refused before anything runs, and a per-workspace image override
/// (`driver_flags.<role>_image`) must name a role of the tier and an image reference.
async fn template_refusals_leave_nothing(b: Backend) {
    if expect(b.kind, Feature::Templates) != Cell::Yes {
        return;
    }
    for (toml, wants) in [
        (
            THREE_ROLES.replace(
                "depends_on = { store = \"ready\" }",
                "depends_on = { web = \"ready\" }",
            ),
            "tiers.solo.roles.migrate.depends_on: cycle migrate → web → migrate",
        ),
        (
            THREE_ROLES.replace("ready = { tcp = 9000 }", "ready = { grpc = 9000 }"),
            "tiers.solo.roles.store.ready: unknown probe kind `grpc`",
        ),
        (
            THREE_ROLES.replace("{{store.url}}", "{{db.url}}"),
            "tiers.solo.roles.web.env.STORE_URL: `{{db.url}}` names no role of this tier",
        ),
    ] {
        let file: hearth::config::FileConfig = toml::from_str(&toml).expect("toml");
        let err = file
            .templates(&Default::default(), None)
            .expect_err("refused");
        assert!(format!("{err:#}").contains(wants), "{wants:?} in {err:#}");
    }
    let b = b.templated(THREE_ROLES);
    for (flag, image, wants) in [
        (
            "web_image",
            "Not A Reference",
            "driver_flags.web_image: \"Not A Reference\" is not an image reference",
        ),
        (
            "db_image",
            "db:1",
            "driver_flags.db_image: db is not a role of this tier",
        ),
    ] {
        let mut profile = solo();
        profile.driver_flags.insert(flag.into(), image.into());
        let err = b
            .dispatcher
            .provision("refused", profile)
            .await
            .expect_err("refused");
        assert_eq!(err.code(), "invalid_request", "{err}");
        assert!(err.to_string().contains(wants), "{wants:?} in {err}");
        assert!(b.objects("refused").await.is_empty(), "nothing was created");
    }
    assert!(b.engine_objects().is_empty(), "nothing on the engine");
    // An override of any role works: web runs the image it names.
    let mut profile = solo();
    let image = hearth_testkit::run::test_image();
    profile
        .driver_flags
        .insert("web_image".into(), image.clone().into());
    let r = b
        .dispatcher
        .provision("override", profile)
        .await
        .expect("provision");
    let web = r.services.iter().find(|s| s.role == "web").expect("web");
    assert_eq!(web.image, image);
    b.dispatcher.teardown("override").await.expect("teardown");
    b.wait_gone("override").await;
}

/// The suite: every scenario, on the backend `$kind` in module `$module`. A backend is one
/// line below.
macro_rules! conformance {
    ($module:ident, $kind:ident) => {
        crate::on_backend!(
            $module, $kind, super::Backend::new;
            provision_is_idempotent,
            ready_means_every_service_answers,
            another_tier_is_a_mismatch,
            status_is_read_only,
            upgrade_keeps_slug_and_volumes,
            teardown_is_idempotent_and_terminal,
            unknown_and_invalid_slugs,
            abandoned_provision_leaves_nothing,
            pause_resume_hibernate_wake,
            limits_are_enforced,
            template_roles_start_in_order,
            template_refusals_leave_nothing,
        );
    };
}

conformance!(fake, Fake);
conformance!(docker, Docker);
conformance!(podman, Podman);
conformance!(swarm, Swarm);

/// The scenarios that hold on a multi-node swarm as they are written, each on a 3-node
/// cluster of its own (the test kit runs one at a time: three engines each are heavy) with `lore` placed on a
/// worker, hearth on the manager; afterwards nothing of the run's instance is left on any
/// node. (The others look at one engine's containers, cgroups or pause, which a role on
/// another node does not offer: `hearth/tests/cluster.rs` covers placement, data, teardown
/// on every node and node loss.)
macro_rules! on_cluster {
    ($($name:ident),* $(,)?) => {
        mod cluster {
            use super::support::cluster::{cluster, left_on_nodes, on_manager, spread};

            $(
                #[test]
                fn $name() {
                    if !super::support::cluster_e2e(concat!("cluster::", stringify!($name))) {
                        return;
                    }
                    let c = cluster();
                    on_manager(c.manager_netns(), async {
                        let b = spread(&c, 1);
                        let instance = b.instance.clone();
                        super::$name(b).await;
                        assert_eq!(left_on_nodes(&c, &instance), vec![], "nothing left on any node");
                    });
                    c.stop();
                }
            )*
        }
    };
}

on_cluster!(
    ready_means_every_service_answers,
    another_tier_is_a_mismatch,
    status_is_read_only,
    teardown_is_idempotent_and_terminal,
    unknown_and_invalid_slugs,
    abandoned_provision_leaves_nothing,
);

/// Status answers the recorded status while a verb is under way, not the engine's mix of
/// roles that are already paused and roles that are not yet.
#[tokio::test]
async fn fake_status_mid_pause_is_the_record_not_a_mix() {
    let faults = FakeFaults {
        delay: Duration::from_millis(150),
        ..FakeFaults::default()
    };
    let b = Backend::with(Kind::Fake, faults, docker_config(), Deadlines::default());
    b.dispatcher
        .provision("mid", solo())
        .await
        .expect("provision");
    let d = b.dispatcher.clone();
    let pausing = tokio::spawn(async move { d.pause("mid").await });
    let mut saw_a_mix = false;
    while !pausing.is_finished() {
        saw_a_mix |= b.container_states("mid").await == vec!["paused", "running"];
        let status = b.dispatcher.status("mid").await.expect("status");
        assert!(
            matches!(status, Status::Ready | Status::Paused),
            "mid-pause status {status}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    pausing.await.expect("join").expect("pause");
    assert!(saw_a_mix, "the engine was seen between states");
    assert_eq!(
        b.dispatcher.status("mid").await.expect("status"),
        Status::Paused
    );
}

/// Fake: a provision that fails half-way rolls back and records the failure.
#[tokio::test]
async fn fake_failed_provision_rolls_back() {
    let mut faults = FakeFaults::default();
    faults.add("fail:provision").expect("fault");
    let b = Backend::with(Kind::Fake, faults, docker_config(), Deadlines::default());
    let err = b
        .dispatcher
        .provision("boom", solo())
        .await
        .expect_err("fails");
    assert_eq!(err.code(), "driver_failure");
    let steps = b.dispatcher.events("boom").expect("events");
    let started = steps
        .iter()
        .any(|e| e.step == "container_started" && e.role.as_deref() == Some("cairnet"));
    assert!(started, "the fault struck after a role existed: {steps:?}");
    assert!(steps.iter().any(|e| e.step == "rolled_back"), "{steps:?}");
    assert!(b.objects("boom").await.is_empty());
    assert_eq!(
        b.dispatcher.status("boom").await.expect("status"),
        Status::Failed
    );
}

/// Fake: a provision past its deadline is deadline_exceeded, says where it stuck, and rolls back.
#[tokio::test]
async fn fake_provision_past_its_deadline_rolls_back() {
    let mut faults = FakeFaults::default();
    faults.add("hang:provision").expect("fault");
    let deadlines = Deadlines {
        provision: Duration::from_millis(300),
        ..Deadlines::default()
    };
    let b = Backend::with(Kind::Fake, faults, docker_config(), deadlines);
    let err = b
        .dispatcher
        .provision("stuck", solo())
        .await
        .expect_err("deadline");
    assert_eq!(err.code(), "deadline_exceeded");
    assert!(
        err.to_string().contains("stuck at: role_ready (cairnet)"),
        "{err}"
    );
    assert!(b.objects("stuck").await.is_empty());
}

/// Docker: a role that never answers HTTP fails the provision half-way; nothing is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_half_way_failure_rolls_back() {
    if !support::e2e("docker_half_way_failure_rolls_back") {
        return;
    }
    let mut config = docker_config();
    // The stand-in listens on 80; waiting on 81 means containers run but never answer.
    config.service_port = 81;
    config.readiness_timeout = Duration::from_secs(2);
    let b = Backend::docker_with(config);
    let err = b
        .dispatcher
        .provision("half", solo())
        .await
        .expect_err("never ready");
    assert_eq!(err.code(), "driver_failure");
    // The failure names the role, the probe and what it saw.
    let text = err.to_string();
    assert!(
        (text.starts_with("cairnet: ") || text.starts_with("lore: "))
            && text.contains("GET / on port 81 got no answer"),
        "{text}"
    );
    assert!(
        engine_objects(&b.instance).is_empty(),
        "rolled back: {:?}",
        engine_objects(&b.instance)
    );
    assert_eq!(
        b.dispatcher.status("half").await.expect("status"),
        Status::Failed
    );
}

/// Docker: an absent image that cannot be pulled fails fast with image_unavailable and a hint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_absent_image_is_image_unavailable() {
    if !support::e2e("docker_absent_image_is_image_unavailable") {
        return;
    }
    let mut config = docker_config();
    config
        .images
        .insert("lore".into(), "hearth-no-such-image:never".into());
    config.pull = hearth::driver::engine::PullPolicy::Never;
    let b = Backend::docker_with(config);
    let err = b
        .dispatcher
        .provision("noimg", solo())
        .await
        .expect_err("absent image");
    assert_eq!(err.code(), "image_unavailable");
    assert!(err.hint().unwrap_or_default().contains("make images"));
    assert!(engine_objects(&b.instance).is_empty());
}

/// The conformance scenarios that apply to the kustomize driver, whose "engine" is a
/// directory: each workspace is `<out>/<slug>/`, and the assertions read the files.
mod kustomize {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    use hearth::dispatcher::{Deadlines, Dispatcher};
    use hearth::driver::engine::EngineConfig;
    use hearth::driver::kustomize::Kustomize;
    use hearth::Store;
    use hearth_protocol::hearth::{ProvisioningProfile, Status, Tier};

    use super::support::matrix::{cell, Cell, Column, Feature};
    use super::support::Counting;

    struct Backend {
        dispatcher: Arc<Dispatcher>,
        driver: Arc<Counting>,
        state: tempfile::TempDir,
        out: PathBuf,
    }

    fn proves(feature: Feature) {
        assert_eq!(
            cell(Column::Kustomize, feature),
            Cell::Yes,
            "docs/src/backends.md and support/matrix.rs say {feature:?} is not done on kustomize"
        );
    }

    fn driver(out: &Path) -> Arc<Counting> {
        Arc::new(Counting {
            inner: Arc::new(Kustomize::new(out, EngineConfig::default(), "tk")),
            calls: AtomicUsize::new(0),
        })
    }

    impl Backend {
        fn new() -> Backend {
            let state = tempfile::tempdir().expect("tempdir");
            let out = state.path().join("k8s");
            let driver = driver(&out);
            let store = Store::open(&state.path().join("state")).expect("state");
            Backend {
                dispatcher: Dispatcher::new(driver.clone(), store, Deadlines::default()),
                driver,
                state,
                out,
            }
        }

        /// The same daemon started again over the same state and out dir.
        fn restarted(&self) -> Arc<Dispatcher> {
            let store = Store::open(&self.state.path().join("state")).expect("state");
            Dispatcher::new(driver(&self.out), store, Deadlines::default())
        }

        fn calls(&self) -> usize {
            self.driver.calls.load(std::sync::atomic::Ordering::SeqCst)
        }

        /// Every file of `slug` with its content.
        fn files(&self, slug: &str) -> BTreeMap<String, String> {
            let dir = self.out.join(slug);
            let Ok(rd) = std::fs::read_dir(&dir) else {
                return BTreeMap::new();
            };
            rd.map(|e| {
                let e = e.expect("entry");
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read_to_string(e.path()).expect("read"),
                )
            })
            .collect()
        }
    }

    fn solo() -> ProvisioningProfile {
        ProvisioningProfile::for_tier(Tier::Solo)
    }

    #[tokio::test]
    async fn provision_is_idempotent() {
        proves(Feature::IdempotentProvision);
        let b = Backend::new();
        let first = b
            .dispatcher
            .provision("idem", solo())
            .await
            .expect("provision");
        assert_eq!(first.last_status, Status::Ready);
        assert_eq!(
            first.endpoint,
            format!("kustomize://{}", b.out.join("idem").display())
        );
        let files = b.files("idem");
        let names: Vec<&str> = files.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "cairnet.yaml",
                "kustomization.yaml",
                "lore.yaml",
                "namespace.yaml"
            ]
        );
        let calls = b.calls();
        let again = b.dispatcher.provision("idem", solo()).await.expect("again");
        assert_eq!(again, first);
        assert_eq!(b.calls(), calls, "the repeat never reached the driver");
        assert_eq!(b.files("idem"), files, "nothing rewritten");
        // A daemon that lost its record (a new state dir) finds the same workspace on disk:
        // the same files, the same creation time.
        let other = Dispatcher::new(
            driver(&b.out),
            Store::open(&b.state.path().join("other")).expect("state"),
            Deadlines::default(),
        );
        let found = other
            .provision("idem", solo())
            .await
            .expect("from the files");
        assert_eq!(found.created, first.created);
        assert_eq!(b.files("idem"), files);
        b.dispatcher.teardown("idem").await.expect("teardown");
    }

    #[tokio::test]
    async fn another_tier_is_a_mismatch() {
        proves(Feature::TierMismatch);
        let b = Backend::new();
        b.dispatcher
            .provision("tiers", solo())
            .await
            .expect("provision");
        let before = b.files("tiers");
        let team = ProvisioningProfile::for_tier(Tier::Team);
        let err = b
            .dispatcher
            .provision("tiers", team.clone())
            .await
            .expect_err("mismatch");
        assert_eq!(err.code(), "tier_mismatch");
        assert!(err.hint().unwrap_or_default().contains("upgrade"));
        assert_eq!(b.files("tiers"), before);
        // The driver itself refuses from the files, for a daemon with no record of it.
        let other = Dispatcher::new(
            driver(&b.out),
            Store::open(&b.state.path().join("other")).expect("state"),
            Deadlines::default(),
        );
        let err = other.provision("tiers", team).await.expect_err("mismatch");
        assert_eq!(err.code(), "tier_mismatch", "{err}");
        assert_eq!(b.files("tiers"), before);
        b.dispatcher.teardown("tiers").await.expect("teardown");
    }

    #[tokio::test]
    async fn status_is_read_only_and_counts_the_files() {
        proves(Feature::ReadOnlyStatus);
        let b = Backend::new();
        b.dispatcher
            .provision("ro", solo())
            .await
            .expect("provision");
        let before = b.files("ro");
        for _ in 0..3 {
            assert_eq!(
                b.dispatcher.status("ro").await.expect("status"),
                Status::Ready
            );
        }
        assert_eq!(b.files("ro"), before);
        std::fs::remove_file(b.out.join("ro/lore.yaml")).expect("rm");
        assert_eq!(
            b.dispatcher.status("ro").await.expect("status"),
            Status::Provisioning,
            "some files: provisioning"
        );
        for f in ["cairnet.yaml", "kustomization.yaml", "namespace.yaml"] {
            std::fs::remove_file(b.out.join("ro").join(f)).expect("rm");
        }
        assert_eq!(
            b.dispatcher.status("ro").await.expect("status"),
            Status::TierTornDown,
            "no files: torn down"
        );
        b.dispatcher.teardown("ro").await.expect("teardown");
    }

    #[tokio::test]
    async fn upgrade_keeps_slug_and_created() {
        proves(Feature::Upgrade);
        let b = Backend::new();
        let first = b
            .dispatcher
            .provision("up", solo())
            .await
            .expect("provision");
        let up = b
            .dispatcher
            .upgrade("up", ProvisioningProfile::for_tier(Tier::Team))
            .await
            .expect("upgrade");
        assert_eq!(up.workspace_slug, "up");
        assert_eq!(up.tier, Tier::Team);
        assert_eq!(up.created, first.created);
        assert_eq!(up.resource_caps.as_ref().map(|c| c.seats), Some(10));
        let files = b.files("up");
        assert!(files["kustomization.yaml"].contains("dev.hearth.tier: team"));
        assert!(
            files["lore.yaml"].contains("claimName: lore-data"),
            "volume kept"
        );
        assert!(
            files["lore.yaml"].contains("value: '10'"),
            "new caps: {}",
            files["lore.yaml"]
        );
        assert_eq!(
            b.dispatcher.status("up").await.expect("status"),
            Status::Ready
        );
        b.dispatcher.teardown("up").await.expect("teardown");
    }

    #[tokio::test]
    async fn teardown_is_idempotent_and_terminal() {
        proves(Feature::Teardown);
        let b = Backend::new();
        b.dispatcher
            .provision("gone", solo())
            .await
            .expect("provision");
        b.dispatcher.teardown("gone").await.expect("teardown");
        assert!(!b.out.join("gone").exists());
        assert_eq!(
            std::fs::read_dir(&b.out).expect("ls").count(),
            0,
            "nothing left in the out dir"
        );
        b.dispatcher.teardown("gone").await.expect("again");
        assert_eq!(
            b.dispatcher.status("gone").await.expect("status"),
            Status::TierTornDown
        );
        assert_eq!(
            b.dispatcher.pause("gone").await.expect_err("pause").code(),
            "conflict"
        );
        let again = b.restarted();
        again.reconcile().await.expect("reconcile");
        assert_eq!(
            again.status("gone").await.expect("status"),
            Status::TierTornDown
        );
    }

    #[tokio::test]
    async fn unknown_and_invalid_slugs() {
        let b = Backend::new();
        let d = &b.dispatcher;
        assert_eq!(
            d.status("nobody").await.expect_err("unknown").code(),
            "not_found"
        );
        d.teardown("nobody").await.expect("teardown of nothing");
        let calls = b.calls();
        for bad in ["Bad", "-x", "a_b", "", "../../etc", "a/b", &"x".repeat(40)] {
            let err = d.provision(bad, solo()).await.expect_err("invalid");
            assert_eq!(err.code(), "invalid_slug", "{bad}");
            assert_eq!(
                d.teardown(bad).await.expect_err("invalid").code(),
                "invalid_slug"
            );
        }
        assert_eq!(b.calls(), calls, "invalid slugs never reach the driver");
        assert!(!b.out.exists() || std::fs::read_dir(&b.out).expect("ls").count() == 0);
    }

    #[tokio::test]
    async fn pause_resume_hibernate_are_unsupported() {
        for f in [Feature::PauseResume, Feature::HibernateWake] {
            assert_eq!(cell(Column::Kustomize, f), Cell::Unsupported);
        }
        let b = Backend::new();
        b.dispatcher
            .provision("life", solo())
            .await
            .expect("provision");
        let before = b.files("life");
        for (verb, err) in [
            (
                "pause",
                b.dispatcher.pause("life").await.expect_err("pause"),
            ),
            (
                "hibernate",
                b.dispatcher.hibernate("life").await.expect_err("hibernate"),
            ),
        ] {
            assert_eq!(err.code(), "unsupported", "{verb}: {err}");
            assert!(err.to_string().contains("kustomize"), "{err}");
        }
        assert_eq!(
            b.dispatcher.status("life").await.expect("status"),
            Status::Ready
        );
        assert_eq!(b.files("life"), before);
        b.dispatcher.teardown("life").await.expect("teardown");
    }

    /// A daemon killed while writing leaves a temp dir (never a mix in the workspace's own
    /// directory); the next start's reconcile removes it and settles the record.
    #[tokio::test]
    async fn reconcile_after_a_crash_settles_from_disk() {
        let b = Backend::new();
        b.dispatcher
            .provision("kept", solo())
            .await
            .expect("provision");
        // What a write cut short leaves: a temp dir of this instance for a slug with no
        // finished workspace.
        let temp = b.out.join(".hearth-tk-half-0badf00d");
        std::fs::create_dir(&temp).expect("mkdir");
        std::fs::write(temp.join("kustomization.yaml"), "partial").expect("write");
        let kept = b.files("kept");
        let again = b.restarted();
        let done = again.reconcile().await.expect("reconcile");
        assert!(
            done.orphans_removed.contains(&"half".to_owned()),
            "{done:?}"
        );
        assert!(!temp.exists(), "the half-written set is gone");
        assert_eq!(b.files("kept"), kept, "a finished workspace is untouched");
        assert_eq!(again.status("kept").await.expect("status"), Status::Ready);
        // A workspace whose files vanished while hearth was down is recorded as lost.
        std::fs::remove_dir_all(b.out.join("kept")).expect("rm");
        let third = b.restarted();
        let done = third.reconcile().await.expect("reconcile");
        assert_eq!(done.lost, ["kept"], "{done:?}");
        assert_eq!(third.status("kept").await.expect("status"), Status::Failed);
    }
}
