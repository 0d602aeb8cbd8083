//! The built image `hearth-standin:local` on the real engine: it answers HTTP with its role,
//! marks its data volume, stops promptly under an init, and (as documented) ignores SIGTERM
//! as PID 1 without one; its knobs (`knobs.rs`) model real services. Runs when
//! `HEARTH_E2E=1` (`make test` builds the image first); with it set and no engine or no
//! image, the tests fail naming what is missing.

#[path = "image/busybox.rs"]
mod busybox;
#[path = "image/knobs.rs"]
mod knobs;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// `dev.hearth.test=<run>`: this test run's label (`HEARTH_TEST_RUN`, set by `make test`).
fn label() -> String {
    let run = std::env::var("HEARTH_TEST_RUN")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| format!("adhoc-{}", std::process::id()));
    format!("dev.hearth.test={run}")
}

fn image() -> String {
    std::env::var("STANDIN_TAG").unwrap_or_else(|_| "hearth-standin:local".to_owned())
}

/// `None` when Docker-backed tests are off; panics when they are on and cannot run.
fn engine() -> Option<()> {
    engine_with(&image())
}

/// `engine()` for another of the images `make images` builds.
fn engine_with(image: &str) -> Option<()> {
    if std::env::var("HEARTH_E2E").as_deref() != Ok("1") {
        eprintln!("HEARTH_E2E is not 1: Docker-backed image test not run");
        return None;
    }
    let out = docker(&["image", "inspect", "--format", "{{.Id}}", image]);
    assert!(
        out.is_ok(),
        "HEARTH_E2E=1 but image {image} is not usable: {} (run make images)",
        out.unwrap_err()
    );
    Some(())
}

fn docker(args: &[&str]) -> Result<String, String> {
    let out = Command::new("docker")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run the docker CLI: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(format!(
            "docker {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A container (and optionally a volume) removed when the test ends, passed or not; with
/// the network of its own it runs on when the test named none (dropped after the container).
struct Running {
    id: String,
    volume: Option<String>,
    _network: Option<Network>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", "-v", &self.id]);
        if let Some(v) = &self.volume {
            let _ = docker(&["volume", "rm", "-f", v]);
        }
    }
}

fn run(extra: &[&str], volume: Option<String>) -> Running {
    run_with(&[80], extra, &[], volume)
}

/// `docker run -d` of the image with this run's label, each of `publish` published on an
/// engine-chosen loopback port, `extra` options before the image and `command` after it.
fn run_with(publish: &[u16], extra: &[&str], command: &[&str], volume: Option<String>) -> Running {
    run_image(&image(), publish, extra, command, volume)
}

/// `run_with` for another image.
fn run_image(
    image: &str,
    publish: &[u16],
    extra: &[&str],
    command: &[&str],
    volume: Option<String>,
) -> Running {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let label = label();
    // A name of its own: when `run` creates the container but cannot start it, the guard
    // still removes it (and the volume) by that name.
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = format!("hearth-standin-test-{}-{n}", std::process::id());
    let published: Vec<String> = publish.iter().map(|p| format!("127.0.0.1::{p}")).collect();
    // Never the engine's default bridge: the test's objects are its own, and an engine whose
    // docker0 is gone (seen on CI hosts) still runs containers on a network it creates.
    let network = (!extra.iter().any(|a| a.starts_with("--network")))
        .then(|| Network::create(&format!("c{n}")));
    let network_name = network.as_ref().map(|n| n.0.clone());
    let mut args = vec!["run", "-d", "--label", &label, "--name", &name];
    if let Some(n) = &network_name {
        args.extend(["--network", n.as_str()]);
    }
    for p in &published {
        args.extend(["-p", p.as_str()]);
    }
    args.extend_from_slice(extra);
    args.push(image);
    args.extend_from_slice(command);
    let guard = Running {
        id: name.clone(),
        volume,
        _network: network,
    };
    docker(&args).expect("docker run");
    guard
}

fn host_port(c: &Running) -> u16 {
    host_port_of(c, 80)
}

/// The loopback host port the engine published `port` on.
fn host_port_of(c: &Running, port: u16) -> u16 {
    let out = docker(&["port", &c.id, &format!("{port}/tcp")]).expect("docker port");
    out.lines()
        .find_map(|l| l.rsplit_once(':').and_then(|(_, p)| p.parse().ok()))
        .unwrap_or_else(|| panic!("no host port in {out:?}"))
}

/// GETs `path` until the service answers (the published port accepts before it is up).
fn get(port: u16, path: &str) -> String {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let attempt = TcpStream::connect(("127.0.0.1", port)).and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(2)))?;
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())?;
            let mut out = String::new();
            s.read_to_string(&mut out)?;
            Ok(out)
        });
        match attempt {
            Ok(out) if out.starts_with("HTTP/1.1 ") => return out,
            _ if Instant::now() < until => std::thread::sleep(Duration::from_millis(20)),
            other => panic!("127.0.0.1:{port}{path} never answered: {other:?}"),
        }
    }
}

/// The container's exit code once it has stopped; panics after 20 s (an image that ignores
/// its one-shot knobs would otherwise hang the test in `docker wait`).
fn exit_code(c: &Running) -> i64 {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let state = docker(&[
            "inspect",
            "--format",
            "{{.State.Status}} {{.State.ExitCode}}",
            &c.id,
        ])
        .expect("docker inspect");
        if let Some(code) = state.strip_prefix("exited ") {
            return code.parse().expect("exit code");
        }
        assert!(Instant::now() < until, "{} still {state} after 20 s", c.id);
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The container's stdout so far (`docker logs` keeps stderr on its own stream).
fn stdout_of(c: &Running) -> String {
    docker(&["logs", &c.id]).expect("docker logs")
}

/// The container's stderr so far.
fn stderr_of(c: &Running) -> String {
    let out = Command::new("docker")
        .args(["logs", &c.id])
        .output()
        .expect("docker logs");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The body of an HTTP answer ("" when it has none).
fn body(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// A labelled network removed when the test ends (declare it before its containers, so it
/// is dropped after them).
struct Network(String);

impl Network {
    fn create(tag: &str) -> Self {
        let name = format!("hearth-standin-test-{tag}-{}", std::process::id());
        docker(&["network", "create", "--label", &label(), &name]).expect("network create");
        Self(name)
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = docker(&["network", "rm", &self.0]);
    }
}

fn timed_stop(c: &Running, timeout_s: &str) -> Duration {
    let t0 = Instant::now();
    docker(&["stop", "-t", timeout_s, &c.id]).expect("docker stop");
    t0.elapsed()
}

#[test]
fn answers_with_its_role_marks_its_volume_and_stops_fast_under_init() {
    if engine().is_none() {
        return;
    }
    let volume = format!("hearth-standin-test-{}", std::process::id());
    let label = label();
    docker(&["volume", "create", "--label", &label, &volume]).expect("volume create");
    let mount = format!("{volume}:/data");
    let c = run(
        &["--init", "-e", "HEARTH_ROLE=lore", "-v", &mount],
        Some(volume),
    );
    let port = host_port(&c);

    let out = get(port, "/anything");
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(
        out.ends_with(r#"{"ok":true,"role":"lore","service":"hearth-standin"}"#),
        "{out}"
    );
    assert!(get(port, "/healthz").ends_with(r#"{"ok":true}"#));

    // A scratch image has no shell; `docker cp` reads the marker out as a tar stream.
    let tar = docker(&["cp", &format!("{}:/data/.standin", c.id), "-"]).expect("docker cp");
    assert!(tar.contains("hearth-standin"), "marker missing: {tar:?}");

    let took = timed_stop(&c, "10");
    assert!(
        took < Duration::from_secs(3),
        "stop under --init took {took:?}"
    );
}

#[test]
fn ignores_sigterm_as_pid1_without_init() {
    if engine().is_none() {
        return;
    }
    let c = run(&[], None);
    get(host_port(&c), "/healthz");
    // Without an init the kernel drops SIGTERM for PID 1: stop waits out its timeout.
    let took = timed_stop(&c, "1");
    assert!(
        took >= Duration::from_millis(900),
        "expected the stop timeout to run out, took {took:?}"
    );
}
