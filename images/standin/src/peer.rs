//! `GET /peer?url=http://host:port/path`: fetch another service over plain HTTP/1.0 and
//! report its status and body, so a test can prove one role reaches another by its name on
//! the workspace network.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::dns;
use crate::http::response;
use crate::json::{self, Value};

/// Connect, write and read deadline for one fetch: a peer that does not answer by then is
/// reported as unreachable rather than holding the caller.
const TIMEOUT: Duration = Duration::from_secs(2);
/// Most bytes of the peer's answer read (head and body).
const MAX_ANSWER_BYTES: u64 = 64 * 1024;

/// Where a `url=` points.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    host: String,
    port: u16,
    /// The path with its query, always starting with `/`.
    path: String,
}

/// Parses `http://host[:port][/path]`; anything else is refused with what was wrong.
fn parse_url(url: &str) -> Result<Target, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?} is not an http:// URL"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => {
            let port = port
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("{port:?} in {url:?} is not a port"))?;
            (host, port)
        }
        None => (authority, 80),
    };
    if host.is_empty() || host.contains(['@', '[', ']']) {
        return Err(format!(
            "{url:?} names no plain host (user info and IPv6 are not supported)"
        ));
    }
    Ok(Target {
        host: host.to_owned(),
        port,
        path: path.to_owned(),
    })
}

/// Fetches the target: its status code and body (lossily decoded as UTF-8).
fn fetch(t: &Target) -> Result<(u16, String), String> {
    let addrs = dns::resolve(&t.host, t.port)?;
    let mut stream =
        connect(&addrs).map_err(|e| format!("cannot connect to {}:{}: {e}", t.host, t.port))?;
    let io = |e: std::io::Error| format!("{}:{}: {e}", t.host, t.port);
    stream.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(io)?;
    let head = format!(
        "GET {} HTTP/1.0\r\nHost: {}:{}\r\nConnection: close\r\n\r\n",
        t.path, t.host, t.port
    );
    stream.write_all(head.as_bytes()).map_err(io)?;
    let mut raw = Vec::new();
    stream
        .take(MAX_ANSWER_BYTES)
        .read_to_end(&mut raw)
        .map_err(io)?;
    parse_answer(&String::from_utf8_lossy(&raw))
}

/// The first address that accepts within the timeout.
fn connect(addrs: &[SocketAddr]) -> std::io::Result<TcpStream> {
    let mut last = std::io::Error::other("no address");
    for addr in addrs {
        match TcpStream::connect_timeout(addr, TIMEOUT) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Splits an HTTP answer into its status code and body.
fn parse_answer(raw: &str) -> Result<(u16, String), String> {
    let status = raw
        .lines()
        .next()
        .filter(|l| l.starts_with("HTTP/"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| {
            let first: String = raw.chars().take(60).collect();
            format!("the peer's answer is not HTTP: {first:?}")
        })?;
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    Ok((status, body.to_owned()))
}

/// The whole `/peer` answer: `200` with the peer's status and body, `502` when it could not
/// be reached, `400` when `url` is missing or malformed.
pub(crate) fn answer(url: Option<&str>) -> Vec<u8> {
    let Some(url) = url.filter(|u| !u.is_empty()) else {
        let body = "{\"ok\":false,\"error\":\"missing url\",\"hint\":\"GET /peer?url=http://host:port/path\"}";
        return response("400 Bad Request", body);
    };
    let target = match parse_url(url) {
        Ok(t) => t,
        Err(e) => return failure("400 Bad Request", url, &e),
    };
    match fetch(&target) {
        Ok((status, body)) => {
            let body = json::object([
                ("ok", Value::Raw("true".into())),
                ("url", Value::Str(url)),
                ("status", Value::Raw(status.to_string())),
                ("body", Value::Str(&body)),
            ]);
            response("200 OK", &body)
        }
        Err(e) => failure("502 Bad Gateway", url, &e),
    }
}

fn failure(status: &str, url: &str, error: &str) -> Vec<u8> {
    let body = json::object([
        ("ok", Value::Raw("false".into())),
        ("url", Value::Str(url)),
        ("error", Value::Str(error)),
    ]);
    response(status, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    fn body(out: &[u8]) -> String {
        let out = String::from_utf8(out.to_vec()).unwrap();
        out.split_once("\r\n\r\n").unwrap().1.to_owned()
    }

    #[test]
    fn urls_parse_with_default_port_and_path() {
        let t = parse_url("http://lore:9000/healthz?x=1").unwrap();
        assert_eq!(
            t,
            Target {
                host: "lore".into(),
                port: 9000,
                path: "/healthz?x=1".into()
            }
        );
        let t = parse_url("http://lore").unwrap();
        assert_eq!((t.port, t.path.as_str()), (80, "/"));
        assert!(parse_url("https://lore/")
            .unwrap_err()
            .contains("not an http:// URL"));
        assert!(parse_url("http://lore:http/")
            .unwrap_err()
            .contains("is not a port"));
        assert!(parse_url("http://:80/").is_err());
        assert!(parse_url("http://[::1]:80/").is_err());
    }

    #[test]
    fn answers_are_split_into_status_and_body() {
        assert_eq!(
            parse_answer("HTTP/1.1 503 Nope\r\nA: b\r\n\r\n{}").unwrap(),
            (503, "{}".into())
        );
        assert!(parse_answer("SSH-2.0-x\r\n")
            .unwrap_err()
            .contains("not HTTP"));
    }

    #[test]
    fn fetches_a_real_peer_and_reports_its_status_and_body() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut head = [0u8; 512];
            let n = s.read(&mut head).unwrap();
            let head = String::from_utf8_lossy(&head[..n]).into_owned();
            let reply = format!(
                "HTTP/1.0 418 Teapot\r\n\r\n{}",
                head.lines().next().unwrap()
            );
            s.write_all(reply.as_bytes()).unwrap();
        });
        let url = format!("http://localhost:{port}/p?q=1");
        let out = body(&answer(Some(&url)));
        assert_eq!(
            out,
            format!(r#"{{"ok":true,"url":"{url}","status":418,"body":"GET /p?q=1 HTTP/1.0"}}"#)
        );
    }

    #[test]
    fn unreachable_and_malformed_peers_are_clear_errors() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let out = String::from_utf8(answer(Some(&format!("http://127.0.0.1:{port}/")))).unwrap();
        assert!(out.starts_with("HTTP/1.1 502 Bad Gateway\r\n"), "{out}");
        assert!(out.contains("cannot connect to 127.0.0.1"), "{out}");
        let out = String::from_utf8(answer(None)).unwrap();
        assert!(
            out.starts_with("HTTP/1.1 400 Bad Request\r\n") && out.contains("hint"),
            "{out}"
        );
        assert!(String::from_utf8(answer(Some("ftp://x")))
            .unwrap()
            .starts_with("HTTP/1.1 400"));
    }
}
