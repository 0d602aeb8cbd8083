//! The benchmark run: the three paths side by side (alternating, warm-up first), the
//! concurrency ladder for hearth and the floor, and hearth's own start-up and memory.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use bollard::Docker;
use futures::future::join_all;
use tokio::time::Instant;

use crate::cli::Cli;
use crate::engine::{self, EngineInfo, Scope};
use crate::floor::Floor;
use crate::hatch_rate::{self, HatchPlan};
use crate::hearth::{Daemon, Launch};
use crate::ready::Prober;
use crate::report::{DaemonFigures, PathTimes, Report, ScaleRow, Solo};
use crate::spec::{self, Names};
use crate::stack::PlayBins;

/// What a run measures and how.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// The image of both services.
    pub image: String,
    /// The `hearth` binary.
    pub hearth_bin: PathBuf,
    /// Extra arguments for `hearth serve`.
    pub hearth_args: Vec<String>,
    /// Measured repetitions per figure (medians are taken over these).
    pub runs: usize,
    /// Concurrency levels of the ladder.
    pub scale: Vec<usize>,
    /// The command line that started the run, for the report.
    pub command: String,
    /// The worker and console binaries of the play.
    pub play_bins: PlayBins,
    /// The HATCH append measurement.
    pub hatch: HatchPlan,
}

/// The three ways of building a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    Hearth,
    Floor,
    Cli,
}

/// Everything a run holds while it measures.
pub(crate) struct Bench<'a> {
    pub(crate) plan: &'a Plan,
    pub(crate) scope: &'a Scope,
    pub(crate) docker: Docker,
    pub(crate) floor: Floor,
    cli: Cli,
    pub(crate) launch: Launch,
    /// Workspaces created so far; each gets a fresh slug.
    counter: usize,
}

/// How the bench starts hearth: the plan's binary and image, the run's labels (hearth stamps
/// them on everything it creates, so `make clean-docker` and the run's sweep find its objects
/// even if the daemon dies mid-run), then the plan's extra arguments.
pub(crate) fn launch(plan: &Plan, scope: &Scope) -> Launch {
    Launch {
        bin: plan.hearth_bin.clone(),
        image: plan.image.clone(),
        driver: "local-docker",
        extra_args: [
            "--label".to_owned(),
            format!("{}={}", spec::TEST_LABEL, spec::test_run()),
            "--label".to_owned(),
            format!("{}={}", spec::RUN_LABEL, scope.run_id),
        ]
        .into_iter()
        .chain(plan.hearth_args.iter().cloned())
        .collect(),
        docker_host: None,
        start_deadline: Duration::from_secs(10),
        rpc_deadline: Duration::from_secs(180),
    }
}

/// Runs every measurement and returns the report; the caller sweeps the scope afterwards.
///
/// # Errors
/// When the engine does not answer or the floor itself fails (a broken floor makes every
/// ratio meaningless); hearth failures are recorded in the report instead.
pub(crate) async fn run(plan: &Plan, scope: &Scope) -> anyhow::Result<Report> {
    let (mut bench, engine) = Bench::new(plan, scope).await?;
    let mut report = Report::new(plan, engine);

    tracing::info!("hearth start-up and idle memory");
    let hearth_ok = match bench.daemon_figures().await {
        Ok(figures) => {
            report.daemon = Some(figures);
            true
        }
        Err(err) => {
            tracing::warn!(error = %format!("{err:#}"), "hearth is not measured");
            report.hearth_error = Some(format!("{err:#}"));
            false
        }
    };

    tracing::info!(runs = plan.runs, "solo workspace: hearth, floor, CLI");
    report.solo = bench.solo(hearth_ok).await?;

    for &n in &plan.scale {
        tracing::info!(n, "concurrent workspaces");
        report.scale.extend(bench.scale(n, hearth_ok).await?);
    }

    tracing::info!("HATCH appends with an fsync per event");
    match hatch_rate::measure(&plan.hatch).await {
        Ok(figures) => report.extra.hatch = Some(figures),
        Err(err) => report.extra.errors.push(("HATCH", format!("{err:#}"))),
    }
    if hearth_ok {
        bench.stack_figures(&mut report).await?;
    }
    Ok(report)
}

impl<'a> Bench<'a> {
    /// The engine (which must hold the plan's image), the floor, the CLI and hearth's launch.
    async fn new(plan: &'a Plan, scope: &'a Scope) -> anyhow::Result<(Bench<'a>, EngineInfo)> {
        let docker = engine::connect().await?;
        let engine = engine::info(&docker).await?;
        docker.inspect_image(&plan.image).await.with_context(|| {
            format!(
                "image {} is not on the engine (run make images)",
                plan.image
            )
        })?;
        let ready_deadline = Duration::from_secs(30);
        let prober = Prober::new();
        let floor = Floor {
            docker: docker.clone(),
            prober: prober.clone(),
            image: plan.image.clone(),
            labels: spec::labels(&scope.run_id, "floor"),
            ready_deadline,
            next_subnet: Default::default(),
            ulimits: None,
        };
        let cli = Cli {
            prober,
            image: plan.image.clone(),
            labels: spec::labels(&scope.run_id, "cli"),
            ready_deadline,
        };
        let bench = Bench {
            plan,
            scope,
            docker,
            floor,
            cli,
            launch: launch(plan, scope),
            counter: 0,
        };
        Ok((bench, engine))
    }

    /// The figures of the whole stack — the play, the warm pool, the relay — each recorded
    /// if it could be measured, or named among the report's errors (its leftovers swept).
    async fn stack_figures(&mut self, report: &mut Report) -> anyhow::Result<()> {
        tracing::info!(runs = self.plan.runs, "the whole play against the floor");
        let play = self.play().await;
        report.extra.play = self.measured("The play", play, report).await?;
        tracing::info!("the warm pool: claims, the play with a pool, memory, objects");
        let pool = self.pool().await;
        report.extra.pool = self.measured("The warm pool", pool, report).await?;
        tracing::info!("the console's latency per relayed frame");
        let relay = self.relay().await;
        report.extra.relay = self.measured("The relay", relay, report).await?;
        Ok(())
    }

    /// `result`'s figures, or `None` with the error named in the report and the leftovers
    /// swept.
    async fn measured<T>(
        &self,
        what: &'static str,
        result: anyhow::Result<T>,
        report: &mut Report,
    ) -> anyhow::Result<Option<T>> {
        match result {
            Ok(figures) => Ok(Some(figures)),
            Err(err) => {
                tracing::warn!(what, error = %format!("{err:#}"), "not measured");
                report.extra.errors.push((what, format!("{err:#}")));
                self.scope.sweep(&self.docker).await?;
                Ok(None)
            }
        }
    }
}

impl Bench<'_> {
    pub(crate) fn next_slug(&mut self) -> String {
        self.counter += 1;
        spec::slug(&self.scope.run_id, self.counter)
    }

    /// What follows one path's round, whatever the path: a failure is logged and its
    /// leftovers swept; a failing floor stops the benchmark (a ratio to a broken floor means
    /// nothing). Returns whether the round counts (round 0 is the warm-up).
    pub(crate) async fn after_round<T>(
        &self,
        way: impl std::fmt::Debug,
        is_floor: bool,
        round: usize,
        result: &anyhow::Result<T>,
    ) -> anyhow::Result<bool> {
        if let Err(err) = result {
            tracing::warn!(?way, round, error = %format!("{err:#}"), "round failed");
            self.scope.sweep(&self.docker).await?;
            if is_floor {
                anyhow::bail!("the floor failed: {err:#}");
            }
        }
        Ok(round > 0)
    }

    /// Start → accepting and idle RSS over `runs` fresh daemons.
    async fn daemon_figures(&self) -> anyhow::Result<DaemonFigures> {
        let mut figures = DaemonFigures::default();
        for _ in 0..self.plan.runs {
            let (daemon, took) = self.launch.start().await?;
            // Let start-up work (reconcile, allocator warm-up) settle before reading "idle".
            tokio::time::sleep(Duration::from_millis(300)).await;
            let mem = daemon.memory()?;
            figures.start_to_accepting.push(took);
            figures.idle_rss_kib.push(mem.rss_kib);
            daemon.stop(Duration::from_secs(10)).await?;
        }
        Ok(figures)
    }

    /// One workspace through `way`: provision → ready, then teardown; both timed.
    async fn one(
        &mut self,
        way: Way,
        daemon: Option<&Daemon>,
    ) -> anyhow::Result<(Duration, Duration)> {
        let slug = self.next_slug();
        let t0 = Instant::now();
        match way {
            Way::Hearth => daemon.context("no daemon")?.provision(&slug).await?,
            Way::Floor => self.floor.provision(&Names::new("hbf", &slug)).await?,
            Way::Cli => self.cli.provision(&Names::new("hbc", &slug)).await?,
        }
        let provision = t0.elapsed();
        let t1 = Instant::now();
        match way {
            Way::Hearth => daemon.context("no daemon")?.teardown(&slug).await?,
            Way::Floor => self.floor.teardown(&Names::new("hbf", &slug)).await?,
            Way::Cli => self.cli.teardown(&Names::new("hbc", &slug)).await?,
        }
        Ok((provision, t1.elapsed()))
    }

    /// The three paths side by side: one warm-up round, then `runs` rounds, each round in a
    /// rotated order so no path always goes first.
    async fn solo(&mut self, with_hearth: bool) -> anyhow::Result<Solo> {
        let daemon = if with_hearth {
            Some(self.launch.start().await?.0)
        } else {
            None
        };
        let mut ways = vec![Way::Floor, Way::Cli];
        if with_hearth {
            ways.insert(0, Way::Hearth);
        }
        let mut solo = Solo {
            hearth: with_hearth.then(PathTimes::default),
            ..Solo::default()
        };
        for round in 0..=self.plan.runs {
            let mut order = ways.clone();
            order.rotate_left(round % ways.len());
            for way in order {
                let result = self.one(way, daemon.as_ref()).await;
                if !self
                    .after_round(way, way == Way::Floor, round, &result)
                    .await?
                {
                    continue;
                }
                let times = match way {
                    Way::Hearth => solo.hearth.as_mut().context("hearth times")?,
                    Way::Floor => &mut solo.floor,
                    Way::Cli => &mut solo.cli,
                };
                times.record(result);
            }
        }
        if let Some(daemon) = daemon {
            daemon.stop(Duration::from_secs(10)).await?;
        }
        Ok(solo)
    }

    /// `n` workspaces at once through hearth and through the floor, `runs` times each,
    /// alternating; a fresh daemon per level so its peak RSS belongs to this level.
    async fn scale(&mut self, n: usize, with_hearth: bool) -> anyhow::Result<Vec<ScaleRow>> {
        let daemon = if with_hearth {
            Some(self.launch.start().await?.0)
        } else {
            None
        };
        let mut hearth_row = ScaleRow::new(n, "hearth");
        let mut floor_row = ScaleRow::new(n, "floor");
        let mut ways = vec![Way::Floor];
        if with_hearth {
            ways.insert(0, Way::Hearth);
        }
        for rep in 0..self.plan.runs {
            let mut order = ways.clone();
            order.rotate_left(rep % ways.len());
            for way in order {
                let slugs: Vec<String> = (0..n).map(|_| self.next_slug()).collect();
                let row = if way == Way::Hearth {
                    &mut hearth_row
                } else {
                    &mut floor_row
                };
                let d = daemon.as_ref();
                let (floor, scope, docker) = (&self.floor, self.scope, &self.docker);

                let t0 = Instant::now();
                let provisioned = join_all(slugs.iter().map(|slug| async move {
                    match way {
                        Way::Hearth => d.context("no daemon")?.provision(slug).await,
                        _ => floor.provision(&Names::new("hbf", slug)).await,
                    }
                }))
                .await;
                row.provision.push(t0.elapsed());
                let t1 = Instant::now();
                let torn = join_all(slugs.iter().map(|slug| async move {
                    match way {
                        Way::Hearth => d.context("no daemon")?.teardown(slug).await,
                        _ => floor.teardown(&Names::new("hbf", slug)).await,
                    }
                }))
                .await;
                row.teardown.push(t1.elapsed());

                for err in provisioned
                    .iter()
                    .chain(&torn)
                    .filter_map(|r| r.as_ref().err())
                {
                    tracing::warn!(n, ?way, error = %format!("{err:#}"), "workspace failed");
                    row.failures += 1;
                    row.first_error.get_or_insert_with(|| format!("{err:#}"));
                }
                let left = scope.leftovers(docker).await?;
                row.leaks += left.total();
                if left.total() > 0 {
                    scope.sweep(docker).await?;
                }
            }
        }
        if let Some(daemon) = daemon {
            hearth_row.peak_rss_kib = Some(daemon.memory()?.peak_kib);
            daemon.stop(Duration::from_secs(10)).await?;
        }
        let mut rows = Vec::new();
        if with_hearth {
            rows.push(hearth_row);
        }
        rows.push(floor_row);
        Ok(rows)
    }
}
