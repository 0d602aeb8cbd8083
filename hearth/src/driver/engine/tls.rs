//! TLS to a `tcp://` engine: the certificate files (`ca.pem`, `cert.pem`, `key.pem`, from
//! `DOCKER_CERT_PATH` or a context's TLS store), checked before any connection, and the
//! reason a handshake failed, dug out of the error chain so the message says "certificate
//! not valid for name" rather than "client error (Connect)".

use std::path::{Path, PathBuf};

use super::error::ResolveError;

/// The files a TLS connection uses. The client pair is optional (an engine may ask for no
/// client certificate); the CA is not: hearth always verifies the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The files in `dir`, as the docker CLI names them. With `need_client`, the client pair
/// must be there too (the CLI's `DOCKER_CERT_PATH` holds all three).
///
/// # Errors
/// [`ResolveError::MissingTls`] naming the first file that is missing.
pub(crate) fn from_dir(
    host: &str,
    why: &str,
    dir: &Path,
    need_client: bool,
) -> Result<TlsFiles, ResolveError> {
    let files = TlsFiles {
        ca: dir.join("ca.pem"),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    let mut needed = vec![&files.ca];
    if need_client {
        needed.extend([&files.cert, &files.key]);
    }
    if let Some(missing) = needed.into_iter().find(|p| !p.is_file()) {
        return Err(ResolveError::MissingTls {
            host: host.to_owned(),
            why: why.to_owned(),
            path: missing.clone(),
        });
    }
    Ok(files)
}

/// Every message of an error's chain, outermost first, without repeats: bollard wraps the
/// TLS library's reason (`invalid peer certificate: UnknownIssuer`) two levels down.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = err.source();
    }
    parts.join(": ")
}
