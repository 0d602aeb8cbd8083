//! The multi-node swarm the cluster suites run on: a 3-node cluster of this run's own, hearth
//! on its manager (this thread inside the manager's network namespace), `lore` placed on a
//! worker, and what is left of an instance on each node.

use hearth::dispatcher::Deadlines;
use hearth::driver::engine::EngineConfig;
use hearth::template::{Template, Templates};
use hearth_protocol::hearth::Tier;
use hearth_protocol::labels;
use hearth_testkit::cluster::Cluster;
use hearth_testkit::objects;

use super::{Backend, Kind};

/// A 3-node cluster (one manager, two workers); [`Cluster::start`] sweeps this run's crashed
/// leftovers first, one cluster at a time.
pub fn cluster() -> Cluster {
    Cluster::start(3, &super::test_image()).expect("a 3-node cluster starts")
}

/// Runs `f` on this thread inside the manager's network namespace at `netns`
/// ([`hearth_testkit::cluster::run_in_netns`]).
pub fn on_manager<F: std::future::Future<Output = ()>>(netns: std::path::PathBuf, f: F) {
    hearth_testkit::cluster::run_in_netns(&netns, f);
}

/// A config for hearth on the cluster's manager, `lore` placed by `placement`.
pub fn config_on(c: &Cluster, cairnet: &[&str], lore: &[&str]) -> EngineConfig {
    let mut config = super::docker_config();
    config.host = Some(c.manager_host());
    let mut t = Template::default_for(&config.images, config.service_port);
    for r in &mut t.roles {
        let p = if r.name == "lore" { lore } else { cairnet };
        r.placement = p.iter().map(|s| (*s).to_owned()).collect();
    }
    config.templates = Templates {
        by_tier: [(Tier::Solo, t.clone()), (Tier::Team, t)].into(),
    };
    config
}

/// A Swarm backend on the cluster's manager with `cairnet` placed on the manager and `lore`
/// on node `worker` (by a node label the worker is given here).
pub fn spread(c: &Cluster, worker: usize) -> Backend {
    let zone = format!("w{worker}");
    c.label(worker, "zone", &zone).expect("label");
    let lore = format!("node.labels.zone=={zone}");
    let config = config_on(c, &["node.role==manager"], &[&lore]);
    Backend::with(
        Kind::Swarm,
        Default::default(),
        config,
        Deadlines::default(),
    )
}

/// The node (index) the running task of `role` of `instance` is on, asked of each engine.
pub fn node_of(c: &Cluster, instance: &str, role: &str) -> Option<usize> {
    (0..c.nodes.len()).find(|&n| {
        c.nodes[n]
            .docker(&[
                "ps",
                "-q",
                "--filter",
                &format!("label={}={instance}", labels::INSTANCE),
                "--filter",
                &format!("label={}={role}", labels::ROLE),
            ])
            .is_ok_and(|out| !out.is_empty())
    })
}

/// The volumes of `instance` on node `n`'s engine.
pub fn volumes_on(c: &Cluster, n: usize, instance: &str) -> anyhow::Result<String> {
    let filter = format!("label={}={instance}", labels::INSTANCE);
    c.nodes[n].docker(&["volume", "ls", "-q", "--filter", &filter])
}

/// What of `instance` is left on each node (services only on the manager).
pub fn left_on_nodes(c: &Cluster, instance: &str) -> Vec<(usize, Vec<String>)> {
    (0..c.nodes.len())
        .map(|n| {
            (
                n,
                objects::instance_objects(Some(&c.nodes[n].engine.host()), instance),
            )
        })
        .filter(|(_, left)| !left.is_empty())
        .collect()
}
