//! The `http` probe: a GET of the path on the role's published loopback port, passing when
//! the answer's status is in the range (default 200–399: an answer alone is not ready).

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::{Target, Verdict};
use crate::template::StatusRange;

/// One GET of `path` on the in-container `port`, through its published address.
pub(super) async fn attempt(
    target: &dyn Target,
    path: &str,
    port: Option<u16>,
    status: StatusRange,
) -> Verdict {
    let Some(port) = port else {
        return Verdict::NotYet(format!("GET {path}: the role has no port to ask on"));
    };
    let Some(addr) = target.published(port) else {
        return Verdict::NotYet(format!("GET {path}: port {port} is not published"));
    };
    let uri: hyper::Uri = match format!("http://{addr}{path}").parse() {
        Ok(u) => u,
        Err(e) => return Verdict::NotYet(format!("GET {path}: not a path ({e})")),
    };
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    match client.get(uri).await {
        Ok(answer) => {
            let code = answer.status().as_u16();
            if status.contains(code) {
                Verdict::Pass
            } else {
                Verdict::NotYet(format!("GET {path} answered {code}"))
            }
        }
        Err(e) => {
            use std::error::Error as _;
            let cause = e.source().map_or_else(|| e.to_string(), |s| s.to_string());
            Verdict::NotYet(format!("GET {path} on port {port} got no answer ({cause})"))
        }
    }
}
