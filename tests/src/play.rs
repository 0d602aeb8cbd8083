//! The play itself — provision → a run of N prompts → teardown → `tier_torn_down` — driven
//! through the console's API, shared by the tests and the demo. A step that fails is
//! reported with `console hatch verify`'s diagnosis of the log so far.

use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::Value;

use crate::stack::{mock_prompts, Stack};

/// How long a run may take before the play gives up on it.
const RUN_DEADLINE: Duration = Duration::from_secs(300);

/// What the play reports as it goes (the demo prints these).
#[derive(Debug)]
pub enum Step<'a> {
    Provisioning {
        slug: &'a str,
    },
    Provisioned {
        elapsed: Duration,
        endpoint: String,
    },
    Submitting {
        prompts: usize,
    },
    RunAccepted {
        run_id: String,
    },
    RunEnded {
        elapsed: Duration,
        record: &'a Value,
    },
    TearingDown,
    TornDown {
        elapsed: Duration,
        status: String,
    },
}

/// What a whole play did.
#[derive(Debug, Clone)]
pub struct PlayReport {
    pub run_id: String,
    /// The console's record of the run when it ended.
    pub run: Value,
    /// `hearth status` after the teardown.
    pub final_status: String,
}

/// Runs the four acts on `stack` for workspace `slug` with `prompts` mock prompts.
///
/// # Errors
/// The first act that did not happen as it should, with verify's diagnosis appended.
pub async fn run_play(
    stack: &Stack,
    slug: &str,
    prompts: usize,
    progress: &mut dyn FnMut(Step<'_>),
) -> anyhow::Result<PlayReport> {
    match acts(stack, slug, prompts, progress).await {
        Ok(r) => Ok(r),
        Err(e) => Err(with_diagnosis(stack, prompts, e)),
    }
}

/// Appends `console hatch verify`'s reading of the log to `e`.
pub fn with_diagnosis(stack: &Stack, prompts: usize, e: anyhow::Error) -> anyhow::Error {
    match stack.verify(prompts, false) {
        Ok(v) => anyhow::anyhow!(
            "{e:#}\n--- console hatch verify (exit {}) ---\n{}{}",
            v.code,
            v.stdout,
            v.stderr
        ),
        Err(ve) => anyhow::anyhow!("{e:#}\n(console hatch verify could not run: {ve:#})"),
    }
}

async fn acts(
    stack: &Stack,
    slug: &str,
    prompts: usize,
    progress: &mut dyn FnMut(Step<'_>),
) -> anyhow::Result<PlayReport> {
    progress(Step::Provisioning { slug });
    let t = Instant::now();
    let a = stack.api.provision(slug, "solo").await?;
    if !a.ok() {
        bail!(
            "provision {slug}: the console answered {} {}",
            a.status,
            a.body
        );
    }
    let endpoint = a.body["endpoint"].as_str().unwrap_or_default().to_owned();
    progress(Step::Provisioned {
        elapsed: t.elapsed(),
        endpoint,
    });

    progress(Step::Submitting { prompts });
    let t = Instant::now();
    let a = stack.api.submit_run(slug, &mock_prompts(prompts)).await?;
    if !a.ok() {
        bail!(
            "submit a run of {prompts} prompts: the console answered {} {}",
            a.status,
            a.body
        );
    }
    let Some(run_id) = a.body["run_id"].as_str().map(str::to_owned) else {
        bail!(
            "the console accepted the run but named no run_id: {}",
            a.body
        );
    };
    progress(Step::RunAccepted {
        run_id: run_id.clone(),
    });
    let run = stack.api.wait_run(&run_id, RUN_DEADLINE).await?;
    progress(Step::RunEnded {
        elapsed: t.elapsed(),
        record: &run,
    });

    progress(Step::TearingDown);
    let t = Instant::now();
    let a = stack.api.decommission(slug).await?;
    if !a.ok() {
        bail!(
            "decommission {slug}: the console answered {} {}",
            a.status,
            a.body
        );
    }
    let final_status = stack.hearth_status(slug)?;
    progress(Step::TornDown {
        elapsed: t.elapsed(),
        status: final_status.clone(),
    });
    if final_status != "tier_torn_down" {
        bail!("after the teardown `hearth status {slug}` answers {final_status:?}, expected tier_torn_down");
    }
    Ok(PlayReport {
        run_id,
        run,
        final_status,
    })
}
