//! `hearth-bench`: measures hearth against the engine floor and the docker CLI on the local
//! engine and writes `BENCH.md`. Run it with `make bench`.

mod cli;
mod cluster;
mod cluster_floor;
mod console_api;
mod engine;
mod floor;
mod hatch_rate;
mod hearth;
mod machine;
mod play;
mod podman;
mod pool;
mod ready;
mod relay;
mod report;
mod run;
mod section;
mod spec;
mod stack;
mod stats;
mod swarm;
mod template_floor;
mod template_shape;
mod templates;

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

/// Benchmarks hearth against the engine floor and the docker CLI; writes BENCH.md.
#[derive(Debug, Parser)]
struct Args {
    /// Image of both services (must be on the engine: `make images`).
    #[arg(
        long,
        env = "HEARTH_TEST_IMAGE",
        default_value = "hearth-standin:local"
    )]
    image: String,
    /// The hearth binary to measure.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/hearth"))]
    hearth_bin: PathBuf,
    /// The worker-stub binary of the play.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/worker-stub"))]
    worker_bin: PathBuf,
    /// The console binary of the play.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/console"))]
    console_bin: PathBuf,
    /// A directory on the disk whose HATCH append rate is measured.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../target"))]
    hatch_dir: PathBuf,
    /// Events appended per HATCH sample.
    #[arg(long, default_value_t = 1000)]
    hatch_events: usize,
    /// Extra argument for `hearth serve` (repeatable).
    #[arg(long = "hearth-arg", allow_hyphen_values = true)]
    hearth_args: Vec<String>,
    /// Measured runs per figure (medians are taken over these; at least 5 for the report).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Concurrency levels, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    scale: Vec<usize>,
    /// Measure only the Swarm section (hearth on a swarm against the Swarm floor) and
    /// replace that section of the report, keeping the rest.
    #[arg(long)]
    only_swarm: bool,
    /// Where the report goes.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../BENCH.md"))]
    out: PathBuf,
    /// A rootful Podman service (`unix://…/podman.sock`): the solo workspace is measured on
    /// it too, beside Docker, in a section of its own.
    #[arg(long, env = "HEARTH_PODMAN_HOST")]
    podman_host: Option<String>,
    /// Run one section only and rewrite only it in the report: `podman` (needs
    /// --podman-host), `templates` (a 3-role template and the default workspace, each
    /// through hearth against its floor), or `cluster` (the workspace across a 3-node swarm
    /// of private test hosts; needs root).
    #[arg(long, value_parser = ["podman", "templates", "cluster"])]
    section: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    hearth_cli_kit::log::init(
        hearth_cli_kit::log::filter(None, "hearth_bench=info"),
        hearth_cli_kit::log::LogFormat::Text,
    );
    let args = Args::parse();
    let run_id = machine::run_id();
    let scope = engine::Scope {
        slug_prefix: spec::slug_prefix(&run_id),
        run_id,
    };
    let plan = plan(&args);
    match args.section.as_deref() {
        Some("podman") => return podman_section(&args, &plan, &scope).await,
        Some("templates") => return templates_section(&args, &plan, &scope).await,
        Some("cluster") => return cluster_section(&args, &plan, &scope).await,
        _ => {}
    }
    let work = async {
        let report = match args.only_swarm {
            true => None,
            false => Some(run::run(&plan, &scope).await?),
        };
        let docker = engine::connect().await?;
        let launch = run::launch(&plan, &scope);
        let swarm = swarm::measure(&docker, &launch, &scope, &plan.image, plan.runs).await?;
        let templates = match args.only_swarm {
            true => None,
            false => Some(templates::measure(&plan, &scope).await?),
        };
        let cluster = match args.only_swarm {
            true => None,
            false => Some(cluster::measure(&launch, &scope, plan.runs).await?),
        };
        Ok::<_, anyhow::Error>((report, swarm, templates, cluster))
    };
    let outcome = tokio::select! {
        r = work => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    sweep(&scope).await;
    let (report, swarm, templates, cluster) = outcome?;
    let doc = match report {
        Some(report) => report.render(&machine::describe(), &machine::stamp()),
        None => std::fs::read_to_string(&args.out).unwrap_or_default(),
    };
    let mut md = section::splice(&doc, swarm::MARKERS, &swarm::render(swarm.as_ref()));
    if let Some(t) = &templates {
        let rendered = templates::render(t, &plan.command, plan.runs, &machine::stamp());
        md = section::splice(&md, templates::MARKERS, &rendered);
    }
    if let Some(c) = &cluster {
        md = section::splice(&md, cluster::MARKERS, &cluster::render(c));
    }
    if let Some(host) = &args.podman_host {
        tracing::info!(host, "the solo workspace on Docker and on Podman");
        let rows = podman::measure(&plan, &scope, host).await?;
        let rendered = podman::render(&rows, &plan, &machine::stamp());
        md = section::splice(&md, podman::MARKERS, &rendered);
    }
    std::fs::write(&args.out, &md).with_context(|| format!("write {}", args.out.display()))?;
    println!("{md}");
    eprintln!("wrote {}", args.out.display());
    Ok(())
}

/// What the command line asks to measure.
fn plan(args: &Args) -> run::Plan {
    run::Plan {
        image: args.image.clone(),
        hearth_bin: args.hearth_bin.clone(),
        hearth_args: args.hearth_args.clone(),
        runs: args.runs.max(1),
        scale: args.scale.clone(),
        command: machine::command_line(),
        play_bins: stack::PlayBins {
            worker: args.worker_bin.clone(),
            console: args.console_bin.clone(),
        },
        hatch: hatch_rate::HatchPlan {
            dir: args.hatch_dir.clone(),
            events: args.hatch_events.max(1),
            runs: args.runs.max(1),
        },
    }
}

/// `--section podman`: measures the Podman section alone and rewrites only it.
async fn podman_section(
    args: &Args,
    plan: &run::Plan,
    scope: &engine::Scope,
) -> anyhow::Result<()> {
    let host = args
        .podman_host
        .as_deref()
        .context("--section podman needs --podman-host (or HEARTH_PODMAN_HOST)")?;
    let rows = tokio::select! {
        r = podman::measure(plan, scope, host) => r?,
        _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted"),
    };
    let section = podman::render(&rows, plan, &machine::stamp());
    let doc = std::fs::read_to_string(&args.out).unwrap_or_default();
    std::fs::write(&args.out, section::splice(&doc, podman::MARKERS, &section))
        .with_context(|| format!("write {}", args.out.display()))?;
    println!("{section}");
    eprintln!("wrote the Podman section of {}", args.out.display());
    Ok(())
}

/// `--section templates`: measures the templates section alone and rewrites only it.
async fn templates_section(
    args: &Args,
    plan: &run::Plan,
    scope: &engine::Scope,
) -> anyhow::Result<()> {
    let figures = tokio::select! {
        r = templates::measure(plan, scope) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    sweep(scope).await;
    let rendered = templates::render(&figures?, &plan.command, plan.runs, &machine::stamp());
    let doc = std::fs::read_to_string(&args.out).unwrap_or_default();
    std::fs::write(
        &args.out,
        section::splice(&doc, templates::MARKERS, &rendered),
    )
    .with_context(|| format!("write {}", args.out.display()))?;
    println!("{rendered}");
    eprintln!("wrote the templates section of {}", args.out.display());
    Ok(())
}

/// `--section cluster`: measures the cluster section alone and rewrites only it.
async fn cluster_section(
    args: &Args,
    plan: &run::Plan,
    scope: &engine::Scope,
) -> anyhow::Result<()> {
    let launch = run::launch(plan, scope);
    let outcome = tokio::select! {
        r = cluster::measure(&launch, scope, plan.runs) => r?,
        _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted"),
    };
    let rendered = cluster::render(&outcome);
    let doc = std::fs::read_to_string(&args.out).unwrap_or_default();
    std::fs::write(
        &args.out,
        section::splice(&doc, cluster::MARKERS, &rendered),
    )
    .with_context(|| format!("write {}", args.out.display()))?;
    println!("{rendered}");
    eprintln!("wrote the cluster section of {}", args.out.display());
    Ok(())
}

/// Sweeps the run's objects whatever happened (the daemon was killed on drop already).
async fn sweep(scope: &engine::Scope) {
    let swept = match engine::connect().await {
        Ok(docker) => scope.sweep(&docker).await,
        Err(err) => Err(err),
    };
    match &swept {
        Ok(found) if found.total() > 0 => {
            tracing::warn!(?found, "swept objects the run left behind")
        }
        Ok(_) => {}
        Err(err) => tracing::error!(error = %format!("{err:#}"), "sweep failed"),
    }
}
