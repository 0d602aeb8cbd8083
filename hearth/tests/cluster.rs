//! hearth on a multi-node swarm of private test hosts (testkit's `cluster`): three engines in
//! network namespaces of this run's own, one manager and two workers. Runs as root when
//! HEARTH_E2E=1 (HEARTH_CLUSTER=1: "cannot run here" fails).

mod support;

use std::time::{Duration, Instant};

use hearth::slug::Slug;
use hearth_protocol::hearth::{ProvisioningProfile, Status, Tier};
use hearth_testkit::cluster::spread_config;
use support::cluster::{cluster, left_on_nodes, node_of, on_manager, spread, volumes_on};
use support::crash;

fn solo() -> ProvisioningProfile {
    ProvisioningProfile::for_tier(Tier::Solo)
}

/// The fixture itself: a swarm of three nodes, a node label that places a task on a worker,
/// the image there; after stop, no namespace and no engine of the run is left.
#[test]
fn the_fixture_forms_a_swarm_and_leaves_nothing() {
    if !support::cluster_e2e("the_fixture_forms_a_swarm_and_leaves_nothing") {
        return;
    }
    let c = cluster();
    let nodes = c.manager().docker(&["node", "ls", "-q"]).expect("node ls");
    assert_eq!(nodes.lines().count(), 3, "{nodes}");
    c.label(2, "zone", "b").expect("label");
    c.manager()
        .docker(&[
            "service",
            "create",
            "-d",
            "--name",
            "probe",
            "--endpoint-mode",
            "dnsrr",
            "--constraint",
            "node.labels.zone==b",
            "--label",
            &support::test_label(),
            &support::test_image(),
        ])
        .expect("service create");
    let start = std::time::Instant::now();
    let on = loop {
        let ps = c
            .manager()
            .docker(&[
                "service",
                "ps",
                "probe",
                "--filter",
                "desired-state=running",
                "--format",
                "{{.Node}} {{.CurrentState}}",
            ])
            .expect("service ps");
        if ps.contains("Running") {
            break ps;
        }
        assert!(start.elapsed().as_secs() < 60, "the task never ran: {ps}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let running = c.nodes[2].docker(&["ps", "-q"]).expect("ps on node 3");
    assert!(
        !running.is_empty(),
        "the task runs on the labelled worker ({on})"
    );
    // What this cluster made: its namespaces and its engines' directories.
    let netns: Vec<String> = c.nodes.iter().map(|n| n.netns.clone()).collect();
    let dirs: Vec<std::path::PathBuf> = c
        .nodes
        .iter()
        .filter_map(|n| n.engine.socket().parent().map(std::path::PathBuf::from))
        .collect();
    c.stop();
    let listed = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip");
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    for ns in &netns {
        assert!(
            !listed.contains(ns.as_str()),
            "namespace {ns} left: {listed}"
        );
    }
    for d in &dirs {
        assert!(!d.exists(), "engine directory {} left", d.display());
    }
}

async fn get(url: &str) -> String {
    let r = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client")
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert!(r.status().is_success(), "GET {url}: {}", r.status());
    r.text().await.expect("body")
}

fn endpoint(r: &hearth_protocol::hearth::DeploymentRef, role: &str) -> String {
    r.services
        .iter()
        .find(|s| s.role == role)
        .map(|s| s.endpoint.clone())
        .expect("the role's endpoint")
}

/// A workspace spread over the cluster: `lore` placed on a worker by a node label, reached on
/// loopback through the door; its data, on the worker, survives hibernate → wake and upgrade
/// (the task returns to its volume's node); teardown leaves nothing on any node, the worker's
/// volume removed by a job through the manager.
#[test]
fn roles_on_a_worker_keep_their_data_and_leave_nothing_behind() {
    const NAME: &str = "roles_on_a_worker_keep_their_data_and_leave_nothing_behind";
    if !support::cluster_e2e(NAME) {
        return;
    }
    let c = cluster();
    on_manager(c.manager_netns(), async {
        let b = spread(&c, 1);
        let d = &b.dispatcher;
        let r = d.provision("spread", solo()).await.expect("provision");
        assert_eq!(
            node_of(&c, &b.instance, "lore"),
            Some(1),
            "lore on the worker"
        );
        assert_eq!(
            node_of(&c, &b.instance, "cairnet"),
            Some(0),
            "cairnet on the manager"
        );
        for s in &r.services {
            assert!(
                s.endpoint.starts_with("http://127.0.0.1:"),
                "{}",
                s.endpoint
            );
            let body = get(&s.endpoint).await;
            assert!(body.contains(&format!("\"role\":\"{}\"", s.role)), "{body}");
        }
        // lore's volume was made by the worker's engine, labelled; the manager has none.
        let names = hearth::names::Names::new(&b.instance, &Slug::parse("spread").expect("slug"));
        let volume = names.volume("lore");
        let on = |n: usize| volumes_on(&c, n, &b.instance).expect("volume ls");
        assert!(on(1).contains(&volume), "on the worker: {}", on(1));
        assert!(!on(0).contains(&volume), "not on the manager: {}", on(0));
        let mountpoint = c.nodes[1]
            .docker(&["volume", "inspect", "--format", "{{.Mountpoint}}", &volume])
            .expect("inspect");
        std::fs::write(std::path::Path::new(&mountpoint).join("marker"), "kept").expect("marker");

        d.hibernate("spread").await.expect("hibernate");
        assert_eq!(
            node_of(&c, &b.instance, "lore"),
            None,
            "hibernated: no task"
        );
        let woken = d.resume("spread").await.expect("wake");
        let upgraded = d
            .upgrade("spread", ProvisioningProfile::for_tier(Tier::Team))
            .await
            .expect("upgrade");
        for r in [&woken, &upgraded] {
            let body = get(&format!("{}/data/marker", endpoint(r, "lore"))).await;
            assert!(body.contains("kept"), "the data came along: {body}");
        }
        assert_eq!(
            node_of(&c, &b.instance, "lore"),
            Some(1),
            "back on its volume's node"
        );

        d.teardown("spread").await.expect("teardown");
        assert_eq!(
            left_on_nodes(&c, &b.instance),
            vec![],
            "nothing left on any node"
        );
    });
    c.stop();
}

/// A worker lost (its engine and everything it ran killed): within 15 s the workspace is
/// `failed`, the role on the manager still answers, teardown succeeds and records the volume it
/// could not remove; the node back, its job removes the volume and a restarted daemon's
/// reconcile the job: nothing left anywhere.
#[test]
fn a_lost_node_fails_the_workspace_and_its_volume_goes_when_it_returns() {
    const NAME: &str = "a_lost_node_fails_the_workspace_and_its_volume_goes_when_it_returns";
    if !support::cluster_e2e(NAME) {
        return;
    }
    let mut c = cluster();
    let netns = c.manager_netns();
    let c = &mut c;
    on_manager(netns, async {
        let b = spread(c, 2);
        let d = &b.dispatcher;
        let r = d.provision("lossy", solo()).await.expect("provision");
        assert_eq!(node_of(c, &b.instance, "lore"), Some(2));

        c.kill(2);
        let lost = Instant::now();
        loop {
            let s = d.status("lossy").await.expect("status");
            if s == Status::Failed {
                break;
            }
            assert!(
                lost.elapsed() < Duration::from_secs(15),
                "still {s:?} after 15 s"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        eprintln!("failed {:?} after the node was lost", lost.elapsed());
        let body = get(&endpoint(&r, "cairnet")).await;
        assert!(
            body.contains("cairnet"),
            "the role on the manager answers: {body}"
        );

        d.teardown("lossy")
            .await
            .expect("teardown succeeds with a node down");
        let events = d.events("lossy").expect("events");
        let left = events
            .iter()
            .find(|e| e.step == "volume_left")
            .unwrap_or_else(|| panic!("a volume_left step: {events:?}"));
        let node2 = c.nodes[2].node_id.clone();
        let detail = left.detail.clone().unwrap_or_default();
        assert!(
            detail.contains("lore-data") && detail.contains(&node2),
            "{detail}"
        );

        c.restart(2).expect("the node comes back");
        let back = Instant::now();
        loop {
            let vols = volumes_on(c, 2, &b.instance).unwrap_or_else(|e| e.to_string());
            if vols.is_empty() {
                break;
            }
            assert!(
                back.elapsed() < Duration::from_secs(90),
                "volume still on the node: {vols}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let done = b.restarted().reconcile().await.expect("reconcile");
        eprintln!("reconciled: {done:?}");
        assert_eq!(
            left_on_nodes(c, &b.instance),
            vec![],
            "nothing left on any node"
        );
    });
}

/// kill -9 of the real hearth binary mid-provision on the cluster (both roles' tasks running,
/// `lore`'s on a worker, readiness held back), then a restart: its reconcile removes what was
/// half-made on every node — services, door, overlay, containers, and the worker's volume —
/// checked on each node's engine; the workspace is `failed`, and a teardown leaves nothing.
#[test]
fn a_kill_9_mid_provision_is_reconciled_on_every_node() {
    const NAME: &str = "a_kill_9_mid_provision_is_reconciled_on_every_node";
    if !support::cluster_e2e(NAME) {
        return;
    }
    let c = cluster();
    c.label(1, "zone", "w1").expect("label");
    on_manager(c.manager_netns(), async {
        let dir = support::short_tempdir();
        let instance = format!("crashcl{}", std::process::id());
        let image = support::test_image();
        let config = |name: &str, answering: bool| {
            let path = dir.path().join(name);
            std::fs::write(&path, spread_config(&image, "w1", answering)).expect("config");
            path.to_string_lossy().into_owned()
        };
        let common = |file: String| {
            let mut args: Vec<String> = ["--driver", "swarm", "--instance", &instance]
                .map(String::from)
                .to_vec();
            args.extend(["--label".to_owned(), support::test_label()]);
            args.extend(["--config".to_owned(), file]);
            // The Swarm driver takes the default roles' images from `[images]` and the flags.
            for role in ["--image-cairnet", "--image-lore"] {
                args.extend([role.to_owned(), image.clone()]);
            }
            args
        };
        // Roles that listen elsewhere than their probes ask: readiness waits, tasks running.
        let mut stuck = common(config("stuck.toml", false));
        stuck.extend(["--service-port", "81", "--readiness-timeout", "120"].map(String::from));
        let restart = common(config("spread.toml", true));
        let env = [("DOCKER_HOST".to_owned(), c.manager_host())];
        let left = || {
            left_on_nodes(&c, &instance)
                .into_iter()
                .flat_map(|(n, objects)| objects.into_iter().map(move |o| format!("node {n}: {o}")))
                .collect::<Vec<_>>()
        };
        let midway = |_: &[String]| {
            node_of(&c, &instance, "lore") == Some(1)
                && node_of(&c, &instance, "cairnet") == Some(0)
                && volumes_on(&c, 1, &instance).is_ok_and(|v| !v.is_empty())
        };
        crash::kill_9_mid_provision(crash::Crash {
            stuck: &stuck,
            restart: &restart,
            env: &env,
            left: &left,
            settle: Duration::from_secs(60),
            midway: crash::Midway::Objects(&midway),
        })
        .await;
    });
    c.stop();
}
