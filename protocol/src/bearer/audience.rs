//! A v2 bearer's audience: the origin (`scheme://host[:port]`) of the worker's URL as the
//! console addresses it, spelled one way for signer and verifier (host lower-cased, IDNA
//! applied, the scheme's default port left out, no path).

/// Why a URL cannot name an audience.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AudienceError {
    #[error("audience {url:?} is not a URL: {reason}")]
    NotAUrl { url: String, reason: String },
    #[error("audience {0:?} must be an http(s) URL with a host")]
    NotHttp(String),
}

impl AudienceError {
    /// The stable snake_case code for logs.
    pub fn code(&self) -> &'static str {
        match self {
            AudienceError::NotAUrl { .. } => "audience_not_a_url",
            AudienceError::NotHttp(_) => "audience_not_http",
        }
    }
}

/// The audience of the worker at `url` (`http://LOCALHOST:9000/prefix/` →
/// `http://localhost:9000`).
///
/// # Errors
/// [`AudienceError`] when `url` is not an http(s) URL with a host.
pub fn audience_of(url: &str) -> Result<String, AudienceError> {
    let parsed = url::Url::parse(url).map_err(|e| AudienceError::NotAUrl {
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(AudienceError::NotHttp(url.to_owned()));
    }
    Ok(parsed.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_audience_is_the_normalised_origin() {
        for (url, want) in [
            ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
            (
                "http://LOCALHOST:9000/prefix/runs?x=1",
                "http://localhost:9000",
            ),
            ("https://worker.example:443/", "https://worker.example"),
            ("http://[::1]:80/", "http://[::1]"),
        ] {
            assert_eq!(audience_of(url).as_deref(), Ok(want), "{url}");
        }
        for bad in ["", "127.0.0.1:9000", "file:///tmp/x", "unix:/run/w.sock"] {
            assert!(audience_of(bad).is_err(), "{bad}");
        }
    }
}
