//! hearth-standin: a std-only HTTP server that stands in for a workspace service image.
//!
//! It answers every request with `200 OK` and a small JSON body naming its role, so hearth
//! can prove a workspace is ready without any registry. It is built as a static binary and
//! shipped in a `FROM scratch` image (`make images` → `hearth-standin:local`).
//!
//! Signals: the binary installs no handlers. Under an init process (hearth starts every
//! container with the engine's `init: true`) SIGTERM keeps its default disposition and ends
//! the process at once. Run as PID 1 without an init, the kernel ignores SIGTERM for it and
//! `docker stop` waits out its full timeout before SIGKILL.

use std::env;
use std::fs;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// Most connections served at once; beyond it new ones get a 503 and are closed.
const MAX_CONNECTIONS: usize = 64;
/// How long one connection may take to send its request head or drain our answer.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Most request-head bytes read before the request is answered regardless.
const MAX_HEAD_BYTES: u64 = 16 * 1024;

fn main() {
    let port = env::var("PORT").unwrap_or_else(|_| "80".to_owned());
    let role = env::var("HEARTH_ROLE").unwrap_or_default();
    let addr = format!("0.0.0.0:{port}");

    mark_data_dir(Path::new("/data"));

    let listener = match TcpListener::bind(&addr) {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("hearth-standin: cannot listen on {addr}: {err}");
            std::process::exit(1);
        }
    };
    eprintln!("hearth-standin: listening on {addr} role={role:?}");
    serve(listener, &role);
}

/// Creates `/data/.standin` when the data volume is mounted, proving it is writable.
/// Errors are ignored: the image must also run with no volume at all.
fn mark_data_dir(dir: &Path) {
    if dir.is_dir() {
        let _ = fs::write(dir.join(".standin"), b"hearth-standin\n");
    }
}

/// Accepts connections forever, one thread each, at most `MAX_CONNECTIONS` at once.
fn serve(listener: TcpListener, role: &str) {
    let body: Arc<str> = Arc::from(json_body(role));
    let live = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        if live.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
            live.fetch_sub(1, Ordering::AcqRel);
            let _ = stream.write_all(&response("503 Service Unavailable", "{\"ok\":false}"));
            continue;
        }
        let body = Arc::clone(&body);
        let live_for_thread = Arc::clone(&live);
        let spawned = thread::Builder::new()
            .name("conn".to_owned())
            .spawn(move || {
                let _ = handle(stream, &body);
                live_for_thread.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            live.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Reads the request head (up to the blank line) and answers it; the body, if any, is not read.
fn handle(stream: TcpStream, body: &str) -> io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut reader = BufReader::new(io::Read::take(&stream, MAX_HEAD_BYTES));
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let answer = route(&request_line, body);
    let mut stream = stream;
    stream.write_all(&answer)?;
    stream.flush()
}

/// Chooses the answer for a request line such as `GET /healthz HTTP/1.1`.
fn route(request_line: &str, body: &str) -> Vec<u8> {
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("");
    let path = parts.next().unwrap_or("");
    match (method, path) {
        ("", _) => response("400 Bad Request", "{\"ok\":false}"),
        ("GET", "/healthz") => response("200 OK", "{\"ok\":true}"),
        _ => response("200 OK", body),
    }
}

/// The JSON body every ordinary request gets.
fn json_body(role: &str) -> String {
    format!(
        "{{\"ok\":true,\"role\":\"{}\",\"service\":\"hearth-standin\"}}",
        json_escape(role)
    )
}

/// Escapes a string for a JSON string literal (std only, so done by hand).
fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// A complete HTTP/1.1 response that closes the connection.
fn response(status: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn start(role: &str) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let role = role.to_owned();
        thread::spawn(move || serve(listener, &role));
        addr
    }

    fn get(addr: std::net::SocketAddr, raw: &str) -> String {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(raw.as_bytes()).unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn answers_any_path_with_role_json_and_closes() {
        let addr = start("cairnet");
        let out = get(addr, "GET /anything HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.contains("Connection: close\r\n"), "{out}");
        let body = out.split("\r\n\r\n").nth(1).unwrap();
        assert_eq!(
            body,
            r#"{"ok":true,"role":"cairnet","service":"hearth-standin"}"#
        );
        let len: usize = out
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(len, body.len());
    }

    #[test]
    fn healthz_answers_ok() {
        let addr = start("lore");
        let out = get(addr, "GET /healthz HTTP/1.0\r\n\r\n");
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.ends_with("{\"ok\":true}"), "{out}");
    }

    #[test]
    fn post_with_body_is_answered() {
        let addr = start("lore");
        let out = get(addr, "POST /x HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}");
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.contains(r#""role":"lore""#), "{out}");
    }

    #[test]
    fn empty_request_is_bad_request() {
        let addr = start("lore");
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).unwrap();
        assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
    }

    #[test]
    fn role_is_json_escaped() {
        assert_eq!(
            json_body("a\"b\\c\n"),
            r#"{"ok":true,"role":"a\"b\\c\u000a","service":"hearth-standin"}"#
        );
    }

    #[test]
    fn data_dir_is_marked_when_present_and_ignored_when_absent() {
        let dir = std::env::temp_dir().join(format!("standin-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        mark_data_dir(&dir);
        assert_eq!(
            fs::read_to_string(dir.join(".standin")).unwrap(),
            "hearth-standin\n"
        );
        fs::remove_dir_all(&dir).unwrap();
        mark_data_dir(&dir.join("missing"));
        assert!(!dir.join("missing").exists());
    }
}
