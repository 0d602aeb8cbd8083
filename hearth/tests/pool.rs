//! The warm pool's part of the conformance suite: every scenario runs on the Fake driver
//! always and on LocalDocker when HEARTH_E2E=1. Assertions look at the engine's objects (by
//! label) and at the pool's book, not only at what hearth answers.

mod support;

use std::sync::Arc;
use std::time::Duration;

use hearth::dispatcher::{Deadlines, Dispatcher};
use hearth::driver::docker::{DockerConfig, LocalDocker};
use hearth::driver::fake::{FakeDriver, FakeFaults};
use hearth::driver::{Driver, ObjectKind, Owned};
use hearth::pool::{Book, Phase, Pool, PoolConfig};
use hearth::Store;
use hearth_protocol::hearth::{ProvisioningProfile, Status, Tier};
use support::{docker_config, http_status, sweep_instance, Kind};

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
    config: DockerConfig,
    raw: Arc<dyn Driver>,
    pool: Arc<Pool>,
    dispatcher: Arc<Dispatcher>,
    /// Docker: the tag both roles run, private to this test so it can be moved.
    tag: String,
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
            // Only Fake and Docker run these scenarios; the other backends have suites of
            // their own.
            Kind::Docker | Kind::Podman | Kind::Swarm => {
                docker(&["tag", &support::test_image(), &tag]);
                for image in config.images.values_mut() {
                    image.clone_from(&tag);
                }
                Arc::new(LocalDocker::new(config.clone(), instance.clone()))
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
        if self.kind == Kind::Docker {
            self.raw = Arc::new(LocalDocker::new(self.config.clone(), self.instance.clone()));
        }
        let (p, d) = wire(&self.raw, &self.state, pool);
        d.reconcile().await.expect("reconcile");
        p.adopt().await;
        self.pool = p;
        self.dispatcher = d;
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
                let mut child = std::process::Command::new("docker")
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

    /// Objects of this instance carrying the pool label, asked of the docker CLI.
    fn labelled_pool_objects(&self) -> usize {
        let filters = [
            "--filter".to_owned(),
            format!("label=dev.hearth.instance={}", self.instance),
            "--filter".to_owned(),
            "label=dev.hearth.pool".to_owned(),
        ];
        let mut n = 0;
        for what in [["ps", "-aq"], ["network", "ls"], ["volume", "ls"]] {
            let mut args: Vec<String> = what.iter().map(|s| (*s).to_owned()).collect();
            if what[0] != "ps" {
                args.push("-q".into());
            }
            args.extend(filters.iter().cloned());
            let out = std::process::Command::new("docker")
                .args(&args)
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
        if self.kind == Kind::Docker {
            sweep_instance(&self.instance);
            docker(&["rmi", "-f", &self.tag]);
        }
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

fn docker(args: &[&str]) {
    let _ = std::process::Command::new("docker").args(args).output();
}

fn count(objects: &[Owned], kind: ObjectKind) -> usize {
    objects.iter().filter(|o| o.kind == kind).count()
}

/// A claim takes a whole, paused member, answers the ordinary ref plus the claim, and the
/// workspace is then like any other: it answers, pauses, resumes, and its teardown removes
/// the member's objects and data. The pool refills behind the claim.
async fn claim_gives_a_warm_workspace_like_any_other(b: PoolBackend) {
    b.pool.refill_once().await;
    let members = b.ready();
    assert_eq!(members.len(), 1, "{:?}", b.pool.report());
    let member = members[0].clone();
    let objs = b.objects_of(&member).await;
    assert_eq!(
        (
            count(&objs, ObjectKind::Container),
            count(&objs, ObjectKind::Network),
            count(&objs, ObjectKind::Volume)
        ),
        (2, 1, 2),
        "a member is a whole workspace: {objs:?}"
    );
    assert!(
        objs.iter()
            .filter(|o| o.kind == ObjectKind::Container)
            .all(|o| o.state.as_deref() == Some("paused")),
        "members wait paused: {objs:?}"
    );
    if b.kind == Kind::Docker {
        assert_eq!(
            b.labelled_pool_objects(),
            5,
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
    let listed = b.dispatcher.driver().owned().await.expect("owned");
    assert_eq!(
        listed.iter().filter(|o| o.slug == "warm").count(),
        5,
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
    assert_eq!(b.objects_of("cold").await.len(), 5);
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
    assert_eq!(b.objects().await.len(), 5, "one member's objects remain");
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
}

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
        mod docker {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if !super::support::e2e(concat!("pool::docker::", stringify!($name))) {
                        return;
                    }
                    super::$name(super::PoolBackend::new(super::Kind::Docker, super::FakeFaults::default(), super::sized($size))).await;
                }
            )*
        }
    };
}

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
    if !support::e2e("pool::docker_refill_failures_stop_at_the_cap_and_back_off") {
        return;
    }
    let mut config = sized(1);
    config.failure_cap = 2;
    let b = PoolBackend::new(Kind::Docker, FakeFaults::default(), config);
    docker(&["rmi", "-f", &b.tag]);
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
