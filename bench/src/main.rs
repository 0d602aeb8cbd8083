//! `hearth-bench`: measures hearth against the engine floor and the docker CLI on the local
//! engine and writes `BENCH.md`. Run it with `make bench`.

mod cli;
mod console_api;
mod engine;
mod floor;
mod hatch_rate;
mod hearth;
mod machine;
mod play;
mod pool;
mod ready;
mod relay;
mod report;
mod run;
mod spec;
mod stack;
mod stats;

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
    /// Where the report goes.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../BENCH.md"))]
    out: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "hearth_bench=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let run_id = machine::run_id();
    let scope = engine::Scope {
        slug_prefix: spec::slug_prefix(&run_id),
        run_id,
    };
    let plan = run::Plan {
        image: args.image,
        hearth_bin: args.hearth_bin,
        hearth_args: args.hearth_args,
        runs: args.runs.max(1),
        scale: args.scale,
        command: machine::command_line(),
        play_bins: stack::PlayBins {
            worker: args.worker_bin,
            console: args.console_bin,
        },
        hatch: hatch_rate::HatchPlan {
            dir: args.hatch_dir,
            events: args.hatch_events.max(1),
            runs: args.runs.max(1),
        },
    };

    let outcome = tokio::select! {
        r = run::run(&plan, &scope) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    // Sweep the run's objects whatever happened (the daemon was killed on drop already).
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
    let report = outcome?;
    let md = report.render(&machine::describe(), &machine::stamp());
    std::fs::write(&args.out, &md).with_context(|| format!("write {}", args.out.display()))?;
    println!("{md}");
    eprintln!("wrote {}", args.out.display());
    Ok(())
}
