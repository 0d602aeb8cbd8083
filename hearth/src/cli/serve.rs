//! `hearth serve`: resolve settings, build the driver, reconcile with the engine, bind the
//! socket, serve until SIGINT/SIGTERM, drain, remove the socket.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use hearth_protocol::hearth::DriverName;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::{self, env_or_origin, FileConfig, Settings};
use crate::dispatcher::{Deadlines, Dispatcher};
use crate::driver::docker::{DockerConfig, LocalDocker};
use crate::driver::fake::{FakeDriver, FakeFaults};
use crate::driver::swarm::Swarm;
use crate::driver::Driver;
use crate::lockfile::ImageLock;
use crate::server::activation;
use crate::server::idle::{IdleListener, IdleWatch};
use crate::store::Store;

/// Flags of `hearth serve`. Each also reads the environment variable named in its help.
#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// TOML config file (see the README) [env: HEARTH_CONFIG]
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Where hearth keeps its record of workspaces [env: HEARTH_STATE_DIR] [default:
    /// $XDG_STATE_HOME/hearth or ~/.local/state/hearth]
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// local-docker, swarm or fake [env: HEARTH_DRIVER, ROCKY_HEARTH_DRIVER] [default: local-docker]
    #[arg(long)]
    pub driver: Option<String>,
    /// Image of the cairnet role [env: HEARTH_IMAGE_CAIRNET, ROCKY_HEARTH_IMAGE_CAIRNET]
    /// [default: nginx:alpine]
    #[arg(long)]
    pub image_cairnet: Option<String>,
    /// Image of the lore role [env: HEARTH_IMAGE_LORE, ROCKY_HEARTH_IMAGE_LORE] [default:
    /// nginx:alpine]
    #[arg(long)]
    pub image_lore: Option<String>,
    /// if-missing, never or always [env: HEARTH_PULL] [default: if-missing]
    #[arg(long)]
    pub pull: Option<String>,
    /// Image lock written by `hearth lock` [env: HEARTH_LOCK] [default: ./hearth.lock if present]
    #[arg(long)]
    pub lock: Option<PathBuf>,
    /// This daemon's instance id, stamped on everything it creates [env: HEARTH_INSTANCE]
    /// [default: made once, kept in the state dir]
    #[arg(long)]
    pub instance: Option<String>,
    /// Extra KEY=VALUE label on every object (repeatable) [env: HEARTH_LABELS, comma-separated]
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Group that may use the socket (mode 0660 instead of 0600)
    #[arg(long)]
    pub socket_group: Option<String>,
    /// The port each service listens on inside its container [default: 80]
    #[arg(long)]
    pub service_port: Option<u16>,
    /// Seconds a role may take to answer HTTP after it started [default: 30]
    #[arg(long)]
    pub readiness_timeout: Option<u64>,
    /// Seconds a provision (or upgrade, wake) may take [default: 120]
    #[arg(long)]
    pub op_timeout: Option<u64>,
    /// Seconds a teardown may take [default: 60]
    #[arg(long)]
    pub teardown_timeout: Option<u64>,
    /// Seconds one image pull may take before it is `image_unavailable` [default: 60]
    #[arg(long)]
    pub pull_timeout: Option<u64>,
    /// Seconds in-flight requests get to finish on SIGTERM [default: 10]
    #[arg(long)]
    pub drain_timeout: Option<u64>,
    /// Under socket activation, exit after SECS with no connection open (0: never); the
    /// socket unit starts hearth again on the next one [env: HEARTH_IDLE_EXIT] [default: 0]
    #[arg(long, value_name = "SECS")]
    pub idle_exit: Option<u64>,
    /// Milliseconds a client may take to send a request head, and may stay idle between
    /// requests [env: HEARTH_HEADER_TIMEOUT_MS] [default: 10000]
    #[arg(long, env = "HEARTH_HEADER_TIMEOUT_MS")]
    pub header_timeout_ms: Option<u64>,
    /// Connections served at once; more wait in the backlog [env: HEARTH_MAX_CONNECTIONS]
    /// [default: 1024]
    #[arg(long, env = "HEARTH_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Keep N workspaces of TIER made ahead, paused, for provisions to claim (repeatable,
    /// e.g. --pool solo=2) [env: HEARTH_POOL, comma-separated] [default: no pool]
    #[arg(long = "pool")]
    pub pool: Vec<String>,
    /// Seconds a pool member may wait before it is replaced [default: no limit]
    #[arg(long)]
    pub pool_max_age: Option<u64>,
    /// Fake driver only: fail:VERB, hang:VERB or delay:MS (repeatable; fail:refill fails
    /// only pool members' builds)
    #[arg(long = "fake-fault")]
    pub fake_faults: Vec<String>,
}

/// Resolves flags > environment > config file > defaults.
///
/// # Errors
/// A message naming the setting that is wrong.
pub fn settings(socket: Option<PathBuf>, args: &ServeArgs) -> anyhow::Result<Settings> {
    let config_path = args
        .config
        .clone()
        .or_else(|| std::env::var_os("HEARTH_CONFIG").map(PathBuf::from));
    let file = match &config_path {
        Some(p) => FileConfig::load(p)?,
        None => FileConfig::default(),
    };
    let socket = socket
        .or_else(|| env_or_origin("HEARTH_SOCKET", "ROCKY_HEARTH_SOCKET").map(PathBuf::from))
        .or(file.socket)
        .unwrap_or_else(config::default_socket);
    let state_dir = args
        .state_dir
        .clone()
        .or_else(|| std::env::var_os("HEARTH_STATE_DIR").map(PathBuf::from))
        .or(file.state_dir)
        .unwrap_or_else(config::default_state_dir);
    let driver: DriverName = args
        .driver
        .clone()
        .or_else(|| env_or_origin("HEARTH_DRIVER", "ROCKY_HEARTH_DRIVER"))
        .or(file.driver)
        .unwrap_or_else(|| "local-docker".into())
        .parse()
        .map_err(anyhow::Error::msg)?;
    let instance = config::instance_id(
        &state_dir,
        args.instance
            .clone()
            .or_else(|| {
                std::env::var("HEARTH_INSTANCE")
                    .ok()
                    .filter(|v| !v.is_empty())
            })
            .or(file.instance),
    )?;

    let mut docker = DockerConfig::default();
    let image = |flag: &Option<String>, ours: &str, origin: &str, file: &Option<String>| {
        flag.clone()
            .or_else(|| env_or_origin(ours, origin))
            .or(file.clone())
    };
    if let Some(i) = image(
        &args.image_cairnet,
        "HEARTH_IMAGE_CAIRNET",
        "ROCKY_HEARTH_IMAGE_CAIRNET",
        &file.images.cairnet,
    ) {
        docker.images.insert("cairnet".into(), i);
    }
    if let Some(i) = image(
        &args.image_lore,
        "HEARTH_IMAGE_LORE",
        "ROCKY_HEARTH_IMAGE_LORE",
        &file.images.lore,
    ) {
        docker.images.insert("lore".into(), i);
    }
    if let Some(p) = args
        .pull
        .clone()
        .or_else(|| std::env::var("HEARTH_PULL").ok())
        .or(file.images.pull)
    {
        docker.pull = config::pull_policy(&p)?;
    }
    let lock_path = args
        .lock
        .clone()
        .or_else(|| std::env::var_os("HEARTH_LOCK").map(PathBuf::from))
        .or(file.images.lock);
    docker.lock = match lock_path {
        Some(p) => Some(ImageLock::load(&p)?),
        None if std::path::Path::new("hearth.lock").exists() => {
            Some(ImageLock::load(std::path::Path::new("hearth.lock"))?)
        }
        None => None,
    };
    if let Some(mb) = file.limits.memory_mb {
        docker.memory_bytes = i64::try_from(mb * 1024 * 1024).context("limits.memory_mb")?;
    }
    if let Some(cpus) = file.limits.cpus {
        if !(cpus > 0.0 && cpus <= 64.0) {
            bail!("limits.cpus must be between 0 and 64, not {cpus}");
        }
        // Whole nanocpus: the engine takes an integer.
        #[allow(clippy::cast_possible_truncation)]
        let nano = (cpus * 1e9) as i64;
        docker.nano_cpus = nano;
    }
    if let Some(pids) = file.limits.pids {
        docker.pids_limit = pids;
    }
    let secs = |flag: Option<u64>, file: Option<u64>, default: u64| {
        Duration::from_secs(flag.or(file).unwrap_or(default))
    };
    if let Some(port) = args.service_port.or(file.service_port) {
        docker.service_port = port;
    }
    if file.network.subnet_pool.is_some() || file.network.subnet_prefix.is_some() {
        let pool = file
            .network
            .subnet_pool
            .as_deref()
            .unwrap_or("10.213.0.0/16");
        docker.subnet_pool = crate::driver::docker::SubnetPool::parse(
            pool,
            file.network.subnet_prefix.unwrap_or(28),
        )
        .map_err(anyhow::Error::msg)?;
    }
    docker.readiness_timeout = secs(args.readiness_timeout, file.timeouts.readiness, 30);
    docker.pull_timeout = secs(args.pull_timeout, file.timeouts.pull, 60);
    let mut labels = args.labels.clone();
    if let Ok(env) = std::env::var("HEARTH_LABELS") {
        labels.push(env);
    }
    docker.extra_labels = config::parse_labels(&labels).map_err(anyhow::Error::msg)?;
    docker.extra_labels.extend(file.labels);

    let deadlines = Deadlines {
        provision: secs(args.op_timeout, file.timeouts.provision, 120),
        teardown: secs(args.teardown_timeout, file.timeouts.teardown, 60),
        other: secs(args.op_timeout, file.timeouts.provision, 120),
    };
    let mut pool = crate::pool::PoolConfig::default();
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
    if let Some(secs) = args.pool_max_age {
        pool.max_age = Some(Duration::from_secs(secs));
    }
    pool.build_timeout = deadlines.provision;
    Ok(Settings {
        socket,
        socket_group: args.socket_group.clone().or(file.socket_group),
        state_dir,
        driver,
        instance,
        docker,
        deadlines,
        drain: secs(args.drain_timeout, file.timeouts.drain, 10),
        idle_exit: idle_exit(args.idle_exit, &deadlines)?,
        limits: hearth_serve::Limits {
            header_read_timeout: args.header_timeout_ms.map_or(
                hearth_serve::Limits::HEADER_READ_TIMEOUT,
                Duration::from_millis,
            ),
            max_connections: args
                .max_connections
                .unwrap_or(hearth_serve::Limits::MAX_CONNECTIONS),
            ..hearth_serve::Limits::default()
        },
        pool,
    })
}

/// Seconds between reconcile attempts while something is left unreconciled.
const RECONCILE_RETRY_SECS: u64 = 2;

/// Runs the daemon until SIGINT or SIGTERM.
///
/// # Errors
/// If the socket cannot be bound, the state cannot be opened, or the server fails.
pub async fn run(settings: Settings, fake_faults: &[String]) -> anyhow::Result<()> {
    let stop = hearth_serve::shutdown::on_signal()?;
    let (driver, local_docker) = build_driver(&settings, fake_faults)?;
    // Bind first (or take the socket systemd passed): a second daemon must be refused before
    // it touches state or the engine.
    let (listener, guard) = activation::listen(&settings.socket, settings.socket_group.as_deref())
        .with_context(|| format!("cannot serve on {}", settings.socket.display()))?;
    let _state_lock = crate::store::lock_state_dir(&settings.state_dir)?;
    let store = Store::open(&settings.state_dir)?;
    // The dispatcher runs the driver through the pool's bindings even with no pool
    // configured: workspaces claimed under an earlier configuration live on member objects.
    let book = Arc::new(crate::pool::Book::open(&settings.state_dir)?);
    let pool = crate::pool::Pool::new(driver, book, settings.pool.clone());
    let dispatcher = Dispatcher::new(pool.bound(), store, settings.deadlines);
    dispatcher.set_pool(Arc::clone(&pool));
    // Which engine answers (Docker or Podman) and what it cannot do, said once at start; an
    // engine that is down is found (and logged) on first use instead.
    if let Some(d) = &local_docker {
        if let Err(e) = d.engine().flavor().await {
            warn!(error = %e, code = %e.code(), "the engine did not say what it is");
        }
    }
    // A workspace that cannot be reconciled now (the engine still finishing a create the
    // killed daemon asked for holds a volume "in use") is tried again until it settles, so
    // an interrupted verb never stays pending until the next restart.
    let unsettled = match dispatcher.reconcile().await {
        Ok(done) => !done.errors.is_empty(),
        Err(e) => {
            warn!(error = %e, code = %e.code(), "could not reconcile with the engine at start; serving, and trying again every 2 s");
            true
        }
    };
    if unsettled {
        let d = Arc::clone(&dispatcher);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(RECONCILE_RETRY_SECS)).await;
                if d.reconcile().await.is_ok_and(|done| done.errors.is_empty()) {
                    info!("reconciled with the engine");
                    break;
                }
            }
        });
    }
    // Members left by the last run: whole ones are kept, the rest removed; then refilling
    // (or, with no pool configured, draining) runs in the background.
    pool.adopt().await;
    let refill = pool.spawn();
    info!(
        socket = %guard.served_on(&settings.socket).display(),
        driver = %settings.driver,
        pool = ?settings.pool.sizes,
        instance = %settings.instance,
        state_dir = %settings.state_dir.display(),
        images = ?settings.docker.images,
        activated = guard.activated(),
        version = hearth_cli_kit::VERSION,
        "hearth serving"
    );
    let watch = IdleWatch::default();
    let shutdown = stop_when(settings.idle_exit, guard.activated(), watch.clone(), stop);
    activation::notify_ready();
    let listener = IdleListener::new(listener, watch);
    crate::server::run(
        listener,
        dispatcher,
        shutdown,
        settings.drain,
        settings.limits,
    )
    .await?;
    // Members stay paused for the next start to adopt.
    pool.stop();
    refill.abort();
    drop(guard);
    info!("hearth stopped");
    Ok(())
}

/// The driver the daemon runs, and the same driver as a [`LocalDocker`] when it is one.
type Drivers = (Arc<dyn Driver>, Option<Arc<LocalDocker>>);

/// The driver `settings` name (with the Fake's `fake_faults`).
fn build_driver(settings: &Settings, fake_faults: &[String]) -> anyhow::Result<Drivers> {
    let mut local_docker = None;
    let driver: Arc<dyn Driver> = match settings.driver {
        DriverName::LocalDocker => {
            if !fake_faults.is_empty() {
                bail!("--fake-fault only applies to --driver fake");
            }
            let d = Arc::new(LocalDocker::new(
                settings.docker.clone(),
                settings.instance.clone(),
            ));
            local_docker = Some(Arc::clone(&d));
            d
        }
        DriverName::Swarm => {
            if !fake_faults.is_empty() {
                bail!("--fake-fault only applies to --driver fake");
            }
            info!(
                pause = "freezes each task's container on this node",
                endpoints = "loopback relays owned by hearth",
                "swarm driver: what Swarm cannot do itself"
            );
            Arc::new(Swarm::new(
                settings.docker.clone(),
                settings.instance.clone(),
            ))
        }
        DriverName::Fake => {
            let mut faults = FakeFaults::default();
            for f in fake_faults {
                faults.add(f).map_err(anyhow::Error::msg)?;
            }
            Arc::new(FakeDriver::new(faults))
        }
    };
    Ok((driver, local_docker))
}

/// What the server stops on: `stop` cancelled, by SIGINT/SIGTERM or, under socket activation
/// with an idle period, once `watch` has seen no connection for that period; then the
/// service manager is told hearth stops.
fn stop_when(
    idle_exit: Option<Duration>,
    activated: bool,
    watch: IdleWatch,
    stop: CancellationToken,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let idle = match idle_exit {
        Some(period) if activated => Some(period),
        Some(_) => {
            warn!("--idle-exit applies only under socket activation (nothing would start hearth again); ignored");
            None
        }
        None => None,
    };
    if let Some(period) = idle {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = stop.cancelled() => {}
                () = watch.idle_for(period) => {
                    info!(idle = ?period, "idle: no connection open for the idle period; exiting until the socket starts hearth again");
                    stop.cancel();
                }
            }
        });
    }
    async move {
        stop.cancelled().await;
        activation::notify_stopping();
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
    if secs == 0 {
        return Ok(None);
    }
    let longest = deadlines
        .provision
        .max(deadlines.teardown)
        .max(deadlines.other);
    let asked = Duration::from_secs(secs);
    if asked < longest {
        info!(asked = ?asked, raised_to = ?longest, "idle exit raised to the longest verb deadline");
    }
    Ok(Some(asked.max(longest)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pull_bound_comes_from_the_flag_then_the_file_then_60_s() {
        let dir = tempfile::tempdir().expect("tmp");
        let config = dir.path().join("hearth.toml");
        std::fs::write(&config, "[timeouts]\npull = 5\n").expect("write");
        let mut args = ServeArgs {
            state_dir: Some(dir.path().join("state")),
            instance: Some("t".into()),
            ..ServeArgs::default()
        };
        let pull = |args: &ServeArgs| {
            settings(Some(dir.path().join("s.sock")), args)
                .expect("settings")
                .docker
                .pull_timeout
        };
        assert_eq!(pull(&args), Duration::from_secs(60));
        args.config = Some(config);
        assert_eq!(pull(&args), Duration::from_secs(5));
        args.pull_timeout = Some(7);
        assert_eq!(pull(&args), Duration::from_secs(7));
    }
}
