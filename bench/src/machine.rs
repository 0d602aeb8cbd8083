//! Where and when a run happened: the machine, the commit, the time, and a run id.

use std::process::Command;

/// CPU model, cores, memory and kernel, read from `/proc`.
pub(crate) fn describe() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim())
        .to_owned();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|k| k.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{model}, {cores} cores, {mem_gib:.1} GiB RAM, Linux {}",
        kernel.trim()
    )
}

/// The UTC time and the commit the run measured.
pub(crate) fn stamp() -> String {
    let commit = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "unknown".to_owned(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        );
    let dirty = Command::new("git")
        .args(["status", "--porcelain"])
        .output()
        .ok()
        .filter(|o| o.status.success() && !o.stdout.is_empty())
        .map_or("", |_| " plus uncommitted changes");
    format!(
        "{} at commit {commit}{dirty}",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    )
}

/// The command line of this process, as typed.
pub(crate) fn command_line() -> String {
    let mut args = std::env::args();
    let bin = args
        .next()
        .map(|b| b.rsplit('/').next().unwrap_or(&b).to_owned())
        .unwrap_or_default();
    std::iter::once(bin)
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A short id naming this run's objects: 8 hex digits from the pid and the clock.
pub(crate) fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{:08x}", (std::process::id() ^ nanos.rotate_left(12)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_eight_hex_digits() {
        let id = run_id();
        assert_eq!(id.len(), 8, "{id}");
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
    }

    #[test]
    fn describes_this_machine() {
        let d = describe();
        assert!(d.contains("cores") && d.contains("Linux"), "{d}");
    }
}
