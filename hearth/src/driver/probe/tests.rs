//! The probe loop against a scripted target and a real loopback HTTP server: what passes,
//! what a failure says, and that an exited role fails at once.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use super::*;
use crate::slug::Slug;
use crate::template::StatusRange;

/// A role whose answers the test chooses.
#[derive(Default)]
struct Scripted {
    addr: Option<SocketAddr>,
    /// `listens` answers true from this call on (0: never).
    listens_from: u32,
    calls: AtomicU32,
    exit: Mutex<Option<i64>>,
    log: String,
    no_proc: bool,
}

#[async_trait]
impl Target for Scripted {
    fn role(&self) -> &str {
        "cairnet"
    }
    fn published(&self, _port: u16) -> Option<SocketAddr> {
        self.addr
    }
    async fn state(&self) -> Result<RunState, String> {
        Ok(match *self.exit.lock().unwrap() {
            Some(c) => RunState::Exited(c),
            None => RunState::Running,
        })
    }
    async fn listens(&self, _port: u16) -> Result<bool, String> {
        if self.no_proc {
            return Err("no /proc here".into());
        }
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(self.listens_from != 0 && n >= self.listens_from)
    }
    async fn logs(&self, tail: Option<usize>) -> Result<String, String> {
        let lines: Vec<&str> = self.log.lines().collect();
        let from = tail.map_or(0, |t| lines.len().saturating_sub(t));
        Ok(lines[from..].join("\n"))
    }
    async fn exec(&self, command: &[String]) -> Result<i64, String> {
        Ok(if command[0] == "true" { 0 } else { 1 })
    }
    async fn health(&self) -> Result<Option<String>, String> {
        Ok(Some("starting".into()))
    }
}

/// A loopback server answering every request with `code`.
async fn answering(code: u16) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            let answer = format!("HTTP/1.1 {code} X\r\ncontent-length: 0\r\n\r\n");
            let _ = s.write_all(answer.as_bytes()).await;
        }
    });
    addr
}

fn http(path: &str) -> Probe {
    Probe::Http {
        path: path.into(),
        port: None,
        status: StatusRange::default(),
        timeout: None,
    }
}

fn ready(probe: Probe, secs: f64) -> Ready {
    Ready {
        probe,
        timeout: Some(Duration::from_secs_f64(secs)),
        interval: Some(Duration::from_millis(20)),
    }
}

fn steps() -> Steps {
    Steps::detached(&Slug::parse("t").expect("slug"))
}

async fn wait(target: &Scripted, r: &Ready) -> Result<(), HearthError> {
    let w = Wait {
        ready: r,
        port: Some(8080),
        default_timeout: Duration::from_secs(30),
    };
    wait_ready(target, w, &steps(), None).await
}

#[tokio::test]
async fn a_503_is_not_ready_and_the_failure_says_what_was_seen() {
    let target = Scripted {
        addr: Some(answering(503).await),
        ..Default::default()
    };
    let err = wait(&target, &ready(http("/healthz"), 0.5))
        .await
        .expect_err("503");
    let text = err.to_string();
    assert!(
        text.starts_with("cairnet: GET /healthz answered 503 for 0.5 s ("),
        "{text}"
    );
    assert!(text.ends_with(" attempts)"), "{text}");
    assert_eq!(err.code(), "driver_failure");
}

/// A loopback server answering its first request 503, then holding every later one unanswered.
async fn answering_once_then_hanging() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut held = Vec::new();
        let mut first = true;
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            if first {
                first = false;
                let _ = s
                    .write_all(b"HTTP/1.1 503 X\r\ncontent-length: 0\r\n\r\n")
                    .await;
            } else {
                held.push(s);
            }
        }
    });
    addr
}

#[tokio::test]
async fn an_attempt_cut_short_by_the_end_of_the_wait_keeps_what_was_seen_before() {
    let target = Scripted {
        addr: Some(answering_once_then_hanging().await),
        ..Default::default()
    };
    let err = wait(&target, &ready(http("/healthz"), 0.6))
        .await
        .expect_err("503, then no answer");
    let text = err.to_string();
    assert!(
        text.starts_with("cairnet: GET /healthz answered 503 for 0.6 s ("),
        "{text}"
    );
}

#[tokio::test]
async fn a_2xx_or_3xx_is_ready_and_a_range_is_honoured() {
    let ok = Scripted {
        addr: Some(answering(302).await),
        ..Default::default()
    };
    wait(&ok, &ready(http("/"), 2.0))
        .await
        .expect("302 is ready");
    let strict = Probe::Http {
        path: "/".into(),
        port: None,
        status: StatusRange {
            low: 200,
            high: 299,
        },
        timeout: None,
    };
    let err = wait(&ok, &ready(strict, 0.3)).await.expect_err("not 2xx");
    assert!(err.to_string().contains("answered 302"), "{err}");
}

#[tokio::test]
async fn all_waits_for_each_and_any_for_one() {
    let target = Scripted {
        addr: Some(answering(200).await),
        listens_from: 3,
        ..Default::default()
    };
    let both = Probe::All(vec![
        Probe::Tcp {
            port: 8080,
            timeout: None,
        },
        http("/"),
    ]);
    wait(&target, &ready(both, 2.0))
        .await
        .expect("tcp then http");
    assert!(target.calls.load(Ordering::SeqCst) >= 3);
    let never = Scripted::default();
    let either = Probe::Any(vec![
        Probe::Exec {
            command: vec!["false".into()],
            timeout: None,
        },
        Probe::Healthcheck { timeout: None },
    ]);
    let err = wait(&never, &ready(either, 0.2))
        .await
        .expect_err("neither");
    let text = err.to_string();
    assert!(text.contains("`false` exited 1"), "{text}");
    assert!(text.contains("HEALTHCHECK reports starting"), "{text}");
    let yes = Probe::Any(vec![
        Probe::Healthcheck { timeout: None },
        Probe::Exec {
            command: vec!["true".into()],
            timeout: None,
        },
    ]);
    wait(&never, &ready(yes, 1.0)).await.expect("exec passes");
}

#[tokio::test]
async fn a_probe_past_its_own_timeout_fails_before_the_outer_one() {
    let target = Scripted::default();
    let probe = Probe::Tcp {
        port: 9000,
        timeout: Some(Duration::from_millis(200)),
    };
    let started = std::time::Instant::now();
    let err = wait(&target, &ready(probe, 30.0)).await.expect_err("tcp");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        err.to_string()
            .contains("nothing listens on port 9000 inside the role"),
        "{err}"
    );
}

#[tokio::test]
async fn a_log_line_counts_and_a_missing_proc_falls_back_to_the_published_port() {
    let target = Scripted {
        log: "boot\nready\nready\n".into(),
        ..Default::default()
    };
    let twice = Probe::Log {
        regex: "^ready$".into(),
        times: 2,
        timeout: None,
    };
    wait(&target, &ready(twice, 1.0)).await.expect("twice");
    let thrice = Probe::Log {
        regex: "^ready$".into(),
        times: 3,
        timeout: None,
    };
    let err = wait(&target, &ready(thrice, 0.2)).await.expect_err("3");
    assert!(
        err.to_string().contains("matched /^ready$/ 2 of 3 times"),
        "{err}"
    );
    // No /proc: a listener that answers on the published port counts.
    let fallback = Scripted {
        addr: Some(answering(200).await),
        no_proc: true,
        ..Default::default()
    };
    let tcp = Probe::Tcp {
        port: 8080,
        timeout: None,
    };
    wait(&fallback, &ready(tcp, 2.0)).await.expect("fallback");
}

#[tokio::test]
async fn an_exit_fails_at_once_with_code_and_last_lines() {
    let log: String = (1..=30).map(|i| format!("line {i}\n")).collect();
    let target = Scripted {
        log,
        ..Default::default()
    };
    *target.exit.lock().unwrap() = Some(3);
    let started = std::time::Instant::now();
    let err = wait(&target, &ready(http("/"), 30.0))
        .await
        .expect_err("exit");
    assert!(started.elapsed() < Duration::from_secs(1));
    let text = err.to_string();
    assert!(
        text.starts_with("cairnet: exited with code 3 while hearth waited"),
        "{text}"
    );
    assert!(
        text.contains("line 11") && text.contains("line 30"),
        "{text}"
    );
    assert!(
        !text.contains("line 10\n"),
        "only the last 20 lines: {text}"
    );
    // A one-shot: 0 is completed, anything else fails.
    let err = wait_completed(&target, Duration::from_secs(5), &steps(), None)
        .await
        .expect_err("3");
    assert!(
        err.to_string().contains("code 3 before it completed"),
        "{err}"
    );
    *target.exit.lock().unwrap() = Some(0);
    wait_completed(&target, Duration::from_secs(5), &steps(), None)
        .await
        .expect("completed");
}

#[test]
fn proc_tables_skip_the_embedded_dns() {
    let table = "  sl  local_address rem_address   st\n\
       0: 0B00007F:A1B2 00000000:0000 0A\n\
       1: 00000000:2328 00000000:0000 0A\n\
       2: 0100007F:1F90 0100007F:C350 01\n";
    assert_eq!(tcp::listening_ports(table), vec![9000]);
}
