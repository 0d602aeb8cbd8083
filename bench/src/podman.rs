//! The solo workspace on Podman beside Docker, in one run: hearth and the floor on each
//! engine, rounds alternating, so the Podman column reads against a floor measured on the
//! same engine at the same time. Runnable alone (`--section podman`): it then rewrites only
//! its own section of `BENCH.md`, between two markers, and leaves the rest as it was.
//!
//! On Podman the floor sets what hearth sets there (explicit `nofile`/`nproc` ulimits, asked
//! of hearth's own engine detection), so both build the same workspace.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Context;
use bollard::Docker;
use tokio::time::Instant;

use crate::engine::{self, Scope};
use crate::floor::Floor;
use crate::hearth::{Daemon, Launch};
use crate::ready::Prober;
use crate::report::PathTimes;
use crate::run::Plan;
use crate::section::Markers;
use crate::spec::{self, Names};
use crate::stats::{median, ms, ratio, times};

/// Where the section starts and ends in `BENCH.md`.
pub(crate) const MARKERS: Markers = Markers {
    begin: "<!-- podman-section: begin -->",
    end: "<!-- podman-section: end -->",
};

/// Slugs of this section start here, clear of the other sections' numbering.
const FIRST_SLUG: usize = 50_000;

/// One engine's figures.
#[derive(Debug, Clone)]
pub(crate) struct EngineSolo {
    /// `Docker 20.10.24` or `Podman 4.3.1`.
    pub engine: String,
    pub hearth: PathTimes,
    pub floor: PathTimes,
}

/// One engine under test: its client, its floor and a hearth pointed at it.
pub(crate) struct Side {
    /// `Docker 20.10.24` or `Podman 4.3.1`.
    pub name: String,
    pub docker: Docker,
    pub floor: Floor,
    pub launch: Launch,
}

/// Measures the solo workspace on Docker (`DOCKER_HOST`) and on Podman at `podman_host`.
///
/// # Errors
/// When an engine does not answer, lacks the image, or its floor fails.
pub(crate) async fn measure(
    plan: &Plan,
    scope: &Scope,
    podman_host: &str,
) -> anyhow::Result<Vec<EngineSolo>> {
    let docker = engine::connect().await?;
    let podman = engine::connect_at(podman_host).await?;
    let mut counter = FIRST_SLUG;
    let mut out = Vec::new();
    for (docker, host) in [(docker, None), (podman, Some(podman_host))] {
        let side = side(plan, scope, docker, host).await?;
        let figures = solo(plan, scope, &side, &mut counter).await;
        // Whatever happened, the run's objects on this engine go.
        scope.sweep(&side.docker).await?;
        out.push(figures?);
    }
    Ok(out)
}

/// The engine `docker` (at `host`, `None`: `DOCKER_HOST`) under test: its floor, and a
/// hearth launch pointed at it, both as the engine asks (ulimits on Podman).
///
/// # Errors
/// When the engine does not answer or lacks the image.
pub(crate) async fn side(
    plan: &Plan,
    scope: &Scope,
    docker: Docker,
    host: Option<&str>,
) -> anyhow::Result<Side> {
    let version = docker.version().await.context("engine version")?;
    let info = docker.info().await.context("engine info")?;
    let flavor = hearth::driver::engine::flavor::Flavor::detect(&version, &info);
    docker
        .inspect_image(&plan.image)
        .await
        .with_context(|| format!("image {} is not on {flavor}", plan.image))?;
    let floor = Floor {
        docker: docker.clone(),
        prober: Prober::new(),
        image: plan.image.clone(),
        labels: spec::labels(&scope.run_id, "floor"),
        ready_deadline: Duration::from_secs(30),
        next_subnet: Default::default(),
        ulimits: flavor.ulimits(),
    };
    let mut extra_args = vec![
        "--label".to_owned(),
        format!("{}={}", spec::TEST_LABEL, spec::test_run()),
        "--label".to_owned(),
        format!("{}={}", spec::RUN_LABEL, scope.run_id),
    ];
    extra_args.extend(plan.hearth_args.iter().cloned());
    let launch = Launch {
        bin: plan.hearth_bin.clone(),
        image: plan.image.clone(),
        driver: "local-docker",
        extra_args,
        docker_host: host.map(str::to_owned),
        start_deadline: Duration::from_secs(10),
        rpc_deadline: Duration::from_secs(180),
    };
    let kind = match flavor.kind {
        hearth::driver::engine::flavor::EngineKind::Docker => "Docker",
        hearth::driver::engine::flavor::EngineKind::Podman => "Podman",
    };
    Ok(Side {
        name: format!("{kind} {}", flavor.version),
        docker,
        floor,
        launch,
    })
}

/// One warm-up round, then `runs` rounds; hearth and the floor take turns going first.
async fn solo(
    plan: &Plan,
    scope: &Scope,
    side: &Side,
    counter: &mut usize,
) -> anyhow::Result<EngineSolo> {
    let (daemon, _) = side.launch.start().await?;
    let mut figures = EngineSolo {
        engine: side.name.clone(),
        hearth: PathTimes::default(),
        floor: PathTimes::default(),
    };
    for round in 0..=plan.runs {
        let mut order = [true, false];
        order.rotate_left(round % 2);
        for through_hearth in order {
            *counter += 1;
            let slug = spec::slug(&scope.run_id, *counter);
            let result = one(side, &daemon, through_hearth, &slug).await;
            if let Err(err) = &result {
                tracing::warn!(engine = %side.name, through_hearth, round, error = %format!("{err:#}"), "round failed");
                scope.sweep(&side.docker).await?;
                if !through_hearth {
                    anyhow::bail!("the floor failed on {}: {err:#}", side.name);
                }
            }
            if round == 0 {
                continue;
            }
            if through_hearth {
                figures.hearth.record(result);
            } else {
                figures.floor.record(result);
            }
        }
    }
    daemon.stop(Duration::from_secs(10)).await?;
    Ok(figures)
}

async fn one(
    side: &Side,
    daemon: &Daemon,
    through_hearth: bool,
    slug: &str,
) -> anyhow::Result<(Duration, Duration)> {
    let names = Names::new("hbf", slug);
    let t0 = Instant::now();
    if through_hearth {
        daemon.provision(slug).await?;
    } else {
        side.floor.provision(&names).await?;
    }
    let provision = t0.elapsed();
    let t1 = Instant::now();
    if through_hearth {
        daemon.teardown(slug).await?;
    } else {
        side.floor.teardown(&names).await?;
    }
    Ok((provision, t1.elapsed()))
}

/// The section, markers included.
pub(crate) fn render(rows: &[EngineSolo], plan: &Plan, stamp: &str) -> String {
    let mut w = String::new();
    let _ = writeln!(w, "{}", MARKERS.begin);
    let _ = writeln!(w, "## One solo workspace on Docker and on Podman\n");
    let _ = writeln!(
        w,
        "The same solo workspace through hearth and through the floor on each engine, in one \
         run ({stamp}; `{}`), medians of {} rounds after a warm-up, hearth and floor taking \
         turns. Podman is rootful (`podman system service`, `.ci/podman.sh`), reached through \
         its Docker-compatible API; on it, hearth and the floor both set explicit \
         `nofile`/`nproc` ulimits.\n",
        plan.command, plan.runs
    );
    let mut head = String::from("| path |");
    let mut rule = String::from("|---|");
    for r in rows {
        let _ = write!(
            head,
            " {} provision | × floor | {} teardown | × floor |",
            r.engine, r.engine
        );
        rule.push_str("---:|---:|---:|---:|");
    }
    let _ = writeln!(w, "{head}\n{rule}");
    for (label, pick) in [
        (
            "hearth (RPC)",
            (|r: &EngineSolo| &r.hearth) as fn(&EngineSolo) -> &PathTimes,
        ),
        ("floor (API, parallel)", |r: &EngineSolo| &r.floor),
    ] {
        let mut line = format!("| {label} |");
        for r in rows {
            let t = pick(r);
            let (p, td) = (median(&t.provision), median(&t.teardown));
            let (fp, ft) = (median(&r.floor.provision), median(&r.floor.teardown));
            let _ = write!(
                line,
                " {} | {} | {} | {} |",
                ms(p),
                times(ratio(p, fp)),
                ms(td),
                times(ratio(td, ft))
            );
        }
        let _ = writeln!(w, "{line}");
    }
    for r in rows {
        for (path, t) in [("hearth", &r.hearth), ("floor", &r.floor)] {
            if t.failures > 0 {
                let _ = writeln!(
                    w,
                    "\n{} {path}: {} failed round(s), first: `{}`",
                    r.engine,
                    t.failures,
                    t.first_error.as_deref().unwrap_or_default()
                );
            }
        }
    }
    let _ = writeln!(w, "\n{}", MARKERS.end);
    w
}
