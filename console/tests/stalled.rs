//! Stalled request bodies and the connection cap, against the real binaries with a short
//! body bound: stalled bodies are answered 408 and closed after the bound and, at the
//! connection cap, make room for a new client within 1 s, on the console and on hearth's
//! socket alike; a cap of connections being served (live tails) holds.

mod common;

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use common::raw::{bound_flag, console_addr, open_tail, Door, BOUND, SLACK};
use common::{start_console, start_hearth_with, Env, KEYS};
use tokio::io::{AsyncRead, AsyncReadExt};

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
    let addr = console_addr(&env.api(&console)?);
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
    let api = env.api(&console)?;
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
