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

use crate::cli::settings::Settings;
use crate::dispatcher::Dispatcher;
use crate::driver::docker::LocalDocker;
use crate::driver::engine::{resolve, Inputs};
use crate::driver::fake::{FakeDriver, FakeFaults};
use crate::driver::swarm::Swarm;
use crate::driver::Driver;
use crate::error::HearthError;
use crate::server::activation;
use crate::server::idle::{IdleListener, IdleWatch};
use crate::store::Store;

/// Flags of `hearth serve`. Each also reads the environment variable named in its help.
#[derive(Debug, Args, Default)]
pub(crate) struct ServeArgs {
    /// TOML config file (see docs/src/configuration.md) [env: HEARTH_CONFIG]
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Where hearth keeps its record of workspaces [env: HEARTH_STATE_DIR] [default:
    /// $XDG_STATE_HOME/hearth or ~/.local/state/hearth]
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// local-docker, swarm, kustomize or fake [env: HEARTH_DRIVER, ROCKY_HEARTH_DRIVER]
    /// [default: local-docker]
    #[arg(long)]
    pub driver: Option<String>,
    /// kustomize driver: where each workspace's manifests are written, one directory per
    /// slug [env: HEARTH_KUSTOMIZE_OUT] [default: STATE_DIR/kustomize]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The engine's address (unix:///…, tcp://HOST:PORT, ssh://USER@HOST), before DOCKER_HOST
    /// [default: as the docker CLI finds it: DOCKER_HOST, DOCKER_CONTEXT, the current context,
    /// /var/run/docker.sock, then the well-known sockets]
    #[arg(long, value_name = "URL")]
    pub docker_host: Option<String>,
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
    /// Seconds a role may take to become ready after it started, when its template sets no
    /// `ready.timeout` [default: 30]
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
    /// Milliseconds a request body may take to arrive whole, counted from its head; past it
    /// the request is answered 408 and the connection closed [env: HEARTH_BODY_TIMEOUT_MS]
    /// [default: 10000]
    #[arg(long, env = "HEARTH_BODY_TIMEOUT_MS")]
    pub body_timeout_ms: Option<u64>,
    /// Connections served at once; at the cap a new client takes the slot of the connection
    /// that has waited on its client the longest [env: HEARTH_MAX_CONNECTIONS] [default: 1024]
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

/// Resolves flags > environment > config file > defaults (see [`Settings::resolve`]).
///
/// # Errors
/// A message naming the setting that is wrong.
pub(crate) fn settings(socket: Option<PathBuf>, args: &ServeArgs) -> anyhow::Result<Settings> {
    Settings::resolve(socket, args)
}

/// Seconds between reconcile attempts while something is left unreconciled.
const RECONCILE_RETRY_SECS: u64 = 2;

/// Runs the daemon until SIGINT or SIGTERM.
///
/// # Errors
/// If the socket cannot be bound, the state cannot be opened, or the server fails.
pub(crate) async fn run(mut settings: Settings, fake_faults: &[String]) -> anyhow::Result<()> {
    let stop = hearth_serve::shutdown::on_signal()?;
    choose_engine(&mut settings)?;
    let (driver, local_docker) = make_driver(&settings, fake_faults)?;
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
    if let Some(sink) = crate::agent::Sink::from_env().map_err(anyhow::Error::msg)? {
        info!(url = %sink.url, timeout = ?sink.timeout, "agent projection: each verb call is sent as agent events");
        dispatcher.set_agent(crate::agent::Projection::start(sink, settings.driver));
    }
    // Which engine answers (Docker or Podman) and what it cannot do, said once at start; an
    // engine that is down is found (and logged) on first use instead.
    if let Some(d) = &local_docker {
        if let Err(e) = d.engine().flavor().await {
            warn!(error = %e, code = %e.code(), "the engine did not say what it is");
        }
    }
    reconcile_at_start(&dispatcher, &stop).await;
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
        engine = settings.docker.endpoint.as_ref().map(ToString::to_string),
        images = ?settings.docker.images,
        lock = ?settings.docker.lock.as_ref().map(|l| l.path().display().to_string()),
        activated = guard.activated(),
        version = hearth_cli_kit::VERSION,
        "hearth serving"
    );
    for (tier, t) in &settings.docker.templates.by_tier {
        let roles: Vec<&str> = t.roles.iter().map(|r| r.name.as_str()).collect();
        info!(%tier, ?roles, front_door = %t.front_door, fingerprint = %t.fingerprint(), "tier runs its own template");
    }
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

/// Chooses the engine once, at start, as the docker CLI would (for the engine drivers), and
/// says which and why; a name that leads nowhere stops the start, never falls back.
fn choose_engine(settings: &mut Settings) -> Result<(), HearthError> {
    if matches!(settings.driver, DriverName::Fake | DriverName::Kustomize) {
        return Ok(());
    }
    let endpoint = resolve(&Inputs::from_env(settings.engine.clone()))?;
    info!(
        host = %endpoint.host,
        why = %endpoint.source,
        tls = endpoint.tls.is_some(),
        "engine {endpoint}"
    );
    settings.docker.endpoint = Some(endpoint);
    Ok(())
}

/// The driver a daemon runs and, for LocalDocker, the driver itself (to ask its engine what
/// it is).
type Made = (Arc<dyn Driver>, Option<Arc<LocalDocker>>);

/// The driver `settings` name.
fn make_driver(settings: &Settings, fake_faults: &[String]) -> anyhow::Result<Made> {
    if settings.driver != DriverName::Fake && !fake_faults.is_empty() {
        bail!("--fake-fault only applies to --driver fake");
    }
    Ok(match settings.driver {
        DriverName::LocalDocker => {
            let d = Arc::new(LocalDocker::new(
                settings.docker.clone(),
                settings.instance.clone(),
            ));
            (Arc::clone(&d) as Arc<dyn Driver>, Some(d))
        }
        DriverName::Swarm => {
            // The door (and volume cleanup) image: the stand-in unless the operator names one.
            let door = std::env::var("HEARTH_SWARM_DOOR_IMAGE")
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| crate::driver::swarm::DEFAULT_DOOR_IMAGE.to_owned());
            info!(
                pause = "freezes each task's container on this node",
                endpoints = "loopback relays owned by hearth, through a door on this node",
                door_image = %door,
                "swarm driver: what Swarm cannot do itself"
            );
            let d = Swarm::new(settings.docker.clone(), settings.instance.clone())
                .with_door_image(door);
            (Arc::new(d), None)
        }
        DriverName::Kustomize => {
            if !settings.pool.sizes.is_empty() {
                return Err(
                    HearthError::Driver(crate::driver_error::DriverError::Unsupported {
                        engine: "the kustomize driver".into(),
                        what: "keep a warm pool".into(),
                        reason: "a pool member is held paused, and nothing runs here to pause; \
                             drop --pool / [pool]"
                            .into(),
                    })
                    .into(),
                );
            }
            crate::driver::kustomize::write::out_dir(&settings.kustomize_out)?;
            info!(
                out = %settings.kustomize_out.display(),
                "kustomize driver: writing manifests, applied out-of-band with kubectl apply -k"
            );
            let d = crate::driver::kustomize::Kustomize::new(
                settings.kustomize_out.clone(),
                settings.docker.clone(),
                settings.instance.clone(),
            );
            (Arc::new(d), None)
        }
        DriverName::Fake => {
            let mut faults = FakeFaults::default();
            for f in fake_faults {
                faults.add(f).map_err(anyhow::Error::msg)?;
            }
            let fake = FakeDriver::new(faults).with_templates(settings.docker.templates.clone());
            (Arc::new(fake), None)
        }
    })
}

/// Reconciles with the engine before serving. A workspace that cannot be reconciled now (the
/// engine still finishing a create the killed daemon asked for holds a volume "in use") is
/// tried again until it settles, so an interrupted verb never stays pending until the next
/// restart.
async fn reconcile_at_start(dispatcher: &Arc<Dispatcher>, stop: &CancellationToken) {
    let unsettled = match dispatcher.reconcile().await {
        Ok(done) => !done.errors.is_empty(),
        Err(e) => {
            warn!(error = %e, code = %e.code(), "could not reconcile with the engine at start; serving, and trying again every 2 s");
            true
        }
    };
    if unsettled {
        let d = Arc::clone(dispatcher);
        let stop = stop.clone();
        // On the dispatcher's tracker, so a drain waits for a pass under way; a stop ends the
        // retrying.
        dispatcher.tasks().spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_secs(RECONCILE_RETRY_SECS)) => {}
                }
                if d.reconcile().await.is_ok_and(|done| done.errors.is_empty()) {
                    info!("reconciled with the engine");
                    break;
                }
            }
        });
    }
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
