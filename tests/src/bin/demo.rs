//! `make demo`: the play once against the local Docker engine with the offline stand-in,
//! narrated step by step — provision → a run of four prompts → teardown — then the HATCH
//! chain with timings, `console hatch verify`'s verdict, and a check that nothing is left
//! on the engine. Exits non-zero with the diagnosis when an act fails.
//!
//! To see a diagnosis, break something on purpose: `--break-keys` gives the worker a key
//! file that differs from the console's (bearer drift), `--bad-frames` makes the worker send
//! frames that break the KAHN schema.

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{ensure, Context};
use hearth_e2e::engine::{self, find_instance};
use hearth_e2e::hatch::{read_events, render};
use hearth_e2e::play::{run_play, Step};
use hearth_e2e::stack::{Stack, StackConfig};

const PROMPTS: usize = 4;
const SLUG: &str = "demo";

#[tokio::main]
async fn main() -> ExitCode {
    let mut cfg = StackConfig::docker("demo");
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--break-keys" => cfg.worker_keys_differ = true,
            "--bad-frames" => cfg.worker_faults.push("bad-frame".to_owned()),
            other => {
                eprintln!("demo: unknown argument {other:?} (known: --break-keys, --bad-frames)");
                return ExitCode::from(2);
            }
        }
    }
    match demo(&cfg).await {
        Ok(()) => {
            println!("\ndemo: the whole play passed and nothing is left behind.");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("\ndemo FAILED: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{line}");
    let _ = out.flush();
}

async fn demo(cfg: &StackConfig) -> anyhow::Result<()> {
    let started = Instant::now();
    println!(
        "hearth demo — provision → {PROMPTS}-prompt run → teardown, against the local Docker engine"
    );
    say("[1/6] checking the Docker engine and the workspace image … ");
    let docker = engine::require_docker().await?;
    println!("ok ({})", engine::test_image());

    say("[2/6] starting hearth, worker-stub and console (temp socket, port 0, empty environment) … ");
    let stack = Stack::start(cfg).await?;
    println!("ok");
    println!("      hearth  unix://{}", stack.hearth_socket.display());
    println!("      worker  {}", stack.worker_url);
    println!("      console {}", stack.console_url);

    let mut progress = |step: Step<'_>| match step {
        Step::Provisioning { slug } => say(&format!(
            "[3/6] provisioning workspace {slug:?} (solo tier: roles cairnet and lore) … "
        )),
        Step::Provisioned { elapsed, endpoint } => {
            println!("ready in {:.2}s — {endpoint}", elapsed.as_secs_f64());
        }
        Step::Submitting { prompts } => say(&format!("[4/6] running {prompts} prompts … ")),
        Step::RunAccepted { run_id } => say(&format!("run {run_id} … ")),
        Step::RunEnded { elapsed, record } => println!(
            "{} in {:.2}s ({} nodes)",
            record["status"].as_str().unwrap_or("?"),
            elapsed.as_secs_f64(),
            record["nodes"].as_object().map_or(0, serde_json::Map::len)
        ),
        Step::TearingDown => say("[5/6] tearing the workspace down … "),
        Step::TornDown { elapsed, status } => println!(
            "done in {:.2}s; hearth status: {status}",
            elapsed.as_secs_f64()
        ),
    };
    let played = run_play(&stack, SLUG, PROMPTS, &mut progress).await;

    let kept = hearth_e2e::bins::target_dir()?.join("demo");
    std::fs::create_dir_all(&kept)?;
    let kept = kept.join("hatch.jsonl");
    if stack.hatch.exists() {
        std::fs::copy(&stack.hatch, &kept).context("cannot keep the HATCH log")?;
    }
    if let Err(e) = played {
        println!();
        say("cleaning up: tearing the workspace down … ");
        match stack.api.decommission(SLUG).await {
            Ok(a) if a.ok() => println!("done"),
            Ok(a) => println!(
                "hearth answered {}; the label sweep removes the rest",
                a.status
            ),
            Err(_) => println!("the console did not answer; the label sweep removes the rest"),
        }
        return Err(e);
    }

    let events = read_events(&stack.hatch)?;
    println!(
        "\nHATCH chain ({}, kept at {}):",
        stack.hatch.display(),
        kept.display()
    );
    print!("{}", render(&events));
    let v = stack.verify(PROMPTS, false)?;
    println!(
        "\n$ console hatch verify --chain provision-then-ralph --prompts {PROMPTS} hatch.jsonl"
    );
    print!("{}{}", v.stdout, v.stderr);
    ensure!(v.code == 0, "console hatch verify exited {}", v.code);

    // Checked before the stack's drop guard sweeps: what the teardown itself left.
    let instance = stack.instance.clone();
    say("[6/6] checking the engine for leftovers … ");
    let left = find_instance(&docker, &instance).await?;
    ensure!(
        left.is_empty(),
        "objects of this demo are still on the engine: {left:?}"
    );
    println!("none (label dev.hearth.instance={instance})");
    drop(stack);
    println!("total {:.2}s", started.elapsed().as_secs_f64());
    Ok(())
}
