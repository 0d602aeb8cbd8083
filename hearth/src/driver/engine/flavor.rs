//! Which engine answers behind `DOCKER_HOST` — Docker, or Podman through its
//! Docker-compatible API — and what it can do. Found once, on the first connection, from the
//! engine's version and info answers, and logged then (at startup, since the daemon
//! reconciles first). Where the engine cannot do a verb or enforce a limit, the verb answers
//! `unsupported` naming the engine and the reason: hearth never runs a workspace silently
//! without the limits it was asked to set.

use std::fmt;

use bollard::models::{ResourcesUlimits, SystemInfo, SystemInfoCgroupVersionEnum, SystemVersion};

use crate::driver_error::DriverError;
use crate::error::HearthError;

/// The engine family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    Docker,
    Podman,
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EngineKind::Docker => "docker",
            EngineKind::Podman => "podman",
        })
    }
}

/// Something a workspace needs of the engine that not every engine can give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// Freezing and thawing containers (pause, resume of a paused workspace).
    Pause,
    /// Memory, CPU and PID limits actually enforced (provision, upgrade, wake).
    Limits,
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Capability::Pause => "pause",
            Capability::Limits => "resource limits",
        })
    }
}

/// The engine behind the connection: found once, then consulted by every verb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flavor {
    pub kind: EngineKind,
    pub version: String,
    /// Why pausing is impossible on this engine, if it is.
    pub no_pause: Option<String>,
    /// Why limits would be ignored on this engine, if they would.
    pub no_limits: Option<String>,
}

impl Flavor {
    /// Reads the engine from its `/version` and `/info` answers.
    pub fn detect(version: &SystemVersion, info: &SystemInfo) -> Flavor {
        let podman = version
            .components
            .iter()
            .flatten()
            .find(|c| c.name == "Podman Engine");
        let (kind, version) = match podman {
            Some(c) => (EngineKind::Podman, c.version.clone()),
            None => (
                EngineKind::Docker,
                version.version.clone().unwrap_or_default(),
            ),
        };
        let rootless = info
            .security_options
            .iter()
            .flatten()
            .any(|o| o.split(',').any(|kv| kv == "name=rootless"));
        let cgroup_v1 = matches!(info.cgroup_version, Some(SystemInfoCgroupVersionEnum::_1));
        // A rootless engine on cgroup v1 owns no cgroup of its own: no freezer, and the
        // limits it is given are dropped with a warning nobody reads.
        let rootless_v1 = (rootless && cgroup_v1).then(|| "rootless on cgroup v1".to_owned());
        let missing: Vec<&str> = [
            ("memory", info.memory_limit),
            ("cpu", info.cpu_cfs_quota),
            ("pids", info.pids_limit),
        ]
        .into_iter()
        .filter(|(_, on)| *on == Some(false))
        .map(|(name, _)| name)
        .collect();
        let no_limits = rootless_v1.clone().or_else(|| {
            (!missing.is_empty())
                .then(|| format!("the engine reports no {} limit support", missing.join("/")))
        });
        Flavor {
            kind,
            version,
            no_pause: rootless_v1,
            no_limits,
        }
    }

    /// `Ok` if the engine can do `cap`.
    ///
    /// # Errors
    /// [`DriverError::Unsupported`] naming the engine, the capability and why not.
    pub fn require(&self, cap: Capability) -> Result<(), HearthError> {
        let why = match cap {
            Capability::Pause => &self.no_pause,
            Capability::Limits => &self.no_limits,
        };
        match why {
            None => Ok(()),
            Some(reason) => Err(HearthError::Driver(DriverError::Unsupported {
                engine: format!("{} {}", self.kind, self.version),
                what: match cap {
                    Capability::Pause => "pause containers".to_owned(),
                    Capability::Limits => "enforce memory, CPU and PID limits".to_owned(),
                },
                reason: reason.clone(),
            })),
        }
    }

    /// The per-process limits a container gets. Podman sets very high `nofile`/`nproc`
    /// limits of its own unless told otherwise, and a container then fails to start wherever
    /// the hard limits are lower (a sandbox, a CI runner): hearth states them, within its own
    /// hard limits (the engine it talks to usually runs in the same place). Docker keeps its
    /// daemon's limits, as before.
    pub fn ulimits(&self) -> Option<Vec<ResourcesUlimits>> {
        if self.kind != EngineKind::Podman {
            return None;
        }
        let limit = |name: &str, cap: i64| {
            let v = own_hard_limit(name).map_or(cap, |hard| hard.min(cap));
            ResourcesUlimits {
                name: Some(name.to_owned()),
                soft: Some(v),
                hard: Some(v),
            }
        };
        Some(vec![limit("nofile", 65_536), limit("nproc", 4_096)])
    }
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "engine {} {}", self.kind, self.version)?;
        for (cap, why) in [
            (Capability::Pause, &self.no_pause),
            (Capability::Limits, &self.no_limits),
        ] {
            if let Some(why) = why {
                write!(f, ": {cap} unsupported ({why})")?;
            }
        }
        Ok(())
    }
}

/// This process's hard limit `name` (`nofile`, `nproc`), from `/proc/self/limits`.
fn own_hard_limit(name: &str) -> Option<i64> {
    let label = match name {
        "nofile" => "Max open files",
        "nproc" => "Max processes",
        _ => return None,
    };
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with(label))?;
    // "Max open files            1024                 20000                files"
    let hard = line[label.len()..].split_whitespace().nth(1)?;
    hard.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::SystemVersionComponents;

    fn version(component: &str, v: &str) -> SystemVersion {
        SystemVersion {
            version: Some(v.into()),
            components: Some(vec![SystemVersionComponents {
                name: component.into(),
                version: v.into(),
                details: None,
            }]),
            ..Default::default()
        }
    }

    fn info(rootless: bool, cgroup: SystemInfoCgroupVersionEnum) -> SystemInfo {
        let mut opts = vec!["name=seccomp,profile=default".to_owned()];
        if rootless {
            opts.push("name=rootless".into());
        }
        SystemInfo {
            security_options: Some(opts),
            cgroup_version: Some(cgroup),
            memory_limit: Some(true),
            cpu_cfs_quota: Some(true),
            pids_limit: Some(true),
            ..Default::default()
        }
    }

    #[test]
    fn tells_podman_from_docker() {
        let d = Flavor::detect(
            &version("Engine", "20.10.24"),
            &info(false, SystemInfoCgroupVersionEnum::_1),
        );
        assert_eq!(
            (d.kind, d.version.as_str()),
            (EngineKind::Docker, "20.10.24")
        );
        assert!(d.ulimits().is_none(), "Docker keeps its daemon's limits");
        let p = Flavor::detect(
            &version("Podman Engine", "4.3.1"),
            &info(false, SystemInfoCgroupVersionEnum::_1),
        );
        assert_eq!(p.kind, EngineKind::Podman);
        assert!(p.require(Capability::Pause).is_ok());
        assert!(p.require(Capability::Limits).is_ok());
        let ulimits = p.ulimits().expect("podman gets explicit ulimits");
        let names: Vec<_> = ulimits.iter().filter_map(|u| u.name.as_deref()).collect();
        assert_eq!(names, ["nofile", "nproc"]);
        assert!(ulimits
            .iter()
            .all(|u| u.soft == u.hard && u.hard.unwrap_or(0) > 0));
        assert_eq!(p.to_string(), "engine podman 4.3.1");
    }

    #[test]
    fn rootless_on_cgroup_v1_cannot_pause_or_limit() {
        let p = Flavor::detect(
            &version("Podman Engine", "4.3.1"),
            &info(true, SystemInfoCgroupVersionEnum::_1),
        );
        let e = p.require(Capability::Pause).expect_err("no freezer");
        assert_eq!(e.code(), "unsupported");
        assert!(e.to_string().contains("podman 4.3.1"), "{e}");
        assert!(e.to_string().contains("rootless on cgroup v1"), "{e}");
        assert_eq!(
            p.require(Capability::Limits).expect_err("limits").code(),
            "unsupported"
        );
        assert_eq!(
            p.to_string(),
            "engine podman 4.3.1: pause unsupported (rootless on cgroup v1): resource limits \
             unsupported (rootless on cgroup v1)"
        );
        // Rootless on cgroup v2 has its own delegated cgroup.
        let v2 = Flavor::detect(
            &version("Podman Engine", "4.3.1"),
            &info(true, SystemInfoCgroupVersionEnum::_2),
        );
        assert!(v2.require(Capability::Pause).is_ok());
    }

    #[test]
    fn an_engine_without_limit_support_is_refused_limits() {
        let mut i = info(false, SystemInfoCgroupVersionEnum::_2);
        i.pids_limit = Some(false);
        let d = Flavor::detect(&version("Engine", "24.0.0"), &i);
        let e = d.require(Capability::Limits).expect_err("pids");
        assert!(e.to_string().contains("no pids limit support"), "{e}");
    }

    #[test]
    fn reads_own_hard_limits() {
        assert!(own_hard_limit("nofile").unwrap_or(0) > 0);
        assert_eq!(own_hard_limit("stack"), None);
    }
}
