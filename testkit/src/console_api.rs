//! The console's HTTP API as the tests and the bench drive it: the admin bearer on every
//! call, the play's calls (create a workspace, submit a run, wait for it, delete the
//! workspace) and the HATCH log, listed and tailed live. Every call answers the status and
//! the body ([`Answer`]); what counts as a failure is the caller's to say
//! ([`Answer::success`] for "2xx or an error").

use std::pin::Pin;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use eventsource_stream::Eventsource;
use futures::{Stream, StreamExt};
use hearth_protocol::hatch::HatchEvent;
use serde_json::{json, Value};

/// Bound on one call unless the caller picks another (provision waits for readiness).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(300);

/// A stream of HATCH events from the console's live tail.
pub type HatchTail = Pin<Box<dyn Stream<Item = anyhow::Result<HatchEvent>> + Send>>;

/// An answer from the console's API.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// The JSON body; a body that is not JSON as a string, none as `null`.
    pub body: Value,
}

impl Answer {
    /// Whether the status is 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body of a 2xx answer.
    ///
    /// # Errors
    /// Any other status, naming `what` was asked and what the console said.
    pub fn success(self, what: &str) -> anyhow::Result<Value> {
        if !self.ok() {
            bail!("{what} answered {}: {}", self.status, self.body);
        }
        Ok(self.body)
    }
}

/// A client for one console, holding its admin token.
#[derive(Debug, Clone)]
pub struct ConsoleApi {
    /// The HTTP client (no proxy, bounded calls), for requests a test shapes itself.
    pub http: reqwest::Client,
    /// `http://ADDR`, without a trailing slash.
    pub base: String,
    /// The console's admin token.
    pub token: String,
}

impl ConsoleApi {
    /// A client for the console at `base` holding its admin `token`, each call bounded by
    /// [`CALL_TIMEOUT`].
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(base: &str, token: &str) -> anyhow::Result<Self> {
        Self::with_timeout(base, token, CALL_TIMEOUT)
    }

    /// [`ConsoleApi::new`] with each call bounded by `timeout`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn with_timeout(base: &str, token: &str, timeout: Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .no_proxy()
            .build()
            .context("build the console client")?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token: token.trim().to_owned(),
        })
    }

    /// The full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `METHOD PATH [json]` with the admin token.
    ///
    /// # Errors
    /// When the console does not answer at all.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Answer> {
        let mut req = self
            .http
            .request(method.clone(), self.url(path))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} {path}: the console did not answer"))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let body = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(_) if text.is_empty() => Value::Null,
            Err(_) => Value::String(text),
        };
        Ok(Answer { status, body })
    }

    /// `GET PATH`.
    ///
    /// # Errors
    /// When the console does not answer at all.
    pub async fn get(&self, path: &str) -> anyhow::Result<Answer> {
        self.call(reqwest::Method::GET, path, None).await
    }

    /// `POST PATH json`.
    ///
    /// # Errors
    /// When the console does not answer at all.
    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Answer> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// `DELETE PATH`.
    ///
    /// # Errors
    /// When the console does not answer at all.
    pub async fn delete(&self, path: &str) -> anyhow::Result<Answer> {
        self.call(reqwest::Method::DELETE, path, None).await
    }

    /// `POST /api/hearth/workspaces {slug, tier}`.
    ///
    /// # Errors
    /// When the console does not answer at all.
    pub async fn provision(&self, slug: &str, tier: &str) -> anyhow::Result<Answer> {
        self.post(
            "/api/hearth/workspaces",
            json!({"slug": slug, "tier": tier}),
        )
        .await
    }

    /// `GET /api/hearth/workspaces/{slug}`.
    ///
    /// # Errors
    /// When the console does not answer at all.
    pub async fn workspace(&self, slug: &str) -> anyhow::Result<Answer> {
        self.get(&format!("/api/hearth/workspaces/{slug}")).await
    }

    /// `DELETE /api/hearth/workspaces/{slug}`.
    ///
    /// # Errors
    /// When the console does not answer at all.
    pub async fn decommission(&self, slug: &str) -> anyhow::Result<Answer> {
        self.delete(&format!("/api/hearth/workspaces/{slug}")).await
    }

    /// `POST /api/ralph/runs {workspace, prompts}`.
    ///
    /// # Errors
    /// When the console does not answer at all.
    pub async fn submit_run(&self, workspace: &str, prompts: &[String]) -> anyhow::Result<Answer> {
        self.post(
            "/api/ralph/runs",
            json!({"workspace": workspace, "prompts": prompts}),
        )
        .await
    }

    /// `GET /api/ralph/runs/{id}?wait=SECS`: the record once the run ended or the wait is up.
    ///
    /// # Errors
    /// When the console does not answer at all.
    pub async fn run_after(&self, run_id: &str, wait_secs: u64) -> anyhow::Result<Answer> {
        self.get(&format!("/api/ralph/runs/{run_id}?wait={wait_secs}"))
            .await
    }

    /// Polls [`ConsoleApi::run_after`] until the run has ended or `deadline` passes;
    /// returns the last record.
    ///
    /// # Errors
    /// When the console does not answer, or the run is still going at the deadline.
    pub async fn wait_run(&self, run_id: &str, deadline: Duration) -> anyhow::Result<Value> {
        let until = Instant::now() + deadline;
        loop {
            let a = self.run_after(run_id, 30).await?;
            let record = a.success(&format!("GET /api/ralph/runs/{run_id}"))?;
            if run_ended(&record) {
                return Ok(record);
            }
            if Instant::now() > until {
                bail!("run {run_id} had not ended after {deadline:?}: {record}");
            }
        }
    }

    /// Opens the live tail of the HATCH log (`GET /api/hatch/events[?after=SEQ]` as SSE),
    /// whatever the console answers.
    ///
    /// # Errors
    /// When the console does not answer at all.
    pub async fn tail(&self, after: Option<u64>) -> anyhow::Result<reqwest::Response> {
        let path = match after {
            Some(seq) => format!("/api/hatch/events?after={seq}"),
            None => "/api/hatch/events".to_owned(),
        };
        self.http
            .get(self.url(&path))
            .bearer_auth(&self.token)
            .header("accept", "text/event-stream")
            .send()
            .await
            .context("open the HATCH tail")
    }

    /// The live tail of HATCH after `after`, as events; when this returns, the console is
    /// subscribed.
    ///
    /// # Errors
    /// When the console does not answer or answers non-2xx.
    pub async fn hatch_tail(&self, after: u64) -> anyhow::Result<HatchTail> {
        let resp = self.tail(Some(after)).await?;
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

/// Whether a run record says the run is over.
pub fn run_ended(record: &Value) -> bool {
    let status = record["status"]
        .as_str()
        .or_else(|| record["outcome"].as_str());
    !matches!(status, None | Some("running" | "pending" | "started"))
}
