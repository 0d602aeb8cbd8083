//! A private `dockerd` of a test's own, beside the machine's engine (see
//! `recipes/private-engines.md`): its own data and exec roots, containerd namespaces and
//! socket, `--bridge=none --iptables=false` so it never touches the machine's docker0 or
//! iptables, optionally `--tlsverify` on a loopback TCP port. Stopped by its pid (what is left
//! mounted under its root unmounted, its directories removed) by [`PrivateDockerd::stop`], by
//! its drop guard (also when a test panics), or, after a crash, by [`sweep`] of the run's
//! leftovers. Multi-node fixtures build on it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::certs::ServerTls;

/// Every private engine's directory starts so, under /tmp (unix socket paths must stay short).
const PREFIX: &str = "hkd-";
/// How long a fresh engine may take to answer.
const START_WAIT: Duration = Duration::from_secs(60);
/// How long it gets to stop after SIGTERM before SIGKILL.
const STOP_WAIT: Duration = Duration::from_secs(20);

/// A running private engine.
#[derive(Debug)]
pub struct PrivateDockerd {
    /// `/tmp/hkd-XXXX`: data root, pid file, log, socket, the run id it belongs to.
    dir: PathBuf,
    /// Its exec root (`/tmp/hkd-XXXX.x`), apart so containerd's socket paths stay short.
    exec_root: PathBuf,
    /// The dockerd process, waited for on stop.
    child: Option<Child>,
    /// `tcp://127.0.0.1:PORT` when it serves TLS.
    tcp: Option<String>,
    /// The network namespace it runs in (`/var/run/netns/NAME`), if not the machine's.
    netns: Option<String>,
    /// The TLS flags it was started with, so a restart serves the same.
    tls_args: Vec<std::ffi::OsString>,
}

impl PrivateDockerd {
    /// Starts an engine on a unix socket (and, with `tls`, on `tls.port` of 127.0.0.1 with
    /// `--tlsverify`), and waits until it answers.
    ///
    /// # Errors
    /// When dockerd cannot be started or does not answer in time (its log is in the error).
    pub fn start(tls: Option<&ServerTls>) -> anyhow::Result<PrivateDockerd> {
        Self::start_with(tls, None)
    }

    /// Starts an engine inside the network namespace `netns` (entered with `nsenter --net`,
    /// not `ip netns exec`, which would hide the cgroup mounts); its unix socket stays on the
    /// shared filesystem, so the machine's namespace still talks to it.
    ///
    /// # Errors
    /// As [`PrivateDockerd::start`].
    pub fn start_in(netns: &str) -> anyhow::Result<PrivateDockerd> {
        Self::start_with(None, Some(netns))
    }

    fn start_with(tls: Option<&ServerTls>, netns: Option<&str>) -> anyhow::Result<PrivateDockerd> {
        let dir = tempfile::Builder::new()
            .prefix(PREFIX)
            .tempdir_in("/tmp")
            .context("a directory for a private dockerd")?
            .keep();
        let mut engine = PrivateDockerd {
            exec_root: PathBuf::from(format!("{}.x", dir.display())),
            dir,
            child: None,
            tcp: tls.map(|t| format!("tcp://127.0.0.1:{}", t.port)),
            netns: netns.map(str::to_owned),
            tls_args: Vec::new(),
        };
        std::fs::write(engine.dir.join("run"), crate::run::test_run())?;
        std::fs::write(engine.dir.join("daemon.json"), "{}")?;
        if let Some(t) = tls {
            engine.tls_args = [
                "--tlsverify".into(),
                "--tlscacert".into(),
                t.ca.clone().into_os_string(),
                "--tlscert".into(),
                t.cert.clone().into_os_string(),
                "--tlskey".into(),
                t.key.clone().into_os_string(),
                "-H".into(),
                format!("tcp://127.0.0.1:{}", t.port).into(),
            ]
            .into();
        }
        engine.spawn()?;
        Ok(engine)
    }

    /// Starts (or starts again) the dockerd process on this engine's directories, and waits
    /// until it answers.
    fn spawn(&mut self) -> anyhow::Result<()> {
        let engine = self;
        let id = engine.id();
        let mut cmd = match &engine.netns {
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/var/run/netns/{ns}")).arg("dockerd");
                c
            }
            None => Command::new("dockerd"),
        };
        cmd.arg("--data-root")
            .arg(engine.dir.join("data"))
            .arg("--exec-root")
            .arg(&engine.exec_root)
            .arg("--pidfile")
            .arg(engine.dir.join("pid"))
            .arg("--config-file")
            .arg(engine.dir.join("daemon.json"))
            .args(["--containerd-namespace", &format!("hkd-{id}")])
            .args(["--containerd-plugins-namespace", &format!("hkd-{id}-p")])
            .args(["--iptables=false", "--bridge=none"])
            .arg("-H")
            .arg(engine.host())
            .args(&engine.tls_args);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(engine.dir.join("log"))?;
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        engine.child = Some(cmd.spawn().context("start dockerd (is it installed?)")?);
        engine.wait_until_it_answers()
    }

    /// Kills the engine with SIGKILL, as a lost machine: dockerd, its containerd, the shims
    /// and the processes of its containers; its directories stay, so
    /// [`PrivateDockerd::restart`] brings the same node back.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        kill_leftovers(&self.exec_root);
        kill_containers(&self.dir.join("data").join("containers"));
    }

    /// Starts the engine again on the same data root, socket and namespace (after
    /// [`PrivateDockerd::kill`]).
    ///
    /// # Errors
    /// As [`PrivateDockerd::start`].
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        // The killed engine's containerd still holds its socket and pid file.
        kill_leftovers(&self.exec_root);
        let _ = std::fs::remove_file(self.dir.join("pid"));
        self.spawn()
    }

    /// The part of its directory name that tells it from the others.
    fn id(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().trim_start_matches(PREFIX).to_owned())
            .unwrap_or_default()
    }

    /// Its unix socket's path.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("d.sock")
    }

    /// `unix://…/d.sock`: what `DOCKER_HOST` takes.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    /// `tcp://127.0.0.1:PORT`, when it serves TLS.
    pub fn tcp_host(&self) -> Option<&str> {
        self.tcp.as_deref()
    }

    /// The docker CLI pointed at this engine's socket.
    pub fn cli(&self) -> Command {
        let mut c = Command::new("docker");
        c.env("DOCKER_HOST", self.host())
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY");
        c
    }

    fn wait_until_it_answers(&mut self) -> anyhow::Result<()> {
        let start = Instant::now();
        while start.elapsed() < START_WAIT {
            let ok = self
                .cli()
                .args(["version", "--format", "{{.Server.Version}}"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!("dockerd exited ({status}): {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        bail!(
            "dockerd did not answer within {START_WAIT:?}: {}",
            self.log()
        )
    }

    /// The engine's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// Copies `image` from the machine's engine into this one (`docker save | docker load`).
    ///
    /// # Errors
    /// When either side fails.
    pub fn load_image(&self, image: &str) -> anyhow::Result<()> {
        let mut save = Command::new("docker")
            .args(["save", image])
            .env_remove("DOCKER_HOST")
            .stdout(Stdio::piped())
            .spawn()
            .context("docker save")?;
        let out = save.stdout.take().context("docker save's output")?;
        let load = self
            .cli()
            .arg("load")
            .stdin(out)
            .output()
            .context("docker load")?;
        let saved = save.wait()?;
        if !saved.success() || !load.status.success() {
            bail!(
                "copying {image} into the private engine failed: {}",
                String::from_utf8_lossy(&load.stderr)
            );
        }
        Ok(())
    }

    /// Stops the engine by its pid and removes everything it had.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(child.id());
            let start = Instant::now();
            while child.try_wait().ok().flatten().is_none() {
                if start.elapsed() > STOP_WAIT {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        kill_leftovers(&self.exec_root);
        remove(&self.dir, &self.exec_root);
    }
}

impl Drop for PrivateDockerd {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// SIGTERM to `pid`.
fn terminate(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
}

/// Kills (SIGKILL) the processes an engine left when it was killed itself: its containerd and
/// the shims of its containers, told apart from every other process by the engine's own exec
/// root in their command line (a path made for this engine alone).
fn kill_leftovers(exec_root: &Path) {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return;
    };
    let needle = exec_root.to_string_lossy().into_owned();
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let cmdline = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(&needle) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// Kills (SIGKILL) every process in the cgroup of a container whose ID is a directory under
/// `containers` (an engine's own container list: its IDs are no other engine's).
fn kill_containers(containers: &Path) {
    let ids: Vec<String> = std::fs::read_dir(containers)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.len() == 64)
                .collect()
        })
        .unwrap_or_default();
    if ids.is_empty() {
        return;
    }
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return;
    };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let cgroup = std::fs::read_to_string(p.path().join("cgroup")).unwrap_or_default();
        if ids.iter().any(|id| cgroup.contains(id.as_str())) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// Unmounts whatever is left mounted under `dir` or `exec_root` (deepest first), then
/// removes both.
fn remove(dir: &Path, exec_root: &Path) {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut under: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| Path::new(m).starts_with(dir) || Path::new(m).starts_with(exec_root))
        .collect();
    under.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in under {
        let _ = Command::new("umount").args(["-l", m]).status();
    }
    let _ = std::fs::remove_dir_all(exec_root);
    let _ = std::fs::remove_dir_all(dir);
}

/// Stops and removes every private engine this test run (`run`) left behind: a crashed test
/// never ran its drop guard. Returns how many were swept.
pub fn sweep(run: &str) -> usize {
    let Ok(entries) = std::fs::read_dir("/tmp") else {
        return 0;
    };
    let mut swept = 0;
    for e in entries.flatten() {
        let dir = e.path();
        let ours = dir
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(PREFIX))
            && dir.is_dir()
            && std::fs::read_to_string(dir.join("run")).is_ok_and(|r| r == run);
        if !ours {
            continue;
        }
        let pid = std::fs::read_to_string(dir.join("pid"))
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok());
        if let Some(pid) = pid.filter(|p| is_dockerd(*p)) {
            terminate(pid);
            let start = Instant::now();
            while Path::new(&format!("/proc/{pid}")).exists() && start.elapsed() < STOP_WAIT {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let exec_root = PathBuf::from(format!("{}.x", dir.display()));
        kill_leftovers(&exec_root);
        remove(&dir, &exec_root);
        swept += 1;
    }
    swept
}

/// Whether `pid` is a dockerd (a stale pid file may name a reused pid).
fn is_dockerd(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "dockerd")
}
