//! Every answer of the console carries the security headers, against the real binary: each
//! route, with and without the admin token, sent unknown methods, bad queries, bad path
//! segments, oversize bodies and an oversize head, so the framework's own 400/404/405/413/431
//! and the connection bounds' refusals are covered as well as the handlers' answers.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use common::{start_console, start_hearth, Env, KEYS};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The headers and the value each must have.
const EXPECTED: [(&str, &str); 5] = [
    ("content-security-policy", "default-src 'self'"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-store"),
];

/// Every route of the console, with `x` where a path takes a parameter.
const ROUTES: &[&str] = &[
    "/healthz",
    "/api/session",
    "/api/hearth/workspaces",
    "/api/hearth/workspaces/x",
    "/api/hearth/workspaces/x/pause",
    "/api/ralph/runs",
    "/api/ralph/runs/x",
    "/api/hatch/events",
    "/login",
    "/api/ui/login-codes",
    "/api/ui/workspaces/live",
    "/api/ui/workspaces/x/steps",
    "/api/ui/chain",
    "/api/hatch/log",
    "/api/hatch/junit",
    "/",
    "/ui/app.js",
    "/ui/app.css",
    "/ui/favicon.svg",
    "/nowhere",
];

/// Sends one raw request and returns the answer's status and head (lower-cased). Only the
/// head is read: a live tail never ends.
async fn exchange(addr: &str, request: &[u8]) -> Result<(u16, String)> {
    let mut s = TcpStream::connect(addr).await?;
    // A server may answer (413, 431) before it has read everything.
    let _ = s.write_all(request).await;
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let head = String::from_utf8_lossy(&got).to_ascii_lowercase();
    read.with_context(|| format!("no answer head: {head:?}"))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no status in {head:?}"))?;
    Ok((status, head))
}

/// The headers of `EXPECTED` that `head` lacks or gets wrong.
fn missing(head: &str) -> Vec<&'static str> {
    EXPECTED
        .iter()
        .filter(|(name, value)| {
            !head.lines().any(|l| {
                l.split_once(':').is_some_and(|(n, v)| {
                    n.trim() == *name && v.trim().starts_with(&value.to_ascii_lowercase())
                })
            })
        })
        .map(|(name, _)| *name)
        .collect()
}

/// The requests sent to `route`: an unknown method, a bad query, a bad path segment, an
/// oversize body and an ordinary GET.
fn requests(addr: &str, route: &str, auth: &str, body_limit: usize) -> Vec<(String, Vec<u8>)> {
    let bad_segment = if route.contains("/x") {
        route.replacen("/x", "/%ff", 1)
    } else {
        format!("{route}/%ff")
    };
    let head = |method: &str, target: &str, extra: &str| {
        format!(
            "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}{extra}\r\n"
        )
    };
    let over = body_limit + 1;
    vec![
        ("GDT".into(), head("GDT", route, "").into_bytes()),
        (
            "?wait=abc".into(),
            head("GET", &format!("{route}?wait=abc&after=x"), "").into_bytes(),
        ),
        ("%ff".into(), head("GET", &bad_segment, "").into_bytes()),
        (
            "oversize body".into(),
            head(
                "POST",
                route,
                &format!("Content-Type: application/json\r\nContent-Length: {over}\r\n"),
            )
            .into_bytes(),
        ),
        ("GET".into(), head("GET", route, "").into_bytes()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_the_security_headers() -> Result<()> {
    let env = Env::new()?;
    let keys = env.keys("keys", KEYS)?;
    let _hearth = start_hearth(&env)?;
    let console = start_console(&env, "http://127.0.0.1:9", &keys, &[])?;
    let api = env.api(&console)?;
    let addr = api.base.trim_start_matches("http://").to_owned();
    let bearer = format!("Authorization: Bearer {}\r\n", api.token);
    let mut failures = Vec::new();
    let mut statuses = BTreeSet::new();
    for auth in ["", bearer.as_str()] {
        for route in ROUTES {
            for (what, req) in requests(&addr, route, auth, console::DEFAULT_BODY_LIMIT) {
                let (status, head) = exchange(&addr, &req).await?;
                statuses.insert(status);
                let lacks = missing(&head);
                if !lacks.is_empty() {
                    let who = if auth.is_empty() {
                        "anonymous"
                    } else {
                        "admin"
                    };
                    failures.push(format!("{who} {what} {route}: {status} lacks {lacks:?}"));
                }
            }
        }
    }
    // A head over the cap is refused by the connection bounds, before any route.
    let big = format!(
        "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "x".repeat(20 * 1024)
    );
    let (status, head) = exchange(&addr, big.as_bytes()).await?;
    ensure!(status == 431, "a 20 KiB head was answered {status}");
    statuses.insert(status);
    if !missing(&head).is_empty() {
        failures.push(format!("431: lacks {:?}", missing(&head)));
    }
    ensure!(
        failures.is_empty(),
        "{} answers without the security headers:\n{}",
        failures.len(),
        failures.join("\n")
    );
    for status in [200, 400, 401, 404, 405, 413, 431] {
        ensure!(
            statuses.contains(&status),
            "no {status} among the answers checked: {statuses:?}"
        );
    }
    Ok(())
}
