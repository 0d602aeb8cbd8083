//! Finding the engine the way the docker CLI does, against real engines: contexts pointing
//! at a private dockerd (unix, and TLS on a loopback port with certificates made here) and
//! at the suite's private Podman service, `DOCKER_CONFIG` honoured, the well-known-socket probe over a
//! temporary home with real listening sockets, a certificate that does not verify, and
//! `hearth serve` refusing to start (path and hint) on a name that leads nowhere.

mod support;

use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use hearth::driver::engine::{context, resolve, Engine, Inputs, ResolveError, Source};
use hearth_testkit::certs::{free_port, TestCerts};
use hearth_testkit::dockerd::{self, PrivateDockerd};

const BIN: &str = env!("CARGO_BIN_EXE_hearth");

/// Inputs with nothing set but a home and the CLI directory, and a root with no sockets.
fn inputs(home: &Path, config: &Path) -> Inputs {
    Inputs {
        docker_config: Some(config.to_path_buf()),
        home: Some(home.to_path_buf()),
        root: home.join("root"),
        ..Inputs::default()
    }
}

/// The data root the engine behind `engine` says it keeps (which private engine answered).
async fn root_dir(engine: &Engine) -> String {
    let docker = engine.client().await.expect("the engine answers");
    let info = docker.info().await.expect("info");
    info.docker_root_dir.unwrap_or_default()
}

/// Starts a private dockerd, sweeping this run's leftovers from crashed runs first.
fn private_dockerd(tls: Option<&hearth_testkit::certs::ServerTls>) -> PrivateDockerd {
    dockerd::sweep(&support::test_run());
    PrivateDockerd::start(tls).expect("a private dockerd starts")
}

fn set_current(config: &Path, name: &str) {
    std::fs::create_dir_all(config).expect("dir");
    let body = serde_json::json!({ "currentContext": name });
    std::fs::write(config.join("config.json"), body.to_string()).expect("config.json");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contexts_and_docker_config_reach_a_private_dockerd() {
    const NAME: &str = "contexts_and_docker_config_reach_a_private_dockerd";
    if !support::e2e(NAME) {
        return;
    }
    let engine = private_dockerd(None);
    let home = tempfile::tempdir().expect("home");
    let config = home.path().join("cli");
    context::write(&config, "private", &engine.host(), None).expect("context");
    set_current(&config, "private");
    let mut i = inputs(home.path(), &config);
    let chosen = resolve(&i).expect("the current context");
    assert_eq!(chosen.host, engine.host());
    assert!(
        matches!(&chosen.source, Source::CurrentContext { name, config: c }
            if name == "private" && c == &config.join("config.json")),
        "{chosen}"
    );
    let private_root = root_dir(&Engine::new(chosen)).await;
    assert!(
        private_root.starts_with("/tmp/hkd-"),
        "the private engine answered: {private_root}"
    );
    // DOCKER_CONTEXT beats the current context; `default` means the default socket.
    i.docker_context = Some("default".into());
    let e = resolve(&i).expect_err("no default socket under the test's root");
    assert!(matches!(e, ResolveError::NoEngine { .. }), "{e}");

    // The real binary, with only DOCKER_CONFIG to go by: doctor names the context and reaches it.
    let out = Command::new(BIN)
        .args(["doctor", "--driver", "local-docker", "-o", "json"])
        .args([
            "--state-dir",
            &home.path().join("state").display().to_string(),
        ])
        .args([
            "--socket",
            &home.path().join("h.sock").display().to_string(),
        ])
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .env("DOCKER_CONFIG", &config)
        .env("HOME", home.path())
        .output()
        .expect("hearth doctor");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let check = |name: &str| {
        report["checks"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["check"] == name).cloned())
            .unwrap_or_default()
    };
    let line = check("engine");
    assert_eq!(line["status"], "ok", "{report}");
    let detail = line["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(&engine.host()), "{detail}");
    assert!(
        detail.contains("context \"private\", the current context in"),
        "{detail}"
    );
    assert_eq!(check("engine-api")["status"], "ok", "{report}");
    engine.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_engines_verify_by_docker_tls_verify_and_by_context_and_refuse_a_foreign_ca() {
    const NAME: &str =
        "tls_engines_verify_by_docker_tls_verify_and_by_context_and_refuse_a_foreign_ca";
    if !support::e2e(NAME) {
        return;
    }
    let home = tempfile::tempdir().expect("home");
    let certs = TestCerts::make(&home.path().join("certs"), free_port().expect("port"))
        .expect("certificates");
    let engine = private_dockerd(Some(&certs.server));
    let tcp = engine.tcp_host().expect("a TLS port").to_owned();
    let config = home.path().join("cli");

    // DOCKER_HOST=tcp://… with DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH.
    let mut i = inputs(home.path(), &config);
    i.docker_host = Some(tcp.clone());
    i.tls_verify = true;
    i.cert_path = Some(certs.client_dir.clone());
    let chosen = resolve(&i).expect("DOCKER_HOST with TLS");
    assert!(chosen.tls.is_some(), "{chosen}");
    assert!(root_dir(&Engine::new(chosen))
        .await
        .starts_with("/tmp/hkd-"));

    // A context whose TLS material is in the CLI's TLS store.
    let pems = (
        certs.ca_pem.as_str(),
        certs.client_cert_pem.as_str(),
        certs.client_key_pem.as_str(),
    );
    context::write(&config, "remote", &tcp, Some(pems)).expect("context");
    let mut i = inputs(home.path(), &config);
    i.docker_context = Some("remote".into());
    let chosen = resolve(&i).expect("the TLS context");
    assert_eq!(
        chosen.source,
        Source::EnvContext {
            name: "remote".into()
        }
    );
    assert!(root_dir(&Engine::new(chosen))
        .await
        .starts_with("/tmp/hkd-"));

    // A CA that did not sign the engine's certificate: refused, naming endpoint and reason.
    let mut i = inputs(home.path(), &config);
    i.docker_host = Some(tcp.clone());
    i.tls_verify = true;
    i.cert_path = Some(
        certs
            .with_foreign_ca(&home.path().join("foreign"))
            .expect("foreign CA"),
    );
    let err = Engine::new(resolve(&i).expect("resolves"))
        .client()
        .await
        .expect_err("a foreign CA must not verify");
    let msg = err.to_string();
    assert_eq!(err.code().as_str(), "docker_unavailable");
    assert!(msg.contains(&tcp), "names the endpoint: {msg}");
    assert!(
        msg.contains("certificate") && (msg.contains("UnknownIssuer") || msg.contains("issuer")),
        "says why: {msg}"
    );
    engine.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_context_reaches_a_private_podman_service() {
    const NAME: &str = "a_context_reaches_a_private_podman_service";
    // The private Podman service of the suite (`.ci/podman.sh start`, HEARTH_PODMAN_HOST).
    if !support::e2e(NAME) || !support::podman::e2e(NAME) {
        return;
    }
    let host = support::podman::host();
    let home = tempfile::tempdir().expect("home");
    let config = home.path().join("cli");
    context::write(&config, "podman", &host, None).expect("context");
    set_current(&config, "podman");
    let chosen = resolve(&inputs(home.path(), &config)).expect("the podman context");
    assert_eq!(chosen.host, host);
    let engine = Engine::new(chosen);
    let flavor = engine.flavor().await.expect("podman answers");
    assert_eq!(flavor.kind, hearth::driver::engine::EngineKind::Podman);
}

#[test]
fn the_probe_takes_the_first_well_known_socket_that_answers() {
    let home = tempfile::tempdir().expect("home");
    let run = home.path().join("run");
    let bind = |p: PathBuf| {
        std::fs::create_dir_all(p.parent().expect("parent")).expect("dir");
        UnixListener::bind(&p).expect("bind")
    };
    // Docker Desktop's socket is a stale file (its engine stopped): passed over.
    drop(bind(home.path().join(".docker/run/docker.sock")));
    let colima = bind(home.path().join(".colima/default/docker.sock"));
    let _podman = bind(run.join("podman/podman.sock"));
    let mut i = inputs(home.path(), &home.path().join(".docker"));
    i.xdg_runtime_dir = Some(run.clone());
    let chosen = resolve(&i).expect("probed");
    assert_eq!(chosen.source, Source::Probed { place: "colima" });
    assert!(
        chosen.host.ends_with(".colima/default/docker.sock"),
        "{chosen}"
    );
    assert!(chosen.to_string().contains("found by probing"), "{chosen}");

    // Rootless Docker comes first of all.
    let _rootless = bind(run.join("docker.sock"));
    assert_eq!(
        resolve(&i).expect("probed").source,
        Source::Probed {
            place: "rootless Docker"
        }
    );
    std::fs::remove_file(run.join("docker.sock")).expect("rm");
    drop(colima);
    std::fs::remove_file(home.path().join(".colima/default/docker.sock")).expect("rm");
    assert_eq!(
        resolve(&i).expect("probed").source,
        Source::Probed {
            place: "rootless Podman"
        }
    );

    // Something set beats the probe, even when what it names is missing: no fallback.
    i.docker_host = Some(format!("unix://{}/gone.sock", home.path().display()));
    let e = resolve(&i).expect_err("missing");
    assert!(matches!(e, ResolveError::MissingSocket { .. }), "{e}");
}

/// `hearth serve` with `envs`, expected to refuse to start: its stderr.
fn serve_refuses(envs: &[(&str, &Path)], home: &Path) -> String {
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--driver", "local-docker", "--instance", "t"])
        .args(["--socket", &home.join("h.sock").display().to_string()])
        .args(["--state-dir", &home.join("state").display().to_string()])
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .env("HOME", home);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("hearth serve");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(!home.join("h.sock").exists(), "it never served");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn serve_refuses_to_start_on_an_unknown_or_broken_context_or_a_missing_socket() {
    let home = tempfile::tempdir().expect("home");
    let config = home.path().join("cli");
    context::write(&config, "colima", "unix:///nowhere/docker.sock", None).expect("context");
    let cfg = [("DOCKER_CONFIG", config.as_path())];

    set_current(&config, "orbstack");
    let err = serve_refuses(&cfg, home.path());
    assert!(err.contains("context \"orbstack\""), "{err}");
    assert!(err.contains("meta.json"), "names the path: {err}");
    assert!(err.contains("hint:") && err.contains("colima"), "{err}");

    let meta = config.join("contexts/meta").join(context::digest("colima"));
    std::fs::write(meta.join("meta.json"), "{\"Endpoints\":").expect("break it");
    set_current(&config, "colima");
    let err = serve_refuses(&cfg, home.path());
    assert!(err.contains("meta.json does not parse"), "{err}");
    assert!(err.contains("hint:"), "{err}");

    let gone = home.path().join("gone.sock");
    let host = PathBuf::from(format!("unix://{}", gone.display()));
    let err = serve_refuses(&[("DOCKER_HOST", host.as_path())], home.path());
    assert!(
        err.contains(&format!("no engine socket at {}", gone.display())),
        "{err}"
    );
    assert!(
        err.contains("(DOCKER_HOST)"),
        "says why it looked there: {err}"
    );
    assert!(err.contains("hint: start the engine"), "{err}");
}

#[test]
fn serve_names_the_engine_and_why_in_its_start_line() {
    let home = tempfile::tempdir().expect("home");
    let engine_sock = home.path().join("e.sock");
    // A socket that is there (the engine behind it need not answer for the start line).
    let _listener = UnixListener::bind(&engine_sock).expect("bind");
    let socket = home.path().join("h.sock");
    let child = Command::new(BIN)
        .args(["serve", "--driver", "local-docker", "--instance", "t"])
        .args([
            "--docker-host",
            &format!("unix://{}", engine_sock.display()),
        ])
        .args(["--socket", &socket.display().to_string()])
        .args([
            "--state-dir",
            &home.path().join("state").display().to_string(),
        ])
        .env("HEARTH_LOG_FORMAT", "text")
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("hearth serve");
    let _ = hearth_testkit::daemon::wait_for_socket_blocking(
        &socket,
        std::time::Duration::from_secs(20),
    );
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid")),
        nix::sys::signal::Signal::SIGTERM,
    );
    let out = child.wait_with_output().expect("wait");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let want = format!(
        "engine unix://{} (the --docker-host flag)",
        engine_sock.display()
    );
    assert!(log.contains(&want), "{want} in:\n{log}");
}
