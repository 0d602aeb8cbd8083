//! "Ready means ready": a role is ready when it answers HTTP with a 2xx or 3xx on its
//! endpoint, not when its container merely runs, nor when it answers a 500 or a 503. This is
//! the endpoint-only wait (Swarm's published services, the warm pool's health check); a
//! template's own probes run through `driver::probe`. Polls start at a few milliseconds (the engine floor is well under a
//! second). Any driver uses it: the driver passes a check that says whether the role's
//! process still runs, so a service that exits while we wait fails at once instead of running
//! out the clock.

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::driver_error::DriverError;
use crate::error::HearthError;

const FIRST_POLL: Duration = Duration::from_millis(5);
const MAX_POLL: Duration = Duration::from_millis(50);
/// One HTTP attempt may take this long before it counts as "not yet".
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// How often (in attempts) to ask the driver whether the role still runs.
const CHECK_EVERY: u32 = 10;

/// Waits until `endpoint` answers `GET /` with a 2xx or 3xx, or fails. Every few attempts it awaits
/// `still_running`, whose error (the role stopped) ends the wait.
///
/// # Errors
/// A driver failure naming the role if `timeout` passes, or `still_running`'s error.
pub async fn wait_http<F, Fut>(
    role: &str,
    endpoint: &str,
    timeout: Duration,
    still_running: F,
) -> Result<(), HearthError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), HearthError>>,
{
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
            Ok(Ok(answer)) if answer.status().is_success() || answer.status().is_redirection() => {
                return Ok(())
            }
            Ok(Ok(answer)) => format!("GET / answered {}", answer.status().as_u16()),
            Ok(Err(e)) => format!("GET / got no answer ({e})"),
            Err(_) => format!("GET / got no answer within {ATTEMPT_TIMEOUT:?}"),
        };
        if attempts % CHECK_EVERY == 0 {
            still_running().await?;
        }
        if started.elapsed() >= timeout {
            return Err(HearthError::Driver(DriverError::NotReady {
                role: role.to_owned(),
                observation: format!("{last_error} on {endpoint}"),
                after: crate::driver::probe::seconds(started.elapsed()),
                attempts,
            }));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 3 / 2).min(MAX_POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_role_that_stops_ends_the_wait_at_once() {
        // Nothing listens on port 9 of loopback (discard): connections are refused.
        let started = Instant::now();
        let err = wait_http(
            "lore",
            "http://127.0.0.1:9",
            Duration::from_secs(30),
            || async { Err(HearthError::driver("start role lore", "its process exited")) },
        )
        .await
        .expect_err("stopped");
        assert!(err.to_string().contains("exited"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_503_is_not_ready() {
        let addr = answering("503 Service Unavailable").await;
        let err = wait_http(
            "cairnet",
            &format!("http://{addr}"),
            Duration::from_millis(300),
            || async { Ok(()) },
        )
        .await
        .expect_err("503");
        assert!(
            err.to_string().starts_with("cairnet: GET / answered 503"),
            "{err}"
        );
    }

    async fn answering(status: &'static str) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let answer = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
                let _ = s.write_all(answer.as_bytes()).await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_2xx_is_ready() {
        let addr = answering("204 No Content").await;
        wait_http(
            "cairnet",
            &format!("http://{addr}"),
            Duration::from_secs(5),
            || async { Ok(()) },
        )
        .await
        .expect("ready");
    }
}
