//! hearth's settings, merged in one place: flags, then environment (ours, then the Go hearth's
//! `ROCKY_HEARTH_*` names as aliases), then the config file, then defaults.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use hearth_protocol::hearth::DriverName;
use serde::Deserialize;

use crate::cli::serve::ServeArgs;
use crate::dispatcher::Deadlines;
use crate::driver::docker::{DockerConfig, PullPolicy};
use crate::error::HearthError;
use crate::lockfile::LiveLock;
use crate::pool::PoolConfig;

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

/// Everything `hearth serve` runs with, resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    pub socket: PathBuf,
    pub socket_group: Option<String>,
    pub state_dir: PathBuf,
    pub driver: DriverName,
    pub instance: String,
    pub docker: DockerConfig,
    pub deadlines: Deadlines,
    pub drain: Duration,
    /// Under socket activation, exit after this long with no connection open.
    pub idle_exit: Option<Duration>,
    /// What one client of the socket may hold, and for how long.
    pub limits: hearth_serve::Limits,
    /// The warm pools (none unless asked for).
    pub pool: crate::pool::PoolConfig,
    /// The engine address set by `--docker-host` or the file's `docker_host`, if either is.
    pub engine: Option<crate::driver::engine::Given>,
    /// Where the kustomize driver writes each workspace's manifests.
    pub kustomize_out: PathBuf,
}

impl Settings {
    /// Resolves `hearth serve`'s settings: flags > environment > config file > defaults, one
    /// section at a time.
    ///
    /// # Errors
    /// A message naming the setting that is wrong.
    pub fn resolve(socket: Option<PathBuf>, args: &ServeArgs) -> anyhow::Result<Settings> {
        let path = config_path(args);
        let file = match &path {
            Some(p) => FileConfig::load(p)?,
            None => FileConfig::default(),
        };
        let engine = crate::driver::engine::Given::from_settings(
            args.docker_host.as_deref(),
            file.docker_host.as_deref(),
            path.as_deref(),
        );
        crate::bounds::check_serve(args, &file)?;
        let docker = docker_config(args, &file, path.as_deref())?;
        let state_dir = args
            .state_dir
            .clone()
            .or_else(|| std::env::var_os("HEARTH_STATE_DIR").map(PathBuf::from))
            .or_else(|| file.state_dir.clone())
            .unwrap_or_else(default_state_dir);
        let driver = driver_name(args, &file)?;
        let instance = instance_id(
            &state_dir,
            args.instance
                .clone()
                .or_else(|| {
                    std::env::var("HEARTH_INSTANCE")
                        .ok()
                        .filter(|v| !v.is_empty())
                })
                .or_else(|| file.instance.clone()),
        )?;
        let deadlines = deadlines(args, &file);
        let mut pool = pool_config(args, &file, &deadlines)?;
        let kustomize_out = args
            .out
            .clone()
            .or_else(|| std::env::var_os("HEARTH_KUSTOMIZE_OUT").map(PathBuf::from))
            .or_else(|| file.kustomize.out.clone())
            .unwrap_or_else(|| state_dir.join("kustomize"));
        pool.templates = docker.templates.fingerprints();
        Ok(Settings {
            socket: socket_path(socket, &file),
            socket_group: args.socket_group.clone().or(file.socket_group.clone()),
            state_dir,
            driver,
            instance,
            docker,
            deadlines,
            drain: secs(args.drain_timeout, file.timeouts.drain, 10),
            idle_exit: idle_exit(args.idle_exit, &deadlines)?,
            limits: serve_limits(args),
            pool,
            engine,
            kustomize_out,
        })
    }
}

/// `--config`, else `HEARTH_CONFIG`.
fn config_path(args: &ServeArgs) -> Option<PathBuf> {
    args.config
        .clone()
        .or_else(|| std::env::var_os("HEARTH_CONFIG").map(PathBuf::from))
}

/// A duration in seconds: the flag, else the file, else `default`.
fn secs(flag: Option<u64>, file: Option<u64>, default: u64) -> Duration {
    Duration::from_secs(flag.or(file).unwrap_or(default))
}

fn socket_path(flag: Option<PathBuf>, file: &FileConfig) -> PathBuf {
    flag.or_else(|| env_or_origin("HEARTH_SOCKET", "ROCKY_HEARTH_SOCKET").map(PathBuf::from))
        .or_else(|| file.socket.clone())
        .unwrap_or_else(default_socket)
}

fn driver_name(args: &ServeArgs, file: &FileConfig) -> anyhow::Result<DriverName> {
    args.driver
        .clone()
        .or_else(|| env_or_origin("HEARTH_DRIVER", "ROCKY_HEARTH_DRIVER"))
        .or_else(|| file.driver.clone())
        .unwrap_or_else(|| "local-docker".into())
        .parse()
        .map_err(anyhow::Error::msg)
}

/// How the Docker-engine drivers build a workspace: `[images]`, `[limits]`, `[network]`,
/// `[labels]` and the engine-side timeouts.
fn docker_config(
    args: &ServeArgs,
    file: &FileConfig,
    path: Option<&Path>,
) -> anyhow::Result<DockerConfig> {
    let mut docker = DockerConfig::default();
    images(args, &file.images, &mut docker)?;
    docker.templates = file.templates(&docker.images, path)?;
    limits(&file.limits, &mut docker)?;
    network(&file.network, &mut docker)?;
    if let Some(port) = args.service_port.or(file.service_port) {
        docker.service_port = port;
    }
    docker.readiness_timeout = secs(args.readiness_timeout, file.timeouts.readiness, 30);
    docker.pull_timeout = secs(args.pull_timeout, file.timeouts.pull, 60);
    let mut labels = args.labels.clone();
    if let Ok(env) = std::env::var("HEARTH_LABELS") {
        labels.push(env);
    }
    docker.extra_labels = parse_labels(&labels).map_err(anyhow::Error::msg)?;
    docker.extra_labels.extend(file.labels.clone());
    Ok(docker)
}

/// `[images]`: each role's image, the pull policy, and the lock (followed on disk).
fn images(args: &ServeArgs, file: &FileImages, docker: &mut DockerConfig) -> anyhow::Result<()> {
    for (role, flag, ours, origin, in_file) in [
        (
            "cairnet",
            &args.image_cairnet,
            "HEARTH_IMAGE_CAIRNET",
            "ROCKY_HEARTH_IMAGE_CAIRNET",
            &file.cairnet,
        ),
        (
            "lore",
            &args.image_lore,
            "HEARTH_IMAGE_LORE",
            "ROCKY_HEARTH_IMAGE_LORE",
            &file.lore,
        ),
    ] {
        if let Some(i) = flag
            .clone()
            .or_else(|| env_or_origin(ours, origin))
            .or_else(|| in_file.clone())
        {
            docker.images.insert(role.into(), i);
        }
    }
    if let Some(p) = args
        .pull
        .clone()
        .or_else(|| std::env::var("HEARTH_PULL").ok())
        .or_else(|| file.pull.clone())
    {
        docker.pull = pull_policy(&p)?;
    }
    let lock_path = args
        .lock
        .clone()
        .or_else(|| std::env::var_os("HEARTH_LOCK").map(PathBuf::from))
        .or_else(|| file.lock.clone());
    docker.lock = match lock_path {
        Some(p) => Some(LiveLock::open(&p)?),
        None if Path::new("hearth.lock").exists() => {
            Some(LiveLock::open(Path::new("hearth.lock"))?)
        }
        None => None,
    };
    Ok(())
}

/// `[limits]`.
fn limits(file: &FileLimits, docker: &mut DockerConfig) -> anyhow::Result<()> {
    if let Some(mb) = file.memory_mb {
        docker.memory_bytes = crate::bounds::memory_bytes("limits.memory_mb", mb)?;
    }
    if let Some(cpus) = file.cpus {
        docker.nano_cpus = crate::bounds::nano_cpus("limits.cpus", cpus)?;
    }
    if let Some(pids) = file.pids {
        docker.pids_limit = crate::bounds::PIDS.check("limits.pids", pids)?;
    }
    Ok(())
}

/// `[network]`: hearth's own address pool, used once the engine's run out.
fn network(file: &FileNetwork, docker: &mut DockerConfig) -> anyhow::Result<()> {
    if file.subnet_pool.is_some() || file.subnet_prefix.is_some() {
        let pool = file.subnet_pool.as_deref().unwrap_or("10.213.0.0/16");
        docker.subnet_pool =
            crate::driver::docker::SubnetPool::parse(pool, file.subnet_prefix.unwrap_or(28))
                .map_err(anyhow::Error::msg)?;
    }
    Ok(())
}

/// `[timeouts]` of the verbs.
fn deadlines(args: &ServeArgs, file: &FileConfig) -> Deadlines {
    Deadlines {
        provision: secs(args.op_timeout, file.timeouts.provision, 120),
        teardown: secs(args.teardown_timeout, file.timeouts.teardown, 60),
        other: secs(args.op_timeout, file.timeouts.provision, 120),
    }
}

/// `[pool]`, then `HEARTH_POOL` and `--pool` on top.
fn pool_config(
    args: &ServeArgs,
    file: &FileConfig,
    deadlines: &Deadlines,
) -> anyhow::Result<PoolConfig> {
    let mut pool = PoolConfig::default();
    file.pool.apply(&mut pool);
    let mut specs = args.pool.clone();
    if let Ok(env) = std::env::var("HEARTH_POOL") {
        specs.extend(
            env.split(',')
                .filter(|s| !s.trim().is_empty())
                .map(str::to_owned),
        );
    }
    for spec in &specs {
        pool.add_spec(spec).map_err(anyhow::Error::msg)?;
    }
    for (tier, n) in &pool.sizes {
        crate::bounds::POOL_SIZE.check(&format!("--pool / HEARTH_POOL {tier}"), *n)?;
    }
    if let Some(secs) = args.pool_max_age {
        pool.max_age = Some(Duration::from_secs(secs));
    }
    pool.build_timeout = deadlines.provision;
    Ok(pool)
}

/// What one client of the socket may hold, and for how long.
fn serve_limits(args: &ServeArgs) -> hearth_serve::Limits {
    hearth_serve::Limits {
        header_read_timeout: args.header_timeout_ms.map_or(
            hearth_serve::Limits::HEADER_READ_TIMEOUT,
            Duration::from_millis,
        ),
        body_read_timeout: args.body_timeout_ms.map_or(
            hearth_serve::Limits::BODY_READ_TIMEOUT,
            Duration::from_millis,
        ),
        max_connections: args
            .max_connections
            .unwrap_or(hearth_serve::Limits::MAX_CONNECTIONS),
        ..hearth_serve::Limits::default()
    }
}

/// The idle period, if any: never shorter than the longest verb deadline, so a verb that goes
/// on after its caller left has always ended before hearth exits idle.
fn idle_exit(flag: Option<u64>, deadlines: &Deadlines) -> anyhow::Result<Option<Duration>> {
    let secs = match flag {
        Some(s) => s,
        None => match std::env::var("HEARTH_IDLE_EXIT") {
            Ok(v) if !v.is_empty() => v
                .parse()
                .with_context(|| format!("HEARTH_IDLE_EXIT={v:?} is not a number of seconds"))?,
            _ => 0,
        },
    };
    crate::bounds::IDLE_EXIT_SECS.check("--idle-exit (or HEARTH_IDLE_EXIT)", secs)?;
    if secs == 0 {
        return Ok(None);
    }
    let longest = deadlines
        .provision
        .max(deadlines.teardown)
        .max(deadlines.other);
    let asked = Duration::from_secs(secs);
    if asked < longest {
        tracing::info!(asked = ?asked, raised_to = ?longest, "idle exit raised to the longest verb deadline");
    }
    Ok(Some(asked.max(longest)))
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
        assert_eq!("kustomize".parse::<DriverName>(), Ok(DriverName::Kustomize));
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
