//! An engine refusal half-applied: with one role changed behind hearth's back (`docker pause`,
//! `unpause`, `stop`, `start` on one container), each verb — pause, resume, hibernate, wake,
//! upgrade — does what it can on every role, and the record ends up saying what the roles
//! are: never `failed` for a workspace whose roles all agree, and always what the engine
//! holds. Run on Docker and on Podman (each gated as the conformance suite gates them).

mod support;

use hearth_protocol::hearth::{ProvisioningProfile, Status, Tier};
use support::{docker_cli, Backend, Kind};

fn solo() -> ProvisioningProfile {
    ProvisioningProfile::for_tier(Tier::Solo)
}

/// `docker VERB CONTAINER` on the backend's engine, behind hearth's back.
fn behind_its_back(b: &Backend, verb: &str, container: &str) {
    let out = docker_cli(b.host())
        .args([verb, container])
        .output()
        .expect("docker CLI");
    assert!(
        out.status.success(),
        "docker {verb} {container}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The status hearth recorded for `slug` (not the engine's view).
fn recorded(b: &Backend, slug: &str) -> Status {
    b.dispatcher
        .list()
        .into_iter()
        .find(|r| r.workspace_slug == slug)
        .map(|r| r.last_status)
        .expect("a record")
}

/// The container of `role` in `slug`'s live ref.
async fn container_of(b: &Backend, slug: &str, role: &str) -> String {
    let r = b.dispatcher.get(slug).await.expect("ref");
    r.services
        .iter()
        .find(|s| s.role == role)
        .map(|s| s.container_id.clone())
        .unwrap_or_else(|| panic!("no {role} in {r:?}"))
}

/// After the verb, whatever it answered: the record is what the engine holds, both roles
/// agree on `want`, and (so) the record is not `failed`.
async fn settled(b: &Backend, slug: &str, want: Status, states: &[&str], answer: &str) {
    let record = recorded(b, slug);
    let engine = b.dispatcher.status(slug).await.expect("status");
    assert_eq!(
        (record, engine),
        (want, want),
        "record and engine after {answer}"
    );
    let mut now = b.container_states(slug).await;
    now.sort();
    assert_eq!(now, states, "both roles, after {answer}");
}

/// Cairnet paused behind hearth's back, then `pause`: lore is paused too (the refusal of
/// cairnet does not stop it), and the record says `paused`, as the engine does.
async fn pause_with_one_role_paused(b: Backend) {
    let d = &b.dispatcher;
    d.provision("half-pause", solo()).await.expect("provision");
    behind_its_back(
        &b,
        "pause",
        &container_of(&b, "half-pause", "cairnet").await,
    );
    let answer = format!("{:?}", d.pause("half-pause").await.map(|r| r.last_status));
    settled(
        &b,
        "half-pause",
        Status::Paused,
        &["paused", "paused"],
        &answer,
    )
    .await;
    d.resume("half-pause")
        .await
        .expect("resume from what is true");
    settled(
        &b,
        "half-pause",
        Status::Ready,
        &["running", "running"],
        "resume",
    )
    .await;
    d.teardown("half-pause").await.expect("teardown");
}

/// Paused by hearth, lore thawed behind its back, then `resume`: cairnet is thawed, the
/// record says `ready`.
async fn resume_with_one_role_running(b: Backend) {
    let d = &b.dispatcher;
    d.provision("half-resume", solo()).await.expect("provision");
    d.pause("half-resume").await.expect("pause");
    behind_its_back(
        &b,
        "unpause",
        &container_of(&b, "half-resume", "lore").await,
    );
    let answer = format!("{:?}", d.resume("half-resume").await.map(|r| r.last_status));
    settled(
        &b,
        "half-resume",
        Status::Ready,
        &["running", "running"],
        &answer,
    )
    .await;
    d.teardown("half-resume").await.expect("teardown");
}

/// Cairnet stopped behind hearth's back, then `hibernate`: lore is stopped too, the record
/// says `hibernated`; a wake brings both back.
async fn hibernate_with_one_role_stopped(b: Backend) {
    let d = &b.dispatcher;
    d.provision("half-hib", solo()).await.expect("provision");
    behind_its_back(&b, "stop", &container_of(&b, "half-hib", "cairnet").await);
    let answer = format!("{:?}", d.hibernate("half-hib").await.map(|r| r.last_status));
    settled(
        &b,
        "half-hib",
        Status::Hibernated,
        &["exited", "exited"],
        &answer,
    )
    .await;
    d.resume("half-hib").await.expect("wake");
    settled(
        &b,
        "half-hib",
        Status::Ready,
        &["running", "running"],
        "wake",
    )
    .await;
    d.teardown("half-hib").await.expect("teardown");
}

/// Hibernated by hearth, cairnet started behind its back, then `resume` (a wake): lore is
/// started, both answer, the record says `ready`.
async fn wake_with_one_role_started(b: Backend) {
    let d = &b.dispatcher;
    d.provision("half-wake", solo()).await.expect("provision");
    let cairnet = container_of(&b, "half-wake", "cairnet").await;
    d.hibernate("half-wake").await.expect("hibernate");
    behind_its_back(&b, "start", &cairnet);
    let answer = format!("{:?}", d.resume("half-wake").await.map(|r| r.last_status));
    settled(
        &b,
        "half-wake",
        Status::Ready,
        &["running", "running"],
        &answer,
    )
    .await;
    d.teardown("half-wake").await.expect("teardown");
}

/// Cairnet paused behind hearth's back, then `upgrade`: both roles are recreated running,
/// the record says `ready`.
async fn upgrade_with_one_role_paused(b: Backend) {
    let d = &b.dispatcher;
    d.provision("half-up", solo()).await.expect("provision");
    behind_its_back(&b, "pause", &container_of(&b, "half-up", "cairnet").await);
    let answer = format!(
        "{:?}",
        d.upgrade("half-up", solo()).await.map(|r| r.last_status)
    );
    settled(
        &b,
        "half-up",
        Status::Ready,
        &["running", "running"],
        &answer,
    )
    .await;
    d.teardown("half-up").await.expect("teardown");
}

/// Every scenario on Docker and on Podman.
macro_rules! half_applied {
    ($($name:ident),* $(,)?) => {
        mod docker {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if !super::support::e2e(concat!("docker::", stringify!($name))) {
                        return;
                    }
                    super::$name(super::Backend::new(super::Kind::Docker)).await;
                }
            )*
        }
        mod podman {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if !super::support::podman::e2e(concat!("podman::", stringify!($name))) {
                        return;
                    }
                    super::$name(super::Backend::new(super::Kind::Podman)).await;
                }
            )*
        }
    };
}

half_applied!(
    pause_with_one_role_paused,
    resume_with_one_role_running,
    hibernate_with_one_role_stopped,
    wake_with_one_role_started,
    upgrade_with_one_role_paused,
);
