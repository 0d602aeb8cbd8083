//! The play's two HTTP servers as the tests and the bench start them: the arguments of
//! `worker-stub serve` and `console serve` (port 0, the shared keys, state in a directory
//! of the caller's), and the fresh secret a keys file holds. How the command runs (its
//! environment, where its output goes) stays the caller's.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `worker-stub serve --listen 127.0.0.1:0 --keys KEYS --state-dir STATE [--fault F]…`.
pub fn worker_serve<S: AsRef<str>>(cmd: &mut Command, keys: &Path, state: &Path, faults: &[S]) {
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--keys"])
        .arg(keys)
        .arg("--state-dir")
        .arg(state);
    for f in faults {
        cmd.args(["--fault", f.as_ref()]);
    }
}

/// What `console serve` is pointed at.
#[derive(Debug, Clone)]
pub struct ConsoleServe {
    /// hearth's socket.
    pub hearth_socket: PathBuf,
    /// The worker's base URL.
    pub worker_url: String,
    /// The keys file the console signs with.
    pub keys: PathBuf,
    /// The HATCH log it writes.
    pub hatch: PathBuf,
    /// Its `--state-dir` (the token and URL files).
    pub state_dir: PathBuf,
}

impl ConsoleServe {
    /// `console serve --listen 127.0.0.1:0 --hearth-socket … --worker-url … --keys …
    /// --hatch … --state-dir …`.
    pub fn apply(&self, cmd: &mut Command) {
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--hearth-socket"])
            .arg(&self.hearth_socket)
            .args(["--worker-url", &self.worker_url, "--keys"])
            .arg(&self.keys)
            .arg("--hatch")
            .arg(&self.hatch)
            .arg("--state-dir")
            .arg(&self.state_dir);
    }

    /// The admin token the console wrote into its state dir.
    ///
    /// # Errors
    /// When the file cannot be read.
    pub fn token(&self) -> std::io::Result<String> {
        std::fs::read_to_string(self.state_dir.join("console.token")).map(|t| t.trim().to_owned())
    }
}

/// A fresh 256-bit secret in hex, for a keys file (`NAME:SECRET`).
pub fn secret() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_fresh_hex() {
        let (a, b) = (secret(), secret());
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn the_worker_gets_each_fault() {
        let mut cmd = Command::new("worker-stub");
        worker_serve(&mut cmd, Path::new("/k"), Path::new("/s"), &["a=1", "b"]);
        let args: Vec<_> = cmd.get_args().map(|a| a.to_string_lossy()).collect();
        assert_eq!(
            args,
            [
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--keys",
                "/k",
                "--state-dir",
                "/s",
                "--fault",
                "a=1",
                "--fault",
                "b"
            ]
        );
    }
}
