//! Child processes of the play: spawned with an empty environment (only PATH, a fresh HOME
//! and what the caller passes explicitly), stderr kept in a file for diagnoses, the
//! `listening http://…` line read from stdout, and stopped (SIGTERM, then SIGKILL) on drop.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::listening;
use anyhow::{bail, Context};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// How long a stopped child gets to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A command with nothing inherited from the caller's environment but `PATH`: no credentials
/// of any kind can be found by a process started from it. Its proxy variables point at the
/// [`canary`](crate::canary), so a process that would follow them is caught.
pub fn clean_command(program: &Path, home: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .envs(crate::canary::proxy_env())
        .current_dir(home)
        .stdin(Stdio::null());
    cmd
}

/// A running child, stopped when dropped.
#[derive(Debug)]
pub struct Proc {
    /// What it is, for messages (`hearth`, `worker-stub`, `console`).
    pub name: String,
    /// The URL of its `listening` line ([`Proc::spawn_listening`]); empty otherwise.
    pub url: String,
    child: Child,
    /// Everything the child wrote to stderr.
    stderr_path: PathBuf,
}

impl Proc {
    /// Spawns `cmd` with stdout discarded and stderr to `log_dir/NAME.stderr`.
    ///
    /// # Errors
    /// When the program cannot be started.
    pub fn spawn(name: &str, mut cmd: Command, log_dir: &Path) -> anyhow::Result<Proc> {
        let stderr_path = log_dir.join(format!("{name}.stderr"));
        let stderr = std::fs::File::create(&stderr_path)
            .with_context(|| format!("cannot create {}", stderr_path.display()))?;
        cmd.stdout(Stdio::null()).stderr(stderr);
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {name} ({:?})", cmd.get_program()))?;
        Ok(Proc {
            name: name.to_owned(),
            url: String::new(),
            child,
            stderr_path,
        })
    }

    /// Spawns `cmd` and waits (up to `deadline`) for its first stdout line, which must be
    /// `listening http://ADDR`; returns the child and the URL. The rest of stdout is copied
    /// in the background to `log_dir/NAME.stdout` (the console prints its `ui` line there), so the child
    /// never blocks on a full pipe.
    ///
    /// # Errors
    /// When the child exits, prints something else, or stays silent past `deadline`; the
    /// message carries the tail of its stderr.
    pub fn spawn_listening(
        name: &str,
        mut cmd: Command,
        log_dir: &Path,
        deadline: Duration,
    ) -> anyhow::Result<(Proc, String)> {
        let stderr_path = log_dir.join(format!("{name}.stderr"));
        let stderr = std::fs::File::create(&stderr_path)
            .with_context(|| format!("cannot create {}", stderr_path.display()))?;
        cmd.stdout(Stdio::piped()).stderr(stderr);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {name} ({:?})", cmd.get_program()))?;
        let stdout = child.stdout.take().context("stdout was not piped")?;
        let stdout_path = log_dir.join(format!("{name}.stdout"));
        let rest = std::fs::File::create(&stdout_path)
            .with_context(|| format!("cannot create {}", stdout_path.display()))?;
        let mut proc = Proc {
            name: name.to_owned(),
            url: String::new(),
            child,
            stderr_path,
        };
        match listening::wait(stdout, rest, deadline) {
            Ok(url) => {
                proc.url.clone_from(&url);
                Ok((proc, url))
            }
            Err(e) => bail!("{name} {e}{}", proc.diagnose()),
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The child itself, for a test that signals or reaps it on its own.
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Whether the child has exited (and how), without waiting.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last `max` bytes of the child's stderr.
    pub fn stderr_tail(&self, max: usize) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.stderr_path) {
            let _ = f.read_to_string(&mut text);
        }
        if text.len() > max {
            let mut start = text.len() - max;
            while !text.is_char_boundary(start) {
                start += 1;
            }
            text = format!("…{}", &text[start..]);
        }
        text
    }

    /// Exit status (if any) and stderr tail, formatted to append to an error message.
    pub fn diagnose(&mut self) -> String {
        let status = match self.exited() {
            Some(s) => format!("; it exited ({s})"),
            None => String::new(),
        };
        format!(
            "{status}\n--- {} stderr ({}) ---\n{}",
            self.name,
            self.stderr_path.display(),
            self.stderr_tail(4000)
        )
    }

    /// SIGTERM, a bounded wait, then SIGKILL.
    pub fn stop(&mut self) {
        if self.exited().is_some() {
            return;
        }
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let until = Instant::now() + STOP_GRACE;
        while Instant::now() < until {
            if self.exited().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}
