//! `make clean-docker` sweeps its own test run's objects and no other's: two runs on one
//! engine (two CI jobs on one runner) never reap each other.

use std::process::Command;

use anyhow::{ensure, Context};
use hearth_e2e::engine;
use hearth_e2e::junit::{case, Outcome};

fn docker(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("docker")
        .args(args)
        .output()
        .context("docker CLI")?;
    ensure!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn exists(kind: &str, name: &str) -> bool {
    Command::new("docker")
        .args([kind, "inspect", name])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test]
async fn clean_docker_sweeps_only_its_own_run() {
    case("sweep", "clean_docker_sweeps_only_its_own_run", async {
        if engine::engine_for("clean_docker_sweeps_only_its_own_run")
            .await?
            .is_none()
        {
            return Ok(Outcome::Skipped("HEARTH_E2E is not 1".into()));
        }
        let me = engine::unique_instance("sweep");
        let (mine, theirs) = (format!("{me}-mine"), format!("{me}-theirs"));
        // Both carry this test's instance label, so the guard removes whatever is left.
        let _guard = engine::SweepGuard::new(&me);
        for (name, run) in [(&mine, &mine), (&theirs, &theirs)] {
            docker(&[
                "volume",
                "create",
                "--label",
                &format!("dev.hearth.test={run}"),
                "--label",
                &format!("{}={me}", engine::INSTANCE_LABEL),
                name,
            ])?;
        }
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let out = Command::new("make")
            .args(["-s", "--no-print-directory", "-C", root, "clean-docker"])
            .env("HEARTH_TEST_RUN", &mine)
            .env_remove("MAKEFLAGS")
            .env_remove("MFLAGS")
            .output()
            .context("make")?;
        ensure!(
            out.status.success(),
            "make clean-docker: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        ensure!(!exists("volume", &mine), "its own run's volume was swept");
        ensure!(
            exists("volume", &theirs),
            "another run's volume was left alone"
        );
        Ok(Outcome::Passed)
    })
    .await;
}
