//! The service between hyper and the router, one per connection: it holds each request to
//! the head cap and the body deadline, tells the connection's slot whether the server is
//! waiting on the client or working for it, and puts the configured headers on every answer
//! — the router's, the framework's and its own (408, 431) alike, since it is the last thing an
//! answer passes.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use axum::body::Body;
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use axum::Router;
use hyper::body::{Body as _, Frame, Incoming, SizeHint};

use crate::bounds::Limits;
use crate::slots::Conn;

/// The request body, failed once it has not arrived whole within the body deadline.
#[derive(Debug)]
struct TimedBody {
    inner: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
    /// Set when the deadline passed, so the answer becomes a 408.
    expired: Arc<AtomicBool>,
    conn: Arc<Conn>,
}

#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within its deadline")]
struct BodyTimedOut;

impl hyper::body::Body for TimedBody {
    type Data = bytes::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                if frame.is_none() || self.inner.is_end_stream() {
                    // All of it is here: from now on the server works for this request.
                    self.conn.working();
                }
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                ready!(self.deadline.as_mut().poll(cx));
                self.expired.store(true, Ordering::SeqCst);
                Poll::Ready(Some(Err(BodyTimedOut.into())))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The answer's body; once hyper is done with it (sent or dropped), the connection waits on
/// its client again.
#[derive(Debug)]
struct Answer {
    inner: Body,
    conn: Arc<Conn>,
}

impl hyper::body::Body for Answer {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Answer {
    fn drop(&mut self) {
        self.conn.waiting();
    }
}

/// One connection's service.
#[derive(Debug, Clone)]
pub(crate) struct Intake {
    pub(crate) router: Router,
    pub(crate) conn: Arc<Conn>,
    pub(crate) limits: Limits,
}

impl hyper::service::Service<Request<Incoming>> for Intake {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.answer(req).await) })
    }
}

impl Intake {
    async fn answer(self, req: Request<Incoming>) -> Response<Body> {
        let limits = self.limits;
        let mut resp = if head_bytes(&req) > limits.max_header_bytes
            || req.headers().len() > limits.max_headers
        {
            self.conn.working();
            refusal(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                format!(
                    "the request head is over {} bytes or {} headers",
                    limits.max_header_bytes, limits.max_headers
                ),
            )
        } else {
            if req.body().is_end_stream() {
                self.conn.working();
            } else {
                self.conn.waiting();
            }
            let expired = Arc::new(AtomicBool::new(false));
            let req = req.map(|inner| TimedBody {
                inner,
                deadline: Box::pin(tokio::time::sleep(limits.body_read_timeout)),
                expired: expired.clone(),
                conn: self.conn.clone(),
            });
            let mut router = self.router;
            let Ok(resp) = tower_service::Service::call(&mut router, req).await;
            if expired.load(Ordering::SeqCst) {
                tracing::debug!(bound = ?limits.body_read_timeout, "request body timed out");
                let mut timeout = refusal(
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "the request body did not arrive within {} ms",
                        limits.body_read_timeout.as_millis()
                    ),
                );
                // The connection is dropped after this answer: its body is still owed.
                timeout
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                timeout
            } else {
                resp
            }
        };
        self.conn.working();
        for (name, value) in limits.answer_headers {
            resp.headers_mut().insert(name.clone(), value.clone());
        }
        resp.map(|inner| {
            Body::new(Answer {
                inner,
                conn: self.conn.clone(),
            })
        })
    }
}

/// An answer of the server's own, in the one error shape.
fn refusal(status: StatusCode, message: String) -> Response<Body> {
    use axum::response::IntoResponse;
    (
        status,
        axum::Json(hearth_protocol::hearth::ErrorResponse {
            error: crate::errors::shape(status, message),
        }),
    )
        .into_response()
}

/// The request head's size as it came on the wire, near enough: the request line and every
/// header line.
fn head_bytes<B>(req: &Request<B>) -> usize {
    let line = req.method().as_str().len() + req.uri().to_string().len() + "  HTTP/1.1\r\n".len();
    req.headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + ": \r\n".len())
        .sum::<usize>()
        + line
        + 2
}
