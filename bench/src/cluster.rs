//! The cluster section: the default workspace spread over a 3-node swarm of private test
//! hosts (testkit's `cluster`: one manager, two workers, each engine in a network namespace of
//! this run's own), `cairnet` on the manager and `lore` on a worker, provisioned to ready and
//! torn down by hearth (`hearth serve --driver swarm` on the manager's API, its relays on the
//! manager's loopback) against the cluster floor (`cluster_floor`) doing the same service and
//! volume work through the manager's API. Needs root (namespaces, private engines); without
//! it the section says so and is not measured.

use std::time::Duration;

use anyhow::Context;
use hearth_testkit::cluster::{self, Cluster};

use crate::cluster_floor::{ClusterFloor, SpreadRole};
use crate::engine::{self, Scope};
use crate::hearth::Launch;
use crate::ready::Prober;
use crate::section::Markers;
use crate::spec;
use crate::swarm::{self, SwarmFigures};

/// The floor's objects are named under this prefix.
const PREFIX: &str = "hbk";
/// The node label placing `lore` on worker 2 (`zone=b`).
const ZONE: &str = "b";
/// The worker `lore` goes to.
const WORKER: usize = 2;

/// What the section measured, or why it did not.
pub(crate) type Outcome = Result<SwarmFigures, String>;

/// Measures hearth against the cluster floor on a cluster started (and stopped) here. `Err`
/// of the outer result: the cluster or the floor failed; of the inner: not measurable here.
///
/// # Errors
/// When the cluster does not form or the floor fails.
pub(crate) async fn measure(
    launch: &Launch,
    scope: &Scope,
    runs: usize,
) -> anyhow::Result<Outcome> {
    if let Err(why) = cluster::can_run() {
        tracing::warn!(why, "the cluster section is skipped");
        return Ok(Err(why));
    }
    let (launch, scope) = (launch.clone(), scope.clone());
    // Its own thread: it enters the manager's namespace, and dies with it.
    let thread = std::thread::spawn(move || on_a_cluster(&launch, &scope, runs));
    tokio::task::spawn_blocking(move || thread.join())
        .await
        .context("join the cluster thread")?
        .map_err(|_| anyhow::anyhow!("the cluster thread panicked"))?
        .map(Ok)
}

/// Starts the cluster, measures inside the manager's namespace, stops the cluster.
fn on_a_cluster(launch: &Launch, scope: &Scope, runs: usize) -> anyhow::Result<SwarmFigures> {
    let c = Cluster::start(3, &launch.image).context("start a 3-node cluster")?;
    let mut out = Err(anyhow::anyhow!("the measurement did not run"));
    let result = (|| {
        c.label(WORKER, "zone", ZONE)?;
        let dir = tempfile::tempdir()?;
        let config = dir.path().join("hearth.toml");
        std::fs::write(&config, cluster::spread_config(&launch.image, ZONE, true))?;
        let netns = c.manager_netns();
        let launch = Launch {
            driver: "swarm",
            docker_host: Some(c.manager_host()),
            extra_args: [
                launch.extra_args.clone(),
                vec!["--config".into(), config.display().to_string()],
            ]
            .concat(),
            ..launch.clone()
        };
        cluster::run_in_netns(&netns, async {
            out = rounds(&c, &launch, scope, runs).await;
        });
        anyhow::Ok(())
    })();
    c.stop();
    result?;
    out
}

/// The rounds, on this thread inside the manager's namespace.
async fn rounds(
    c: &Cluster,
    launch: &Launch,
    scope: &Scope,
    runs: usize,
) -> anyhow::Result<SwarmFigures> {
    let docker = engine::connect_at(&c.manager_host()).await?;
    let floor = ClusterFloor {
        docker,
        prober: Prober::new(),
        image: launch.image.clone(),
        labels: spec::labels(&scope.run_id, "cluster-floor"),
        manager: c.manager().node_id.clone(),
        // The places and ports of the config hearth is given (`spread_config`).
        roles: vec![
            SpreadRole {
                name: "cairnet",
                port: 80,
                constraint: "node.role==manager".into(),
            },
            SpreadRole {
                name: "lore",
                port: 81,
                constraint: format!("node.labels.zone=={ZONE}"),
            },
        ],
    };
    let (daemon, _) = launch.start().await?;
    let f = swarm::alternate(&daemon, &floor, PREFIX, scope, 9500, runs).await;
    daemon.stop(Duration::from_secs(10)).await?;
    f
}

/// Where the section starts and ends in `BENCH.md`.
pub(crate) const MARKERS: Markers = Markers {
    begin: "<!-- cluster-section: begin -->",
    end: "<!-- cluster-section: end -->",
};

/// The report's cluster section, between its markers.
pub(crate) fn render(outcome: &Outcome) -> String {
    format!("{}\n{}{}\n", MARKERS.begin, body(outcome), MARKERS.end)
}

fn body(outcome: &Outcome) -> String {
    let mut md = String::from(
        "## Cluster (Swarm, 3 nodes): provision → ready and teardown, a workspace across nodes\n\n",
    );
    let f = match outcome {
        Ok(f) => f,
        Err(why) => {
            md.push_str(&format!("Not measured: {why}.\n"));
            return md;
        }
    };
    md.push_str(
        "Three private engines in network namespaces of the bench's own (testkit's cluster: one manager, \
         two workers), `cairnet` placed on the manager and `lore` on a worker by a node label. hearth is \
         `hearth serve --driver swarm` on the manager's API, its relays on the manager's loopback. The \
         **cluster floor** does the same service and volume work through the manager's API: the overlay, \
         the door pinned to the manager, both services in parallel, each task waited for, pinned to its \
         node and probed through the door; teardown removes the services, the manager's volume, the \
         worker's volume by a job pinned there, then the network. Medians, same run, alternating.\n\n",
    );
    md.push_str(&swarm::table(
        f,
        "hearth (RPC, 3-node swarm)",
        "cluster floor (API)",
    ));
    md.push_str("\nTarget: hearth ≤ 1.2× the cluster floor.\n");
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::section::splice;

    #[test]
    fn the_cluster_section_is_replaced_in_place_beside_the_swarm_one() {
        let swarm = crate::swarm::render(None);
        let old = render(&Err("no root".into()));
        assert!(old.contains("Not measured: no root."), "{old}");
        let doc = format!("# t\n\n{swarm}\n{old}\n## B\nb\n");
        let new = render(&Err("still no root".into()));
        let s = splice(&doc, MARKERS, &new);
        assert_eq!(s, format!("# t\n\n{swarm}\n{new}\n## B\nb\n"));
    }
}
