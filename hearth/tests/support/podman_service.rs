//! A short-lived private Podman service of a test's own (`.ci/podman.sh start` on a fresh
//! directory) whose registries.conf the test writes: Podman refuses a plain-HTTP registry
//! unless a registries config marks it `insecure`, and a test must never touch the machine's
//! `/etc/containers/registries.conf`. Stopped (by its PID, every object removed, its root
//! deleted) when dropped, also during a panic.
//!
//! Self-contained (std, tempfile), so it can move to a shared test kit.

use std::path::PathBuf;
use std::process::Command;

/// `.ci/podman.sh`, which starts and stops the service.
fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.ci/podman.sh")
}

/// The registries.conf for `insecure` registries (`HOST:PORT`, plain HTTP): no short-name
/// search, one `[[registry]]` entry each.
pub fn registries_conf(insecure: &[&str]) -> String {
    let mut conf = String::from("unqualified-search-registries = []\n");
    for host in insecure {
        conf.push_str(&format!(
            "\n[[registry]]\nlocation = \"{host}\"\ninsecure = true\n"
        ));
    }
    conf
}

/// A running private Podman service.
#[derive(Debug)]
pub struct PodmanService {
    /// `unix://DIR/podman.sock`: what `DOCKER_HOST` takes.
    pub host: String,
    /// Its private root, config and socket; `.ci/podman.sh stop` deletes it.
    dir: PathBuf,
}

impl PodmanService {
    /// Starts a service whose registries.conf lists `insecure` as plain-HTTP registries.
    ///
    /// # Panics
    /// When the service does not start; its log is in the message.
    pub fn start(insecure: &[&str]) -> PodmanService {
        // Short, under /tmp: the socket path must stay under the unix limit.
        let dir = tempfile::Builder::new()
            .prefix("hearth-podman-reg.")
            .tempdir_in("/tmp")
            .expect("tempdir")
            .keep();
        // Built first, so that a failed start below is still stopped and removed on drop.
        let service = PodmanService {
            host: format!("unix://{}", dir.join("podman.sock").display()),
            dir,
        };
        let conf = PathBuf::from(format!("{}.registries.conf", service.dir.display()));
        std::fs::write(&conf, registries_conf(insecure)).expect("write registries.conf");
        let out = Command::new("bash")
            .arg(script())
            .arg("start")
            .arg(&service.dir)
            .env("CONTAINERS_REGISTRIES_CONF", &conf)
            .output()
            .expect("bash .ci/podman.sh start");
        let _ = std::fs::remove_file(&conf);
        assert!(
            out.status.success(),
            "a private Podman service did not start: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(service.dir.join("service.log")).unwrap_or_default()
        );
        service
    }
}

impl Drop for PodmanService {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(&self.dir)
            .output();
    }
}
