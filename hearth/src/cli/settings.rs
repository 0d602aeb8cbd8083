//! `hearth serve`'s settings, merged in one place: flags, then environment (ours, then the Go
//! hearth's `ROCKY_HEARTH_*` names as aliases), then the config file (`crate::config`), then
//! defaults. The CLI's own: the library's config module knows nothing of flags.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use hearth_protocol::hearth::DriverName;

use crate::bounds::{
    OutOfRange, DRAIN_SECS, HEADER_TIMEOUT_MS, IDLE_EXIT_SECS, MAX_CONNECTIONS, POOL_MAX_AGE_SECS,
    PORT, TIMEOUT_SECS,
};
use crate::cli::serve::ServeArgs;
use crate::config::{
    default_socket, default_state_dir, env_or_origin, instance_id, parse_labels, pull_policy,
    FileConfig, FileImages, FileLimits, FileNetwork,
};
use crate::dispatcher::Deadlines;
use crate::driver::engine::EngineConfig;
use crate::lockfile::LiveLock;
use crate::pool::PoolConfig;

/// Everything `hearth serve` runs with, resolved.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub socket: PathBuf,
    pub socket_group: Option<String>,
    pub state_dir: PathBuf,
    pub driver: DriverName,
    pub instance: String,
    pub docker: EngineConfig,
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
    pub(crate) fn resolve(socket: Option<PathBuf>, args: &ServeArgs) -> anyhow::Result<Settings> {
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
        crate::bounds::check_file(&file)?;
        check_flags(args)?;
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
) -> anyhow::Result<EngineConfig> {
    let mut docker = EngineConfig::default();
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
fn images(args: &ServeArgs, file: &FileImages, docker: &mut EngineConfig) -> anyhow::Result<()> {
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
fn limits(file: &FileLimits, docker: &mut EngineConfig) -> anyhow::Result<()> {
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
fn network(file: &FileNetwork, docker: &mut EngineConfig) -> anyhow::Result<()> {
    if file.subnet_pool.is_some() || file.subnet_prefix.is_some() {
        let pool = file.subnet_pool.as_deref().unwrap_or("10.213.0.0/16");
        docker.subnet_pool =
            crate::driver::engine::SubnetPool::parse(pool, file.subnet_prefix.unwrap_or(28))
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

/// Checks every number of `hearth serve`'s flags (and the environment variables clap reads
/// for them) against the ranges of [`crate::bounds`]; the file's are checked by
/// [`crate::bounds::check_file`].
///
/// # Errors
/// The first [`OutOfRange`], naming its flag.
fn check_flags(args: &ServeArgs) -> Result<(), OutOfRange> {
    for (key, v) in [
        ("--readiness-timeout", args.readiness_timeout),
        ("--pull-timeout", args.pull_timeout),
        ("--op-timeout", args.op_timeout),
        ("--teardown-timeout", args.teardown_timeout),
    ] {
        TIMEOUT_SECS.check_opt(key, v)?;
    }
    DRAIN_SECS.check_opt("--drain-timeout", args.drain_timeout)?;
    IDLE_EXIT_SECS.check_opt("--idle-exit", args.idle_exit)?;
    HEADER_TIMEOUT_MS.check_opt(
        "--header-timeout-ms (or HEARTH_HEADER_TIMEOUT_MS)",
        args.header_timeout_ms,
    )?;
    // The body bound shares the head's range: both end a connection that sends too slowly.
    HEADER_TIMEOUT_MS.check_opt(
        "--body-timeout-ms (or HEARTH_BODY_TIMEOUT_MS)",
        args.body_timeout_ms,
    )?;
    MAX_CONNECTIONS.check_opt(
        "--max-connections (or HEARTH_MAX_CONNECTIONS)",
        args.max_connections,
    )?;
    PORT.check_opt("--service-port", args.service_port)?;
    POOL_MAX_AGE_SECS.check_opt("--pool-max-age", args.pool_max_age)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{check_flags, ServeArgs};

    #[test]
    fn the_flags_are_checked_flag_by_flag() {
        let args = ServeArgs {
            max_connections: Some(0),
            ..ServeArgs::default()
        };
        let err = check_flags(&args).expect_err("no connections");
        assert!(err.key.contains("HEARTH_MAX_CONNECTIONS"), "{err}");
        assert!(check_flags(&ServeArgs::default()).is_ok());
    }

    /// `hearth serve --driver swarm --pool …` is served like any other driver's pool (it used
    /// to be refused, when the Swarm driver reported no image digests).
    #[test]
    fn swarm_serves_a_pool() {
        let dir = tempfile::tempdir().expect("tempdir");
        let args = ServeArgs {
            driver: Some("swarm".into()),
            pool: vec!["solo=1".into()],
            state_dir: Some(dir.path().join("state")),
            instance: Some("t".into()),
            ..Default::default()
        };
        let settings = super::super::serve::settings(Some(dir.path().join("s.sock")), &args)
            .expect("a pool on Swarm is accepted");
        assert_eq!(
            settings
                .pool
                .sizes
                .get(&hearth_protocol::hearth::Tier::Solo),
            Some(&1)
        );
    }
}
