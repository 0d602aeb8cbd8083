//! hearth-standin: a std-only HTTP server that stands in for a workspace service image.
//!
//! By default it answers every request with `200 OK` and a small JSON body naming its role,
//! so hearth can prove a workspace is ready without any registry. Its knobs (`config.rs`,
//! each an environment variable and an argv flag) make it model real services: another
//! port, a TCP-only listener, a slow boot, a health path that answers 503 at first, a ready
//! line on stdout, a one-shot that exits with a chosen code, `/env` and `/peer`. It is
//! built as a static binary and shipped in a `FROM scratch` image (`make images` →
//! `hearth-standin:local`).
//!
//! Signals: the binary installs no handlers. Under an init process (hearth starts every
//! container with the engine's `init: true`) SIGTERM keeps its default disposition and ends
//! the process at once. Run as PID 1 without an init, the kernel ignores SIGTERM for it and
//! `docker stop` waits out its full timeout before SIGKILL.

mod accept;
mod config;
mod dns;
mod door;
mod http;
mod json;
mod oneshot;
mod peer;
mod routes;
mod say;
mod tcp;
mod volumes;

use crate::say::say;
use std::env;
use std::fs;
use std::io::{self, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use crate::config::{Config, ConfigError};
use crate::routes::Service;

/// The role's data volume, when hearth mounts one.
const DATA_DIR: &str = "/data";

fn main() {
    // Every delay counts from here, the closest the process gets to "container started".
    let start = Instant::now();
    let args: Vec<String> = env::args().skip(1).collect();
    // Two tools hearth's Swarm driver runs from this image, by subcommand: a workspace's
    // door (`forward`) and the removal of volumes on a worker node (`remove-volumes`).
    match args.first().map(String::as_str) {
        Some("forward") => {
            if let Err(err) = door::run(&args[1..]) {
                say!("hearth-standin: {err}");
                std::process::exit(2);
            }
            return;
        }
        Some("remove-volumes") => std::process::exit(volumes::run(&args[1..])),
        _ => {}
    }
    let config = match Config::parse(&args, &|k| env::var(k).ok()) {
        Ok(config) => config,
        Err(ConfigError::Help) => {
            print!("{}", config::usage());
            return;
        }
        Err(err) => {
            say!("hearth-standin: {err}");
            std::process::exit(2);
        }
    };
    let data = Path::new(DATA_DIR);
    mark_data_dir(data);
    if let Some(o) = &config.oneshot {
        let code = oneshot::run(o, &config.role, data, &mut io::stdout()).unwrap_or(1);
        std::process::exit(code.into());
    }
    if let Err(err) = run(&config, start, data) {
        say!("hearth-standin: {err}");
        std::process::exit(1);
    }
}

/// Waits out `LISTEN_DELAY_MS`, binds both listeners, schedules the ready line and serves.
fn run(config: &Config, start: Instant, data: &Path) -> Result<(), String> {
    thread::sleep(config.listen_delay.saturating_sub(start.elapsed()));
    let http_listener = bind(config.port)?;
    let tcp_listener = config.tcp_port.map(bind).transpose()?;
    say!(
        "hearth-standin: listening on 0.0.0.0:{} role={:?} health={} tcp={:?}",
        config.port,
        config.role,
        config.health_path,
        config.tcp_port
    );
    if let Some(listener) = tcp_listener {
        let mode = config.tcp_mode;
        thread::spawn(move || tcp::serve(listener, mode));
    }
    let healthy_at = start + config.health_delay;
    if let Some(line) = config.ready_line.clone() {
        // Both listeners are bound by now; the line waits for the health path to turn 200.
        thread::spawn(move || {
            thread::sleep(healthy_at.saturating_duration_since(Instant::now()));
            let mut out = io::stdout().lock();
            let _ = writeln!(out, "{line}").and_then(|()| out.flush());
        });
    }
    let env = env::vars_os().map(|(k, v)| {
        (
            k.to_string_lossy().into_owned(),
            v.to_string_lossy().into_owned(),
        )
    });
    let service = Service::new(
        &config.role,
        &config.health_path,
        healthy_at,
        env,
        data.to_path_buf(),
    );
    http::serve(http_listener, Arc::new(service));
    Ok(())
}

fn bind(port: u16) -> Result<TcpListener, String> {
    TcpListener::bind(("0.0.0.0", port))
        .map_err(|e| format!("cannot listen on 0.0.0.0:{port}: {e}"))
}

/// Creates `/data/.standin` when the data volume is mounted, proving it is writable.
/// Errors are ignored: the image must also run with no volume at all.
fn mark_data_dir(dir: &Path) {
    if dir.is_dir() {
        let _ = fs::write(dir.join(".standin"), b"hearth-standin\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpStream;

    /// The HTTP server with default knobs on a real socket, port 0.
    fn start(role: &str) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let service = Service::new(role, "/healthz", Instant::now(), [], env::temp_dir());
        thread::spawn(move || http::serve(listener, Arc::new(service)));
        addr
    }

    fn get(addr: std::net::SocketAddr, raw: &str) -> String {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(raw.as_bytes()).unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn answers_any_path_with_role_json_and_closes() {
        let addr = start("cairnet");
        let out = get(addr, "GET /anything HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.contains("Connection: close\r\n"), "{out}");
        let body = out.split("\r\n\r\n").nth(1).unwrap();
        assert_eq!(
            body,
            r#"{"ok":true,"role":"cairnet","service":"hearth-standin"}"#
        );
        let len: usize = out
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(len, body.len());
    }

    #[test]
    fn healthz_answers_ok() {
        let addr = start("lore");
        let out = get(addr, "GET /healthz HTTP/1.0\r\n\r\n");
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.ends_with("{\"ok\":true}"), "{out}");
    }

    #[test]
    fn post_with_body_is_answered() {
        let addr = start("lore");
        let out = get(addr, "POST /x HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}");
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.contains(r#""role":"lore""#), "{out}");
    }

    #[test]
    fn empty_request_is_bad_request() {
        let addr = start("lore");
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).unwrap();
        assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
    }

    #[test]
    fn data_dir_is_marked_when_present_and_ignored_when_absent() {
        let dir = std::env::temp_dir().join(format!("standin-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        mark_data_dir(&dir);
        assert_eq!(
            fs::read_to_string(dir.join(".standin")).unwrap(),
            "hearth-standin\n"
        );
        fs::remove_dir_all(&dir).unwrap();
        mark_data_dir(&dir.join("missing"));
        assert!(!dir.join("missing").exists());
    }
}
