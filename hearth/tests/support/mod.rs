//! Test support: a dispatcher over a chosen driver, the engine probe the assertions use, and
//! cleanup by label that runs even when a test fails.

#![allow(dead_code)]

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hearth::dispatcher::{Deadlines, Dispatcher};
use hearth::driver::docker::{DockerConfig, LocalDocker};
use hearth::driver::fake::{FakeDriver, FakeFaults};
use hearth::driver::{Driver, ObjectKind, Owned};
use hearth::error::HearthError;
use hearth::events::Steps;
use hearth::slug::Slug;
use hearth::store::Store;
use hearth_protocol::hearth::{DeploymentRef, DriverName, ProvisioningProfile, Status};

/// The image Docker-backed tests run (built by `make images`).
pub fn test_image() -> String {
    std::env::var("HEARTH_TEST_IMAGE").unwrap_or_else(|_| "hearth-standin:local".into())
}

/// This test run's id: `HEARTH_TEST_RUN` (set by `make test`, so `make clean-docker` sweeps
/// this run's leftovers and no other's), else one made for this process.
pub fn test_run() -> String {
    std::env::var("HEARTH_TEST_RUN")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| format!("adhoc-{}", std::process::id()))
}

/// `dev.hearth.test=<run>`, the label on every object of this test run.
pub fn test_label() -> String {
    format!("dev.hearth.test={}", test_run())
}

/// Whether Docker-backed tests are asked for. With HEARTH_E2E=1 an unreachable engine fails
/// the test loudly; without it the test says it is skipped.
pub fn e2e(test: &str) -> bool {
    if std::env::var("HEARTH_E2E").as_deref() == Ok("1") {
        let ok = Command::new("docker")
            .args(["version", "--format", "{{.Server.Version}}"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        assert!(
            ok,
            "HEARTH_E2E=1 but the Docker engine does not answer (`docker version` failed): \
             start dockerd, or run with HEARTH_E2E=0 to skip Docker-backed tests"
        );
        let image = test_image();
        let present = Command::new("docker")
            .args(["image", "inspect", &image])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
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

/// Which driver a backend runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Fake,
    Docker,
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
    pub config: DockerConfig,
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
    pub fn docker_with(config: DockerConfig) -> Backend {
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
        config: DockerConfig,
        deadlines: Deadlines,
    ) -> Backend {
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

    /// Container states of `slug`, by the engine.
    pub async fn container_states(&self, slug: &str) -> Vec<String> {
        self.objects(slug)
            .await
            .into_iter()
            .filter(|o| o.kind == ObjectKind::Container)
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

impl Drop for Backend {
    fn drop(&mut self) {
        if self.kind == Kind::Docker {
            sweep_instance(&self.instance);
        }
    }
}

/// Removes every container, network and volume labelled with `instance` (docker CLI, so it
/// works from Drop, also during a panic).
pub fn sweep_instance(instance: &str) {
    let filter = format!("label=dev.hearth.instance={instance}");
    let ids = |args: &[&str]| -> Vec<String> {
        Command::new("docker")
            .args(args)
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    for c in ids(&["ps", "-aq", "--filter", &filter]) {
        let _ = Command::new("docker").args(["rm", "-f", "-v", &c]).output();
    }
    for n in ids(&["network", "ls", "-q", "--filter", &filter]) {
        let _ = Command::new("docker").args(["network", "rm", &n]).output();
    }
    for v in ids(&["volume", "ls", "-q", "--filter", &filter]) {
        let _ = Command::new("docker")
            .args(["volume", "rm", "-f", &v])
            .output();
    }
}

/// Removes the instance's objects when dropped: at the end of a test, passed or failed.
pub struct Sweep(pub String);

impl Drop for Sweep {
    fn drop(&mut self) {
        sweep_instance(&self.0);
    }
}

/// Objects on the engine carrying `instance`'s label, asked of the docker CLI (independent of
/// hearth's own listing).
pub fn engine_objects(instance: &str) -> Vec<String> {
    let filter = format!("label=dev.hearth.instance={instance}");
    let mut out = Vec::new();
    for args in [
        vec![
            "ps",
            "-a",
            "--format",
            "{{.Names}}",
            "--filter",
            filter.as_str(),
        ],
        vec![
            "network",
            "ls",
            "--format",
            "{{.Name}}",
            "--filter",
            filter.as_str(),
        ],
        vec![
            "volume",
            "ls",
            "--format",
            "{{.Name}}",
            "--filter",
            filter.as_str(),
        ],
    ] {
        let o = Command::new("docker")
            .args(&args)
            .output()
            .expect("docker CLI");
        out.extend(
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::to_owned),
        );
    }
    out
}

/// The default Docker test config: the stand-in image for both roles, test label on.
pub fn docker_config() -> DockerConfig {
    let image = test_image();
    let mut c = DockerConfig::default();
    for img in c.images.values_mut() {
        img.clone_from(&image);
    }
    c.extra_labels = vec![("dev.hearth.test".into(), test_run())];
    c.stop_timeout_secs = 5;
    c
}

fn make_driver(
    kind: Kind,
    faults: &FakeFaults,
    config: &DockerConfig,
    instance: &str,
) -> Arc<Counting> {
    let inner: Arc<dyn Driver> = match kind {
        Kind::Fake => Arc::new(FakeDriver::new(faults.clone())),
        Kind::Docker => Arc::new(LocalDocker::new(config.clone(), instance.to_owned())),
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
