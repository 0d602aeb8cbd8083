//! Image references, read as the docker CLI reads them.

/// The registry host an image reference is pulled from, as the docker CLI names it:
/// `127.0.0.1:5000/app:v1` → `127.0.0.1:5000`, `ghcr.io/o/app` → `ghcr.io`, and
/// `nginx:alpine` or `library/nginx` → `docker.io`.
pub fn registry_of(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first
        }
        _ => "docker.io",
    }
}
