//! The warm pool's part of the conformance suite: every scenario runs on the Fake driver
//! always, on LocalDocker when HEARTH_E2E=1 and on Swarm when the engine is also a swarm
//! manager (HEARTH_SWARM=1: must be); the core ones (claim, cold fallback, shrink, a claimed
//! workspace through teardown) also on Podman when HEARTH_PODMAN_HOST is set. Assertions look
//! at the engine's objects (by label) and at the pool's book, not only at what hearth answers.

mod support;

use std::sync::Arc;
use std::time::Duration;

use hearth::dispatcher::{Deadlines, Dispatcher};
use hearth::driver::docker::LocalDocker;
use hearth::driver::engine::EngineConfig;
use hearth::driver::fake::{FakeDriver, FakeFaults};
use hearth::driver::swarm::Swarm;
use hearth::driver::{Driver, ObjectKind, Owned};
use hearth::pool::{Book, Phase, Pool, PoolConfig};
use hearth::Store;
use hearth_protocol::hearth::{ProvisioningProfile, Status, Tier};
use support::matrix::{expect, Cell, Feature};
use support::{docker_cli, docker_config, http_status, sweep_instance_on, Kind};

fn solo() -> ProvisioningProfile {
    ProvisioningProfile::for_tier(Tier::Solo)
}

fn sized(n: u32) -> PoolConfig {
    let mut c = PoolConfig::default();
    c.sizes.insert(Tier::Solo, n);
    c
}

/// A daemon's pool and dispatcher over one driver, as `hearth serve` wires them, with its own
/// state dir, instance and (for Docker) image tag; everything is removed when it drops.
struct PoolBackend {
    kind: Kind,
    state: tempfile::TempDir,
    instance: String,
    /// The Fake, kept to change its images; its objects outlive a "restart" as the engine's do.
    fake: Option<Arc<FakeDriver>>,
    config: EngineConfig,
    raw: Arc<dyn Driver>,
    pool: Arc<Pool>,
    dispatcher: Arc<Dispatcher>,
    /// Docker, Podman: the tag both roles run, private to this test so it can be moved.
    tag: String,
}

/// The pool runs on this backend: the matrix must say so.
fn proves_pool(b: &PoolBackend) {
    assert_eq!(
        expect(b.kind, Feature::WarmPool),
        Cell::Yes,
        "docs/src/backends.md says the warm pool is not done on {:?}",
        b.kind
    );
}

impl PoolBackend {
    fn new(kind: Kind, faults: FakeFaults, pool: PoolConfig) -> PoolBackend {
        let state = tempfile::tempdir().expect("tempdir");
        let instance = format!("t{:016x}", rand::random::<u64>());
        let tag = format!("hearth-pool-{instance}:t");
        let mut config = docker_config();
        let mut fake = None;
        let raw: Arc<dyn Driver> = match kind {
            Kind::Fake => {
                let f = Arc::new(FakeDriver::new(faults));
                fake = Some(Arc::clone(&f));
                f
            }
            Kind::Docker | Kind::Podman | Kind::Swarm => {
                if kind == Kind::Podman {
                    config.host = Some(support::podman::host());
                }
                retag(
                    config.host.as_deref(),
                    &["tag", &support::test_image(), &tag],
                );
                for image in config.images.values_mut() {
                    image.clone_from(&tag);
                }
                engine_driver(kind, &config, &instance)
            }
        };
        let (pool, dispatcher) = wire(&raw, &state, pool);
        PoolBackend {
            kind,
            state,
            instance,
            fake,
            config,
            raw,
            pool,
            dispatcher,
            tag,
        }
    }

    /// The daemon started again over the same state dir and instance (the Fake's objects
    /// survive, as a real engine's would), adopting what the last one left.
    async fn restart(&mut self, pool: PoolConfig) {
        self.pool.stop();
        if self.kind.on_engine() {
            self.raw = engine_driver(self.kind, &self.config, &self.instance);
        }
        let (p, d) = wire(&self.raw, &self.state, pool);
        // The old daemon is gone before the new one reconciles: a Swarm driver's relays hold
        // the loopback ports the new one reopens.
        self.pool = p;
        self.dispatcher = d;
        if self.kind == Kind::Swarm {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.dispatcher.reconcile().await.expect("reconcile");
        self.pool.adopt().await;
    }

    /// The engine objects of one workspace: a network, and per role a data volume and a
    /// container (on Swarm also a service).
    fn per_workspace(&self) -> usize {
        if self.kind == Kind::Swarm {
            // Network, two volumes, two role services and the door's, and their containers.
            9
        } else {
            5
        }
    }

    /// Every object of this instance, by the driver's own listing (by label).
    async fn objects(&self) -> Vec<Owned> {
        self.raw.owned().await.expect("owned")
    }

    async fn objects_of(&self, slug: &str) -> Vec<Owned> {
        let mut v: Vec<Owned> = self
            .objects()
            .await
            .into_iter()
            .filter(|o| o.slug == slug)
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Ready members, by the book.
    fn ready(&self) -> Vec<String> {
        self.pool
            .book()
            .members()
            .into_iter()
            .filter(|m| m.phase == Phase::Ready)
            .map(|m| m.id)
            .collect()
    }

    /// An image rebuilt under the same tag (Fake: a new digest; Docker: a derived image
    /// moved onto the tag both roles run).
    fn rebuild_image(&self) {
        let mark = format!("{:08x}", rand::random::<u32>());
        match &self.fake {
            Some(f) => f.set_image_digest(&format!("sha256:rebuilt-{mark}")),
            None => {
                let dockerfile = format!(
                    "FROM {}\nLABEL dev.hearth.test.rebuilt={mark}\n",
                    support::test_image()
                );
                let mut child = docker_cli(self.config.host.as_deref())
                    .args(["build", "-q", "-t", &self.tag, "-"])
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .expect("docker build");
                std::io::Write::write_all(
                    child.stdin.as_mut().expect("stdin"),
                    dockerfile.as_bytes(),
                )
                .expect("write Dockerfile");
                drop(child.stdin.take());
                assert!(child.wait().expect("build").success(), "docker build");
            }
        }
    }

    /// Objects of this instance carrying the pool label, asked of the docker CLI. Listed by
    /// the instance label alone and the pool label checked here: Podman 4.3 matches several
    /// `label` filters on volumes if ANY holds, which would count other pools' volumes.
    fn labelled_pool_objects(&self) -> usize {
        let host = self.config.host.as_deref();
        let instance = format!("label=dev.hearth.instance={}", self.instance);
        let mut n = 0;
        for what in [&["ps", "-a"][..], &["network", "ls"], &["volume", "ls"]] {
            let out = docker_cli(host)
                .args(what)
                .args(["--format", "{{.Labels}}", "--filter", &instance])
                .output()
                .expect("docker");
            n += String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|labels| labels.split(',').any(|l| l.starts_with("dev.hearth.pool=")))
                .count();
        }
        if self.kind == Kind::Swarm {
            let out = docker_cli(host)
                .args(["service", "ls", "-q", "--filter", &instance])
                .args(["--filter", "label=dev.hearth.pool"])
                .output()
                .expect("docker");
            n += String::from_utf8_lossy(&out.stdout).lines().count();
        }
        n
    }
}

impl Drop for PoolBackend {
    fn drop(&mut self) {
        self.pool.stop();
        if self.kind.on_engine() {
            let host = self.config.host.as_deref();
            sweep_instance_on(host, &self.instance);
            retag(host, &["rmi", "-f", &self.tag]);
        }
    }
}

/// The driver of an engine backend, as `hearth serve` makes it.
fn engine_driver(kind: Kind, config: &EngineConfig, instance: &str) -> Arc<dyn Driver> {
    if kind == Kind::Swarm {
        Arc::new(Swarm::new(config.clone(), instance.to_owned()))
    } else {
        Arc::new(LocalDocker::new(config.clone(), instance.to_owned()))
    }
}

fn wire(
    raw: &Arc<dyn Driver>,
    state: &tempfile::TempDir,
    config: PoolConfig,
) -> (Arc<Pool>, Arc<Dispatcher>) {
    let book = Arc::new(Book::open(state.path()).expect("book"));
    let pool = Pool::new(Arc::clone(raw), book, config);
    let store = Store::open(state.path()).expect("state");
    let dispatcher = Dispatcher::new(pool.bound(), store, Deadlines::default());
    dispatcher.set_pool(Arc::clone(&pool));
    (pool, dispatcher)
}

fn docker(host: Option<&str>, args: &[&str]) {
    let _ = docker_cli(host).args(args).output();
}

/// A `docker tag` or `docker rmi` of a tag, one at a time in this process: Podman 4.3 rewrites
/// an image's list of names without a lock, so two tests tagging and untagging the one
/// stand-in image at once can lose each other's change (a tag that then is not there).
fn retag(host: Option<&str>, args: &[&str]) {
    static NAMES: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = NAMES.lock().unwrap_or_else(|p| p.into_inner());
    docker(host, args);
}

fn count(objects: &[Owned], kind: ObjectKind) -> usize {
    objects.iter().filter(|o| o.kind == kind).count()
}

/// A claim takes a whole, paused member, answers the ordinary ref plus the claim, and the
/// workspace is then like any other: it answers, pauses, resumes, and its teardown removes
/// the member's objects and data. The pool refills behind the claim.
async fn claim_gives_a_warm_workspace_like_any_other(b: PoolBackend) {
    proves_pool(&b);
    b.pool.refill_once().await;
    let members = b.ready();
    assert_eq!(members.len(), 1, "{:?}", b.pool.report());
    let member = members[0].clone();
    let objs = b.objects_of(&member).await;
    // On a swarm, the door's container besides the roles'.
    let door = usize::from(b.kind == Kind::Swarm);
    assert_eq!(
        (
            count(&objs, ObjectKind::Container),
            count(&objs, ObjectKind::Network),
            count(&objs, ObjectKind::Volume)
        ),
        (2 + door, 1, 2),
        "a member is a whole workspace: {objs:?}"
    );
    if b.kind == Kind::Swarm {
        assert_eq!(count(&objs, ObjectKind::Service), 2 + door, "{objs:?}");
    }
    // The roles wait frozen; a swarm member's door (no role, no state of its own) runs.
    assert!(
        objs.iter()
            .filter(|o| o.kind == ObjectKind::Container && !support::is_door(o))
            .all(|o| o.state.as_deref() == Some("paused")),
        "members wait paused: {objs:?}"
    );
    if b.kind.on_engine() {
        assert_eq!(
            b.labelled_pool_objects(),
            b.per_workspace(),
            "every member object carries dev.hearth.pool"
        );
    }
    assert!(
        b.dispatcher.list().is_empty() && b.objects_of("warm").await.is_empty(),
        "a member is nobody's workspace"
    );

    let d = &b.dispatcher;
    let r = d.provision("warm", solo()).await.expect("claim");
    let claim = r.pool.clone().expect("came from the pool");
    assert_eq!(claim.member, member);
    assert_eq!(r.workspace_slug, "warm");
    assert_eq!(r.last_status, Status::Ready);
    for s in &r.services {
        assert_eq!(
            http_status(&s.endpoint).await,
            Ok(200),
            "role {} answers",
            s.role
        );
    }
    let steps: Vec<String> = d
        .events("warm")
        .expect("events")
        .into_iter()
        .map(|e| e.step)
        .collect();
    assert!(steps.contains(&"claimed".to_owned()), "{steps:?}");
    assert!(
        !b.pool.book().is_member(&member),
        "claimed once, out of the pool"
    );
    assert_eq!(
        b.pool.book().binding("warm").map(|x| x.member),
        Some(member.clone())
    );
    assert_eq!(
        d.provision("warm", solo()).await.expect("again"),
        r,
        "idempotent"
    );

    d.pause("warm").await.expect("pause");
    assert_eq!(d.status("warm").await.expect("status"), Status::Paused);
    d.resume("warm").await.expect("resume");
    assert_eq!(d.status("warm").await.expect("status"), Status::Ready);
    let listed = b.dispatcher.owned().await.expect("owned");
    assert_eq!(
        listed.iter().filter(|o| o.slug == "warm").count(),
        b.per_workspace(),
        "the workspace's objects are found under its slug"
    );

    b.pool.refill_once().await;
    let refilled = b.ready();
    assert_eq!(refilled.len(), 1, "refilled behind the claim");
    assert_ne!(refilled[0], member);

    d.teardown("warm").await.expect("teardown");
    assert_eq!(
        d.status("warm").await.expect("status"),
        Status::TierTornDown
    );
    assert!(
        b.objects_of(&member).await.is_empty(),
        "teardown removed the member's objects"
    );
    assert!(b.pool.book().binding("warm").is_none());
    let report = b.pool.report();
    assert_eq!((report[0].claimed, report[0].ready), (1, 1), "{report:?}");
}

/// An empty pool is a cold provision, never an error.
async fn empty_pool_falls_back_to_cold(b: PoolBackend) {
    proves_pool(&b);
    let r = b
        .dispatcher
        .provision("cold", solo())
        .await
        .expect("cold provision");
    assert!(r.pool.is_none(), "not from the pool: {r:?}");
    assert_eq!(r.last_status, Status::Ready);
    let steps: Vec<String> = b
        .dispatcher
        .events("cold")
        .expect("events")
        .into_iter()
        .map(|e| e.step)
        .collect();
    assert!(steps.contains(&"pool_empty".to_owned()), "{steps:?}");
    assert_eq!(b.objects_of("cold").await.len(), b.per_workspace());
    // A profile the members were not built with (another caps) never takes a member.
    b.pool.refill_once().await;
    let mut custom = solo();
    custom.resource_caps = Some(hearth_protocol::hearth::ResourceCaps {
        seats: 3,
        ..Tier::Solo.default_caps()
    });
    let r2 = b
        .dispatcher
        .provision("custom", custom)
        .await
        .expect("custom");
    assert!(r2.pool.is_none());
    assert_eq!(b.ready().len(), 1, "the member is still there");
    b.dispatcher.teardown("cold").await.expect("teardown");
    b.dispatcher.teardown("custom").await.expect("teardown");
}

/// A member built from images that changed since (rebuilt under the same tag, a moved tag,
/// a new lock) is never handed out: a claim that finds it falls back to cold and removes it,
/// and the next pass drains the rest and refills from the new digests.
async fn stale_members_are_drained_never_claimed(b: PoolBackend) {
    b.pool.refill_once().await;
    assert_eq!(b.ready().len(), 2);
    let old = b.ready();
    b.rebuild_image();
    let r = b
        .dispatcher
        .provision("fresh", solo())
        .await
        .expect("provision");
    assert!(r.pool.is_none(), "a stale member is not handed out: {r:?}");
    let new_digest = r.services[0].image_digest.clone();
    let steps: Vec<String> = b
        .dispatcher
        .events("fresh")
        .expect("events")
        .into_iter()
        .map(|e| e.step)
        .collect();
    assert!(steps.contains(&"claim_failed".to_owned()), "{steps:?}");
    b.pool.refill_once().await;
    let now = b.ready();
    assert_eq!(now.len(), 2, "refilled");
    assert!(
        now.iter().all(|m| !old.contains(m)),
        "every old member drained: {old:?} {now:?}"
    );
    for m in &old {
        assert!(
            b.objects_of(m).await.is_empty(),
            "drained member {m} left nothing"
        );
    }
    let report = b.pool.report();
    assert_eq!(report[0].digests.get("cairnet"), Some(&new_digest));
    assert!(report[0].drained >= 1, "{report:?}");
    let warm = b.dispatcher.provision("warm", solo()).await.expect("claim");
    assert!(warm.pool.is_some());
    assert!(warm.services.iter().all(|s| s.image_digest == new_digest));
    b.dispatcher.teardown("fresh").await.expect("teardown");
    b.dispatcher.teardown("warm").await.expect("teardown");
}

/// Shrinking the size removes the surplus, oldest first, objects and all.
async fn shrinking_removes_the_surplus(b: PoolBackend) {
    proves_pool(&b);
    b.pool.refill_once().await;
    let before = b.ready();
    assert_eq!(before.len(), 2);
    b.pool.set_size(Tier::Solo, 1);
    b.pool.refill_once().await;
    let after = b.ready();
    assert_eq!(after.len(), 1);
    let gone: Vec<&String> = before.iter().filter(|m| !after.contains(m)).collect();
    assert_eq!(gone.len(), 1);
    assert!(
        b.objects_of(gone[0]).await.is_empty(),
        "the surplus member left nothing"
    );
    assert_eq!(
        b.objects().await.len(),
        b.per_workspace(),
        "one member's objects remain"
    );
    b.pool.set_size(Tier::Solo, 0);
    b.pool.refill_once().await;
    assert!(b.ready().is_empty());
    assert!(b.objects().await.is_empty(), "a pool of 0 holds nothing");
}

/// A member written as building when the daemon died is half-made: the next start removes
/// it (and never hands it out); whole members are adopted.
async fn restart_adopts_whole_members_and_removes_the_rest(mut b: PoolBackend) {
    b.pool.refill_once().await;
    let whole = b.ready();
    assert_eq!(whole.len(), 1);
    // A member the dead daemon had begun: in the book as building, some objects made.
    let half = hearth::slug::Slug::parse("pool-deadbeef00").expect("slug");
    let mut profile = solo();
    profile
        .driver_flags
        .insert("pool".into(), "solo-000000000000".into());
    let made = b
        .raw
        .provision(&half, &profile, &hearth::journal::Steps::detached(&half))
        .await
        .expect("provision the half member");
    b.pool
        .book()
        .put(hearth::pool::Member {
            id: half.to_string(),
            key: hearth::pool::Key {
                tier: Tier::Solo,
                digests: Default::default(),
            },
            phase: Phase::Building,
            started: chrono::Utc::now(),
            ready_at: None,
            reference: Some(made),
        })
        .expect("book");
    b.restart(sized(1)).await;
    assert_eq!(b.ready(), whole, "the whole member is adopted");
    assert!(
        b.objects_of(half.as_str()).await.is_empty(),
        "the half member is removed"
    );
    assert!(!b.pool.book().is_member(half.as_str()));
    b.pool.refill_once().await;
    assert_eq!(
        b.ready(),
        whole,
        "nothing rebuilt: the adopted member is current"
    );
    // The adopted member is claimed by the new daemon and answers on the endpoints it was
    // built with (on Swarm: the relays reopened on their recorded ports).
    let r = b
        .dispatcher
        .provision("adopted", solo())
        .await
        .expect("claim");
    assert_eq!(
        r.pool.as_ref().map(|c| c.member.clone()),
        Some(whole[0].clone())
    );
    for s in &r.services {
        assert_eq!(
            http_status(&s.endpoint).await,
            Ok(200),
            "role {} answers",
            s.role
        );
    }
    b.dispatcher.teardown("adopted").await.expect("teardown");
    assert!(b.objects_of(&whole[0]).await.is_empty());
}

/// The scenarios on one real engine, as `mod $module`: each test is gated by `$gate`, which
/// fails it (rather than skipping) when its backend is asked for and absent.
macro_rules! pool_on {
    ($module:ident, $kind:ident; $($name:ident: $size:expr),* $(,)?) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if !super::support::Kind::$kind.gate(concat!("pool::", stringify!($module), "::", stringify!($name))) {
                        return;
                    }
                    super::$name(super::PoolBackend::new(super::Kind::$kind, super::FakeFaults::default(), super::sized($size))).await;
                }
            )*
        }
    };
}

/// The scenarios on the Fake and on Docker.
macro_rules! pool_conformance {
    ($($name:ident: $size:expr),* $(,)?) => {
        mod fake {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let faults = super::FakeFaults {
                        delay: super::Duration::from_millis(5),
                        ..super::FakeFaults::default()
                    };
                    super::$name(super::PoolBackend::new(super::Kind::Fake, faults, super::sized($size))).await;
                }
            )*
        }
        pool_on!(docker, Docker; $($name: $size),*);
    };
}

/// The core scenarios on Podman (rootful, as CI runs it).
macro_rules! pool_on_podman {
    ($($name:ident: $size:expr),* $(,)?) => {
        pool_on!(podman, Podman; $($name: $size),*);
    };
}

/// The scenarios on Swarm: a member is services, task containers, an overlay network and
/// volumes, all labelled; its tasks' containers wait frozen on hearth's node.
macro_rules! pool_on_swarm {
    ($($name:ident: $size:expr),* $(,)?) => {
        pool_on!(swarm, Swarm; $($name: $size),*);
    };
}

pool_on_swarm!(
    claim_gives_a_warm_workspace_like_any_other: 1,
    empty_pool_falls_back_to_cold: 1,
    stale_members_are_drained_never_claimed: 2,
    shrinking_removes_the_surplus: 2,
    restart_adopts_whole_members_and_removes_the_rest: 1,
);

pool_on_podman!(
    claim_gives_a_warm_workspace_like_any_other: 1,
    empty_pool_falls_back_to_cold: 1,
    shrinking_removes_the_surplus: 2,
);

pool_conformance!(
    claim_gives_a_warm_workspace_like_any_other: 1,
    empty_pool_falls_back_to_cold: 1,
    stale_members_are_drained_never_claimed: 2,
    shrinking_removes_the_surplus: 2,
    restart_adopts_whole_members_and_removes_the_rest: 1,
);

/// After K failed refills in a row, refilling stops and backs off (it says why), leaves no
/// objects behind, and provisions still work cold. Fake: a fault injected into member builds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_refill_failures_stop_at_the_cap_and_back_off() {
    let mut faults = FakeFaults::default();
    faults.add("fail:refill").expect("fault");
    let mut config = sized(1);
    config.failure_cap = 2;
    let b = PoolBackend::new(Kind::Fake, faults, config);
    refill_failures_stop_at_the_cap(&b).await;
}

/// The same on Docker, with a fault the engine gives: the pool's image is absent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_refill_failures_stop_at_the_cap_and_back_off() {
    if support::e2e("pool::docker_refill_failures_stop_at_the_cap_and_back_off") {
        engine_refill_failures_stop_at_the_cap(Kind::Docker).await;
    }
}

/// The same on Swarm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swarm_refill_failures_stop_at_the_cap_and_back_off() {
    if support::swarm_e2e("pool::swarm_refill_failures_stop_at_the_cap_and_back_off") {
        engine_refill_failures_stop_at_the_cap(Kind::Swarm).await;
    }
}

async fn engine_refill_failures_stop_at_the_cap(kind: Kind) {
    let mut config = sized(1);
    config.failure_cap = 2;
    let b = PoolBackend::new(kind, FakeFaults::default(), config);
    retag(None, &["rmi", "-f", &b.tag]);
    refill_failures_stop_at_the_cap(&b).await;
}

async fn refill_failures_stop_at_the_cap(b: &PoolBackend) {
    b.pool.refill_once().await;
    let first = b.pool.report();
    assert_eq!(first[0].refill_failures, 1, "{first:?}");
    assert!(
        first[0].backoff_until.is_none(),
        "under the cap: no backoff yet"
    );
    b.pool.refill_once().await;
    let capped = b.pool.report();
    assert_eq!(capped[0].refill_failures, 2, "{capped:?}");
    let until = capped[0].backoff_until.expect("backing off at the cap");
    assert!(
        until > chrono::Utc::now() + chrono::Duration::seconds(3),
        "{until}"
    );
    assert!(capped[0].last_error.is_some());
    // While backing off a pass does not try again.
    b.pool.refill_once().await;
    assert_eq!(
        b.pool.report()[0].refill_failures,
        2,
        "no attempt during the backoff"
    );
    assert!(b.ready().is_empty());
    assert!(
        b.pool.book().members().is_empty(),
        "failed members are not kept"
    );
    assert!(
        b.objects().await.is_empty(),
        "failed builds left nothing: {:?}",
        b.objects().await
    );
}

/// "kill -9" mid-claim on the Fake: the claim hangs after the member was bound; a daemon
/// started over the same state rolls the provision back, removing the member, which is never
/// handed out again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_crash_mid_claim_never_hands_the_member_out_twice() {
    let mut faults = FakeFaults::default();
    faults.add("hang:resume").expect("fault");
    let mut config = sized(1);
    config.claim_timeout = Duration::from_secs(600);
    let mut b = PoolBackend::new(Kind::Fake, faults, config);
    b.pool.refill_once().await;
    let member = b.ready()[0].clone();
    let d = Arc::clone(&b.dispatcher);
    let call = tokio::spawn(async move { d.provision("crash", solo()).await });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while b.pool.book().binding("crash").is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the claim never began"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The old daemon is frozen forever mid-claim (its task never runs again, like a killed
    // process); a new one starts over the same state and the same engine.
    b.restart(sized(1)).await;
    assert_eq!(
        b.dispatcher.status("crash").await.expect("status"),
        Status::Failed
    );
    assert!(
        b.objects_of(&member).await.is_empty(),
        "the claimed member is removed"
    );
    assert!(!b.pool.book().is_member(&member));
    b.pool.refill_once().await;
    assert_eq!(b.ready().len(), 1);
    assert_ne!(b.ready()[0], member, "never handed out twice");
    assert_eq!(
        b.objects().await.len(),
        5,
        "no orphans: one member's objects"
    );
    call.abort();
}

/// "kill -9" mid-refill on the Fake: a build hangs half-way; a new daemon removes the
/// half-built member and builds a whole one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_crash_mid_refill_leaves_no_half_member() {
    let mut faults = FakeFaults::default();
    faults.add("hang:refill").expect("fault");
    let mut b = PoolBackend::new(Kind::Fake, faults, sized(1));
    let p = Arc::clone(&b.pool);
    let refill = tokio::spawn(async move { p.refill_once().await });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let half = loop {
        let building: Vec<String> = b.pool.book().members().into_iter().map(|m| m.id).collect();
        if let Some(id) = building.first() {
            if !b.objects_of(id).await.is_empty() {
                break id.clone();
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the refill never began"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    b.restart(sized(1)).await;
    assert!(
        b.objects_of(&half).await.is_empty(),
        "the half member is removed"
    );
    assert!(b.pool.book().members().is_empty());
    assert!(b.objects().await.is_empty(), "no orphans");
    refill.abort();
}

/// A refill does not compete with callers: while a verb is in flight no member is built (not
/// even begun); once the verbs settle and a quiet moment passed, the pool fills.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_refill_waits_while_a_verb_is_in_flight() {
    let mut faults = FakeFaults::default();
    faults.add("hang:hibernate").expect("fault");
    let raw: Arc<dyn Driver> = Arc::new(FakeDriver::new(faults));
    let state = tempfile::tempdir().expect("tempdir");
    let mut config = sized(1);
    config.quiet = Duration::from_millis(200);
    let pool = Pool::new(
        Arc::clone(&raw),
        Arc::new(Book::open(state.path()).expect("book")),
        config,
    );
    // The hung hibernate stays in flight until this deadline.
    let hung_for = Duration::from_secs(3);
    let deadlines = Deadlines {
        other: hung_for,
        ..Deadlines::default()
    };
    let d = Dispatcher::new(
        pool.bound(),
        Store::open(state.path()).expect("state"),
        deadlines,
    );
    d.set_pool(Arc::clone(&pool));
    d.provision("busy", solo()).await.expect("cold provision");
    let began = chrono::Utc::now();
    let verb = {
        let d = Arc::clone(&d);
        tokio::spawn(async move { d.hibernate("busy").await })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while d.in_flight().running() == 0 {
        assert!(std::time::Instant::now() < deadline, "the verb never began");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let refill = {
        let p = Arc::clone(&pool);
        tokio::spawn(async move { p.refill_once().await })
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        pool.book().members().is_empty(),
        "no member is built while a verb is in flight: {:?}",
        pool.book().members()
    );
    assert!(!refill.is_finished(), "the refill waits");
    let err = verb
        .await
        .expect("join")
        .expect_err("the hung hibernate ends at its deadline");
    assert_eq!(err.code(), "deadline_exceeded");
    refill.await.expect("refill");
    let members = pool.book().members();
    assert_eq!(members.len(), 1, "filled once the verbs settled");
    // The verb began after `began` and ran until its deadline.
    let settled = began + chrono::Duration::from_std(hung_for).expect("duration");
    assert!(
        members[0].started >= settled,
        "the build began only after the verb settled: {} < {settled}",
        members[0].started
    );
    pool.stop();
}

/// A slug of a member's form (`pool-` and ten hex digits) is never a workspace: provision
/// refuses it as `invalid_slug` with a hint, and the member it names is not touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_a_member_id_is_never_a_workspace_slug() {
    let b = PoolBackend::new(Kind::Fake, FakeFaults::default(), sized(1));
    b.pool.refill_once().await;
    let member = b.ready()[0].clone();
    for slug in [member.as_str(), "pool-0123456789"] {
        let err = b
            .dispatcher
            .provision(slug, solo())
            .await
            .expect_err("a member's name is reserved");
        assert_eq!(err.code(), "invalid_slug");
        assert!(err.to_string().contains("reserved"), "{err}");
        assert!(
            err.hint().is_some_and(|h| h.contains("pick another name")),
            "{:?}",
            err.hint()
        );
    }
    assert_eq!(b.ready(), vec![member.clone()], "the member is untouched");
    assert!(b.pool.book().binding(&member).is_none());
    assert!(b.dispatcher.list().is_empty());
    assert_eq!(b.objects().await.len(), 5, "only the member's objects");
}

/// A new lock takes effect in the running daemon: while the lock is frozen a moved tag
/// changes nothing; once `hearth.lock` is rewritten, the next provision runs the new pins, a
/// member from the old digest is never handed out, and the pool drains and refills from the
/// new digest — no restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_a_new_lock_drains_the_pool_live() {
    if support::e2e("pool::docker_a_new_lock_drains_the_pool_live") {
        a_new_lock_drains_the_pool_live(Kind::Docker).await;
    }
}

/// The same on Swarm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swarm_a_new_lock_drains_the_pool_live() {
    if support::swarm_e2e("pool::swarm_a_new_lock_drains_the_pool_live") {
        a_new_lock_drains_the_pool_live(Kind::Swarm).await;
    }
}

async fn a_new_lock_drains_the_pool_live(kind: Kind) {
    let mut b = PoolBackend::new(kind, FakeFaults::default(), sized(2));
    let lock_path = b.state.path().join("hearth.lock");
    let relock = |b: &PoolBackend| -> String {
        let out = docker_cli(None)
            .args(["image", "inspect", "--format", "{{.Id}}", &b.tag])
            .output()
            .expect("docker inspect");
        let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert!(id.starts_with("sha256:"), "{id}");
        let pin = hearth::lockfile::LockedImage {
            image: b.tag.clone(),
            digest: id.clone(),
            id: id.clone(),
        };
        hearth::lockfile::ImageLock {
            version: 1,
            roles: [("cairnet", &pin), ("lore", &pin)]
                .into_iter()
                .map(|(r, p)| (r.to_owned(), p.clone()))
                .collect(),
        }
        .save(&lock_path)
        .expect("write the lock");
        id
    };
    let digests_of = |b: &PoolBackend| -> Vec<String> {
        b.pool
            .book()
            .members()
            .into_iter()
            .flat_map(|m| m.key.digests.into_values())
            .collect()
    };
    let old = relock(&b);
    b.config.lock = Some(hearth::lockfile::LiveLock::open(&lock_path).expect("lock"));
    b.restart(sized(2)).await;
    b.pool.refill_once().await;
    let mut first = b.ready();
    first.sort();
    assert_eq!(first.len(), 2);
    assert!(
        digests_of(&b).iter().all(|d| *d == old),
        "built from the lock"
    );

    // The tag moves; the frozen lock still pins the old image: nothing drains.
    b.rebuild_image();
    b.pool.refill_once().await;
    let mut kept = b.ready();
    kept.sort();
    assert_eq!(kept, first, "a frozen lock keeps its members");

    let new = relock(&b);
    assert_ne!(new, old);
    let fresh = b
        .dispatcher
        .provision("fresh", solo())
        .await
        .expect("provision");
    assert!(
        fresh.pool.is_none(),
        "no member from the old digest: {fresh:?}"
    );
    assert!(
        fresh.services.iter().all(|s| s.image_digest == new),
        "a cold provision runs the new pins: {:?}",
        fresh.services
    );
    b.pool.refill_once().await;
    let now = b.ready();
    assert_eq!(now.len(), 2, "refilled");
    assert!(now.iter().all(|m| !first.contains(m)), "{first:?} {now:?}");
    assert!(
        digests_of(&b).iter().all(|d| *d == new),
        "built from the new lock"
    );
    for m in &first {
        assert!(
            b.objects_of(m).await.is_empty(),
            "drained member {m} left nothing"
        );
    }
    let warm = b.dispatcher.provision("warm", solo()).await.expect("claim");
    assert!(warm.pool.is_some(), "claimed from the refilled pool");
    assert!(warm.services.iter().all(|s| s.image_digest == new));
    b.dispatcher.teardown("fresh").await.expect("teardown");
    b.dispatcher.teardown("warm").await.expect("teardown");
}

/// A daemon restarted with a changed template for a pooled tier drains the members built
/// from the old one (the template's fingerprint is part of the members' key) and refills
/// from the new one; a claim then hands out a new member.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_a_changed_template_drains_old_members() {
    let mut b = PoolBackend::new(Kind::Fake, FakeFaults::default(), sized(2));
    b.pool.refill_once().await;
    let old = b.ready();
    assert_eq!(old.len(), 2);
    let mut changed = sized(2);
    changed
        .templates
        .insert(Tier::Solo, "0123456789abcdef".to_owned());
    b.restart(changed).await;
    b.pool.refill_once().await;
    let now = b.ready();
    assert_eq!(now.len(), 2, "refilled");
    assert!(
        now.iter().all(|m| !old.contains(m)),
        "every old member drained: {old:?} {now:?}"
    );
    for m in &old {
        assert!(
            b.objects_of(m).await.is_empty(),
            "drained member {m} left nothing"
        );
    }
    let report = b.pool.report();
    assert_eq!(
        report[0]
            .digests
            .get(hearth::pool::TEMPLATE_KEY)
            .map(String::as_str),
        Some("0123456789abcdef")
    );
    let warm = b.dispatcher.provision("warm", solo()).await.expect("claim");
    assert!(
        warm.pool.is_some(),
        "a member of the new template is claimed"
    );
    b.dispatcher.teardown("warm").await.expect("teardown");
}
