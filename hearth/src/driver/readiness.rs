//! "Ready means ready": a role is ready when it answers HTTP on its endpoint, not when its
//! container merely runs. Polls start at a few milliseconds (the engine floor is well under a
//! second). Any driver uses it: the driver passes a check that says whether the role's
//! process still runs, so a service that exits while we wait fails at once instead of running
//! out the clock.

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::error::HearthError;

const FIRST_POLL: Duration = Duration::from_millis(5);
const MAX_POLL: Duration = Duration::from_millis(50);
/// One HTTP attempt may take this long before it counts as "not yet".
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// How often (in attempts) to ask the driver whether the role still runs.
const CHECK_EVERY: u32 = 10;

/// Waits until `endpoint` answers any HTTP response, or fails. Every few attempts it awaits
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
            Ok(Ok(_answer)) => return Ok(()),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {ATTEMPT_TIMEOUT:?}"),
        };
        if attempts % CHECK_EVERY == 0 {
            still_running().await?;
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
    async fn an_answer_is_ready() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
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
