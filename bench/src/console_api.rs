//! The console's HTTP API as the play drives it: the admin bearer on every call, the four
//! acts (create a workspace, submit a run, wait for it, delete the workspace) and a live tail
//! of HATCH, each answer checked for what a user would check.

use std::pin::Pin;
use std::time::Duration;

use anyhow::{bail, Context};
use eventsource_stream::Eventsource;
use futures::{Stream, StreamExt};
use hearth_protocol::hatch::HatchEvent;
use serde_json::{json, Value};

/// Bound on one console call (provision includes readiness, the run wait up to 60 s).
const CALL_TIMEOUT: Duration = Duration::from_secs(180);

/// A stream of HATCH events from the console's live tail.
pub(crate) type HatchTail = Pin<Box<dyn Stream<Item = anyhow::Result<HatchEvent>> + Send>>;

/// A client for one console.
#[derive(Debug, Clone)]
pub(crate) struct Console {
    base: String,
    bearer: String,
    http: reqwest::Client,
}

impl Console {
    /// A client for the console at `base` holding its admin `token`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub(crate) fn new(base: &str, token: &str) -> anyhow::Result<Self> {
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            bearer: format!("Bearer {token}"),
            http: reqwest::Client::builder()
                .build()
                .context("build the console client")?,
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .header("authorization", &self.bearer)
            .timeout(CALL_TIMEOUT);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .with_context(|| format!("{method} {path}"))?;
        if !status.is_success() {
            bail!("{method} {path} answered {status}: {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// `POST /api/hearth/workspaces {slug, tier: solo}`; returns once hearth says ready.
    ///
    /// # Errors
    /// A non-2xx answer or a status other than ready.
    pub(crate) async fn provision(&self, slug: &str) -> anyhow::Result<()> {
        let body = json!({"slug": slug, "tier": "solo"});
        let v = self
            .call(reqwest::Method::POST, "/api/hearth/workspaces", Some(body))
            .await?;
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
        let body = json!({"workspace": slug, "prompts": prompts});
        let v = self
            .call(reqwest::Method::POST, "/api/ralph/runs", Some(body))
            .await?;
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
            .call(
                reqwest::Method::GET,
                &format!("/api/ralph/runs/{run_id}?wait=60"),
                None,
            )
            .await?;
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
        self.call(
            reqwest::Method::DELETE,
            &format!("/api/hearth/workspaces/{slug}"),
            None,
        )
        .await
        .map(drop)
    }

    /// The seq of the last event in HATCH (0 when empty).
    ///
    /// # Errors
    /// A non-2xx answer.
    pub(crate) async fn last_seq(&self) -> anyhow::Result<u64> {
        let v = self
            .call(reqwest::Method::GET, "/api/hatch/events", None)
            .await?;
        let events: Vec<HatchEvent> = serde_json::from_value(v).context("HATCH list")?;
        Ok(events.last().map_or(0, |e| e.seq))
    }

    /// The live tail of HATCH after `after`; when this returns, the console is subscribed.
    ///
    /// # Errors
    /// A non-2xx answer.
    pub(crate) async fn tail(&self, after: u64) -> anyhow::Result<HatchTail> {
        let resp = self
            .http
            .get(format!("{}/api/hatch/events?after={after}", self.base))
            .header("authorization", &self.bearer)
            .header("accept", "text/event-stream")
            .send()
            .await
            .context("open the HATCH tail")?;
        if !resp.status().is_success() {
            bail!("the HATCH tail answered {}", resp.status());
        }
        let events = resp.bytes_stream().eventsource().map(|item| {
            let event = item.map_err(|e| anyhow::anyhow!("HATCH tail: {e}"))?;
            serde_json::from_str::<HatchEvent>(&event.data).context("a HATCH event")
        });
        Ok(Box::pin(events))
    }
}
