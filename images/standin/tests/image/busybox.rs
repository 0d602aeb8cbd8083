//! `hearth-busybox:local` (Debian's busybox-static httpd, `FROM scratch`) on the real
//! engine: it serves `/healthz` and 404s, runs a template's command on another port or as a
//! one-shot with an exit code, and the stand-in reaches it by name with `/peer`.

use super::{
    body, docker, engine, engine_with, exit_code, get, host_port, host_port_of, label, run_image,
    run_with, stderr_of, Network,
};

fn busybox() -> String {
    std::env::var("BUSYBOX_TAG").unwrap_or_else(|_| "hearth-busybox:local".to_owned())
}

#[test]
fn busybox_httpd_serves_healthz_and_logs_each_request() {
    if engine_with(&busybox()).is_none() {
        return;
    }
    let c = run_image(&busybox(), &[80], &["--init"], &[], None);
    let port = host_port(&c);
    let out = get(port, "/healthz");
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert_eq!(body(&out), "ok\n");
    assert!(get(port, "/missing").starts_with("HTTP/1.1 404 Not Found\r\n"));
    assert!(body(&get(port, "/")).contains("hearth-busybox"));
    // -v logs one line per request on stderr: what a `log` probe would match.
    let stderr = stderr_of(&c);
    assert!(
        stderr.contains("response:200") && stderr.contains("response:404"),
        "{stderr}"
    );
}

#[test]
fn busybox_runs_a_templates_command_on_another_port_and_as_a_oneshot() {
    if engine_with(&busybox()).is_none() {
        return;
    }
    let web = run_image(
        &busybox(),
        &[8080],
        &["--init"],
        &["httpd", "-f", "-p", "8080", "-h", "/www"],
        None,
    );
    assert_eq!(body(&get(host_port_of(&web, 8080), "/healthz")), "ok\n");

    let volume = format!("hearth-standin-test-busybox-{}", std::process::id());
    docker(&["volume", "create", "--label", &label(), &volume]).expect("volume create");
    let mount = format!("{volume}:/data");
    let script = "echo migrating; sleep 0.2; echo v2 > /data/schema; echo done; exit 4";
    let job = run_image(
        &busybox(),
        &[],
        &["-v", &mount],
        &["sh", "-c", script],
        Some(volume),
    );
    assert_eq!(exit_code(&job), 4);
    assert_eq!(
        docker(&["logs", &job.id]).expect("docker logs"),
        "migrating\ndone"
    );
    let tar = docker(&["cp", &format!("{}:/data/schema", job.id), "-"]).expect("docker cp");
    assert!(tar.contains("v2"), "{tar:?}");
}

#[test]
fn the_standin_reaches_busybox_by_name_on_a_network() {
    if engine().is_none() || engine_with(&busybox()).is_none() {
        return;
    }
    let net = Network::create("busybox");
    let on_net = format!("--network={}", net.0);
    let _web = run_image(
        &busybox(),
        &[],
        &["--init", &on_net, "--network-alias", "web"],
        &[],
        None,
    );
    let probe = run_with(&[80], &["--init", &on_net], &[], None);
    let out = get(host_port(&probe), "/peer?url=http://web/healthz");
    assert_eq!(
        body(&out),
        r#"{"ok":true,"url":"http://web/healthz","status":200,"body":"ok\n"}"#
    );
}
