//! What the console needs from hearth, as a trait, and its implementation over hearth's own
//! unix-socket client. Routes hold an `Arc<dyn Hearth>`, so tests can stand in a fake.

use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use hearth_client::{ClientError, HearthClient};
use hearth_protocol::hatch::payload::HearthFailure;
use hearth_protocol::hearth::{
    DeploymentRef, ErrorCode, LifecycleEvent, ProvisioningProfile, StatusResponse,
};
use hearth_protocol::verb::Verb;

use crate::error::ApiError;

/// A failed hearth call, as hearth (or the client) reported it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct HearthRefusal {
    /// hearth's wire code, or `hearth_unreachable` / `deadline_exceeded`.
    pub code: ErrorCode,
    pub message: String,
    pub hint: Option<String>,
    /// hearth's HTTP status, when it answered.
    pub http_status: Option<u16>,
}

impl HearthRefusal {
    /// The error as the payload of `hearth.failed` / `hearth.decommission_failed`, for a call
    /// that took `elapsed_ms`.
    pub fn failure(&self, elapsed_ms: u64) -> HearthFailure {
        HearthFailure {
            code: self.code.clone(),
            message: self.message.clone(),
            hint: self.hint.clone(),
            elapsed_ms,
        }
    }
}

impl From<HearthRefusal> for ApiError {
    fn from(e: HearthRefusal) -> Self {
        ApiError::Hearth {
            code: e.code,
            message: e.message,
            hint: e.hint,
            http_status: e.http_status,
        }
    }
}

/// The hearth verbs the console uses. Each is one RPC call.
#[async_trait]
pub trait Hearth: Send + Sync + std::fmt::Debug {
    /// `POST /v1/provision`.
    async fn provision(
        &self,
        slug: &str,
        profile: &ProvisioningProfile,
    ) -> Result<DeploymentRef, HearthRefusal>;
    /// The workspace's ref, with its current status.
    async fn get(&self, slug: &str) -> Result<DeploymentRef, HearthRefusal>;
    /// `POST /v1/status`: the status and each role's state (and, on Swarm, its node).
    async fn status(&self, slug: &str) -> Result<StatusResponse, HearthRefusal>;
    /// Every workspace hearth knows.
    async fn list(&self) -> Result<Vec<DeploymentRef>, HearthRefusal>;
    /// `POST /v1/teardown`.
    async fn teardown(&self, slug: &str) -> Result<(), HearthRefusal>;
    /// A verb on the slug alone that answers the ref ([`Shape::Act`](hearth_protocol::verb::Shape::Act): `POST /v1/pause`,
    /// `/v1/resume` — which also wakes a hibernated workspace —, `/v1/hibernate`, …).
    async fn act(&self, verb: Verb, slug: &str) -> Result<DeploymentRef, HearthRefusal>;
    /// `POST /v1/upgrade`.
    async fn upgrade(
        &self,
        slug: &str,
        profile: &ProvisioningProfile,
    ) -> Result<DeploymentRef, HearthRefusal>;
    /// `POST /v1/events` as SSE: the workspace's boot and lifecycle steps so far, then each
    /// new one as hearth records it. Read-only; the page's boot waterfall is drawn from it.
    async fn follow_steps(&self, slug: &str) -> Result<StepStream, HearthRefusal> {
        Err(HearthRefusal {
            code: ErrorCode::Unsupported,
            message: format!("this hearth cannot stream the steps of {slug}"),
            hint: None,
            http_status: None,
        })
    }
}

/// hearth's step events for one workspace, as they happen.
pub type StepStream = BoxStream<'static, Result<LifecycleEvent, HearthRefusal>>;

/// [`Hearth`] over hearth's unix socket, every call bounded by a deadline.
#[derive(Debug, Clone)]
pub struct SocketHearth {
    client: HearthClient,
    timeout: Duration,
}

impl SocketHearth {
    /// A client for the daemon at `socket`; calls longer than `timeout` fail with
    /// `deadline_exceeded`.
    pub fn new(socket: impl Into<std::path::PathBuf>, timeout: Duration) -> Self {
        SocketHearth {
            client: HearthClient::new(socket).with_timeout(timeout),
            timeout,
        }
    }

    /// Runs one call under the deadline (the client has its own; this one also covers
    /// connect and anything the client does not bound).
    async fn call<T>(
        &self,
        fut: impl std::future::Future<Output = Result<T, ClientError>>,
    ) -> Result<T, HearthRefusal> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(client_error(&e)),
            Err(_) => Err(HearthRefusal {
                code: ErrorCode::DeadlineExceeded,
                message: format!("hearth did not answer within {:?}", self.timeout),
                hint: Some(
                    "raise --hearth-timeout, or see hearth's log for the stuck step".to_owned(),
                ),
                http_status: None,
            }),
        }
    }
}

/// A client error as the console reports it.
fn client_error(e: &ClientError) -> HearthRefusal {
    HearthRefusal {
        code: e.code(),
        message: e.message().to_owned(),
        hint: e.hint().map(str::to_owned),
        http_status: e.http_status(),
    }
}

#[async_trait]
impl Hearth for SocketHearth {
    async fn provision(
        &self,
        slug: &str,
        profile: &ProvisioningProfile,
    ) -> Result<DeploymentRef, HearthRefusal> {
        self.call(self.client.provision(slug, profile)).await
    }
    async fn get(&self, slug: &str) -> Result<DeploymentRef, HearthRefusal> {
        self.call(self.client.get(slug)).await
    }
    async fn status(&self, slug: &str) -> Result<StatusResponse, HearthRefusal> {
        self.call(self.client.status_report(slug)).await
    }
    async fn list(&self) -> Result<Vec<DeploymentRef>, HearthRefusal> {
        self.call(self.client.list()).await
    }
    async fn teardown(&self, slug: &str) -> Result<(), HearthRefusal> {
        self.call(self.client.teardown(slug)).await
    }
    async fn act(&self, verb: Verb, slug: &str) -> Result<DeploymentRef, HearthRefusal> {
        self.call(self.client.act(verb, slug)).await
    }
    async fn upgrade(
        &self,
        slug: &str,
        profile: &ProvisioningProfile,
    ) -> Result<DeploymentRef, HearthRefusal> {
        self.call(self.client.upgrade(slug, profile)).await
    }
    async fn follow_steps(&self, slug: &str) -> Result<StepStream, HearthRefusal> {
        use futures::StreamExt;
        // Only opening the stream is bounded: following it lasts as long as the reader wants.
        let stream = self.call(self.client.follow_events(slug)).await?;
        Ok(stream
            .map(|item| item.map_err(|e| client_error(&e)))
            .boxed())
    }
}
