//! The worker's bearer check: the audiences it answers as (a v2 bearer is signed for one of
//! them, so a bearer meant for another worker with the same keys is refused here), and one
//! log line per refusal and per key id still signing the legacy v1 format.

use std::net::{IpAddr, SocketAddr};

use axum::http::{header, HeaderMap, Method, Uri};
use hearth_protocol::bearer::{audience_of, unix_now, AudienceError, Verifier, Version};
use tracing::warn;

use crate::error::ApiError;

/// The audiences a worker bound to `bound` answers as: the `--audience` URLs when given
/// (normalised to their origins), else the origin the console would use for the bound
/// address (`http://127.0.0.1:PORT`, also `http://localhost:PORT` on loopback).
///
/// # Errors
/// [`AudienceError`] for a `--audience` that is not an http(s) URL.
pub(crate) fn audiences(
    configured: &[String],
    bound: SocketAddr,
) -> Result<Vec<String>, AudienceError> {
    if !configured.is_empty() {
        return configured.iter().map(|u| audience_of(u)).collect();
    }
    let port = bound.port();
    let ip = bound.ip();
    if ip.is_unspecified() {
        warn!(%bound, "bound to every address: v2 bearers are accepted for loopback only; pass --audience with the URL the console uses");
    }
    let mut out = match ip {
        IpAddr::V4(v4) if v4.is_unspecified() => vec![format!("http://127.0.0.1:{port}")],
        IpAddr::V6(v6) if v6.is_unspecified() => vec![format!("http://[::1]:{port}")],
        _ => vec![format!("http://{bound}")],
    };
    if ip.is_loopback() || ip.is_unspecified() {
        out.push(format!("http://localhost:{port}"));
    }
    out.iter().map(|u| audience_of(u)).collect()
}

/// Checks the request's bearer; one log line per refusal, here where it is decided, and one
/// warning the first time each key id signs a legacy v1 bearer.
///
/// # Errors
/// [`ApiError::Unauthorized`] with the bearer's own code.
pub(crate) fn authorize(
    verifier: &Verifier,
    headers: &HeaderMap,
    method: &Method,
    uri: &Uri,
    body: &[u8],
) -> Result<String, ApiError> {
    let path = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
    let header = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("\u{fffd}"));
    match verifier.check(header, method.as_str(), path, body, unix_now()) {
        Ok(v) => {
            if v.version == Version::V1 && v.first_legacy_use {
                warn!(
                    key_id = %v.key_id,
                    "accepted a legacy v1 bearer (not bound to this worker's audience): v1 is \
                     verified for this release only; upgrade the console so it signs v2"
                );
            }
            Ok(v.key_id)
        }
        Err(e) => {
            warn!(code = e.code(), %method, path, error = %e, "request refused");
            Err(e.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_audiences_follow_the_bound_address() {
        let a = |s: &str| audiences(&[], s.parse().expect("addr")).expect("audiences");
        assert_eq!(
            a("127.0.0.1:9000"),
            ["http://127.0.0.1:9000", "http://localhost:9000"]
        );
        assert_eq!(
            a("0.0.0.0:9000"),
            ["http://127.0.0.1:9000", "http://localhost:9000"]
        );
        assert_eq!(a("[::1]:80"), ["http://[::1]", "http://localhost"]);
        assert_eq!(a("10.1.2.3:9000"), ["http://10.1.2.3:9000"]);
        let bound = "127.0.0.1:1".parse().expect("addr");
        let given = vec!["https://Worker.Example/prefix".to_owned()];
        assert_eq!(
            audiences(&given, bound).expect("ok"),
            ["https://worker.example"]
        );
        assert!(audiences(&["unix:/x".to_owned()], bound).is_err());
    }
}
