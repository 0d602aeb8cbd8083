//! The range every number hearth takes from outside (config file, flags, environment) must
//! fall in, checked once at start. A value out of range is refused with its key and the
//! range, never wrapped (`memory_mb` × 2²⁰ past `i64` would reach the engine as 0, which it
//! reads as *no limit*) and never left to overflow a deadline later.

use std::fmt::Display;

use crate::config::FileConfig;

/// A value outside its range: the key it came from, the value, and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key} = {value} is out of range: allowed {allowed} (hint: {hint})")]
pub(crate) struct OutOfRange {
    /// Where the value came from: `limits.memory_mb`, `--op-timeout`, `HEARTH_IDLE_EXIT`.
    pub(crate) key: String,
    pub(crate) value: String,
    /// `6 to 1048576 MiB`.
    pub(crate) allowed: String,
    /// What the range protects, so the fix is obvious.
    pub(crate) hint: &'static str,
}

/// An inclusive range with the unit it is counted in and why it is bounded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Range<T> {
    pub(crate) min: T,
    pub(crate) max: T,
    pub(crate) unit: &'static str,
    pub(crate) hint: &'static str,
}

impl<T: PartialOrd + Display + Copy> Range<T> {
    /// `value` if it is in range (NaN never is).
    ///
    /// # Errors
    /// [`OutOfRange`] naming `key`.
    pub(crate) fn check(&self, key: &str, value: T) -> Result<T, OutOfRange> {
        if self.min <= value && value <= self.max {
            return Ok(value);
        }
        Err(self.refusal(key, value))
    }

    /// The error for `value` of `key`, out of this range.
    fn refusal(&self, key: &str, value: T) -> OutOfRange {
        OutOfRange {
            key: key.to_owned(),
            value: value.to_string(),
            allowed: format!("{} to {} {}", self.min, self.max, self.unit),
            hint: self.hint,
        }
    }

    /// [`Range::check`] for a value that may be absent.
    ///
    /// # Errors
    /// As [`Range::check`].
    pub(crate) fn check_opt(&self, key: &str, value: Option<T>) -> Result<Option<T>, OutOfRange> {
        value.map(|v| self.check(key, v)).transpose()
    }
}

/// A role's memory limit: the engine's own minimum, up to 1 TiB.
pub(crate) const MEMORY_MB: Range<u64> = Range {
    min: 6,
    max: 1 << 20,
    unit: "MiB",
    hint: "the engine refuses less than 6 MiB, and more than 1 TiB is a typo",
};
/// CPUs a role may use.
pub(crate) const CPUS: Range<f64> = Range {
    min: 0.01,
    max: 1024.0,
    unit: "CPUs",
    hint: "a fraction of one CPU (0.5) or a whole number of them",
};
/// Processes a role may run; there is no "unlimited".
pub(crate) const PIDS: Range<i64> = Range {
    min: 1,
    max: 4_194_304,
    unit: "processes",
    hint: "Linux allows at most 4194304 processes; hearth always sets a limit",
};
/// A verb's deadline, a pull's or a readiness bound.
pub(crate) const TIMEOUT_SECS: Range<u64> = Range {
    min: 1,
    max: 86_400,
    unit: "seconds",
    hint: "a bound of at most a day",
};
/// How long a stopping daemon waits for requests in flight (0: not at all).
pub(crate) const DRAIN_SECS: Range<u64> = Range {
    min: 0,
    max: 3_600,
    unit: "seconds",
    hint: "a drain of at most an hour",
};
/// The idle period under socket activation (0: never exit).
pub(crate) const IDLE_EXIT_SECS: Range<u64> = Range {
    min: 0,
    max: 604_800,
    unit: "seconds",
    hint: "0 (never) or at most a week",
};
/// How long a pool member may wait, ready, before it is replaced.
pub(crate) const POOL_MAX_AGE_SECS: Range<u64> = Range {
    min: 1,
    max: 2_592_000,
    unit: "seconds",
    hint: "at most 30 days; leave it out for no limit",
};
/// How long a client may take to send a request head.
pub(crate) const HEADER_TIMEOUT_MS: Range<u64> = Range {
    min: 100,
    max: 600_000,
    unit: "milliseconds",
    hint: "between a tenth of a second and ten minutes",
};
/// Connections served at once.
pub(crate) const MAX_CONNECTIONS: Range<usize> = Range {
    min: 1,
    max: 65_536,
    unit: "connections",
    hint: "more wait in the listen backlog",
};
/// The port a service listens on inside its container.
pub(crate) const PORT: Range<u16> = Range {
    min: 1,
    max: 65_535,
    unit: "(a TCP port)",
    hint: "0 is no port",
};
/// Members kept warm per tier.
pub(crate) const POOL_SIZE: Range<u32> = Range {
    min: 0,
    max: 64,
    unit: "members",
    hint: "each member is a whole workspace held on the engine",
};
/// Failed refills in a row before refilling backs off.
pub(crate) const FAILURE_CAP: Range<u32> = Range {
    min: 1,
    max: 1_000,
    unit: "failures",
    hint: "how many failed refills in a row before backing off",
};

/// Checks every number of the config file. A value a flag overrides is checked too: a config
/// file with a bad value is refused whatever overrides it today. (The flags' own numbers are
/// checked where they are parsed: `cli::settings`.)
///
/// # Errors
/// The first [`OutOfRange`], naming its key.
pub(crate) fn check_file(file: &FileConfig) -> Result<(), OutOfRange> {
    let l = &file.limits;
    MEMORY_MB.check_opt("limits.memory_mb", l.memory_mb)?;
    CPUS.check_opt("limits.cpus", l.cpus)?;
    PIDS.check_opt("limits.pids", l.pids)?;
    let t = &file.timeouts;
    for (key, v) in [
        ("timeouts.readiness", t.readiness),
        ("timeouts.pull", t.pull),
        ("timeouts.provision", t.provision),
        ("timeouts.teardown", t.teardown),
    ] {
        TIMEOUT_SECS.check_opt(key, v)?;
    }
    DRAIN_SECS.check_opt("timeouts.drain", t.drain)?;
    PORT.check_opt("service_port", file.service_port)?;
    let p = &file.pool;
    for (key, n) in [
        ("pool.solo", p.solo),
        ("pool.team", p.team),
        ("pool.studio", p.studio),
        ("pool.bespoke", p.bespoke),
    ] {
        POOL_SIZE.check_opt(key, n)?;
    }
    POOL_MAX_AGE_SECS.check_opt("pool.max_age", p.max_age)?;
    FAILURE_CAP.check_opt("pool.failure_cap", p.failure_cap)?;
    Ok(())
}

/// A memory limit in MiB as the engine's bytes, by checked arithmetic.
///
/// # Errors
/// [`OutOfRange`] naming `key` when it is out of [`MEMORY_MB`] (the product then always fits).
pub(crate) fn memory_bytes(key: &str, mb: u64) -> Result<i64, OutOfRange> {
    let mb = MEMORY_MB.check(key, mb)?;
    mb.checked_mul(1024 * 1024)
        .and_then(|b| i64::try_from(b).ok())
        .ok_or_else(|| MEMORY_MB.refusal(key, mb))
}

/// Whole nanocpus for a checked CPU count.
///
/// # Errors
/// [`OutOfRange`] naming `key` when it is out of [`CPUS`] (NaN included).
pub(crate) fn nano_cpus(key: &str, cpus: f64) -> Result<i64, OutOfRange> {
    let cpus = CPUS.check(key, cpus)?;
    // In range, cpus × 10⁹ is at most 1.024 × 10¹², far inside i64; whole nanocpus because
    // the engine takes an integer.
    #[allow(clippy::cast_possible_truncation)]
    Ok((cpus * 1e9).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_past_i64_is_refused_not_wrapped() {
        let err = memory_bytes("limits.memory_mb", 17_592_186_044_416).expect_err("too big");
        assert_eq!(err.key, "limits.memory_mb");
        let text = err.to_string();
        assert!(text.contains("17592186044416"), "{text}");
        assert!(text.contains("6 to 1048576 MiB"), "{text}");
        assert!(memory_bytes("m", u64::MAX).is_err());
        assert!(memory_bytes("m", 0).is_err(), "0 would be no limit");
        assert_eq!(memory_bytes("m", 256), Ok(256 * 1024 * 1024));
        assert_eq!(memory_bytes("m", 1 << 20), Ok(1 << 40));
    }

    #[test]
    fn cpus_are_bounded_and_nan_is_refused() {
        assert_eq!(nano_cpus("c", 0.5), Ok(500_000_000));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e300] {
            assert!(nano_cpus("limits.cpus", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_range_names_its_key_and_its_bounds() {
        let err = PIDS.check("limits.pids", -1).expect_err("unlimited");
        assert_eq!(err.allowed, "1 to 4194304 processes", "{err}");
        assert!(TIMEOUT_SECS.check("--op-timeout", 0).is_err());
        assert!(TIMEOUT_SECS.check("--op-timeout", u64::MAX).is_err());
        assert!(PORT.check("service_port", 0).is_err());
        assert!(POOL_SIZE.check("pool.solo", 65).is_err());
        assert!(MAX_CONNECTIONS.check("--max-connections", 0).is_err());
        assert_eq!(DRAIN_SECS.check_opt("timeouts.drain", Some(0)), Ok(Some(0)));
        assert_eq!(IDLE_EXIT_SECS.check_opt("--idle-exit", None), Ok(None));
    }

    #[test]
    fn the_file_is_checked_key_by_key() {
        let mut file = FileConfig::default();
        file.timeouts.teardown = Some(0);
        let err = check_file(&file).expect_err("zero teardown");
        assert_eq!(err.key, "timeouts.teardown");
        assert!(check_file(&FileConfig::default()).is_ok());
    }
}
