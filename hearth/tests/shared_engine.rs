//! One engine, more than one hearth: two daemons hold the same slug at once and never touch
//! each other's objects; workspaces made before names carried the instance are still found
//! and torn down; the engine refusing a verb (a container paused behind hearth's back) is a
//! `conflict` after which the record says what the engine holds; a non-hearth container holding hearth's name
//! is a `conflict` with a hint, and nothing is left. All against the real engine.

mod support;

use std::collections::HashMap;
use std::process::Command;

use hearth::driver::ObjectKind;
use hearth::journal::Steps;
use hearth::labels;
use hearth::names::Names;
use hearth::slug::Slug;
use hearth_protocol::hearth::{ErrorCode, ProvisioningProfile, Status, Tier};
use support::{engine_objects, http_status, test_image, Backend, Kind, Sweep};

fn solo() -> ProvisioningProfile {
    ProvisioningProfile::for_tier(Tier::Solo)
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("docker CLI");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The status hearth has recorded for `slug` (not the engine's view).
fn recorded(b: &Backend, slug: &str) -> Status {
    b.dispatcher
        .list()
        .into_iter()
        .find(|r| r.workspace_slug == slug)
        .map(|r| r.last_status)
        .expect("a record")
}

/// Two daemons provision the same slug at the same moment: both succeed, each with its own
/// objects, and tearing one down (or reconciling one) leaves the other answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_hold_the_same_slug_at_once() {
    if !support::e2e("two_daemons_hold_the_same_slug_at_once") {
        return;
    }
    let first = Backend::new(Kind::Docker);
    let second = Backend::new(Kind::Docker);
    let (a, b) = tokio::join!(
        first.dispatcher.provision("test", solo()),
        second.dispatcher.provision("test", solo())
    );
    let (a, b) = (a.expect("first"), b.expect("second"));
    assert_ne!(a.endpoint, b.endpoint);
    let (mine, theirs) = (
        engine_objects(&first.instance),
        engine_objects(&second.instance),
    );
    assert_eq!(
        mine.len(),
        5,
        "2 containers, a network, 2 volumes: {mine:?}"
    );
    assert_eq!(theirs.len(), 5, "{theirs:?}");
    assert!(
        mine.iter().all(|n| !theirs.contains(n)),
        "{mine:?} vs {theirs:?}"
    );

    // Reconciling the second daemon does not reap the first's workspace.
    second.restarted().reconcile().await.expect("reconcile");
    first
        .dispatcher
        .teardown("test")
        .await
        .expect("teardown first");
    assert!(engine_objects(&first.instance).is_empty());
    assert_eq!(engine_objects(&second.instance).len(), 5);
    assert_eq!(
        second.dispatcher.status("test").await.expect("status"),
        Status::Ready
    );
    for s in &b.services {
        assert_eq!(
            http_status(&s.endpoint).await,
            Ok(200),
            "{} answers",
            s.role
        );
    }
    second
        .dispatcher
        .teardown("test")
        .await
        .expect("teardown second");
    assert!(engine_objects(&second.instance).is_empty());
}

/// A workspace made under the first naming scheme (`hearth_<slug>…`, no instance in the
/// names) by this instance is found by label: status reads it, upgrade keeps its volumes,
/// teardown removes every one of its objects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspaces_under_the_old_names_are_found_and_torn_down() {
    if !support::e2e("workspaces_under_the_old_names_are_found_and_torn_down") {
        return;
    }
    let b = Backend::new(Kind::Docker);
    let slug = Slug::parse("legacy").expect("slug");
    let old = |suffix: &str| format!("hearth_legacy{suffix}");
    let labels_of = |role: &str| -> Vec<String> {
        labels::for_object(&b.instance, &slug, role, "solo", &b.config.extra_labels)
            .into_iter()
            .flat_map(|(k, v)| ["--label".to_owned(), format!("{k}={v}")])
            .collect()
    };
    // What the previous hearth made: network, volumes and running containers, old names.
    let mut args = vec!["network".to_owned(), "create".to_owned()];
    args.extend(labels_of("network"));
    args.push(old(""));
    docker(&args.iter().map(String::as_str).collect::<Vec<_>>());
    for role in ["cairnet", "lore"] {
        let mut v = vec!["volume".to_owned(), "create".to_owned()];
        v.extend(labels_of(role));
        v.push(old(&format!("_{role}-data")));
        docker(&v.iter().map(String::as_str).collect::<Vec<_>>());
        let mut c = vec!["run", "-d", "--init", "--network"]
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>();
        c.push(old(""));
        c.extend(["-p".into(), "127.0.0.1::80".into(), "--name".into()]);
        c.push(old(&format!("_{role}")));
        c.extend([
            "-v".into(),
            format!("{}:/data", old(&format!("_{role}-data"))),
        ]);
        c.extend(labels_of(role));
        c.push(test_image());
        docker(&c.iter().map(String::as_str).collect::<Vec<_>>());
    }
    let listed: Vec<String> = b
        .objects("legacy")
        .await
        .into_iter()
        .map(|o| o.name)
        .collect();
    assert_eq!(listed.len(), 5, "found by label: {listed:?}");

    let steps = Steps::detached(&slug);
    let reference = hearth_protocol::hearth::DeploymentRef {
        workspace_slug: "legacy".into(),
        tier: Tier::Solo,
        driver: hearth_protocol::hearth::DriverName::LocalDocker,
        endpoint: String::new(),
        secrets_vault_path: String::new(),
        created: chrono::Utc::now(),
        last_status: Status::Ready,
        resource_caps: None,
        services: Vec::new(),
        pool: None,
    };
    let driver = b.driver.inner.clone();
    assert_eq!(
        driver.status(&reference).await.expect("status"),
        Status::Ready
    );

    // Upgrade recreates the containers under the new names, on the old volumes.
    let upgraded = driver
        .upgrade(&reference, &solo(), &steps)
        .await
        .expect("upgrade");
    let names = Names::new(&b.instance, &slug);
    for s in &upgraded.services {
        let name = docker(&["inspect", "--format", "{{.Name}}", &s.container_id]);
        assert_eq!(name.trim_start_matches('/'), names.container(&s.role));
        let mounted = docker(&[
            "inspect",
            "--format",
            "{{range .Mounts}}{{.Name}}{{end}}",
            &s.container_id,
        ]);
        assert_eq!(mounted, old(&format!("_{}-data", s.role)), "data kept");
        assert_eq!(http_status(&s.endpoint).await, Ok(200));
    }
    let volumes: Vec<_> = b
        .objects("legacy")
        .await
        .into_iter()
        .filter(|o| o.kind == ObjectKind::Volume)
        .collect();
    assert_eq!(volumes.len(), 2, "no second set of volumes: {volumes:?}");

    driver.teardown(&slug, &steps).await.expect("teardown");
    assert!(
        engine_objects(&b.instance).is_empty(),
        "{:?}",
        engine_objects(&b.instance)
    );
    for name in [old(""), old("_cairnet"), old("_lore")] {
        let gone = Command::new("docker")
            .args(["inspect", &name])
            .output()
            .expect("docker");
        assert!(!gone.status.success(), "{name} is gone");
    }
}

/// The engine refusing a verb is a refusal, not a failure: with the containers paused behind
/// hearth's back, `pause` answers `conflict` with the engine's reason and the record says
/// `paused`, as the engine does (never `failed`); thawed behind its back, `resume` is refused
/// and the record says `ready`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_refusal_keeps_the_status() {
    if !support::e2e("an_engine_refusal_keeps_the_status") {
        return;
    }
    let b = Backend::new(Kind::Docker);
    let r = b
        .dispatcher
        .provision("refused", solo())
        .await
        .expect("provision");
    for s in &r.services {
        docker(&["pause", &s.container_id]);
    }
    let err = b
        .dispatcher
        .pause("refused")
        .await
        .expect_err("the engine refuses");
    assert_eq!(err.code(), ErrorCode::Conflict, "{err}");
    assert!(
        err.to_string().contains("paused"),
        "the engine's reason: {err}"
    );
    assert!(
        err.hint().unwrap_or_default().contains("hearth status"),
        "{err:?}"
    );
    assert_eq!(recorded(&b, "refused"), Status::Paused, "what is true");
    assert_eq!(
        b.dispatcher.status("refused").await.expect("status"),
        Status::Paused
    );

    // Resumed, then hibernated: the engine stops a paused container too, but hearth refuses
    // to hibernate a paused workspace.
    b.dispatcher.resume("refused").await.expect("resume");
    b.dispatcher.hibernate("refused").await.expect("hibernate");
    assert_eq!(recorded(&b, "refused"), Status::Hibernated);
    b.dispatcher.resume("refused").await.expect("wake");

    // Resume of a workspace thawed behind hearth's back: refused, still recorded paused.
    let r = b.dispatcher.pause("refused").await.expect("pause");
    for s in &r.services {
        docker(&["unpause", &s.container_id]);
    }
    let err = b
        .dispatcher
        .resume("refused")
        .await
        .expect_err("not paused");
    assert_eq!(err.code(), ErrorCode::Conflict, "{err}");
    assert_eq!(recorded(&b, "refused"), Status::Ready, "what is true");
    b.dispatcher.teardown("refused").await.expect("teardown");
    assert!(engine_objects(&b.instance).is_empty());
}

/// A container that is not hearth's holding the name hearth is about to use: `conflict`
/// naming it, a hint, the record `failed` with nothing of hearth's left, and the other
/// container untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_container_holding_the_name_is_a_conflict() {
    if !support::e2e("a_foreign_container_holding_the_name_is_a_conflict") {
        return;
    }
    let b = Backend::new(Kind::Docker);
    let slug = Slug::parse("squat").expect("slug");
    let taken = Names::new(&b.instance, &slug).container("lore");
    // Not labelled by hearth; labelled with this test's own instance label only so the
    // backend's sweep removes it if the test fails half-way.
    let _sweep = Sweep(b.instance.clone());
    let squatter = docker(&[
        "create",
        "--name",
        &taken,
        "--label",
        &format!("dev.hearth.instance={}", b.instance),
        &test_image(),
    ]);
    let err = b
        .dispatcher
        .provision("squat", solo())
        .await
        .expect_err("name taken");
    assert_eq!(err.code(), ErrorCode::Conflict, "{err}");
    assert!(err.to_string().contains("already in use"), "{err}");
    assert!(err.hint().is_some());
    assert_eq!(recorded(&b, "squat"), Status::Failed);
    let left: HashMap<String, String> = engine_objects(&b.instance)
        .into_iter()
        .map(|n| (n.clone(), n))
        .collect();
    assert_eq!(left.len(), 1, "only the squatter: {left:?}");
    assert!(left.contains_key(&taken));
    docker(&["rm", "-f", &squatter]);
}
