//! Connection bounds of both servers, against the real binaries with a small configured
//! bound: half-open (slow-loris) connections are closed within the header timeout while
//! healthz keeps answering, an idle keep-alive connection is closed on the same clock, a
//! huge request head is refused, stalled bodies are answered 408 and closed after the body
//! bound and, at the connection cap, make room for a new client within 1 s, while a cap of
//! connections being served (live tails) holds; a live tail outlives the bound; and hearth's
//! own errors take the documented JSON shape.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use common::{start_console, start_hearth_with, Api, Env, KEYS};
use futures::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

/// The header timeout the daemons run with here (the default is 10 s).
const BOUND: Duration = Duration::from_millis(1000);
/// Slack for scheduling on a loaded machine.
const SLACK: Duration = Duration::from_millis(2500);
/// Half-open connections held against each server.
const HELD: usize = 500;

const PARTIAL_HEAD: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";

fn bound_flag() -> String {
    BOUND.as_millis().to_string()
}

/// Reads until the peer closes (EOF or reset); when that happened.
async fn closed_at<S: AsyncRead + Unpin>(mut s: S) -> Instant {
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return Instant::now(),
            Ok(_) => {}
        }
    }
}

/// One whole request on a fresh stream; the status and body.
async fn request<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    head: &str,
    body: &[u8],
) -> Result<(u16, Value)> {
    // A server may answer (413, 431) and close before all is written: read what it said.
    let wrote = async {
        s.write_all(head.as_bytes()).await?;
        s.write_all(body).await
    }
    .await;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut answer))
        .await
        .context("no answer")??;
    if answer.is_empty() {
        wrote?;
    }
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no status in {text:?}"))?;
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    Ok((status, serde_json::from_str(body).unwrap_or_default()))
}

fn get(host: &str, path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
}

fn console_addr(api: &Api) -> String {
    api.base.trim_start_matches("http://").to_owned()
}

/// One of the two servers under test.
#[derive(Debug, Clone)]
enum Door {
    /// The console, at `host:port`.
    Console(String),
    /// hearth, at its socket.
    Hearth(std::path::PathBuf),
}

/// A connection to either server.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

impl Door {
    fn name(&self) -> &'static str {
        match self {
            Door::Console(_) => "console",
            Door::Hearth(_) => "hearth",
        }
    }
    fn host(&self) -> &str {
        match self {
            Door::Console(addr) => addr,
            Door::Hearth(_) => "hearth",
        }
    }
    async fn connect(&self) -> std::io::Result<Box<dyn Io>> {
        Ok(match self {
            Door::Console(addr) => Box::new(TcpStream::connect(addr).await?),
            Door::Hearth(socket) => Box::new(UnixStream::connect(socket).await?),
        })
    }
    async fn healthz(&self) -> Result<u16> {
        let path = match self {
            Door::Console(_) => "/healthz",
            Door::Hearth(_) => "/v1/healthz",
        };
        Ok(request(self.connect().await?, &get(self.host(), path), b"")
            .await?
            .0)
    }
    /// Opens `n` connections that each send `bytes` and then nothing, each watched by
    /// `watch`; then asks healthz, which must answer 200 within `within`. The watchers and
    /// how long healthz took.
    async fn hold<T, W, Fut>(
        &self,
        n: usize,
        bytes: &[u8],
        watch: W,
        within: Duration,
    ) -> Result<(Vec<tokio::task::JoinHandle<T>>, Duration)>
    where
        T: Send + 'static,
        W: Fn(Box<dyn Io>) -> Fut,
        Fut: std::future::Future<Output = T> + Send + 'static,
    {
        let what = self.name();
        let mut held = Vec::with_capacity(n);
        for _ in 0..n {
            let mut s = self.connect().await?;
            s.write_all(bytes).await?;
            held.push(tokio::spawn(watch(s)));
        }
        // Let the server take every one of them before the legitimate client comes.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let asked = Instant::now();
        let status = tokio::time::timeout(within, self.healthz())
            .await
            .with_context(|| {
                format!("{what}: healthz got no answer within {within:?} with {n} connections held")
            })??;
        ensure!(status == 200, "{what}: healthz answered {status}");
        Ok((held, asked.elapsed()))
    }
}

/// A live tail of the HATCH log, open.
async fn open_tail(api: &Api) -> Result<reqwest::Response> {
    let tail = api.tail().await?;
    ensure!(tail.status().as_u16() == 200, "tail: {}", tail.status());
    Ok(tail)
}

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
    let api = Api::new(&console, &env)?;
    let addr = console_addr(&api);
    let socket = env.socket();

    // A live tail opened before: it must outlive the header bound.
    let mut tail = open_tail(&api).await?.bytes_stream();

    slow_loris(&Door::Console(addr)).await?;
    slow_loris(&Door::Hearth(socket)).await?;

    // Well past the bound, the tail still delivers what happens.
    let (status, _) = api.provision("after-loris").await?;
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
    let addr = console_addr(&Api::new(&console, &env)?);
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

/// The cap the stalled-body and cap tests run with.
const CAP: usize = 8;

/// A request whose body is declared as 1000 bytes, of which 5 are sent.
fn stalled_body(host: &str, path: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"tok"
    )
}

/// What became of one stalled connection: when it closed, and what it was answered.
async fn stalled_outcome<S: AsyncRead + Unpin>(mut s: S) -> (Instant, String) {
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return (Instant::now(), String::from_utf8_lossy(&answer).into()),
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
}

/// `CAP` stalled bodies fill the cap; `healthz` must still answer within 1 s (the longest
/// waiting connection makes room), and every stalled body that was not evicted for it is
/// answered 408 and closed after the body bound, not before.
async fn stalled_bodies(door: &Door, request: &str) -> Result<Vec<String>> {
    let what = door.name();
    let opened = Instant::now();
    let (held, healthz_took) = door
        .hold(
            CAP,
            request.as_bytes(),
            stalled_outcome,
            Duration::from_secs(1),
        )
        .await?;
    let mut answers = Vec::new();
    let mut early = 0;
    for h in held {
        let (at, answer) = tokio::time::timeout(BOUND + SLACK, h)
            .await
            .with_context(|| format!("{what}: a stalled body outlived the bound"))??;
        let took = at - opened;
        if took < BOUND {
            // Evicted to make room for healthz: closed without an answer.
            early += 1;
            ensure!(answer.is_empty(), "{what}: answered early: {answer}");
            continue;
        }
        ensure!(
            took <= BOUND + SLACK,
            "{what}: a stalled body held its slot {took:?}"
        );
        ensure!(
            answer.starts_with("HTTP/1.1 408"),
            "{what}: a stalled body was answered {answer:?}"
        );
        ensure!(
            answer.contains("request_timeout"),
            "{what}: not in the error shape: {answer}"
        );
        answers.push(answer);
    }
    eprintln!("{what}: healthz answered in {healthz_took:?} at the cap; {early} evicted, {} answered 408 after the bound", answers.len());
    ensure!(
        early >= 1,
        "{what}: healthz was served but nothing made room"
    );
    Ok(answers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_bodies_at_the_cap_do_not_lock_a_client_out() -> Result<()> {
    let env = Env::new()?;
    let keys = env.keys("keys", KEYS)?;
    let cap = CAP.to_string();
    let flags = [
        "--body-timeout-ms",
        &bound_flag(),
        "--max-connections",
        &cap,
    ];
    let _hearth = start_hearth_with(&env, &flags)?;
    let console = start_console(&env, "http://127.0.0.1:9", &keys, &flags)?;
    let addr = console_addr(&Api::new(&console, &env)?);
    let socket = env.socket();

    let answers = stalled_bodies(
        &Door::Console(addr.clone()),
        &stalled_body(&addr, "/api/session"),
    )
    .await?;
    for answer in answers {
        let head = answer.to_ascii_lowercase();
        for h in [
            "content-security-policy:",
            "x-frame-options:",
            "cache-control: no-store",
        ] {
            ensure!(head.contains(h), "the 408 lacks {h}: {answer}");
        }
    }
    stalled_bodies(
        &Door::Hearth(socket),
        &stalled_body("hearth", "/v1/provision"),
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn at_a_cap_of_connections_being_served_a_client_waits() -> Result<()> {
    let env = Env::new()?;
    let keys = env.keys("keys", KEYS)?;
    let cap = CAP.to_string();
    let console = start_console(
        &env,
        "http://127.0.0.1:9",
        &keys,
        &[
            "--header-timeout-ms",
            &bound_flag(),
            "--max-connections",
            &cap,
        ],
    )?;
    let api = Api::new(&console, &env)?;
    let addr = console_addr(&api);
    // Live tails are being served for as long as they last: none of them is evicted.
    let mut tails = Vec::new();
    for _ in 0..CAP {
        tails.push(open_tail(&api).await?);
    }
    let waited = tokio::time::timeout(BOUND + BOUND, Door::Console(addr).healthz()).await;
    ensure!(
        waited.is_err(),
        "a client over a cap of live tails was served: {waited:?} (no cap, or a tail was evicted)"
    );
    for tail in &tails {
        ensure!(tail.status().as_u16() == 200);
    }
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
