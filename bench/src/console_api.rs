//! The play's four acts over the console's API as the bench times them, each answer checked
//! for what a user would check (a workspace ready, a run succeeded with every node). The
//! client itself is [`hearth_testkit::console_api`].

use std::time::Duration;

use anyhow::{bail, Context};
use hearth_protocol::hatch::HatchEvent;
use hearth_testkit::console_api::{ConsoleApi, HatchTail};
use serde_json::Value;

/// Bound on one console call (provision includes readiness, the run wait up to 60 s).
const CALL_TIMEOUT: Duration = Duration::from_secs(180);

/// A client for one console.
#[derive(Debug, Clone)]
pub(crate) struct Console {
    api: ConsoleApi,
}

impl Console {
    /// A client for the console at `base` holding its admin `token`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub(crate) fn new(base: &str, token: &str) -> anyhow::Result<Self> {
        Ok(Self {
            api: ConsoleApi::with_timeout(base, token, CALL_TIMEOUT)?,
        })
    }

    /// `POST /api/hearth/workspaces {slug, tier: solo}`; returns once hearth says ready.
    ///
    /// # Errors
    /// A non-2xx answer or a status other than ready.
    pub(crate) async fn provision(&self, slug: &str) -> anyhow::Result<()> {
        let v = self
            .api
            .provision(slug, "solo")
            .await?
            .success("POST /api/hearth/workspaces")?;
        let status = v.get("status").or_else(|| v.get("last_status"));
        match status.and_then(Value::as_str) {
            Some("ready") | None => Ok(()),
            Some(other) => bail!("workspace {slug} answered status {other}"),
        }
    }

    /// `POST /api/ralph/runs {workspace, prompts}`; answers the run id.
    ///
    /// # Errors
    /// A non-2xx answer or no run id.
    pub(crate) async fn submit(&self, slug: &str, prompts: &[String]) -> anyhow::Result<String> {
        let v = self
            .api
            .submit_run(slug, prompts)
            .await?
            .success("POST /api/ralph/runs")?;
        v.get("run_id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .with_context(|| format!("no run_id in {v}"))
    }

    /// `GET /api/ralph/runs/{id}?wait=60`; fails unless the run succeeded with `nodes` nodes.
    ///
    /// # Errors
    /// A non-2xx answer, a run still running, failed, or with another node count.
    pub(crate) async fn wait(&self, run_id: &str, nodes: usize) -> anyhow::Result<()> {
        let v = self
            .api
            .run_after(run_id, 60)
            .await?
            .success(&format!("GET /api/ralph/runs/{run_id}"))?;
        let status = v.get("status").and_then(Value::as_str).unwrap_or("?");
        let recorded = v.get("nodes").map_or(0, |n| match n {
            Value::Array(a) => a.len(),
            Value::Object(o) => o.len(),
            _ => 0,
        });
        if status != "succeeded" || recorded != nodes {
            bail!("run {run_id} ended {status} with {recorded}/{nodes} nodes: {v}");
        }
        Ok(())
    }

    /// `DELETE /api/hearth/workspaces/{slug}`.
    ///
    /// # Errors
    /// A non-2xx answer.
    pub(crate) async fn teardown(&self, slug: &str) -> anyhow::Result<()> {
        self.api
            .decommission(slug)
            .await?
            .success(&format!("DELETE /api/hearth/workspaces/{slug}"))
            .map(drop)
    }

    /// The seq of the last event in HATCH (0 when empty).
    ///
    /// # Errors
    /// A non-2xx answer.
    pub(crate) async fn last_seq(&self) -> anyhow::Result<u64> {
        let v = self
            .api
            .get("/api/hatch/events")
            .await?
            .success("GET /api/hatch/events")?;
        let events: Vec<HatchEvent> = serde_json::from_value(v).context("HATCH list")?;
        Ok(events.last().map_or(0, |e| e.seq))
    }

    /// The live tail of HATCH after `after`; when this returns, the console is subscribed.
    ///
    /// # Errors
    /// A non-2xx answer.
    pub(crate) async fn tail(&self, after: u64) -> anyhow::Result<HatchTail> {
        self.api.hatch_tail(after).await
    }
}
