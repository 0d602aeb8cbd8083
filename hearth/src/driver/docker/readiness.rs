//! "Ready means ready": a role is ready when it answers HTTP on its published port, not when
//! its container merely runs. Polls start at a few milliseconds (the engine floor is well
//! under a second), and a container that exits while we wait fails at once instead of
//! running out the clock.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::engine::map_err;
use super::Engine;
use crate::error::HearthError;

const FIRST_POLL: Duration = Duration::from_millis(5);
const MAX_POLL: Duration = Duration::from_millis(50);
/// One HTTP attempt may take this long before it counts as "not yet".
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// How often (in attempts) to check that the container is still running.
const CHECK_EVERY: u32 = 10;

/// Waits until `endpoint` answers any HTTP response, or fails.
///
/// # Errors
/// A driver failure naming the role if its container stops, or if `timeout` passes.
pub async fn wait_http(
    engine: &Engine,
    container: &str,
    role: &str,
    endpoint: &str,
    timeout: Duration,
) -> Result<(), HearthError> {
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let uri: hyper::Uri = endpoint
        .parse()
        .map_err(|e| HearthError::driver(format!("parse endpoint {endpoint}"), e))?;
    let started = Instant::now();
    let mut pause = FIRST_POLL;
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let last_error = match tokio::time::timeout(ATTEMPT_TIMEOUT, client.get(uri.clone())).await
        {
            Ok(Ok(_answer)) => return Ok(()),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {ATTEMPT_TIMEOUT:?}"),
        };
        if attempts % CHECK_EVERY == 0 {
            ensure_running(engine, container, role).await?;
        }
        if started.elapsed() >= timeout {
            return Err(HearthError::driver(
                format!("wait for role {role} to answer HTTP on {endpoint}"),
                format!("not ready after {timeout:?} ({attempts} attempts; last: {last_error})"),
            ));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 3 / 2).min(MAX_POLL);
    }
}

async fn ensure_running(engine: &Engine, container: &str, role: &str) -> Result<(), HearthError> {
    let docker = engine.client().await?;
    let info = docker
        .inspect_container(container, None)
        .await
        .map_err(|e| map_err(format!("inspect the container of role {role}"), e))?;
    let state = info.state.unwrap_or_default();
    if state.running == Some(true) {
        return Ok(());
    }
    Err(HearthError::driver(
        format!("start role {role}"),
        format!(
            "its container stopped (status {:?}, exit code {}); see `docker logs {container}`",
            state.status.map(|s| s.to_string()).unwrap_or_default(),
            state.exit_code.unwrap_or_default()
        ),
    ))
}
