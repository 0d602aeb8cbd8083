//! What each path answers: the health path (503 until its delay has passed), `/env`,
//! `/peer?url=`, `/data/NAME`, and for everything else the role's JSON body with `200`.

use std::fs;
use std::path::PathBuf;
use std::time::Instant;

use crate::http::{response, Request};
use crate::json::{self, Value};
use crate::peer;

/// The server's state, built once at start and shared by every connection.
#[derive(Debug)]
pub(crate) struct Service {
    /// The body of every ordinary answer: `{"ok":true,"role":…,"service":"hearth-standin"}`.
    body: String,
    health_path: String,
    /// When the health path stops answering 503 (process start + `HEALTH_DELAY_MS`).
    healthy_at: Instant,
    /// The environment at start, sorted by name, for `GET /env`.
    env: Vec<(String, String)>,
    /// Where `GET /data/NAME` reads from (`/data`, the role's volume, in the image).
    data_dir: PathBuf,
}

impl Service {
    pub(crate) fn new(
        role: &str,
        health_path: &str,
        healthy_at: Instant,
        env: impl IntoIterator<Item = (String, String)>,
        data_dir: PathBuf,
    ) -> Self {
        let mut env: Vec<_> = env.into_iter().collect();
        env.sort();
        Self {
            body: json_body(role),
            health_path: health_path.to_owned(),
            healthy_at,
            env,
            data_dir,
        }
    }

    /// Chooses the answer for a parsed request line.
    pub(crate) fn route(&self, req: &Request<'_>) -> Vec<u8> {
        match (req.method, req.path) {
            ("", _) => response("400 Bad Request", "{\"ok\":false}"),
            (_, path) if path == self.health_path => self.health(),
            ("GET", "/healthz") => response("200 OK", "{\"ok\":true}"),
            ("GET", "/env") => response(
                "200 OK",
                &self.env_json(&req.param("prefix").unwrap_or_default()),
            ),
            ("GET", "/peer") => peer::answer(req.param("url").as_deref()),
            ("GET", path) if path.starts_with("/data/") => self.data_file(&path["/data/".len()..]),
            _ => response("200 OK", &self.body),
        }
    }

    /// `503` with how long is left until `healthy_at`, then `200`.
    fn health(&self) -> Vec<u8> {
        let left = self.healthy_at.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return response("200 OK", "{\"ok\":true}");
        }
        let body = json::object([
            ("ok", Value::Raw("false".into())),
            ("ready_in_ms", Value::Raw(left.as_millis().to_string())),
        ]);
        response("503 Service Unavailable", &body)
    }

    /// The environment variables whose names start with `prefix` ("" = all), as one object.
    fn env_json(&self, prefix: &str) -> String {
        json::object(
            self.env
                .iter()
                .filter(|(k, _)| k.starts_with(prefix))
                .map(|(k, v)| (k.as_str(), Value::Str(v))),
        )
    }

    /// A file directly in the data directory (say a one-shot's marker), as text.
    fn data_file(&self, name: &str) -> Vec<u8> {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return response(
                "400 Bad Request",
                "{\"ok\":false,\"error\":\"a file name directly under /data\"}",
            );
        }
        match fs::read(self.data_dir.join(name)) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                let body = json::object([
                    ("ok", Value::Raw("true".into())),
                    ("name", Value::Str(name)),
                    ("text", Value::Str(&text)),
                ]);
                response("200 OK", &body)
            }
            Err(err) => {
                let err = err.to_string();
                let body = json::object([
                    ("ok", Value::Raw("false".into())),
                    ("name", Value::Str(name)),
                    ("error", Value::Str(&err)),
                ]);
                response("404 Not Found", &body)
            }
        }
    }
}

/// The JSON body every ordinary request gets.
fn json_body(role: &str) -> String {
    json::object([
        ("ok", Value::Raw("true".into())),
        ("role", Value::Str(role)),
        ("service", Value::Str("hearth-standin")),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn service(healthy_at: Instant) -> Service {
        let env = [
            ("LORE_URL", "http://lore:9000"),
            ("LORE_A", "1"),
            ("MODE", "e2e"),
        ];
        let env = env.map(|(k, v)| (k.to_owned(), v.to_owned()));
        Service::new("cairnet", "/ready", healthy_at, env, std::env::temp_dir())
    }

    fn get(s: &Service, line: &str) -> String {
        String::from_utf8(s.route(&Request::parse(line))).unwrap()
    }

    fn body(out: &str) -> &str {
        out.split_once("\r\n\r\n").unwrap().1
    }

    #[test]
    fn role_is_json_escaped() {
        assert_eq!(
            json_body("a\"b\\c\n"),
            r#"{"ok":true,"role":"a\"b\\c\n","service":"hearth-standin"}"#
        );
    }

    #[test]
    fn health_path_answers_503_until_its_delay_has_passed() {
        let s = service(Instant::now() + Duration::from_secs(60));
        let out = get(&s, "GET /ready HTTP/1.1");
        assert!(
            out.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{out}"
        );
        assert!(
            body(&out).starts_with(r#"{"ok":false,"ready_in_ms":"#),
            "{out}"
        );
        // /healthz stays the liveness answer when the health path is elsewhere.
        assert!(get(&s, "GET /healthz HTTP/1.1").starts_with("HTTP/1.1 200 OK\r\n"));
        let s = service(Instant::now());
        let out = get(&s, "HEAD /ready HTTP/1.1");
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert_eq!(body(&out), r#"{"ok":true}"#);
    }

    #[test]
    fn env_answers_all_or_a_prefix_sorted() {
        let s = service(Instant::now());
        assert_eq!(
            body(&get(&s, "GET /env?prefix=LORE_ HTTP/1.1")),
            r#"{"LORE_A":"1","LORE_URL":"http://lore:9000"}"#
        );
        assert_eq!(
            body(&get(&s, "GET /env HTTP/1.1")),
            r#"{"LORE_A":"1","LORE_URL":"http://lore:9000","MODE":"e2e"}"#
        );
        assert_eq!(body(&get(&s, "GET /env?prefix=NOPE HTTP/1.1")), "{}");
    }

    #[test]
    fn data_files_are_read_by_name_only() {
        let dir = std::env::temp_dir().join(format!("standin-routes-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(".oneshot"), "exit=0\n").unwrap();
        let s = Service::new("r", "/healthz", Instant::now(), [], dir.clone());
        let out = get(&s, "GET /data/.oneshot HTTP/1.1");
        assert_eq!(
            body(&out),
            r#"{"ok":true,"name":".oneshot","text":"exit=0\n"}"#
        );
        assert!(get(&s, "GET /data/missing HTTP/1.1").starts_with("HTTP/1.1 404 Not Found\r\n"));
        assert!(
            get(&s, "GET /data/../etc/passwd HTTP/1.1").starts_with("HTTP/1.1 400 Bad Request\r\n")
        );
        assert!(get(&s, "GET /data/.. HTTP/1.1").starts_with("HTTP/1.1 400 Bad Request\r\n"));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn everything_else_gets_the_role_body() {
        let s = service(Instant::now());
        assert_eq!(
            body(&get(&s, "POST /env HTTP/1.1")),
            r#"{"ok":true,"role":"cairnet","service":"hearth-standin"}"#
        );
        assert!(get(&s, "").starts_with("HTTP/1.1 400 Bad Request\r\n"));
    }
}
