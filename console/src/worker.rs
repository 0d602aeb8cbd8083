//! The console's client for the worker (`ralph serve`, or worker-stub): signed submits and the
//! signed KAHN event stream, parsed with `eventsource-stream` behind a per-event size cap.

use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use eventsource_stream::{Event, Eventsource};
use futures::{Stream, StreamExt};
use hearth_protocol::bearer::{audience_of, Keyring};
use hearth_protocol::ident;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Url;
use serde::{Deserialize, Serialize};

/// The largest SSE event the console accepts from the worker.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;

/// The largest answer body (to a submit, or an error) the console reads from the worker.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// A failed worker call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkerError {
    /// The worker answered, and refused.
    #[error("worker answered {status} {code}: {message}")]
    Rejected {
        status: u16,
        code: String,
        message: String,
    },
    /// The worker could not be reached.
    #[error("worker unreachable: {0}")]
    Unreachable(String),
    /// The worker answered 2xx with a body the console cannot read.
    #[error("worker answered with an unreadable body: {0}")]
    BadAnswer(String),
}

/// A failure while reading the event stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// The connection broke or the body could not be read.
    #[error("stream broke: {0}")]
    Transport(String),
    /// One event grew past [`MAX_EVENT_BYTES`]; the stream is stopped.
    #[error("an event exceeded {limit} bytes")]
    TooLarge { limit: usize },
    /// The bytes are not SSE (bad UTF-8, unparseable line).
    #[error("not an SSE stream: {0}")]
    Malformed(String),
}

/// The stream of SSE events for one run.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<Event, StreamError>> + Send>>;

/// `POST /runs` body.
#[derive(Debug, Serialize)]
struct SubmitBody<'a> {
    workspace: &'a str,
    endpoint: &'a str,
    prompts: &'a [String],
}

#[derive(Debug, Deserialize)]
struct SubmitAnswer {
    run_id: String,
}

/// Signs and sends requests to one worker.
#[derive(Debug, Clone)]
pub struct WorkerClient {
    base: Url,
    /// The worker's origin, which every bearer is signed for (v2), so a bearer captured on
    /// its way here is refused by any other worker holding the same keys.
    audience: String,
    http: reqwest::Client,
    /// First key signs; shared with nothing else.
    keys: Arc<Keyring>,
}

impl WorkerClient {
    /// A client for the worker at `base` (e.g. `http://127.0.0.1:9000`).
    ///
    /// # Errors
    /// A message when `base` is not an http(s) URL.
    pub fn new(base: &str, keys: Keyring) -> Result<Self, String> {
        let mut base = Url::parse(base).map_err(|e| format!("--worker-url {base:?}: {e}"))?;
        let audience =
            audience_of(base.as_str()).map_err(|e| format!("--worker-url {base}: {e}"))?;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        // The worker is on loopback: no proxy from the environment may see the bearer.
        let http = reqwest::Client::builder()
            .no_proxy()
            // reqwest's default, said out loud: a signed request must not wait on Nagle.
            .tcp_nodelay(true)
            .connect_timeout(std::time::Duration::from_secs(5))
            .tcp_keepalive(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(WorkerClient {
            base,
            audience,
            http,
            keys: Arc::new(keys),
        })
    }

    /// The URL of `segments` under the base, each percent-encoded as one path segment (a run
    /// id holding `/`, `?` or `..` cannot change the path), and the path with query it signs.
    fn url(&self, segments: &[&str]) -> Result<(Url, String), WorkerError> {
        // The URL parser drops `.` and `..` segments: refused, so a path never shrinks.
        if let Some(bad) = segments.iter().find(|s| matches!(**s, "" | "." | "..")) {
            return Err(WorkerError::BadAnswer(format!(
                "{} is not a path segment",
                ident::preview(bad)
            )));
        }
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| {
                WorkerError::Unreachable(format!("worker URL {} has no path", self.base))
            })?
            .pop_if_empty()
            .extend(segments);
        let mut signed = url.path().to_owned();
        if let Some(q) = url.query() {
            signed.push('?');
            signed.push_str(q);
        }
        Ok((url, signed))
    }

    /// Submits a run; answers the worker's run id.
    ///
    /// # Errors
    /// [`WorkerError::Rejected`] when the worker refuses (401 for a bad bearer),
    /// [`WorkerError::Unreachable`] when it cannot be reached.
    pub async fn submit(
        &self,
        workspace: &str,
        endpoint: &str,
        prompts: &[String],
    ) -> Result<String, WorkerError> {
        let (url, path) = self.url(&["runs"])?;
        let body = serde_json::to_vec(&SubmitBody {
            workspace,
            endpoint,
            prompts,
        })
        .map_err(|e| WorkerError::BadAnswer(e.to_string()))?;
        let bearer = self.keys.sign(&self.audience, "POST", &path, &body);
        let resp = self
            .http
            .post(url)
            .header(AUTHORIZATION, bearer)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .timeout(std::time::Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| WorkerError::Unreachable(e.to_string()))?;
        let resp = check(resp).await?;
        let body = read_capped(resp, MAX_ANSWER_BYTES).await?;
        let answer: SubmitAnswer =
            serde_json::from_slice(&body).map_err(|e| WorkerError::BadAnswer(e.to_string()))?;
        // The id goes into URLs, log lines and HATCH from here on: checked once, here.
        ident::check("run id", &answer.run_id)
            .map_err(|e| WorkerError::BadAnswer(e.to_string()))?;
        Ok(answer.run_id)
    }

    /// Opens the run's event stream, resuming after `last_event_id` when given.
    ///
    /// # Errors
    /// As [`submit`](Self::submit).
    pub async fn events(
        &self,
        run_id: &str,
        last_event_id: Option<&str>,
    ) -> Result<EventStream, WorkerError> {
        let (url, path) = self.url(&["runs", run_id, "events"])?;
        let mut req = self
            .http
            .get(url)
            .header(
                AUTHORIZATION,
                self.keys.sign(&self.audience, "GET", &path, b""),
            )
            .header(ACCEPT, "text/event-stream");
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| WorkerError::Unreachable(e.to_string()))?;
        let resp = check(resp).await?;
        let mut guard = SizeGuard::new(MAX_EVENT_BYTES);
        let bytes = resp.bytes_stream().map(move |chunk| match chunk {
            Ok(chunk) => guard.check(chunk),
            Err(e) => Err(StreamError::Transport(e.to_string())),
        });
        let events = bytes.eventsource().map(|item| {
            item.map_err(|e| match e {
                eventsource_stream::EventStreamError::Transport(inner) => inner,
                other => StreamError::Malformed(other.to_string()),
            })
        });
        Ok(Box::pin(events))
    }
}

/// Turns a non-2xx answer into [`WorkerError::Rejected`], reading its error code.
async fn check(resp: reqwest::Response) -> Result<reqwest::Response, WorkerError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let text = read_capped(resp, MAX_ANSWER_BYTES)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let err = value.get("error").unwrap_or(&value);
    let code = err
        .get("code")
        .and_then(|c| c.as_str())
        .map_or_else(|| format!("http_{}", status.as_u16()), str::to_owned);
    let message = err
        .get("message")
        .and_then(|m| m.as_str())
        .map_or_else(|| text.chars().take(200).collect(), str::to_owned);
    Err(WorkerError::Rejected {
        status: status.as_u16(),
        code,
        message,
    })
}

/// The answer's body, refused once it passes `cap` bytes (a worker's answer is outside data:
/// it is not read whole into memory on its word).
async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Result<Vec<u8>, WorkerError> {
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| WorkerError::Unreachable(e.to_string()))?
    {
        if body.len() + chunk.len() > cap {
            return Err(WorkerError::BadAnswer(format!(
                "the answer is over {cap} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Counts the bytes of the SSE event being received and fails the stream once one passes
/// the cap. It only finds event boundaries (blank lines); parsing is `eventsource-stream`'s.
#[derive(Debug)]
struct SizeGuard {
    limit: usize,
    /// Bytes of the current event so far.
    event_len: usize,
    /// Bytes of the current line so far (0 right after a line ending).
    line_len: usize,
    /// The previous byte was `\r` (so a following `\n` ends the same line).
    prev_cr: bool,
    tripped: bool,
}

impl SizeGuard {
    fn new(limit: usize) -> Self {
        SizeGuard {
            limit,
            event_len: 0,
            line_len: 0,
            prev_cr: false,
            tripped: false,
        }
    }

    fn check(&mut self, chunk: Bytes) -> Result<Bytes, StreamError> {
        if self.tripped {
            return Err(StreamError::TooLarge { limit: self.limit });
        }
        for &b in chunk.iter() {
            match b {
                b'\n' if self.prev_cr => self.prev_cr = false,
                b'\n' | b'\r' => {
                    if self.line_len == 0 {
                        self.event_len = 0;
                    }
                    self.line_len = 0;
                    self.prev_cr = b == b'\r';
                }
                _ => {
                    self.prev_cr = false;
                    self.line_len += 1;
                    self.event_len += 1;
                    if self.event_len > self.limit {
                        self.tripped = true;
                        return Err(StreamError::TooLarge { limit: self.limit });
                    }
                }
            }
        }
        Ok(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_resets_at_blank_lines_and_trips_on_big_events() {
        let mut g = SizeGuard::new(20);
        assert!(g.check(Bytes::from_static(b"id: 1\ndata: abc\n\n")).is_ok());
        assert!(g
            .check(Bytes::from_static(b"id: 2\r\ndata: abcdef\r\n\r\n"))
            .is_ok());
        assert!(g.check(Bytes::from_static(b"data: 0123")).is_ok());
        let err = g
            .check(Bytes::from_static(b"456789abcdef\n\n"))
            .expect_err("too big");
        assert_eq!(err, StreamError::TooLarge { limit: 20 });
        assert!(g.check(Bytes::from_static(b"\n")).is_err(), "stays tripped");
    }

    #[test]
    fn base_url_gets_a_trailing_slash_and_paths_are_signed_whole() {
        let keys = Keyring::parse("k1:secret-secret-secret-secret\n").expect("keys");
        let c = WorkerClient::new("http://127.0.0.1:9/prefix", keys).expect("client");
        let (url, path) = c.url(&["runs", "r1", "events"]).expect("url");
        assert_eq!(url.as_str(), "http://127.0.0.1:9/prefix/runs/r1/events");
        assert_eq!(path, "/prefix/runs/r1/events");
        assert_eq!(c.audience, "http://127.0.0.1:9");
    }

    #[test]
    fn a_hostile_segment_stays_one_segment() {
        let keys = Keyring::parse("k1:secret-secret-secret-secret\n").expect("keys");
        let c = WorkerClient::new("http://127.0.0.1:9", keys).expect("client");
        for dots in ["..", ".", ""] {
            assert!(c.url(&["runs", dots, "events"]).is_err(), "{dots:?}");
        }
        for hostile in ["../../healthz?x=", "a/b#c", "%2e%2e", "a?b"] {
            let (url, path) = c.url(&["runs", hostile, "events"]).expect("url");
            assert!(url.query().is_none() && url.fragment().is_none(), "{url}");
            let segs: Vec<&str> = url.path_segments().expect("segments").collect();
            assert_eq!(segs.len(), 3, "{url}");
            assert_eq!((segs[0], segs[2]), ("runs", "events"), "{url}");
            assert_eq!(path, url.path(), "{url}");
        }
    }
}
