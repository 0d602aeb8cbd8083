//! HTTP/1.x on std's sockets: read a request head, hand it to the router, write one answer
//! and close (`Connection: close` keeps the server free of keep-alive bookkeeping).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use crate::accept::accept_loop;
use crate::routes::Service;

/// How long one connection may take to send its request head or drain our answer.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Most request-head bytes read before the request is answered regardless.
const MAX_HEAD_BYTES: u64 = 16 * 1024;

/// A request line split into what the router looks at.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Request<'a> {
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    /// What follows `?`, still percent-encoded ("" when there is none).
    pub(crate) query: &'a str,
}

impl<'a> Request<'a> {
    /// Splits a request line such as `GET /peer?url=x HTTP/1.1`.
    pub(crate) fn parse(line: &'a str) -> Self {
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("");
        let target = parts.next().unwrap_or("");
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Self {
            method,
            path,
            query,
        }
    }

    /// The first value of query parameter `name`, percent-decoded.
    pub(crate) fn param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k) == name).then(|| percent_decode(v))
        })
    }
}

/// Decodes `%XX` escapes and `+` (as a space); malformed escapes are kept as written.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Serves HTTP on `listener` forever.
pub(crate) fn serve(listener: TcpListener, service: Arc<Service>) {
    let busy = response(
        "503 Service Unavailable",
        "{\"ok\":false,\"error\":\"busy\"}",
    );
    accept_loop(listener, &busy, move |stream| {
        let _ = handle(stream, &service);
    });
}

/// Reads the request head (up to the blank line) and answers it; the body, if any, is not read.
fn handle(stream: TcpStream, service: &Service) -> io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut reader = BufReader::new(Read::take(&stream, MAX_HEAD_BYTES));
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let answer = service.route(&Request::parse(&request_line));
    let mut stream = stream;
    stream.write_all(&answer)?;
    stream.flush()
}

/// A complete HTTP/1.1 response with a JSON body that closes the connection.
pub(crate) fn response(status: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_split_into_method_path_and_query() {
        let r = Request::parse("GET /peer?url=http%3A%2F%2Flore%3A80%2F&x HTTP/1.1\r\n");
        assert_eq!((r.method, r.path), ("GET", "/peer"));
        assert_eq!(r.param("url").as_deref(), Some("http://lore:80/"));
        assert_eq!(r.param("x").as_deref(), Some(""));
        assert_eq!(r.param("y"), None);
        assert_eq!(
            Request::parse(""),
            Request {
                method: "",
                path: "",
                query: ""
            }
        );
    }

    #[test]
    fn percent_decoding_keeps_what_it_cannot_decode() {
        assert_eq!(percent_decode("a+b%20c%zz%4"), "a b c%zz%4");
        assert_eq!(percent_decode("http://x:1/p?q"), "http://x:1/p?q");
    }
}
