//! The Podman backend of the tests: a rootful `podman system service` whose socket URL is in
//! `HEARTH_PODMAN_HOST` (`.ci/podman.sh start` runs one on a private root and prints it).
//! Podman-backed tests run when HEARTH_E2E=1 and that variable is set; with HEARTH_PODMAN=1
//! (CI sets it) a missing or silent service fails them loudly instead of skipping.

use super::{cli_ok, test_image};

/// The Podman service's socket URL.
///
/// # Panics
/// If `HEARTH_PODMAN_HOST` is unset: call [`e2e`] first.
pub fn host() -> String {
    std::env::var("HEARTH_PODMAN_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .expect("HEARTH_PODMAN_HOST is set (checked by support::podman::e2e)")
}

/// Whether Podman-backed tests run; fails loudly when they are required and cannot.
pub fn e2e(test: &str) -> bool {
    let required = std::env::var("HEARTH_PODMAN").as_deref() == Ok("1");
    let host = std::env::var("HEARTH_PODMAN_HOST")
        .ok()
        .filter(|h| !h.is_empty());
    let asked = std::env::var("HEARTH_E2E").as_deref() == Ok("1");
    let Some(host) = host.filter(|_| asked) else {
        assert!(
            !required,
            "HEARTH_PODMAN=1 but HEARTH_E2E!=1 or HEARTH_PODMAN_HOST is unset: start the \
             service with `eval \"$(bash .ci/podman.sh start)\"` (make test starts one)"
        );
        eprintln!(
            "{test}: skipped (Podman-backed; set HEARTH_E2E=1 and HEARTH_PODMAN_HOST to run it)"
        );
        return false;
    };
    let answers = cli_ok(Some(&host), &["version", "--format", "{{.Server.Version}}"]);
    assert!(
        answers,
        "HEARTH_PODMAN_HOST={host} but no engine answers there: start it with \
         `eval \"$(bash .ci/podman.sh start)\"`"
    );
    let image = test_image();
    let present = cli_ok(Some(&host), &["image", "inspect", &image]);
    assert!(
        present,
        "image {image} is absent from the Podman service at {host}: \
         `bash .ci/podman.sh load {image}`"
    );
    true
}
