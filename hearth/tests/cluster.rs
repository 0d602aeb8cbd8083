//! hearth on a multi-node swarm of private test hosts (testkit's `cluster`): three engines in
//! network namespaces of this run's own, one manager and two workers. Runs as root when
//! HEARTH_E2E=1 (HEARTH_CLUSTER=1: "cannot run here" fails).

mod support;

use hearth_testkit::cluster::{self, Cluster};

fn cluster() -> Cluster {
    cluster::sweep(&support::test_run());
    Cluster::start(3, &support::test_image()).expect("a 3-node cluster starts")
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
    let stem = format!("hkc-{}", support::test_run());
    c.stop();
    let netns = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip");
    let netns = String::from_utf8_lossy(&netns.stdout).into_owned();
    assert!(!netns.contains(&stem), "namespaces left: {netns}");
    assert_eq!(
        cluster::sweep(&support::test_run()),
        0,
        "nothing left to sweep"
    );
}
