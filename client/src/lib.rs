//! A client for hearth's RPC on its unix socket: what the `hearth` CLI subcommands and the
//! console use. Its own crate, so a caller depends on the wire (`hearth-protocol`), never on
//! the daemon and its engine library. Requests and answers are the `hearth_protocol::hearth` shapes.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use hyperlocal::{UnixConnector, Uri};
use serde::de::DeserializeOwned;
use serde::Serialize;

use hearth_protocol::hearth::{
    DeploymentRef, ErrorBody, ErrorCode, ErrorResponse, EventsResponse, LifecycleEvent,
    ListResponse, OkResponse, ProvisionRequest, ProvisioningProfile, RefRequest, Status,
    StatusResponse, UpgradeRequest,
};
pub use hearth_protocol::verb::{Shape, Verb};

/// Why a call to hearth failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing answered on the socket.
    #[error("hearth is not reachable on {socket}: {detail}")]
    Unreachable { socket: PathBuf, detail: String },
    /// hearth answered with an error body.
    #[error("{body}")]
    Api { status: u16, body: ErrorBody },
    /// The call took longer than the client's timeout.
    #[error("hearth did not answer within {0:?}")]
    Timeout(Duration),
    /// hearth answered something that is not the expected shape.
    #[error("hearth answered an unexpected body ({status}): {detail}")]
    Decode { status: u16, detail: String },
}

impl ClientError {
    /// A stable code: hearth's own for API errors, else `hearth_unreachable`,
    /// `deadline_exceeded` or `bad_answer`.
    pub fn code(&self) -> ErrorCode {
        match self {
            ClientError::Unreachable { .. } => ErrorCode::HearthUnreachable,
            ClientError::Api { body, .. } => body.code.clone(),
            ClientError::Timeout(_) => ErrorCode::DeadlineExceeded,
            ClientError::Decode { .. } => ErrorCode::BadAnswer,
        }
    }

    /// The human message.
    pub fn message(&self) -> String {
        match self {
            ClientError::Api { body, .. } => body.message.clone(),
            other => other.to_string(),
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> Option<&str> {
        match self {
            ClientError::Unreachable { .. } => Some(
                "start it with `hearth serve --socket PATH` and pass the same path (or set HEARTH_SOCKET)",
            ),
            ClientError::Api { body, .. } => body.hint.as_deref(),
            ClientError::Timeout(_) => Some("the operation may still finish; check `hearth status SLUG`"),
            ClientError::Decode { .. } => Some("is the socket really a hearth daemon?"),
        }
    }

    /// The HTTP status hearth answered with, if it answered.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } | ClientError::Decode { status, .. } => Some(*status),
            ClientError::Unreachable { .. } | ClientError::Timeout(_) => None,
        }
    }
}

/// A handle on one hearth daemon.
#[derive(Debug, Clone)]
pub struct HearthClient {
    socket: PathBuf,
    /// Bound on each whole call (request and answer).
    timeout: Duration,
    http: Client<UnixConnector, Full<Bytes>>,
}

impl HearthClient {
    /// A client for the daemon on `socket`, with a 10-minute call timeout.
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        HearthClient {
            socket: socket.into(),
            timeout: Duration::from_secs(600),
            http: Client::builder(TokioExecutor::new()).build(UnixConnector),
        }
    }

    /// The same client with another call timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The socket this client talks to.
    pub fn socket(&self) -> &std::path::Path {
        &self.socket
    }

    /// `GET /v1/healthz`.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn healthz(&self) -> Result<(), ClientError> {
        let _: OkResponse = self.call(Method::GET, "/v1/healthz", None::<&()>).await?;
        Ok(())
    }

    /// `GET /v1/healthz`, as the daemon answered it (`ok`, its `version`, a pool's report).
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn health(&self) -> Result<serde_json::Value, ClientError> {
        self.call(Method::GET, "/v1/healthz", None::<&()>).await
    }

    /// `POST /v1/provision`.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn provision(
        &self,
        slug: &str,
        profile: &ProvisioningProfile,
    ) -> Result<DeploymentRef, ClientError> {
        let req = ProvisionRequest {
            slug: slug.to_owned(),
            profile: profile.clone(),
        };
        self.call(Method::POST, Verb::Provision.path(), Some(&req))
            .await
    }

    /// `POST /v1/status`.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn status(&self, slug: &str) -> Result<Status, ClientError> {
        let r: StatusResponse = self
            .call(Method::POST, "/v1/status", Some(&RefRequest::new(slug)))
            .await?;
        Ok(r.status)
    }

    /// `POST /v1/status`, whole: the status and each role's state and node.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn status_report(&self, slug: &str) -> Result<StatusResponse, ClientError> {
        self.call(Method::POST, "/v1/status", Some(&RefRequest::new(slug)))
            .await
    }

    /// The workspace's ref, its `last_status` the status now (`POST /v1/get`).
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn get(&self, slug: &str) -> Result<DeploymentRef, ClientError> {
        self.call(Method::POST, "/v1/get", Some(&RefRequest::new(slug)))
            .await
    }

    /// `GET /v1/list`.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn list(&self) -> Result<Vec<DeploymentRef>, ClientError> {
        let r: ListResponse = self.call(Method::GET, "/v1/list", None::<&()>).await?;
        Ok(r.workspaces)
    }

    /// `GET /v1/pool`: each warm pool (empty when the daemon runs none).
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn pool(&self) -> Result<Vec<hearth_protocol::hearth::PoolReport>, ClientError> {
        let r: hearth_protocol::hearth::PoolResponse =
            self.call(Method::GET, "/v1/pool", None::<&()>).await?;
        Ok(r.pools)
    }

    /// `POST /v1/upgrade`.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn upgrade(
        &self,
        slug: &str,
        profile: &ProvisioningProfile,
    ) -> Result<DeploymentRef, ClientError> {
        let req = UpgradeRequest {
            reference: RefRequest::new(slug).reference,
            profile: profile.clone(),
        };
        self.call(Method::POST, Verb::Upgrade.path(), Some(&req))
            .await
    }

    /// `POST /v1/teardown`.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn teardown(&self, slug: &str) -> Result<(), ClientError> {
        let _: OkResponse = self
            .call(
                Method::POST,
                Verb::Teardown.path(),
                Some(&RefRequest::new(slug)),
            )
            .await?;
        Ok(())
    }

    /// A verb on the slug alone that answers the ref ([`Shape::Act`]: pause, resume,
    /// hibernate, …), at its route.
    ///
    /// # Errors
    /// See [`ClientError`]; a verb of another shape is refused before any call.
    pub async fn act(&self, verb: Verb, slug: &str) -> Result<DeploymentRef, ClientError> {
        if verb.shape() != Shape::Act {
            return Err(ClientError::Api {
                status: 400,
                body: ErrorBody {
                    code: ErrorCode::InvalidRequest,
                    message: format!("{verb} is not a verb on the slug alone"),
                    retryable: false,
                    hint: None,
                },
            });
        }
        self.call(Method::POST, verb.path(), Some(&RefRequest::new(slug)))
            .await
    }

    /// `POST /v1/pause`.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn pause(&self, slug: &str) -> Result<DeploymentRef, ClientError> {
        self.act(Verb::Pause, slug).await
    }

    /// `POST /v1/resume` (also wakes a hibernated workspace).
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn resume(&self, slug: &str) -> Result<DeploymentRef, ClientError> {
        self.act(Verb::Resume, slug).await
    }

    /// `POST /v1/hibernate`.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn hibernate(&self, slug: &str) -> Result<DeploymentRef, ClientError> {
        self.act(Verb::Hibernate, slug).await
    }

    /// `POST /v1/events`.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn events(&self, slug: &str) -> Result<Vec<LifecycleEvent>, ClientError> {
        let r: EventsResponse = self
            .call(Method::POST, "/v1/events", Some(&RefRequest::new(slug)))
            .await?;
        Ok(r.events)
    }

    /// `POST /v1/events` as SSE: the steps so far, then each new one as it happens.
    ///
    /// # Errors
    /// See [`ClientError`]; the stream's items carry errors that happen later.
    pub async fn follow_events(
        &self,
        slug: &str,
    ) -> Result<impl futures::Stream<Item = Result<LifecycleEvent, ClientError>>, ClientError> {
        use eventsource_stream::Eventsource;
        use futures::StreamExt;
        let body = serde_json::to_vec(&RefRequest::new(slug)).map_err(|e| ClientError::Decode {
            status: 0,
            detail: e.to_string(),
        })?;
        let req = Request::builder()
            .method(Method::POST)
            .uri(Uri::new(&self.socket, "/v1/events"))
            .header("content-type", "application/json")
            .header("accept", "text/event-stream")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| self.unreachable(e.to_string()))?;
        let resp = self
            .http
            .request(req)
            .await
            .map_err(|e| self.unreachable(root_cause(&e)))?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            let body = resp
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            return Err(api_error(status, &body));
        }
        Ok(resp
            .into_body()
            .into_data_stream()
            .eventsource()
            .map(|item| match item {
                Ok(ev) => serde_json::from_str(&ev.data).map_err(|e| ClientError::Decode {
                    status: 200,
                    detail: e.to_string(),
                }),
                Err(e) => Err(ClientError::Decode {
                    status: 200,
                    detail: e.to_string(),
                }),
            }))
    }

    fn unreachable(&self, detail: String) -> ClientError {
        ClientError::Unreachable {
            socket: self.socket.clone(),
            detail,
        }
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        match tokio::time::timeout(self.timeout, self.exchange(method, path, body)).await {
            Ok(r) => r,
            Err(_) => Err(ClientError::Timeout(self.timeout)),
        }
    }

    async fn exchange<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let bytes = match body {
            Some(b) => serde_json::to_vec(b).map_err(|e| ClientError::Decode {
                status: 0,
                detail: e.to_string(),
            })?,
            None => Vec::new(),
        };
        let unreachable = |detail: String| self.unreachable(detail);
        let req = Request::builder()
            .method(method)
            .uri(Uri::new(&self.socket, path))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(bytes)))
            .map_err(|e| unreachable(e.to_string()))?;
        let resp = self
            .http
            .request(req)
            .await
            .map_err(|e| unreachable(root_cause(&e)))?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| unreachable(format!("the answer broke off: {e}")))?
            .to_bytes();
        if (200..300).contains(&status) {
            return serde_json::from_slice(&body).map_err(|e| ClientError::Decode {
                status,
                detail: e.to_string(),
            });
        }
        Err(api_error(status, &body))
    }
}

/// hyper-util hides the io error a level or two down; the root cause is what a person needs.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut detail = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    detail
}

fn api_error(status: u16, body: &[u8]) -> ClientError {
    match serde_json::from_slice::<ErrorResponse>(body) {
        Ok(err) => ClientError::Api {
            status,
            body: err.error,
        },
        Err(_) => ClientError::Decode {
            status,
            detail: String::from_utf8_lossy(body).chars().take(200).collect(),
        },
    }
}
