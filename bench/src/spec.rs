//! The workspace every path builds: the solo tier's shape, names and labels, in one place so
//! the engine floor and the docker CLI build exactly what hearth builds.

use std::collections::HashMap;

/// The solo tier's two services.
pub(crate) const ROLES: [&str; 2] = ["cairnet", "lore"];
/// The port each service listens on inside its container.
pub(crate) const SERVICE_PORT: u16 = 80;
/// Memory limit per container (bytes): hearth's default.
pub(crate) const MEMORY_BYTES: i64 = 256 * 1024 * 1024;
/// Process limit per container (hearth's default).
pub(crate) const PIDS_LIMIT: i64 = 256;
/// CPU limit per container, in units of 1e-9 CPUs (hearth's default: half a CPU).
pub(crate) const NANO_CPUS: i64 = 500_000_000;
/// Seconds `stop` waits for a graceful exit before SIGKILL.
pub(crate) const STOP_TIMEOUT_S: i32 = 10;

/// Label key every bench object carries (value: the test run, `HEARTH_TEST_RUN`), so
/// `make clean-docker` reaps it after any failure of its own run.
pub(crate) use hearth_protocol::labels::TEST as TEST_LABEL;

/// The value of [`TEST_LABEL`]: `HEARTH_TEST_RUN` (set by `make`), else this process's own.
pub(crate) fn test_run() -> String {
    hearth_testkit::run::test_run_or("bench")
}
/// Label naming the bench run, so one run sweeps only its own objects.
pub(crate) const RUN_LABEL: &str = "dev.hearth.bench.run";
/// Label naming the path that created an object (`floor` or `cli`).
pub(crate) const PATH_LABEL: &str = "dev.hearth.bench.path";
/// The label hearth puts on its objects naming the workspace slug.
pub(crate) use hearth_protocol::labels::WORKSPACE as HEARTH_WORKSPACE_LABEL;

/// Names of one workspace's engine objects (the scheme hearth uses, under another prefix so
/// a bench can never collide with a daemon).
#[derive(Debug, Clone)]
pub(crate) struct Names {
    /// The workspace slug (a DNS label).
    pub slug: String,
    prefix: &'static str,
}

impl Names {
    /// Names for `slug` under `prefix` (`hbf` for the floor, `hbc` for the CLI).
    pub(crate) fn new(prefix: &'static str, slug: &str) -> Self {
        Self {
            slug: slug.to_owned(),
            prefix,
        }
    }

    /// The workspace's bridge network.
    pub(crate) fn network(&self) -> String {
        format!("{}_{}", self.prefix, self.slug)
    }

    /// The container of `role`.
    pub(crate) fn container(&self, role: &str) -> String {
        format!("{}_{}_{role}", self.prefix, self.slug)
    }

    /// The data volume of `role`.
    pub(crate) fn volume(&self, role: &str) -> String {
        format!("{}_{}_{role}-data", self.prefix, self.slug)
    }
}

/// Labels for an object created by `path` in bench run `run_id`.
pub(crate) fn labels(run_id: &str, path: &str) -> HashMap<String, String> {
    HashMap::from([
        (TEST_LABEL.to_owned(), test_run()),
        (RUN_LABEL.to_owned(), run_id.to_owned()),
        (PATH_LABEL.to_owned(), path.to_owned()),
    ])
}

/// The slug of workspace `n` of `run_id` (a DNS label of at most 32 characters).
pub(crate) fn slug(run_id: &str, n: usize) -> String {
    format!("{}{n}", slug_prefix(run_id))
}

/// What every slug of `run_id` starts with.
pub(crate) fn slug_prefix(run_id: &str) -> String {
    format!("bench-{run_id}-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_hearth_scheme_under_a_prefix() {
        let n = Names::new("hbf", "bench-ab12-3");
        assert_eq!(n.network(), "hbf_bench-ab12-3");
        assert_eq!(n.container("lore"), "hbf_bench-ab12-3_lore");
        assert_eq!(n.volume("cairnet"), "hbf_bench-ab12-3_cairnet-data");
    }

    #[test]
    fn slugs_are_short_dns_labels() {
        let s = slug("0123abcd", 31);
        assert!(s.len() <= 32, "{s}");
        assert!(s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
    }

    #[test]
    fn labels_carry_the_test_and_run_labels() {
        let l = labels("r1", "floor");
        assert_eq!(l["dev.hearth.test"], test_run());
        assert_eq!(l[RUN_LABEL], "r1");
        assert_eq!(l[PATH_LABEL], "floor");
    }
}
