//! Test support: a dispatcher over a chosen driver, the engine probe the assertions use, and
//! cleanup by label that runs even when a test fails.

#![allow(dead_code)]

pub mod cluster;
pub mod crash;
pub mod matrix;
pub mod podman;

// Each test binary uses its own part of the kit.
#[allow(unused_imports)]
pub use hearth_testkit::{
    registry,
    run::{test_image, test_label, test_run},
};

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hearth::dispatcher::{Deadlines, Dispatcher};
use hearth::driver::docker::LocalDocker;
use hearth::driver::engine::EngineConfig;
use hearth::driver::fake::{FakeDriver, FakeFaults};
use hearth::driver::swarm::Swarm;
use hearth::driver::{Driver, ObjectKind, Owned};
use hearth::error::HearthError;
use hearth::journal::Steps;
use hearth::slug::Slug;
use hearth::Store;
use hearth_protocol::hearth::{DeploymentRef, DriverName, ProvisioningProfile, Status};
use hearth_protocol::labels;
use hearth_testkit::objects;

/// Whether Docker-backed tests are asked for. With HEARTH_E2E=1 an unreachable engine fails
/// the test loudly; without it the test says it is skipped.
pub fn e2e(test: &str) -> bool {
    if hearth_testkit::run::docker_wanted() {
        let ok = cli_ok(None, &["version", "--format", "{{.Server.Version}}"]);
        assert!(
            ok,
            "HEARTH_E2E=1 but the Docker engine does not answer (`docker version` failed): \
             start dockerd, or run with HEARTH_E2E=0 to skip Docker-backed tests"
        );
        let image = test_image();
        let present = cli_ok(None, &["image", "inspect", &image]);
        assert!(
            present,
            "HEARTH_E2E=1 but image {image} is absent: run `make images`"
        );
        true
    } else {
        eprintln!("{test}: skipped (Docker-backed; set HEARTH_E2E=1 to run it)");
        false
    }
}

/// Whether `docker ARGS` succeeds against the engine at `host` (or `DOCKER_HOST`).
pub fn cli_ok(host: Option<&str>, args: &[&str]) -> bool {
    docker_cli(host)
        .args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Whether Swarm-backed tests run: HEARTH_E2E=1 (see [`e2e`]) and the engine a swarm manager.
/// An engine outside a swarm skips them with a message, unless HEARTH_SWARM=1 (as `make test`
/// sets after `docker swarm init`), which makes that a loud failure.
pub fn swarm_e2e(test: &str) -> bool {
    if !e2e(test) {
        return false;
    }
    let manager = Command::new("docker")
        .args([
            "info",
            "--format",
            "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "active true")
        .unwrap_or(false);
    if manager {
        return true;
    }
    assert!(
        std::env::var("HEARTH_SWARM").as_deref() != Ok("1"),
        "HEARTH_SWARM=1 but the engine is not a swarm manager: run `docker swarm init \
         --advertise-addr 127.0.0.1`, or unset HEARTH_SWARM to skip Swarm-backed tests"
    );
    eprintln!("{test}: skipped (Swarm-backed; the engine is not a swarm manager)");
    false
}

/// Whether `o` is (the service or the task container of) a swarm workspace's door, the
/// forwarder on hearth's node named `<network>__door`.
pub fn is_door(o: &Owned) -> bool {
    o.name.contains("__door")
}

/// Whether the multi-node swarm suite runs: Docker-backed tests asked for (HEARTH_E2E=1) and
/// this machine able to make private engines in network namespaces (root, dockerd, nsenter,
/// ip). With HEARTH_CLUSTER=1, "cannot run here" fails the test instead of skipping it.
pub fn cluster_e2e(test: &str) -> bool {
    if !e2e(test) {
        return false;
    }
    match hearth_testkit::cluster::can_run() {
        Ok(()) => true,
        Err(why) => {
            assert!(
                std::env::var("HEARTH_CLUSTER").as_deref() != Ok("1"),
                "HEARTH_CLUSTER=1 but {why}"
            );
            eprintln!("{test}: skipped (multi-node swarm: {why})");
            false
        }
    }
}

/// Which driver a backend runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Fake,
    Docker,
    /// LocalDocker on the Podman service at `HEARTH_PODMAN_HOST`.
    Podman,
    /// Services on the swarm the Docker engine manages.
    Swarm,
}

impl Kind {
    /// Whether `test` runs on this backend here: the Fake always; an engine's suite when its
    /// gate is open (`HEARTH_E2E`, `HEARTH_PODMAN`, `HEARTH_SWARM`), failing loudly when the
    /// gate is required but the engine is missing.
    pub fn gate(self, test: &str) -> bool {
        match self {
            Kind::Fake => true,
            Kind::Docker => e2e(test),
            Kind::Podman => podman::e2e(test),
            Kind::Swarm => swarm_e2e(test),
        }
    }

    /// Whether the backend runs on a real engine.
    pub fn on_engine(self) -> bool {
        match self {
            Kind::Fake => false,
            Kind::Docker | Kind::Podman | Kind::Swarm => true,
        }
    }
}

/// Counts every driver call, so a test can prove a verb never reached the engine.
#[derive(Debug)]
pub struct Counting {
    pub inner: Arc<dyn Driver>,
    pub calls: AtomicUsize,
}

impl Counting {
    fn hit(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl Driver for Counting {
    fn name(&self) -> DriverName {
        self.inner.name()
    }
    async fn provision(
        &self,
        s: &Slug,
        p: &ProvisioningProfile,
        st: &Steps,
    ) -> Result<DeploymentRef, HearthError> {
        self.hit();
        self.inner.provision(s, p, st).await
    }
    async fn status(&self, r: &DeploymentRef) -> Result<Status, HearthError> {
        self.hit();
        self.inner.status(r).await
    }
    async fn upgrade(
        &self,
        r: &DeploymentRef,
        p: &ProvisioningProfile,
        st: &Steps,
    ) -> Result<DeploymentRef, HearthError> {
        self.hit();
        self.inner.upgrade(r, p, st).await
    }
    async fn teardown(&self, s: &Slug, st: &Steps) -> Result<(), HearthError> {
        self.hit();
        self.inner.teardown(s, st).await
    }
    async fn pause(&self, r: &DeploymentRef, st: &Steps) -> Result<DeploymentRef, HearthError> {
        self.hit();
        self.inner.pause(r, st).await
    }
    async fn resume(&self, r: &DeploymentRef, st: &Steps) -> Result<DeploymentRef, HearthError> {
        self.hit();
        self.inner.resume(r, st).await
    }
    async fn hibernate(&self, r: &DeploymentRef, st: &Steps) -> Result<DeploymentRef, HearthError> {
        self.hit();
        self.inner.hibernate(r, st).await
    }
    async fn wake(&self, r: &DeploymentRef, st: &Steps) -> Result<DeploymentRef, HearthError> {
        self.hit();
        self.inner.wake(r, st).await
    }
    async fn owned(&self) -> Result<Vec<Owned>, HearthError> {
        self.inner.owned().await
    }
}

/// A dispatcher over one driver, with its own state dir and (for Docker) its own instance
/// label; everything it created is removed when it drops.
pub struct Backend {
    pub kind: Kind,
    pub dispatcher: Arc<Dispatcher>,
    pub driver: Arc<Counting>,
    pub state: tempfile::TempDir,
    pub instance: String,
    pub config: EngineConfig,
    pub faults: FakeFaults,
    pub deadlines: Deadlines,
}

impl Backend {
    /// A backend of `kind` with default settings.
    pub fn new(kind: Kind) -> Backend {
        // A little latency per step makes the Fake's operations take time, as the engine's
        // do, so that a caller can walk away in the middle of one.
        let faults = FakeFaults {
            delay: Duration::from_millis(20),
            ..FakeFaults::default()
        };
        Backend::with(kind, faults, docker_config(), Deadlines::default())
    }

    /// A Docker backend with a chosen config.
    pub fn docker_with(config: EngineConfig) -> Backend {
        Backend::with(
            Kind::Docker,
            FakeFaults::default(),
            config,
            Deadlines::default(),
        )
    }

    /// A backend with chosen faults (Fake), config (Docker) and deadlines.
    pub fn with(
        kind: Kind,
        faults: FakeFaults,
        mut config: EngineConfig,
        deadlines: Deadlines,
    ) -> Backend {
        if kind == Kind::Podman {
            config.host = Some(podman::host());
        }
        let state = tempfile::tempdir().expect("tempdir");
        let instance = format!("t{:016x}", rand::random::<u64>());
        let driver = make_driver(kind, &faults, &config, &instance);
        let store = Store::open(state.path()).expect("state");
        Backend {
            kind,
            dispatcher: Dispatcher::new(driver.clone(), store, deadlines),
            driver,
            state,
            instance,
            config,
            faults,
            deadlines,
        }
    }

    /// A backend of the same kind, faults and deadlines running the templates of `toml`
    /// (see [`template_config`]).
    pub fn templated(&self, toml: &str) -> Backend {
        Backend::with(
            self.kind,
            self.faults.clone(),
            template_config(toml),
            self.deadlines,
        )
    }

    /// The same daemon started again: a new dispatcher and driver over the same state dir and
    /// instance (for Fake, the in-memory engine does not survive, as it would not).
    pub fn restarted(&self) -> Arc<Dispatcher> {
        let driver = make_driver(self.kind, &self.faults, &self.config, &self.instance);
        let store = Store::open(self.state.path()).expect("state");
        Dispatcher::new(driver, store, self.deadlines)
    }

    /// Driver calls so far.
    pub fn calls(&self) -> usize {
        self.driver.calls.load(Ordering::SeqCst)
    }

    /// The engine objects of `slug`, as the engine lists them by label.
    pub async fn objects(&self, slug: &str) -> Vec<Owned> {
        let mut all: Vec<Owned> = self
            .driver
            .owned()
            .await
            .expect("list owned objects")
            .into_iter()
            .filter(|o| o.slug == slug)
            .collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// Container states of `slug`'s roles, by the engine (a swarm workspace's door, which
    /// is no role, left out).
    pub async fn container_states(&self, slug: &str) -> Vec<String> {
        self.objects(slug)
            .await
            .into_iter()
            .filter(|o| o.kind == ObjectKind::Container && !is_door(o))
            .map(|o| o.state.unwrap_or_default())
            .collect()
    }

    /// Waits (bounded) until `slug` has no objects left.
    pub async fn wait_gone(&self, slug: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = self.objects(slug).await;
            if left.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "objects of {slug} still there after 60 s: {left:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Backend {
    /// The engine's address this backend's driver talks to (`None`: `DOCKER_HOST`).
    pub fn host(&self) -> Option<&str> {
        self.config.host.as_deref()
    }

    /// Objects on this backend's engine carrying its instance label (empty for the Fake).
    pub fn engine_objects(&self) -> Vec<String> {
        match self.kind {
            Kind::Fake => Vec::new(),
            Kind::Docker | Kind::Podman | Kind::Swarm => {
                engine_objects_on(self.host(), &self.instance)
            }
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        match self.kind {
            Kind::Fake => {}
            Kind::Docker | Kind::Podman | Kind::Swarm => {
                sweep_instance_on(self.host(), &self.instance)
            }
        }
    }
}

/// The docker CLI, talking to the engine at `host` (Docker or Podman) or at `DOCKER_HOST`.
pub fn docker_cli(host: Option<&str>) -> Command {
    let mut c = Command::new("docker");
    if let Some(h) = host {
        c.env("DOCKER_HOST", h);
    }
    c
}

/// Removes every service, container, network and volume labelled with `instance` (from
/// Drop too, also during a panic).
pub fn sweep_instance(instance: &str) {
    sweep_instance_on(None, instance);
}

/// [`sweep_instance`] on the engine at `host`.
pub fn sweep_instance_on(host: Option<&str>, instance: &str) {
    objects::sweep_instance(host, instance);
}

/// Removes the instance's objects when dropped: at the end of a test, passed or failed.
pub struct Sweep(pub String);

impl Drop for Sweep {
    fn drop(&mut self) {
        sweep_instance(&self.0);
    }
}

/// Objects on the engine carrying `instance`'s label, asked of the engine (independent of
/// hearth's own listing).
pub fn engine_objects(instance: &str) -> Vec<String> {
    engine_objects_on(None, instance)
}

/// [`engine_objects`] on the engine at `host`.
pub fn engine_objects_on(host: Option<&str>, instance: &str) -> Vec<String> {
    objects::instance_objects(host, instance)
}

/// The default Docker test config: the stand-in image for both roles, test label on.
pub fn docker_config() -> EngineConfig {
    let image = test_image();
    let mut c = EngineConfig::default();
    for img in c.images.values_mut() {
        img.clone_from(&image);
    }
    c.extra_labels = vec![(labels::TEST.into(), test_run())];
    c.stop_timeout_secs = 5;
    c
}

/// `docker_config()` running the templates of `toml` (a config file's `[tiers]`, `@IMAGE@`
/// standing for the test image).
pub fn template_config(toml: &str) -> EngineConfig {
    let mut c = docker_config();
    let file: hearth::config::FileConfig =
        toml::from_str(&toml.replace("@IMAGE@", &test_image())).expect("template toml");
    c.templates = file.templates(&c.images, None).expect("a valid template");
    c
}

fn make_driver(
    kind: Kind,
    faults: &FakeFaults,
    config: &EngineConfig,
    instance: &str,
) -> Arc<Counting> {
    let inner: Arc<dyn Driver> = match kind {
        Kind::Fake => {
            Arc::new(FakeDriver::new(faults.clone()).with_templates(config.templates.clone()))
        }
        Kind::Docker | Kind::Podman => {
            Arc::new(LocalDocker::new(config.clone(), instance.to_owned()))
        }
        Kind::Swarm => Arc::new(Swarm::new(config.clone(), instance.to_owned())),
    };
    Arc::new(Counting {
        inner,
        calls: AtomicUsize::new(0),
    })
}

/// GET `url`; the status code, or the error.
pub async fn http_status(url: &str) -> Result<u16, String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?;
    client
        .get(url)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| e.to_string())
}

/// A temp path for a socket (short, to stay under the unix path limit).
pub fn short_tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("h")
        .tempdir_in("/tmp")
        .expect("tempdir")
}

/// The memory and PID limits the kernel enforces on a running container: read from the
/// cgroup of its main process on this host (cgroup v1 or v2), not from what the engine says
/// it set.
pub fn cgroup_limits(host: Option<&str>, container: &str) -> (Option<i64>, Option<i64>) {
    let out = docker_cli(host)
        .args(["inspect", "--format", "{{.State.Pid}}", container])
        .output()
        .expect("docker CLI");
    let pid = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let read = |file: &str| -> Option<i64> {
        std::fs::read_to_string(file)
            .ok()
            .and_then(|v| v.trim().parse().ok())
    };
    let v1 = |controller: &str, file: &str| {
        cgroups
            .lines()
            .find(|l| {
                l.split(':')
                    .nth(1)
                    .is_some_and(|c| c.split(',').any(|c| c == controller))
            })
            .and_then(|l| l.split(':').nth(2))
            .and_then(|path| read(&format!("/sys/fs/cgroup/{controller}{path}/{file}")))
    };
    let v2 = |file: &str| {
        cgroups
            .lines()
            .find(|l| l.starts_with("0::"))
            .and_then(|l| read(&format!("/sys/fs/cgroup{}/{file}", &l[3..])))
    };
    (
        v1("memory", "memory.limit_in_bytes").or_else(|| v2("memory.max")),
        v1("pids", "pids.max").or_else(|| v2("pids.max")),
    )
}

/// Every listening TCP socket on the machine bound to `port`, as (address, port), read from
/// /proc/net/tcp and /proc/net/tcp6 (what `ss -ltn` shows).
pub fn listeners_on(port: u16) -> Vec<std::net::SocketAddr> {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    let mut out = Vec::new();
    // The calling thread's namespace: a cluster test runs on a thread inside the manager's.
    for (file, v6) in [
        ("/proc/thread-self/net/tcp", false),
        ("/proc/thread-self/net/tcp6", true),
    ] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // st 0A is LISTEN.
            if cols.len() < 4 || cols[3] != "0A" {
                continue;
            }
            let Some((addr, p)) = cols[1].split_once(':') else {
                continue;
            };
            if u16::from_str_radix(p, 16).ok() != Some(port) {
                continue;
            }
            // The kernel prints each 32-bit word of the address as the host reads its bytes.
            let bytes: Vec<u8> = (0..addr.len() / 8)
                .filter_map(|i| u32::from_str_radix(&addr[i * 8..i * 8 + 8], 16).ok())
                .flat_map(u32::to_ne_bytes)
                .collect();
            let ip = match (v6, <[u8; 16]>::try_from(bytes.as_slice())) {
                (true, Ok(b)) => IpAddr::V6(Ipv6Addr::from(b)),
                _ => match <[u8; 4]>::try_from(bytes.as_slice()) {
                    Ok(b) => IpAddr::V4(Ipv4Addr::from(b)),
                    Err(_) => continue,
                },
            };
            out.push(SocketAddr::new(ip, port));
        }
    }
    out
}

/// One backend's module of a suite: `on_backend!(docker, Docker, ctor; a, b)` writes
/// `mod docker { async fn a() … }`, each test gated by [`Kind::gate`] and calling
/// `super::a(ctor(Kind::Docker))`. A suite names its scenarios once in a macro of its own and
/// calls that with one line per backend.
#[macro_export]
macro_rules! on_backend {
    ($module:ident, $kind:ident, $ctor:path; $($name:ident),* $(,)?) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let kind = super::support::Kind::$kind;
                    if !kind.gate(concat!(stringify!($module), "::", stringify!($name))) {
                        return;
                    }
                    super::$name($ctor(kind)).await;
                }
            )*
        }
    };
}
