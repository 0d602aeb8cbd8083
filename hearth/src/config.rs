//! hearth's config file (`hearth.toml`): its shape, read strictly (an unknown key is an
//! error), and the defaults and names every command shares (socket, state dir, instance).
//! How `hearth serve` merges it with its flags and the environment is `cli::settings`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::driver::engine::PullPolicy;
use crate::error::HearthError;

/// The config file (`--config FILE`, TOML). Every key is optional.
///
/// ```toml
/// driver = "local-docker"     # or "swarm", "kustomize", "fake"
/// state_dir = "/var/lib/hearth"
/// socket_group = "hearth"
/// service_port = 80
/// docker_host = "unix:///run/user/1000/docker.sock"  # as --docker-host
/// [images]
/// cairnet = "nginx:alpine"
/// lore = "nginx:alpine"
/// pull = "if-missing"        # or "never", "always"
/// lock = "hearth.lock"
/// [limits]
/// memory_mb = 256
/// cpus = 0.5
/// pids = 256
/// [timeouts]                 # seconds
/// readiness = 30
/// pull = 60                  # one image pull
/// provision = 120
/// teardown = 60
/// drain = 10
/// [network]                # used once the engine's default address pools run out
/// subnet_pool = "10.213.0.0/16"
/// subnet_prefix = 28
/// [labels]
/// "com.example.team" = "infra"
/// [pool]                     # warm pool: members kept ready per tier (default: none)
/// solo = 2
/// max_age = 3600             # seconds; older members are replaced
/// failure_cap = 3            # failed refills in a row before refilling backs off
/// [kustomize]                # driver = "kustomize": where the manifests are written
/// out = "/srv/hearth/k8s"    # default: <state_dir>/kustomize
/// [tiers.solo]               # a tier's own workspace (default: cairnet + lore)
/// front_door = "web"
/// [tiers.solo.roles.web]     # see `template::file` and docs/src/templates.md
/// image = "registry.example.com/web:2.0"
/// port = 8080
/// ready = { http = "/healthz" }
/// ```
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub driver: Option<String>,
    pub state_dir: Option<PathBuf>,
    pub socket: Option<PathBuf>,
    pub socket_group: Option<String>,
    pub instance: Option<String>,
    /// The port every service listens on inside its container (80 for nginx and the stand-in).
    pub service_port: Option<u16>,
    /// The engine's address, as `--docker-host` gives it (before `DOCKER_HOST`).
    pub docker_host: Option<String>,
    #[serde(default)]
    pub images: FileImages,
    #[serde(default)]
    pub limits: FileLimits,
    #[serde(default)]
    pub timeouts: FileTimeouts,
    #[serde(default)]
    pub network: FileNetwork,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub pool: FilePool,
    /// `[tiers.<tier>]`: each tier's workspace template (checked by [`FileConfig::templates`]).
    #[serde(default)]
    pub tiers: BTreeMap<String, crate::template::file::FileTier>,
    #[serde(default)]
    pub kustomize: FileKustomize,
}

/// `[kustomize]`: the kustomize driver's out dir.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileKustomize {
    pub out: Option<PathBuf>,
}

/// `[pool]`: members per tier, and how members age and refills give up.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilePool {
    pub solo: Option<u32>,
    pub team: Option<u32>,
    pub studio: Option<u32>,
    pub bespoke: Option<u32>,
    /// Seconds a member may wait, ready, before it is replaced.
    pub max_age: Option<u64>,
    pub failure_cap: Option<u32>,
}

impl FilePool {
    /// The file's settings on top of `config`.
    pub fn apply(&self, config: &mut crate::pool::PoolConfig) {
        use hearth_protocol::hearth::Tier;
        for (tier, n) in [
            (Tier::Solo, self.solo),
            (Tier::Team, self.team),
            (Tier::Studio, self.studio),
            (Tier::Bespoke, self.bespoke),
        ] {
            if let Some(n) = n {
                config.sizes.insert(tier, n);
            }
        }
        if let Some(secs) = self.max_age {
            config.max_age = Some(Duration::from_secs(secs));
        }
        if let Some(cap) = self.failure_cap {
            config.failure_cap = cap.max(1);
        }
    }
}

/// `[network]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileNetwork {
    /// Where workspace networks go once the engine's default pools are used up.
    pub subnet_pool: Option<String>,
    /// The prefix length of each workspace's subnet in that pool.
    pub subnet_prefix: Option<u8>,
}

/// `[images]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileImages {
    pub cairnet: Option<String>,
    pub lore: Option<String>,
    pub pull: Option<String>,
    pub lock: Option<PathBuf>,
}

/// `[limits]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileLimits {
    pub memory_mb: Option<u64>,
    pub cpus: Option<f64>,
    pub pids: Option<i64>,
}

/// `[timeouts]`, in seconds.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTimeouts {
    pub readiness: Option<u64>,
    /// Bound on one image pull.
    pub pull: Option<u64>,
    pub provision: Option<u64>,
    pub teardown: Option<u64>,
    pub drain: Option<u64>,
}

impl FileConfig {
    /// Reads and checks a config file.
    ///
    /// # Errors
    /// [`HearthError::InvalidRequest`] naming the file and the problem.
    pub fn load(path: &Path) -> Result<FileConfig, HearthError> {
        let text = std::fs::read_to_string(path).map_err(|e| HearthError::InvalidRequest {
            message: format!("cannot read config file {}: {e}", path.display()),
        })?;
        toml::from_str(&text).map_err(|e| HearthError::InvalidRequest {
            message: format!("config file {} is not valid: {e}", path.display()),
        })
    }

    /// Each role's `limits` out of the ranges `[limits]` is held to, by key path.
    fn role_limit_problems(&self) -> Vec<crate::template::check::Problem> {
        let mut out = Vec::new();
        for (tier, t) in &self.tiers {
            for (role, r) in &t.roles.0 {
                let Some(l) = r.limits else { continue };
                let key = |k: &str| format!("tiers.{tier}.roles.{role}.limits.{k}");
                let errors = [
                    crate::bounds::MEMORY_MB
                        .check_opt(&key("memory_mb"), l.memory_mb)
                        .err(),
                    crate::bounds::CPUS.check_opt(&key("cpus"), l.cpus).err(),
                    crate::bounds::PIDS.check_opt(&key("pids"), l.pids).err(),
                ];
                out.extend(errors.into_iter().flatten().map(|e| {
                    crate::template::check::Problem::new(
                        &e.key,
                        format!("{} is out of range: allowed {}", e.value, e.allowed),
                    )
                }));
            }
        }
        out
    }

    /// The templates of `[tiers]`, read and checked; `images` stands for the image of a
    /// `cairnet` or `lore` role that names none.
    ///
    /// # Errors
    /// [`crate::template::check::Problems`], every problem with its key path, in the context
    /// of the file's path.
    pub fn templates(
        &self,
        images: &BTreeMap<String, String>,
        path: Option<&Path>,
    ) -> anyhow::Result<crate::template::Templates> {
        let limits = self.role_limit_problems();
        let read = match crate::template::file::templates(&self.tiers, images) {
            Ok(t) if limits.is_empty() => Ok(t),
            Ok(_) => Err(crate::template::check::Problems(limits)),
            Err(mut p) => {
                p.0.extend(limits);
                Err(p)
            }
        };
        read.map_err(|p| {
            let e = anyhow::Error::new(p);
            match path {
                Some(path) => e.context(format!("config file {}", path.display())),
                None => e,
            }
        })
    }
}

/// An environment variable, or the Go hearth's name for the same thing.
pub fn env_or_origin(ours: &str, origin: &str) -> Option<String> {
    std::env::var(ours)
        .ok()
        .or_else(|| std::env::var(origin).ok())
        .filter(|v| !v.is_empty())
}

/// Where the socket lives when nobody says: `$XDG_RUNTIME_DIR/hearth.sock`, else
/// `/tmp/hearth-<uid>.sock`.
pub fn default_socket() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("hearth.sock"),
        _ => PathBuf::from(format!("/tmp/hearth-{}.sock", nix::unistd::getuid())),
    }
}

/// Where state lives when nobody says: `$XDG_STATE_HOME/hearth`, else
/// `~/.local/state/hearth`.
pub fn default_state_dir() -> PathBuf {
    hearth_serve::private::default_state_dir("hearth")
}

/// This daemon's instance id: given, or made once and kept in the state dir, so a restarted
/// daemon recognises its own objects and never another's.
///
/// # Errors
/// [`HearthError::State`] if the id file cannot be read or written.
pub fn instance_id(state_dir: &Path, given: Option<String>) -> Result<String, HearthError> {
    if let Some(id) = given {
        return Ok(id);
    }
    let path = state_dir.join("instance");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_owned()),
        _ => {
            crate::store::private_dir(state_dir)?;
            let id = format!("{:016x}", rand::random::<u64>());
            hearth_serve::private::write_atomic(&path, id.as_bytes()).map_err(|e| {
                HearthError::State {
                    attempted: "written".into(),
                    detail: e.to_string(),
                }
            })?;
            Ok(id)
        }
    }
}

/// Parses `KEY=VALUE` labels.
///
/// # Errors
/// A message naming the malformed label.
pub fn parse_labels(raw: &[String]) -> Result<Vec<(String, String)>, String> {
    raw.iter()
        .flat_map(|s| s.split(','))
        .filter(|s| !s.trim().is_empty())
        .map(|s| match s.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
            _ => Err(format!("label {s:?} is not KEY=VALUE")),
        })
        .collect()
}

/// Parses a pull policy from config text.
///
/// # Errors
/// [`HearthError::InvalidRequest`] naming the accepted values.
pub fn pull_policy(raw: &str) -> Result<PullPolicy, HearthError> {
    raw.parse()
        .map_err(|message| HearthError::InvalidRequest { message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_parse_and_refuse_garbage() {
        let ok = parse_labels(&["a=1,b=2".into(), "c=".into()]).expect("labels");
        assert_eq!(
            ok,
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "2".into()),
                ("c".into(), String::new())
            ]
        );
        assert!(parse_labels(&["novalue".into()]).is_err());
    }

    #[test]
    fn instance_id_is_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = instance_id(dir.path(), None).expect("id");
        let b = instance_id(dir.path(), None).expect("id again");
        assert_eq!(a, b);
        assert_eq!(
            instance_id(dir.path(), Some("x".into())).expect("given"),
            "x"
        );
    }

    #[test]
    fn the_kustomize_driver_and_its_out_dir_come_from_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("hearth.toml");
        std::fs::write(
            &p,
            "driver = \"kustomize\"\n[kustomize]\nout = \"/srv/k8s\"\n",
        )
        .expect("write");
        let c = FileConfig::load(&p).expect("load");
        assert_eq!(c.driver.as_deref(), Some("kustomize"));
        assert_eq!(c.kustomize.out.as_deref(), Some(Path::new("/srv/k8s")));
        assert_eq!(
            "kustomize".parse::<hearth_protocol::hearth::DriverName>(),
            Ok(hearth_protocol::hearth::DriverName::Kustomize)
        );
        std::fs::write(&p, "[kustomize]\nouts = \"x\"\n").expect("write");
        assert!(FileConfig::load(&p).is_err(), "unknown key in [kustomize]");
    }

    #[test]
    fn role_limits_out_of_range_are_named_by_key_path() {
        let file: FileConfig = toml::from_str(
            "[tiers.solo.roles.w]\nimage = \"w\"\nport = 80\nlimits = { memory_mb = 1, cpus = 0.5 }\n",
        )
        .expect("toml");
        let err = file.templates(&BTreeMap::new(), None).expect_err("refused");
        assert_eq!(
            format!("{err:#}"),
            "1 problem in [tiers]:\n  tiers.solo.roles.w.limits.memory_mb: 1 is out of range: \
             allowed 6 to 1048576 MiB"
        );
    }

    #[test]
    fn config_file_rejects_unknown_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("hearth.toml");
        std::fs::write(&p, "driver = \"fake\"\n[images]\ncairnet = \"x\"\n").expect("write");
        let c = FileConfig::load(&p).expect("load");
        assert_eq!(c.images.cairnet.as_deref(), Some("x"));
        std::fs::write(&p, "drivr = \"fake\"\n").expect("write");
        let err = FileConfig::load(&p).expect_err("typo");
        assert!(err.to_string().contains("drivr"));
    }
}
