//! This test run: its id (`HEARTH_TEST_RUN`, set per `make test`), the `dev.hearth.test`
//! label every object it makes carries (so `make clean-docker` sweeps its own run only), the
//! workspace image, and whether the engine-backed tests are asked for (`HEARTH_E2E=1`).

use hearth_protocol::labels;

/// The workspace image when `HEARTH_TEST_IMAGE` is unset: the offline stand-in.
pub const DEFAULT_TEST_IMAGE: &str = "hearth-standin:local";

/// This test run's id: `HEARTH_TEST_RUN`, else `adhoc-<pid>`.
pub fn test_run() -> String {
    test_run_or("adhoc")
}

/// This test run's id: `HEARTH_TEST_RUN`, else `<fallback>-<pid>`.
pub fn test_run_or(fallback: &str) -> String {
    std::env::var("HEARTH_TEST_RUN")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| format!("{fallback}-{}", std::process::id()))
}

/// `dev.hearth.test=<run>`: the label every object of this test run carries.
pub fn test_label() -> String {
    format!("{}={}", labels::TEST, test_run())
}

/// The image both roles run in engine-backed tests: `HEARTH_TEST_IMAGE`, else the stand-in.
pub fn test_image() -> String {
    std::env::var("HEARTH_TEST_IMAGE")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_TEST_IMAGE.to_owned())
}

/// The image `role` runs: `HEARTH_TEST_IMAGE_<ROLE>` (as the GitHub action sets per role),
/// else [`test_image`].
pub fn test_image_for(role: &str) -> String {
    std::env::var(format!("HEARTH_TEST_IMAGE_{}", role.to_ascii_uppercase()))
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(test_image)
}

/// Whether the engine-backed tests are asked for (`HEARTH_E2E=1`).
pub fn docker_wanted() -> bool {
    std::env::var("HEARTH_E2E").is_ok_and(|v| v == "1")
}

/// A fresh instance id for one test: unique across parallel tests and runs.
pub fn unique_instance(test: &str) -> String {
    let n: u32 = rand::random();
    format!("e2e-{test}-{}-{n:08x}", std::process::id())
}
