//! The image supply path against a real registry on loopback (`docker-registry`, the CNCF
//! distribution registry): pulls with progress and their bounds (registry down, registry
//! stalling), credentials read as the docker CLI reads them, and freeze / drift / rollback
//! with `hearth lock`. Every test runs the real `hearth` binary with an environment of its
//! own, labels what it builds with its run id and removes it, also on failure.

#[path = "support/podman_service.rs"]
mod podman_service;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use bollard::Docker;
use hearth::client::{ClientError, HearthClient};
use hearth_protocol::hearth::{DeploymentRef, LifecycleEvent, ProvisioningProfile, Status, Tier};
use podman_service::PodmanService;
use support::registry::{build_from, remove_built, Registry, RegistryOptions, Stalling};
use support::Sweep;

const BIN: &str = env!("CARGO_BIN_EXE_hearth");
/// The label key every image a test builds carries, with the test's run id as its value.
const RUN_LABEL: &str = "dev.hearth.test.run";

/// One test's run: its id, the engine, a scratch dir; built images and engine objects of the
/// run are removed when it drops.
struct Run {
    id: String,
    docker: Docker,
    dir: tempfile::TempDir,
    _sweep: Sweep,
}

impl Run {
    async fn start() -> Run {
        let id = format!("reg{:08x}", rand::random::<u32>());
        let docker = Docker::connect_with_defaults()
            .expect("docker client")
            .negotiate_version()
            .await
            .expect("the Docker engine answers");
        Run {
            _sweep: Sweep(id.clone()),
            id,
            docker,
            dir: support::short_tempdir(),
        }
    }

    /// Builds an image of this run from the stand-in (`version` tells builds apart; `bytes`
    /// of random data make a layer that size). Returns `(local tag, image ID)`.
    fn build(&self, version: &str, bytes: usize) -> (String, String) {
        let tag = format!("hearth-test-{}:{version}", self.id);
        let label = format!("{}-{version}", self.id);
        let id = build_from(&support::test_image(), &tag, (RUN_LABEL, &label), bytes);
        (tag, id)
    }

    /// A workspace slug unique to this run.
    fn slug(&self, name: &str) -> String {
        format!("{name}-{}", &self.id[3..])
    }

    /// Starts `hearth serve` under this run's instance, with an environment of its own.
    fn hearth(&self, name: &str, args: &[&str], env: &[(&str, &Path)]) -> Hearth {
        let socket = self.dir.path().join(format!("{name}.sock"));
        let home = self.dir.path().join(format!("{name}-home"));
        std::fs::create_dir_all(&home).expect("home");
        let mut cmd = Command::new(BIN);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .current_dir(&home)
            .arg("serve")
            .arg("--socket")
            .arg(&socket)
            .arg("--state-dir")
            .arg(self.dir.path().join(format!("{name}-state")))
            .args(["--instance", &self.id, "--label", &support::test_label()])
            .args(args)
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(self.dir.path().join(format!("{name}.stderr"))).expect("log"),
            );
        if let Ok(host) = std::env::var("DOCKER_HOST") {
            cmd.env("DOCKER_HOST", host);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        Hearth {
            child: cmd.spawn().expect("spawn hearth"),
            socket,
        }
    }

    /// Runs the `hearth` CLI (as a client, or `lock`) with a clean environment.
    fn cli(&self, args: &[&str]) -> Output {
        self.cli_with(args, &[])
    }

    /// [`Run::cli`] with extra environment.
    fn cli_with(&self, args: &[&str], env: &[(&str, &Path)]) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .args(args)
            .stdin(Stdio::null());
        if let Ok(host) = std::env::var("DOCKER_HOST") {
            cmd.env("DOCKER_HOST", host);
        }
        cmd.envs(env.iter().copied());
        cmd.output().expect("run hearth")
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        // Containers first: an image a container still uses cannot go.
        support::sweep_instance(&self.id);
        for v in ["v1", "v2", "big"] {
            remove_built((RUN_LABEL, &format!("{}-{v}", self.id)));
        }
    }
}

/// A `hearth serve` child, killed when dropped.
struct Hearth {
    child: Child,
    socket: PathBuf,
}

impl Hearth {
    async fn client(&self) -> HearthClient {
        let client = HearthClient::new(&self.socket).with_timeout(Duration::from_secs(180));
        let deadline = Instant::now() + Duration::from_secs(20);
        while client.healthz().await.is_err() {
            assert!(Instant::now() < deadline, "hearth never answered");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        client
    }

    fn socket(&self) -> &str {
        self.socket.to_str().expect("utf-8 path")
    }
}

impl Drop for Hearth {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn solo() -> ProvisioningProfile {
    ProvisioningProfile::for_tier(Tier::Solo)
}

fn api_error(e: &ClientError) -> (String, String, String) {
    (
        e.code().to_string(),
        e.message(),
        e.hint().unwrap_or_default().to_owned(),
    )
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The image ID a role ran.
fn ran(r: &DeploymentRef, role: &str) -> String {
    r.services
        .iter()
        .find(|s| s.role == role)
        .map(|s| s.image_digest.clone())
        .unwrap_or_else(|| panic!("no {role} in {r:?}"))
}

fn steps<'a>(events: &'a [LifecycleEvent], step: &str) -> Vec<&'a LifecycleEvent> {
    events.iter().filter(|e| e.step == step).collect()
}

/// A daemon whose cairnet role runs `image` (lore runs the stand-in), with `extra` flags.
fn cairnet_on(run: &Run, name: &str, image: &str, extra: &[&str], env: &[(&str, &Path)]) -> Hearth {
    let test_image = support::test_image();
    let mut args = vec!["--image-cairnet", image, "--image-lore", &test_image];
    args.extend_from_slice(extra);
    run.hearth(name, &args, env)
}

/// A provision that must fail: its `(code, message, hint)` and how long it took.
async fn refused(client: &HearthClient, slug: &str) -> ((String, String, String), Duration) {
    let started = Instant::now();
    let err = client
        .provision(slug, &solo())
        .await
        .expect_err("the provision must fail");
    (api_error(&err), started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_layer_is_pulled_with_progress_bytes_and_time() {
    if !support::e2e("a_large_layer_is_pulled_with_progress_bytes_and_time") {
        return;
    }
    let run = Run::start().await;
    let registry = Registry::start(&run.docker, RegistryOptions::default()).await;
    const SIZE: usize = 48 * 1024 * 1024;
    let (local, id) = run.build("big", SIZE);
    let repo = format!("big-{}", run.id);
    registry.push(&local, &repo, "v1").await;
    // The engine must not have it, or nothing is fetched.
    remove_built((RUN_LABEL, &format!("{}-big", run.id)));
    let image = registry.reference(&repo, "v1");
    let hearth = cairnet_on(&run, "big", &image, &[], &[]);
    let client = hearth.client().await;
    let slug = run.slug("big");

    // The CLI, not on a terminal: one line per pulled image on stderr, the ref on stdout.
    let out = run.cli(&["--socket", hearth.socket(), "provision", &slug]);
    let stderr = text(&out.stderr);
    assert!(
        out.status.success(),
        "provision: {stderr}{}",
        text(&out.stdout)
    );
    let pulled_lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("pulled "))
        .collect();
    assert_eq!(pulled_lines.len(), 1, "one line per pulled image: {stderr}");
    assert!(
        pulled_lines[0].starts_with(&format!("pulled cairnet: {image} ")),
        "{stderr}"
    );

    let events = client.events(&slug).await.expect("events");
    let pulled = steps(&events, "image_pulled");
    assert_eq!(pulled.len(), 1, "{events:#?}");
    let detail = pulled[0].detail.clone().unwrap_or_default();
    let bytes: u64 = detail
        .split_whitespace()
        .nth(1)
        .and_then(|b| b.parse().ok())
        .unwrap_or_else(|| panic!("bytes in {detail:?}"));
    assert!(
        bytes >= SIZE as u64 / 2 && bytes <= SIZE as u64 * 2,
        "{bytes} bytes for a {SIZE}-byte layer (compressed on the wire): {detail}"
    );
    assert!(detail.contains(" ms"), "{detail}");
    let progress = steps(&events, "image_pulling");
    assert!(!progress.is_empty(), "progress steps: {events:#?}");
    assert!(
        progress
            .iter()
            .all(|e| e.role.as_deref() == Some("cairnet")),
        "{progress:#?}"
    );
    // The pull happened before the role's container was created, and the role runs it.
    let created = events
        .iter()
        .position(|e| e.step == "container_created" && e.role.as_deref() == Some("cairnet"))
        .expect("container_created");
    let pulled_at = events
        .iter()
        .position(|e| e.step == "image_pulled")
        .expect("pulled");
    assert!(pulled_at < created);
    let r = client.get(&slug).await.expect("ref");
    assert_eq!(ran(&r, "cairnet"), id);
    client.teardown(&slug).await.expect("teardown");

    // On a terminal (a pty from `script`): the image's line redrawn with the bytes so far,
    // then the outcome. The image goes again first, so there is something to fetch.
    remove_built((RUN_LABEL, &format!("{}-big", run.id)));
    let tty_slug = run.slug("tty");
    let command = format!("{BIN} --socket {} provision {tty_slug}", hearth.socket());
    let out = Command::new("script")
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .env("HOME", run.dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("script (util-linux) runs the CLI on a pty");
    let shown = text(&out.stdout);
    assert!(out.status.success(), "provision on a pty: {shown}");
    assert!(
        shown.contains("\r\x1b[2Kpulling cairnet: ") && shown.contains(" of "),
        "a redrawn progress line: {shown:?}"
    );
    assert!(
        shown.contains("\r\x1b[2Kpulled cairnet: "),
        "the outcome: {shown:?}"
    );
    client.teardown(&tty_slug).await.expect("teardown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_that_is_down_is_image_unavailable_within_a_second() {
    if !support::e2e("a_registry_that_is_down_is_image_unavailable_within_a_second") {
        return;
    }
    let run = Run::start().await;
    let mut registry = Registry::start(&run.docker, RegistryOptions::default()).await;
    let image = registry.reference(&format!("gone-{}", run.id), "v1");
    registry.stop();
    let hearth = cairnet_on(&run, "down", &image, &[], &[]);
    let client = hearth.client().await;
    let ((code, message, hint), took) = refused(&client, &run.slug("down")).await;
    assert_eq!(code, "image_unavailable", "{message}");
    assert!(message.contains(&image), "{message}");
    assert!(message.contains("registry unreachable"), "{message}");
    assert!(hint.contains("make images"), "{hint}");
    // About a second, with room for a loaded CI machine (well under one here).
    assert!(took < Duration::from_secs(2), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalling_registry_is_image_unavailable_within_the_pull_bound() {
    if !support::e2e("a_stalling_registry_is_image_unavailable_within_the_pull_bound") {
        return;
    }
    let run = Run::start().await;
    let stalling = Stalling::start().await;
    let image = format!("{}/stall-{}:v1", stalling.host, run.id);
    let hearth = cairnet_on(&run, "stall", &image, &["--pull-timeout", "3"], &[]);
    let client = hearth.client().await;
    let ((code, message, _), took) = refused(&client, &run.slug("stall")).await;
    assert_eq!(code, "image_unavailable", "{message}");
    assert!(message.contains(&image), "{message}");
    assert!(message.contains("timed out"), "{message}");
    assert!(message.contains("3s"), "names the bound: {message}");
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(8),
        "took {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_from_the_docker_config_let_a_pull_through() {
    if !support::e2e("credentials_from_the_docker_config_let_a_pull_through") {
        return;
    }
    let run = Run::start().await;
    let registry = Registry::start(
        &run.docker,
        RegistryOptions {
            auth: Some(("hearth".into(), format!("pw-{}", run.id))),
        },
    )
    .await;
    let (local, id) = run.build("v1", 0);
    let repo = format!("private-{}", run.id);
    registry.push(&local, &repo, "v1").await;
    remove_built((RUN_LABEL, &format!("{}-v1", run.id)));
    let image = registry.reference(&repo, "v1");
    let config_dir = run.dir.path().join("docker-config");
    std::fs::create_dir_all(&config_dir).expect("config dir");
    let hearth = cairnet_on(&run, "auth", &image, &[], &[("DOCKER_CONFIG", &config_dir)]);
    let client = hearth.client().await;

    // No login yet: the registry refuses, and hearth says how to log in.
    let ((code, message, hint), _) = refused(&client, &run.slug("anon")).await;
    assert_eq!(code, "image_unavailable", "{message}");
    assert!(message.contains("unauthorized"), "{message}");
    assert!(message.contains(&image), "{message}");
    assert!(
        hint.contains(&format!("docker login {}", registry.host)),
        "{hint}"
    );

    // `docker login` writes this; hearth reads it at the next pull, no restart.
    std::fs::write(
        config_dir.join("config.json"),
        registry.docker_config_json(),
    )
    .expect("config.json");

    // `hearth lock` finds the same login: it pulls the tag (absent from the engine) and asks
    // the registry for it again under --check.
    let lock_file = run.dir.path().join("private.lock");
    let lock_s = lock_file.to_str().expect("utf-8");
    let env = [("DOCKER_CONFIG", config_dir.as_path())];
    let pin = ["lock", "--out", lock_s, "--cairnet-image", &image];
    let lore = ["--lore-image", &image];
    let out = run.cli_with(&[&pin[..], &lore[..]].concat(), &env);
    assert!(out.status.success(), "lock: {}", text(&out.stderr));
    let pinned = std::fs::read_to_string(&lock_file).expect("lock file");
    assert!(
        pinned.contains(&format!("{}/{repo}@sha256:", registry.host)),
        "{pinned}"
    );
    let check = run.cli_with(&[&pin[..], &lore[..], &["--check"][..]].concat(), &env);
    assert!(check.status.success(), "check: {}", text(&check.stdout));
    let anon = run.cli(&[&pin[..], &lore[..], &["--check"][..]].concat());
    assert!(
        text(&anon.stderr).contains("unauthorized"),
        "--check without the login: {}",
        text(&anon.stderr)
    );
    remove_built((RUN_LABEL, &format!("{}-v1", run.id)));

    let slug = run.slug("authed");
    let r = client
        .provision(&slug, &solo())
        .await
        .expect("pull with credentials");
    assert_eq!(ran(&r, "cairnet"), id);
    client.teardown(&slug).await.expect("teardown");
}

/// `hearth lock` for both roles running `image`, into `out`.
fn lock(run: &Run, image: &str, out: &Path, extra: &[&str]) -> Output {
    let out_s = out.to_str().expect("utf-8");
    let mut args = vec![
        "lock",
        "--out",
        out_s,
        "--cairnet-image",
        image,
        "--lore-image",
        image,
    ];
    args.extend_from_slice(extra);
    run.cli(&args)
}

/// Provisions `slug` under `lock_file` with a daemon of its own; returns what cairnet and
/// lore ran, after tearing it down.
async fn provision_locked(
    run: &Run,
    name: &str,
    image: &str,
    lock_file: &Path,
) -> (String, String) {
    let lock_s = lock_file.to_str().expect("utf-8");
    let hearth = run.hearth(
        name,
        &[
            "--image-cairnet",
            image,
            "--image-lore",
            image,
            "--lock",
            lock_s,
        ],
        &[],
    );
    let client = hearth.client().await;
    let slug = run.slug(name);
    let r = client
        .provision(&slug, &solo())
        .await
        .unwrap_or_else(|e| panic!("provision {name} under the lock: {e}"));
    client.teardown(&slug).await.expect("teardown");
    (ran(&r, "cairnet"), ran(&r, "lore"))
}

/// A registry holding v1 of this run's app under `live`, frozen into `lock_file`.
struct Frozen {
    registry: Registry,
    repo: String,
    /// `127.0.0.1:PORT/REPO:live`.
    image: String,
    v1: String,
    d1: String,
    v2_local: String,
    v2: String,
    lock_file: PathBuf,
}

/// Builds v1 and v2, pushes v1 as `live`, and freezes it with `hearth lock` (the tag is not on
/// the engine: the lock pulls it).
async fn freeze(run: &Run, app: &str) -> Frozen {
    let registry = Registry::start(&run.docker, RegistryOptions::default()).await;
    let (v1_local, v1) = run.build("v1", 0);
    let (v2_local, v2) = run.build("v2", 0);
    assert_ne!(v1, v2);
    let repo = format!("{app}-{}", run.id);
    let image = registry.reference(&repo, "live");
    let d1 = registry.push(&v1_local, &repo, "live").await;
    let lock_file = run.dir.path().join("hearth.lock");
    let out = lock(run, &image, &lock_file, &[]);
    assert!(out.status.success(), "lock: {}", text(&out.stderr));
    Frozen {
        registry,
        repo,
        image,
        v1,
        d1,
        v2_local,
        v2,
        lock_file,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freeze_then_a_pushed_tag_then_relock_then_rollback() {
    if !support::e2e("freeze_then_a_pushed_tag_then_relock_then_rollback") {
        return;
    }
    let run = Run::start().await;
    // Freeze: the tag is not on the engine; `hearth lock` pulls it and pins the digest.
    let Frozen {
        registry,
        repo,
        image,
        v1,
        d1,
        v2_local,
        v2,
        lock_file,
    } = freeze(&run, "app").await;
    let pinned = format!("{}/{repo}@{d1}", registry.host);
    let frozen = std::fs::read_to_string(&lock_file).expect("lock file");
    assert!(frozen.contains(&pinned), "{frozen}");
    let check = lock(&run, &image, &lock_file, &["--check"]);
    assert!(
        check.status.success(),
        "nothing moved yet: {}",
        text(&check.stdout)
    );

    // Someone pushes v2 under the same tag: --check sees it and changes nothing.
    let d2 = registry.push(&v2_local, &repo, "live").await;
    assert_ne!(d1, d2);
    let check = lock(&run, &image, &lock_file, &["--check"]);
    let said = text(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "drift exits 1: {said}");
    assert!(said.contains("cairnet") && said.contains("lore"), "{said}");
    assert!(said.contains("moved") && said.contains(&d2), "{said}");
    assert_eq!(std::fs::read_to_string(&lock_file).expect("lock"), frozen);

    // The frozen hearth still runs v1.
    assert_eq!(
        provision_locked(&run, "frozen", &image, &lock_file).await,
        (v1.clone(), v1.clone())
    );

    // Relock: v2.
    let old = run.dir.path().join("hearth.lock.v1");
    std::fs::copy(&lock_file, &old).expect("keep the old lock");
    let out = lock(&run, &image, &lock_file, &[]);
    assert!(out.status.success(), "relock: {}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&d2), "{}", text(&out.stdout));
    assert_eq!(
        provision_locked(&run, "relocked", &image, &lock_file).await,
        (v2.clone(), v2.clone())
    );

    // Roll back: the old lock file again, with v1 gone from the engine, so it is fetched
    // again by its digest (the tag now points at v2).
    remove_built((RUN_LABEL, &format!("{}-v1", run.id)));
    std::fs::copy(&old, &lock_file).expect("restore the old lock");
    assert_eq!(
        provision_locked(&run, "rollback", &image, &lock_file).await,
        (v1.clone(), v1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_digest_deleted_from_the_registry_is_image_drift() {
    if !support::e2e("a_locked_digest_deleted_from_the_registry_is_image_drift") {
        return;
    }
    let run = Run::start().await;
    let Frozen {
        mut registry,
        repo,
        image,
        v1,
        d1,
        v2_local,
        lock_file,
        ..
    } = freeze(&run, "pruned").await;
    let d2 = registry.push(&v2_local, &repo, "live").await;
    // Deleted as an operator deletes: the manifest, then the blobs nothing refers to (the
    // engine keeps manifests it pulled and could otherwise rebuild v1 from its blobs).
    registry.delete_manifest(&repo, &d1).await;
    registry.garbage_collect().await;
    // Absent locally: the engine rebuilds a digest reference from an image it still has, so
    // v1 itself goes (the build, and the copy `hearth lock` pulled: one image ID).
    remove_built((RUN_LABEL, &format!("{}-v1", run.id)));
    assert!(
        run.docker.inspect_image(&v1).await.is_err(),
        "v1 is still on the engine"
    );

    let lock_s = lock_file.to_str().expect("utf-8");
    let hearth = run.hearth(
        "drift",
        &[
            "--image-cairnet",
            &image,
            "--image-lore",
            &image,
            "--lock",
            lock_s,
        ],
        &[],
    );
    let client = hearth.client().await;
    let ((code, message, hint), _) = refused(&client, &run.slug("drift")).await;
    assert_eq!(code, "image_drift", "{message}");
    assert!(
        message.contains("role cairnet") || message.contains("role lore"),
        "{message}"
    );
    assert!(message.contains(&d1), "names the locked digest: {message}");
    assert!(
        message.contains(&d2),
        "names what the tag points at now: {message}"
    );
    assert!(hint.contains("hearth lock"), "{hint}");
    drop(hearth);
    assert!(
        support::engine_objects(&run.id).is_empty(),
        "a failed provision leaves nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn podman_pulls_and_pins_from_a_loopback_registry_marked_insecure() {
    const NAME: &str = "podman_pulls_and_pins_from_a_loopback_registry_marked_insecure";
    if !support::e2e(NAME) || !support::podman::e2e(NAME) {
        return;
    }
    let run = Run::start().await;
    let mut open = Registry::start(&run.docker, RegistryOptions::default()).await;
    let private = Registry::start(
        &run.docker,
        RegistryOptions {
            auth: Some(("hearth".into(), format!("pw-{}", run.id))),
        },
    )
    .await;
    // Pushed with Docker (the engine the tests build on); none of it is on the Podman below.
    const SIZE: usize = 16 * 1024 * 1024;
    let (big_local, big_id) = run.build("big", SIZE);
    let (app_local, app_id) = run.build("v1", 0);
    let (big_repo, app_repo) = (format!("big-{}", run.id), format!("app-{}", run.id));
    open.push(&big_local, &big_repo, "v1").await;
    let app_digest = open.push(&app_local, &app_repo, "v1").await;
    open.push(&app_local, &app_repo, "lock").await;
    private.push(&app_local, &app_repo, "v1").await;
    let (big, app) = (
        open.reference(&big_repo, "v1"),
        open.reference(&app_repo, "v1"),
    );
    // A Podman of the test's own, told by a registries.conf the test wrote that both
    // loopback registries speak plain HTTP.
    let podman = PodmanService::start(&[&open.host, &private.host]);
    let on_podman = [("DOCKER_HOST", Path::new(&podman.host))];

    // Two roles, two images, pulled at once: the CLI prints one line per pulled image.
    let hearth = run.hearth(
        "pm",
        &["--image-cairnet", &big, "--image-lore", &app],
        &on_podman,
    );
    let client = hearth.client().await;
    let slug = run.slug("pm");
    let out = run.cli(&["--socket", hearth.socket(), "provision", &slug]);
    let stderr = text(&out.stderr);
    assert!(
        out.status.success(),
        "provision on Podman: {stderr}{}",
        text(&out.stdout)
    );
    for (role, image) in [("cairnet", &big), ("lore", &app)] {
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with(&format!("pulled {role}: {image} "))),
            "a line for {role}'s pull: {stderr}"
        );
    }
    let events = client.events(&slug).await.expect("events");
    let pulled = steps(&events, "image_pulled");
    assert_eq!(pulled.len(), 2, "{events:#?}");
    let big_pull = pulled
        .iter()
        .find(|e| e.role.as_deref() == Some("cairnet"))
        .and_then(|e| e.detail.clone())
        .unwrap_or_default();
    let bytes: u64 = big_pull
        .split_whitespace()
        .nth(1)
        .and_then(|b| b.parse().ok())
        .unwrap_or_else(|| panic!("bytes in {big_pull:?}"));
    assert!(
        bytes >= SIZE as u64 / 2 && bytes <= SIZE as u64 * 2,
        "{bytes} bytes for a {SIZE}-byte layer: {big_pull}"
    );
    let r = client.get(&slug).await.expect("ref");
    assert_eq!((ran(&r, "cairnet"), ran(&r, "lore")), (big_id, app_id));
    assert_eq!(client.status(&slug).await.expect("status"), Status::Ready);
    client.teardown(&slug).await.expect("teardown");

    // `hearth lock` against Podman pulls a tag Podman does not have and pins the registry
    // digest (the same manifest as v1, so the same digest).
    let lock_file = run.dir.path().join("podman.lock");
    let lock_s = lock_file.to_str().expect("utf-8");
    let locked = open.reference(&app_repo, "lock");
    let out = run.cli_with(
        &[
            "lock",
            "--out",
            lock_s,
            "--cairnet-image",
            &locked,
            "--lore-image",
            &locked,
        ],
        &on_podman,
    );
    assert!(
        out.status.success(),
        "lock on Podman: {}",
        text(&out.stderr)
    );
    let pinned = std::fs::read_to_string(&lock_file).expect("lock file");
    assert!(
        pinned.contains(&format!("{}/{app_repo}@{app_digest}", open.host)),
        "{pinned}"
    );
    // --check asks Podman, which learns what the tag points at by pulling it: unchanged,
    // then moved once another image is pushed under the tag.
    let check = [
        "lock",
        "--out",
        lock_s,
        "--cairnet-image",
        &locked,
        "--lore-image",
        &locked,
        "--check",
    ];
    let out = run.cli_with(&check, &on_podman);
    assert!(
        out.status.success(),
        "check on Podman: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let moved_to = open.push(&big_local, &app_repo, "lock").await;
    let out = run.cli_with(&check, &on_podman);
    let said = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "drift exits 1: {said}{}",
        text(&out.stderr)
    );
    assert!(said.contains("moved") && said.contains(&moved_to), "{said}");
    assert_eq!(std::fs::read_to_string(&lock_file).expect("lock"), pinned);

    // Without a login the private registry refuses, typed as on Docker.
    let image = private.reference(&app_repo, "v1");
    let hearth = run.hearth(
        "pm-anon",
        &["--image-cairnet", &image, "--image-lore", &image],
        &on_podman,
    );
    let client = hearth.client().await;
    let ((code, message, hint), _) = refused(&client, &run.slug("pm-anon")).await;
    assert_eq!(code, "image_unavailable", "{message}");
    assert!(message.contains("unauthorized"), "{message}");
    assert!(message.contains(&image), "{message}");
    assert!(
        hint.contains(&format!("docker login {}", private.host)),
        "{hint}"
    );

    // A registry that is down: unreachable, within a few seconds (Podman 4.3 itself tries a
    // failed pull three times, a second apart, where Docker answers at once).
    let image = open.reference(&format!("gone-{}", run.id), "v1");
    open.stop();
    let hearth = run.hearth(
        "pm-down",
        &["--image-cairnet", &image, "--image-lore", &image],
        &on_podman,
    );
    let client = hearth.client().await;
    let ((code, message, _), took) = refused(&client, &run.slug("pm-down")).await;
    assert_eq!(code, "image_unavailable", "{message}");
    assert!(message.contains(&image), "{message}");
    assert!(message.contains("registry unreachable"), "{message}");
    assert!(took < Duration::from_secs(6), "took {took:?}");
}
