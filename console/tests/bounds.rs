//! Connection bounds of both servers, against the real binaries with a small configured
//! bound: half-open (slow-loris) connections are closed within the header timeout while
//! healthz keeps answering, an idle keep-alive connection is closed on the same clock, a
//! huge request head is refused, a live tail outlives the bound; and hearth's own errors take
//! the documented JSON shape. (Stalled bodies and the cap: `stalled.rs`.)

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use common::raw::{bound_flag, closed_at, console_addr, open_tail, request, Door, BOUND, SLACK};
use common::{start_console, start_hearth_with, Answer, Env, KEYS};
use futures::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

/// Half-open connections held against each server.
const HELD: usize = 500;

const PARTIAL_HEAD: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";

/// Holds `HELD` half-open connections to `door`, checks `healthz` answers meanwhile, and
/// that every held connection is closed within the bound.
async fn slow_loris(door: &Door) -> Result<()> {
    let what = door.name();
    let opened = Instant::now();
    let (held, healthz_took) = door
        .hold(HELD, PARTIAL_HEAD, closed_at, Duration::from_secs(2))
        .await?;
    let all_open = opened.elapsed() - healthz_took;
    let mut last = opened;
    for h in held {
        let at = tokio::time::timeout(BOUND + SLACK + all_open, h)
            .await
            .with_context(|| format!("{what}: a half-open connection outlived the bound"))??;
        last = last.max(at);
    }
    let took = last - opened;
    eprintln!(
        "{what}: {HELD} half-open connections opened in {all_open:?}, healthz in {healthz_took:?}, all closed {took:?} after the first opened (bound {BOUND:?})"
    );
    ensure!(
        took <= BOUND + SLACK + all_open,
        "{what}: connections held {took:?}"
    );
    ensure!(
        took >= BOUND,
        "{what}: closed before the bound ({took:?}): not the timeout at work"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_are_closed_within_the_bound_and_healthz_answers() -> Result<()> {
    let env = Env::new()?;
    let keys = env.keys("keys", KEYS)?;
    let flag = bound_flag();
    let _hearth = start_hearth_with(&env, &["--header-timeout-ms", &flag])?;
    let console = start_console(
        &env,
        "http://127.0.0.1:9",
        &keys,
        &["--header-timeout-ms", &flag],
    )?;
    let api = env.api(&console)?;
    let addr = console_addr(&api);
    let socket = env.socket();

    // A live tail opened before: it must outlive the header bound.
    let mut tail = open_tail(&api).await?.bytes_stream();

    slow_loris(&Door::Console(addr)).await?;
    slow_loris(&Door::Hearth(socket)).await?;

    // Well past the bound, the tail still delivers what happens.
    let Answer { status, .. } = api.provision("after-loris", "solo").await?;
    ensure!(status == 200, "provision: {status}");
    let mut seen = String::new();
    tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(chunk)) = tail.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains("hearth.provisioned") {
                break;
            }
        }
    })
    .await
    .with_context(|| format!("the live tail stopped delivering: {seen:?}"))?;
    ensure!(seen.contains("hearth.provisioned"), "tail ended: {seen:?}");
    Ok(())
}

/// A keep-alive connection that goes quiet after one answer is closed on the header clock.
async fn idle_is_closed<S: AsyncRead + AsyncWrite + Unpin>(
    what: &str,
    mut s: S,
    host: &str,
    path: &str,
) -> Result<()> {
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .await?;
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).await?;
    ensure!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        "{what}: first answer"
    );
    let idle = Instant::now();
    let closed = tokio::time::timeout(BOUND + SLACK, closed_at(s))
        .await
        .with_context(|| format!("{what}: an idle keep-alive connection outlived the bound"))?;
    let took = closed - idle;
    ensure!(
        took >= BOUND / 2,
        "{what}: closed at once ({took:?}), not kept alive"
    );
    Ok(())
}

/// A request head of 200 KB is refused (431) rather than buffered.
async fn huge_head_refused<S: AsyncRead + AsyncWrite + Unpin>(
    what: &str,
    s: S,
    host: &str,
    path: &str,
) -> Result<()> {
    let head = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "x".repeat(200 * 1024)
    );
    // The server may answer and close before the whole head is written.
    let (status, _) = match request(s, &head, b"").await {
        Ok(answer) => answer,
        Err(e) => {
            ensure!(
                e.to_string().contains("reset") || e.to_string().contains("pipe"),
                "{what}: {e}"
            );
            return Ok(());
        }
    };
    ensure!(status == 431, "{what}: a 200 KB head was answered {status}");
    Ok(())
}

#[tokio::test]
async fn idle_connections_and_huge_heads_are_bounded() -> Result<()> {
    let env = Env::new()?;
    let keys = env.keys("keys", KEYS)?;
    let flag = bound_flag();
    let _hearth = start_hearth_with(&env, &["--header-timeout-ms", &flag])?;
    let console = start_console(
        &env,
        "http://127.0.0.1:9",
        &keys,
        &["--header-timeout-ms", &flag],
    )?;
    let addr = console_addr(&env.api(&console)?);
    let socket = env.socket();
    idle_is_closed(
        "console",
        TcpStream::connect(&addr).await?,
        &addr,
        "/healthz",
    )
    .await?;
    idle_is_closed(
        "hearth",
        UnixStream::connect(&socket).await?,
        "hearth",
        "/v1/healthz",
    )
    .await?;
    huge_head_refused(
        "console",
        TcpStream::connect(&addr).await?,
        &addr,
        "/healthz",
    )
    .await?;
    huge_head_refused(
        "hearth",
        UnixStream::connect(&socket).await?,
        "hearth",
        "/v1/healthz",
    )
    .await?;
    Ok(())
}

/// Just over axum's default body cap of 2 MiB, which hearth keeps.
static OVER_THE_CAP: [u8; 2 * 1024 * 1024 + 16 * 1024] = [b'x'; 2 * 1024 * 1024 + 16 * 1024];

/// One raw request to hearth's socket.
/// A body of `b"@N"` is declared as N bytes but only the cap and a little more is sent: the
/// server reads past its cap, answers, and closes with nothing of ours left unread (which
/// would race the answer with a reset).
async fn hearth_call(socket: &Path, method: &str, path: &str, body: &[u8]) -> Result<(u16, Value)> {
    let (declared, body) = match body.strip_prefix(b"@") {
        Some(n) => (String::from_utf8_lossy(n).parse()?, &OVER_THE_CAP[..]),
        None => (body.len(), body),
    };
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: hearth\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
    );
    request(UnixStream::connect(socket).await?, &head, body).await
}

#[tokio::test]
async fn hearth_errors_take_the_documented_shape() -> Result<()> {
    let env = Env::new()?;
    let _hearth = start_hearth_with(&env, &[])?;
    let socket = env.socket();
    let big = format!("@{}", 3 * 1024 * 1024);
    for (method, path, body, status, code) in [
        (
            "POST",
            "/v1/provision",
            b"{not json".as_slice(),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/v1/provision",
            big.as_bytes(),
            413,
            "payload_too_large",
        ),
        (
            "GET",
            "/v1/provision",
            b"".as_slice(),
            405,
            "method_not_allowed",
        ),
        ("GET", "/v2/anything", b"".as_slice(), 404, "not_found"),
        (
            "POST",
            "/v1/status",
            br#"{"ref":{"workspace_slug":"-bad"}}"#.as_slice(),
            400,
            "invalid_slug",
        ),
    ] {
        let (got, answer) = hearth_call(&socket, method, path, body).await?;
        let e = &answer["error"];
        ensure!(
            e["code"].is_string() && e["message"].is_string() && e["retryable"].is_boolean(),
            "{method} {path}: {got} not in the documented shape: {answer}"
        );
        assert_eq!(
            (got, e["code"].as_str().unwrap_or("")),
            (status, code),
            "{method} {path}: {answer}"
        );
    }
    Ok(())
}
