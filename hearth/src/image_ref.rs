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

/// The grammar of an image reference, as the engines parse it: `[DOMAIN[:PORT]/]PATH[:TAG]
/// [@ALGO:HEX]`, path components lower-case.
static REFERENCE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    let component = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
    let domain = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?";
    let tag = r"[\w][\w.-]{0,127}";
    let digest = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
    let pattern =
        format!(r"^(?:(?:{domain})/)?{component}(?:/{component})*(?::{tag})?(?:@{digest})?$");
    regex::Regex::new(&pattern).expect("the reference grammar compiles")
});

/// Whether `image` is a reference an engine can pull or run.
///
/// # Errors
/// What is wrong with it.
pub(crate) fn check(image: &str) -> Result<(), &'static str> {
    if image.trim() != image || image.is_empty() {
        return Err("empty, or spaces around it");
    }
    if image.len() > 255 + 128 + 80 {
        return Err("too long");
    }
    // The first component is a registry only if it looks like a host; else it is a path and
    // must be lower-case (`Foo/bar` is refused by the engine, `Foo.example/bar` is not).
    if REFERENCE.is_match(image) {
        let first = image.split('/').next().unwrap_or_default();
        let is_domain = image.contains('/')
            && (first.contains('.') || first.contains(':') || first == "localhost");
        if !is_domain && first.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err("repository names are lower-case");
        }
        return Ok(());
    }
    if image.bytes().any(|b| b.is_ascii_uppercase()) && !image.contains('/') {
        return Err("repository names are lower-case");
    }
    Err("expected [REGISTRY/]NAME[:TAG][@sha256:DIGEST]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_follow_the_engines_grammar() {
        for good in [
            "nginx",
            "nginx:alpine",
            "hearth-standin:local",
            "library/nginx:1.27",
            "registry.example.com/lore:1.4",
            "127.0.0.1:5000/app:v1",
            "localhost/app",
            "Registry.Example.com/team/app_x__y:1.0-rc.1",
            "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "nginx:alpine@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(check(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            " nginx",
            "Nginx",
            "nginx:",
            "nginx:al pine",
            "-nginx",
            "nginx@sha256:12",
            "a//b",
            "team/App",
            "nginx:-x",
            "http://registry/x",
        ] {
            assert!(check(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
