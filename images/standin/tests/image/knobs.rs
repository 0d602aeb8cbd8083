//! The image's knobs on the real engine, one scenario each: the port flag over `PORT` and
//! a TCP echo listener, a slow boot a TCP probe can tell from docker-proxy, a health path
//! that answers 503 before its delay and the ready line after, a one-shot's exit code, log
//! and marker, `/env` and `/peer` across a workspace network, and a bad knob's exit 2.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::{
    body, docker, engine, exit_code, get, host_port, host_port_of, label, run_with, stderr_of,
    stdout_of, Network, Running,
};

/// The TCP ports something listens on inside the container's network namespace, read from
/// `/proc/<pid>/net/tcp{,6}` on the host: what a TCP probe must look at, since the published
/// port accepts through docker-proxy before anything listens inside.
fn listening(c: &Running) -> Vec<u16> {
    let pid = docker(&["inspect", "--format", "{{.State.Pid}}", &c.id]).expect("inspect pid");
    let mut ports = Vec::new();
    for table in ["tcp", "tcp6"] {
        let text = fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // Columns: sl local_address rem_address st …; st 0A is LISTEN. Docker's embedded
            // DNS listens on 127.0.0.11 (0B00007F) in every container of a user network.
            let dns = cols.get(1).is_some_and(|a| a.starts_with("0B00007F:"));
            if cols.get(3) == Some(&"0A") && !dns {
                let port = cols[1].rsplit_once(':').map(|(_, p)| p).unwrap_or("");
                ports.push(u16::from_str_radix(port, 16).expect("hex port"));
            }
        }
    }
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// Sends a line to a TCP port until something comes back (docker-proxy accepts, then closes
/// while nothing listens inside).
fn echo(port: u16, line: &str) -> String {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let got = TcpStream::connect(("127.0.0.1", port)).and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(2)))?;
            s.write_all(line.as_bytes())?;
            let mut out = String::new();
            s.read_to_string(&mut out)?;
            Ok(out)
        });
        match got {
            Ok(out) if !out.is_empty() => return out,
            _ if Instant::now() < until => std::thread::sleep(Duration::from_millis(20)),
            other => panic!("TCP 127.0.0.1:{port} never echoed: {other:?}"),
        }
    }
}

#[test]
fn port_flag_wins_over_env_and_the_tcp_listener_echoes() {
    if engine().is_none() {
        return;
    }
    let env = [
        "--init",
        "-e",
        "PORT=8080",
        "-e",
        "TCP_PORT=9000",
        "-e",
        "TCP_MODE=echo",
    ];
    let c = run_with(&[8081, 9000], &env, &["--port", "8081"], None);
    let out = get(host_port_of(&c, 8081), "/");
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert_eq!(echo(host_port_of(&c, 9000), "ping\n"), "ping\n");
    assert_eq!(
        listening(&c),
        [8081, 9000],
        "PORT=8080 must lose to --port 8081"
    );
}

#[test]
fn listen_delay_leaves_nothing_listening_inside_while_docker_proxy_accepts() {
    if engine().is_none() {
        return;
    }
    let t0 = Instant::now();
    let env = [
        "--init",
        "-e",
        "LISTEN_DELAY_MS=2500",
        "-e",
        "TCP_PORT=9000",
    ];
    let c = run_with(&[80, 9000], &env, &[], None);
    let port = host_port(&c);
    assert_eq!(
        listening(&c),
        Vec::<u16>::new(),
        "listening before LISTEN_DELAY_MS"
    );
    // The published port is docker-proxy's: it may accept, but no HTTP answer comes back.
    if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let _ = s.write_all(b"GET / HTTP/1.1\r\n\r\n");
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        assert!(
            out.is_empty(),
            "answered before listening: {:?}",
            String::from_utf8_lossy(&out)
        );
    }
    assert!(get(port, "/").starts_with("HTTP/1.1 200 OK\r\n"));
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(2000),
        "answered after {took:?}"
    );
    assert_eq!(listening(&c), [80, 9000]);
}

#[test]
fn health_path_answers_503_until_its_delay_then_200_and_the_ready_line_follows() {
    if engine().is_none() {
        return;
    }
    let t0 = Instant::now();
    let env = [
        "--init",
        "-e",
        "HEALTH_DELAY_MS=2000",
        "-e",
        "READY_LINE=lore is ready",
    ];
    let c = run_with(&[80], &env, &["--health-path", "/ready"], None);
    let port = host_port(&c);
    let first = get(port, "/ready");
    assert!(
        first.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{first}"
    );
    assert!(
        body(&first).starts_with(r#"{"ok":false,"ready_in_ms":"#),
        "{first}"
    );
    assert!(
        !stdout_of(&c).contains("lore is ready"),
        "ready line before the health delay"
    );
    assert!(
        get(port, "/healthz").starts_with("HTTP/1.1 200 OK\r\n"),
        "liveness stays 200"
    );
    let healthy = loop {
        let out = get(port, "/ready");
        if out.starts_with("HTTP/1.1 200 OK\r\n") {
            break t0.elapsed();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "never turned 200: {out}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        healthy >= Duration::from_millis(1500),
        "200 after only {healthy:?}"
    );
    let until = Instant::now() + Duration::from_secs(3);
    while !stdout_of(&c).lines().any(|l| l == "lore is ready") {
        assert!(
            Instant::now() < until,
            "no ready line on stdout: {:?}",
            stdout_of(&c)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn oneshot_exits_with_its_code_after_its_log_and_leaves_a_marker_another_role_reads() {
    if engine().is_none() {
        return;
    }
    let volume = format!("hearth-standin-test-oneshot-{}", std::process::id());
    docker(&["volume", "create", "--label", &label(), &volume]).expect("volume create");
    let mount = format!("{volume}:/data");
    let env = [
        "--init",
        "-v",
        &mount,
        "-e",
        "HEARTH_ROLE=migrate",
        "-e",
        "ONESHOT_LINES=30",
    ];
    let t0 = Instant::now();
    let job = run_with(
        &[],
        &env,
        &["--oneshot-exit", "3", "--oneshot-ms", "600"],
        Some(volume),
    );
    assert_eq!(exit_code(&job), 3);
    assert!(
        t0.elapsed() >= Duration::from_millis(600),
        "{:?}",
        t0.elapsed()
    );
    let tail = docker(&["logs", "--tail", "20", &job.id]).expect("docker logs");
    let tail: Vec<&str> = tail.lines().collect();
    assert_eq!(tail.len(), 20, "{tail:?}");
    assert_eq!(tail[0], "hearth-standin: oneshot work 13/30");
    assert_eq!(tail[19], "hearth-standin: oneshot done, exit 3");
    assert_eq!(stdout_of(&job).lines().count(), 33);
    // A service role mounting the same volume sees the migration's trace.
    let svc = run_with(&[80], &["--init", "-v", &mount], &[], None);
    let out = get(host_port(&svc), "/data/.standin-oneshot");
    assert_eq!(
        body(&out),
        r#"{"ok":true,"name":".standin-oneshot","text":"role=migrate exit=3\n"}"#
    );
    drop(svc);
}

#[test]
fn env_echoes_references_and_peer_reaches_another_role_by_name() {
    if engine().is_none() {
        return;
    }
    let net = Network::create("peer");
    let on_net = format!("--network={}", net.0);
    let lore_env = [
        "--init",
        &on_net,
        "--network-alias",
        "lore",
        "-e",
        "HEARTH_ROLE=lore",
    ];
    let _lore = run_with(&[], &lore_env, &["--port", "9000"], None);
    let cairnet_env = [
        "--init",
        &on_net,
        "-e",
        "HEARTH_ROLE=cairnet",
        "-e",
        "LORE_URL=http://lore:9000",
    ];
    let cairnet = run_with(&[80], &cairnet_env, &[], None);
    let port = host_port(&cairnet);
    assert_eq!(
        body(&get(port, "/env?prefix=LORE_")),
        r#"{"LORE_URL":"http://lore:9000"}"#
    );
    assert!(body(&get(port, "/env")).contains(r#""HEARTH_ROLE":"cairnet""#));

    let out = get(port, "/peer?url=http://lore:9000/");
    assert_eq!(
        body(&out),
        r#"{"ok":true,"url":"http://lore:9000/","status":200,"body":"{\"ok\":true,\"role\":\"lore\",\"service\":\"hearth-standin\"}"}"#
    );
    let out = get(port, "/peer?url=http%3A%2F%2Fnosuch-role%3A9000%2F");
    assert!(out.starts_with("HTTP/1.1 502 Bad Gateway\r\n"), "{out}");
    assert!(
        body(&out).contains(r#"cannot resolve \"nosuch-role\""#),
        "{out}"
    );
}

#[test]
fn a_bad_knob_exits_2_naming_it() {
    if engine().is_none() {
        return;
    }
    let c = run_with(&[], &["-e", "HEALTH_DELAY_MS=soon"], &[], None);
    assert_eq!(exit_code(&c), 2);
    let stderr = stderr_of(&c);
    assert!(
        stderr
            .contains(r#"hearth-standin: HEALTH_DELAY_MS: "soon" is not a number of milliseconds"#),
        "{stderr}"
    );
}
