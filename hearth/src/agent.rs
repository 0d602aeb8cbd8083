//! The agent projection: with `HEARTH_AGENT_HATCH_URL` set, each verb call the dispatcher
//! carries out is POSTed there as the Go hearth's agent events ([`hearth_protocol::agent`]):
//! `agent.registered` (the first call per workspace on this daemon's driver), then
//! `agent.invoked` and `agent.completed`. Best-effort and never in a verb's way: the events
//! go through a bounded queue to one background sender, in order, each POST bounded by
//! `HEARTH_AGENT_HATCH_TIMEOUT_MS` (default 2000); a sink that is down, slow or full costs
//! a warning in the log, never a verb's time or its result. Unset: nothing is sent.
//! `HEARTH_AGENT_HATCH_TOKEN`, when set, is sent as `Authorization: Bearer` (the console's
//! admin token).

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::Utc;
use hearth_protocol::agent::{AgentEvent, Outcome, COMPLETED, INVOKED, REGISTERED};
use hearth_protocol::hearth::DriverName;
use tokio::sync::mpsc;
use tracing::warn;

use crate::error::HearthError;

/// The bound on one POST unless `HEARTH_AGENT_HATCH_TIMEOUT_MS` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Events waiting to be sent; past this, new ones are dropped (and said so in the log).
pub const QUEUE: usize = 256;

/// Where the events go and how long one POST may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sink {
    pub url: String,
    pub token: Option<String>,
    pub timeout: Duration,
}

impl Sink {
    /// The sink the environment names, if any.
    ///
    /// # Errors
    /// A message naming `HEARTH_AGENT_HATCH_TIMEOUT_MS` when it is not a number of ms.
    pub fn from_env() -> Result<Option<Sink>, String> {
        let Some(url) = std::env::var("HEARTH_AGENT_HATCH_URL")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            return Ok(None);
        };
        let timeout = match std::env::var("HEARTH_AGENT_HATCH_TIMEOUT_MS") {
            Ok(ms) if !ms.is_empty() => Duration::from_millis(ms.parse().map_err(|_| {
                format!("HEARTH_AGENT_HATCH_TIMEOUT_MS={ms:?} is not a number of milliseconds")
            })?),
            _ => DEFAULT_TIMEOUT,
        };
        Ok(Some(Sink {
            url,
            token: std::env::var("HEARTH_AGENT_HATCH_TOKEN")
                .ok()
                .filter(|t| !t.is_empty()),
            timeout,
        }))
    }
}

/// The projection of one daemon's verb calls.
#[derive(Debug)]
pub struct Projection {
    driver: DriverName,
    tx: mpsc::Sender<AgentEvent>,
    /// Workspaces already registered with this driver.
    registered: Mutex<HashSet<String>>,
}

/// One verb call under way.
#[derive(Debug)]
pub struct Call {
    slug: String,
    capability: String,
    invocation_id: String,
    started: Instant,
}

impl Projection {
    /// Starts the sender task (on the current runtime) and answers the projection.
    pub fn start(sink: Sink, driver: DriverName) -> Projection {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(send_all(sink, rx));
        Projection {
            driver,
            tx,
            registered: Mutex::default(),
        }
    }

    fn event(&self, event_type: &str, slug: &str, capability: &str) -> AgentEvent {
        AgentEvent {
            event_type: event_type.to_owned(),
            agent_id: AgentEvent::agent_id(slug, self.driver.as_str()),
            workspace_slug: slug.to_owned(),
            driver: self.driver.as_str().to_owned(),
            capability: capability.to_owned(),
            invocation_id: None,
            outcome: None,
            duration_ms: None,
            error_code: None,
            time: Utc::now(),
        }
    }

    fn queue(&self, event: AgentEvent) {
        if let Err(e) = self.tx.try_send(event) {
            warn!(error = %e, "agent projection: event dropped (the sink is behind or gone)");
        }
    }

    /// A verb call on `slug` begins: `agent.registered` if it is the workspace's first,
    /// then `agent.invoked`.
    pub fn invoked(&self, slug: &str, verb: &str) -> Call {
        let capability = format!("driver.{verb}");
        let first = self
            .registered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(slug.to_owned());
        if first {
            self.queue(self.event(REGISTERED, slug, &capability));
        }
        let call = Call {
            slug: slug.to_owned(),
            capability,
            invocation_id: format!("{:032x}", rand::random::<u128>()),
            started: Instant::now(),
        };
        let mut e = self.event(INVOKED, slug, &call.capability);
        e.invocation_id = Some(call.invocation_id.clone());
        self.queue(e);
        call
    }

    /// The call ended with `result`: `agent.completed`.
    pub fn completed<T>(&self, call: Call, result: &Result<T, HearthError>) {
        let mut e = self.event(COMPLETED, &call.slug, &call.capability);
        e.invocation_id = Some(call.invocation_id);
        e.duration_ms = Some(u64::try_from(call.started.elapsed().as_millis()).unwrap_or(u64::MAX));
        match result {
            Ok(_) => e.outcome = Some(Outcome::Ok),
            Err(err) => {
                e.outcome = Some(Outcome::Error);
                e.error_code = Some(err.code().as_str().to_owned());
            }
        }
        self.queue(e);
    }
}

/// Sends every queued event, in order, each POST bounded; failures are logged and passed.
async fn send_all(sink: Sink, mut rx: mpsc::Receiver<AgentEvent>) {
    let client = match reqwest::Client::builder().timeout(sink.timeout).build() {
        Ok(c) => c,
        Err(e) => {
            warn!(error = %e, "agent projection: no HTTP client; nothing will be sent");
            return;
        }
    };
    while let Some(event) = rx.recv().await {
        let mut req = client.post(&sink.url).json(&event);
        if let Some(t) = &sink.token {
            req = req.bearer_auth(t);
        }
        match tokio::time::timeout(sink.timeout, req.send()).await {
            Ok(Ok(resp)) if resp.status().is_success() => {}
            Ok(Ok(resp)) => warn!(
                url = %sink.url,
                status = resp.status().as_u16(),
                event = %event.event_type,
                "agent projection: the sink refused an event"
            ),
            Ok(Err(e)) => {
                warn!(url = %sink.url, error = %e, event = %event.event_type, "agent projection: could not send an event")
            }
            Err(_) => {
                warn!(url = %sink.url, after = ?sink.timeout, event = %event.event_type, "agent projection: the sink did not answer in time")
            }
        }
    }
}
