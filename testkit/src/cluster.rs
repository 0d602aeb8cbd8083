//! A multi-node swarm of private test hosts on this one machine (`recipes/private-engines.md`):
//! N private engines, each in a network namespace of its own named after the test run, joined
//! by a bridge in a switch namespace, a swarm formed between them (the first a manager, the
//! others workers), the test image loaded on each. Nothing sent inside the namespaces can
//! leave the machine (they have no default route), and the machine's own engine and swarm are
//! never touched.
//!
//! Torn down completely by [`Cluster::stop`] or its drop guard (also when a test panics):
//! every node leaves the swarm, every engine stops by its pid, what is left mounted is
//! unmounted, the namespaces are deleted. A crashed run's leftovers are found by the run id
//! and removed by [`sweep`].

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{bail, Context};

use crate::dockerd::{self, PrivateDockerd};

/// The prefix of every namespace a cluster makes: `hkc-<run>-<tag>-sw|n1|n2…`.
const NETNS_PREFIX: &str = "hkc-";
/// The subnet the nodes share on the switch (each cluster has its own switch, so clusters of
/// concurrent runs never meet).
const SUBNET: &str = "10.231.7";
/// The swarm's dispatcher heartbeat period (`docker swarm init --dispatcher-heartbeat`).
pub const HEARTBEAT: &str = "2s";

/// One test host: its namespace, its engine, its address on the switch and its swarm node ID.
#[derive(Debug)]
pub struct Node {
    pub netns: String,
    pub engine: PrivateDockerd,
    pub addr: String,
    pub node_id: String,
}

impl Node {
    /// The docker CLI pointed at this node's engine.
    pub fn cli(&self) -> Command {
        self.engine.cli()
    }

    /// `docker ARGS` on this node; its trimmed stdout.
    ///
    /// # Errors
    /// When the command fails (its stderr is in the error).
    pub fn docker(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.cli().args(args).output().context("run docker")?;
        if !out.status.success() {
            bail!(
                "docker {} on {}: {}",
                args.join(" "),
                self.netns,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }
}

/// Held by the live cluster of this process: one at a time (three engines each are heavy), and
/// the sweep of the run's leftovers that starts a cluster must not take another's namespaces.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A running cluster; node 0 is the manager.
#[derive(Debug)]
pub struct Cluster {
    /// Released (after the teardown in `Drop`) for the next cluster of this process.
    _one: std::sync::MutexGuard<'static, ()>,
    /// The namespaces' common stem, `hkc-<run>-<tag>`.
    stem: String,
    pub nodes: Vec<Node>,
    /// Set once torn down, so the drop guard does nothing more.
    stopped: bool,
}

/// The run id as it can stand in a namespace name.
fn run_stem(run: &str) -> String {
    let clean: String = run
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("{NETNS_PREFIX}{clean}-")
}

fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("run ip (iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// `ip -n NETNS ARGS`.
fn ip_in(netns: &str, args: &[&str]) -> anyhow::Result<()> {
    let mut all = vec!["-n", netns];
    all.extend_from_slice(args);
    ip(&all)
}

impl Cluster {
    /// Starts `nodes` engines (at least 2: one manager, the rest workers), forms the swarm and
    /// loads `image` from the machine's engine on each. Waits for this process's previous
    /// cluster to be gone, then sweeps what a crashed run with this run's id left.
    ///
    /// # Errors
    /// When a namespace, an engine, the swarm or the image load fails; what was made is torn
    /// down before the error returns.
    pub fn start(nodes: usize, image: &str) -> anyhow::Result<Cluster> {
        anyhow::ensure!(nodes >= 2, "a cluster has at least two nodes");
        let one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        let run = crate::run::test_run();
        sweep(&run);
        let tag: String = format!("{:06x}", rand::random::<u32>() & 0xff_ffff);
        let mut cluster = Cluster {
            _one: one,
            stem: format!("{}{tag}", run_stem(&run)),
            nodes: Vec::new(),
            stopped: false,
        };
        cluster.wire(nodes, &tag)?;
        cluster.form()?;
        cluster.load(image)?;
        Ok(cluster)
    }

    fn switch(&self) -> String {
        format!("{}-sw", self.stem)
    }

    /// The switch namespace with its bridge, then each node's namespace, veth pair, address
    /// and engine.
    fn wire(&mut self, nodes: usize, tag: &str) -> anyhow::Result<()> {
        let sw = self.switch();
        ip(&["netns", "add", &sw])?;
        ip_in(&sw, &["link", "add", "br0", "type", "bridge"])?;
        ip_in(&sw, &["link", "set", "br0", "up"])?;
        for n in 1..=nodes {
            let ns = format!("{}-n{n}", self.stem);
            // Interface names are at most 15 bytes: `hk<tag>n<N>a|b`.
            let (a, b) = (format!("hk{tag}n{n}a"), format!("hk{tag}n{n}b"));
            let addr = format!("{SUBNET}.{n}");
            ip(&["netns", "add", &ns])?;
            ip(&["link", "add", &a, "type", "veth", "peer", "name", &b])?;
            ip(&["link", "set", &a, "netns", &sw])?;
            ip_in(&sw, &["link", "set", &a, "master", "br0"])?;
            ip_in(&sw, &["link", "set", &a, "up"])?;
            ip(&["link", "set", &b, "netns", &ns])?;
            ip_in(&ns, &["addr", "add", &format!("{addr}/24"), "dev", &b])?;
            ip_in(&ns, &["link", "set", &b, "up"])?;
            ip_in(&ns, &["link", "set", "lo", "up"])?;
            let engine = PrivateDockerd::start_in(&ns)
                .with_context(|| format!("the engine of node {n} ({ns})"))?;
            std::fs::write(engine_dir(&engine).join("netns"), &ns)?;
            self.nodes.push(Node {
                netns: ns,
                engine,
                addr,
                node_id: String::new(),
            });
        }
        Ok(())
    }

    /// `swarm init` on the manager, `swarm join` on every worker.
    fn form(&mut self) -> anyhow::Result<()> {
        let manager = &self.nodes[0];
        // The manager marks a node down after a few missed heartbeats: at Docker's default
        // (5 s) that is 15-20 s; a test of node loss wants to see it sooner.
        manager.docker(&[
            "swarm",
            "init",
            "--advertise-addr",
            &manager.addr,
            "--dispatcher-heartbeat",
            HEARTBEAT,
        ])?;
        let token = manager.docker(&["swarm", "join-token", "-q", "worker"])?;
        let join_at = format!("{}:2377", manager.addr);
        for node in &self.nodes[1..] {
            node.docker(&[
                "swarm",
                "join",
                "--advertise-addr",
                &node.addr,
                "--token",
                &token,
                &join_at,
            ])?;
        }
        for node in &mut self.nodes {
            node.node_id = node
                .engine
                .cli()
                .args(["info", "--format", "{{.Swarm.NodeID}}"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                .context("a node's swarm ID")?;
        }
        // The nodes share this machine's filesystem, so each engine's socket has a path of its
        // own: say which, as an operator of nodes with unusual sockets would.
        for n in 0..self.nodes.len() {
            let socket = self.nodes[n].engine.socket().to_string_lossy().into_owned();
            self.label(n, hearth_protocol::labels::ENGINE_SOCKET, &socket)?;
        }
        Ok(())
    }

    /// Kills node `n`'s engine and everything it ran, as a lost machine.
    pub fn kill(&mut self, n: usize) {
        self.nodes[n].engine.kill();
    }

    /// Brings node `n` back (the same data root, namespace and swarm membership).
    ///
    /// # Errors
    /// When its engine does not start again.
    pub fn restart(&mut self, n: usize) -> anyhow::Result<()> {
        self.nodes[n].engine.restart()
    }

    /// Saves `image` from the machine's engine once and loads it on every node.
    fn load(&self, image: &str) -> anyhow::Result<()> {
        let file = tempfile::NamedTempFile::new_in("/tmp")?;
        let saved = Command::new("docker")
            .args(["save", "-o"])
            .arg(file.path())
            .arg(image)
            .env_remove("DOCKER_HOST")
            .status()
            .context("docker save")?;
        anyhow::ensure!(saved.success(), "docker save {image} failed");
        for node in &self.nodes {
            node.docker(&["load", "-q", "-i", &file.path().to_string_lossy()])?;
        }
        Ok(())
    }

    /// The manager node.
    pub fn manager(&self) -> &Node {
        &self.nodes[0]
    }

    /// `DOCKER_HOST` for the manager's engine: all hearth ever talks to.
    pub fn manager_host(&self) -> String {
        self.manager().engine.host()
    }

    /// The manager's network namespace path, for `nsenter --net=…` (a port published on its
    /// loopback is reachable only inside it).
    pub fn manager_netns(&self) -> PathBuf {
        PathBuf::from(format!("/var/run/netns/{}", self.manager().netns))
    }

    /// Adds the node label `key=value` to node `n` (0 is the manager).
    ///
    /// # Errors
    /// When the manager refuses.
    pub fn label(&self, n: usize, key: &str, value: &str) -> anyhow::Result<()> {
        let id = self.nodes[n].node_id.clone();
        self.manager().docker(&[
            "node",
            "update",
            "--label-add",
            &format!("{key}={value}"),
            &id,
        ])?;
        Ok(())
    }

    /// Which node (index) has swarm ID `id`.
    pub fn node_index(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.node_id == id)
    }

    /// Leaves the swarm on every node, stops every engine, deletes every namespace.
    pub fn stop(mut self) {
        self.tear_down();
    }

    fn tear_down(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        // Workers first, so the manager is last to go.
        for node in self.nodes.iter().rev() {
            let _ = node
                .cli()
                .args(["swarm", "leave", "--force"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        for node in self.nodes.drain(..).rev() {
            node.engine.stop();
            let _ = ip(&["netns", "del", &node.netns]);
        }
        let _ = ip(&["netns", "del", &self.switch()]);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.tear_down();
    }
}

fn engine_dir(engine: &PrivateDockerd) -> PathBuf {
    engine
        .socket()
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// Runs `f` on this thread inside the network namespace at `netns` (a node's:
/// [`Cluster::manager_netns`]), on a runtime of this thread alone: hearth's relays listen on
/// the manager's loopback and reach the door on the manager's `docker_gwbridge`, both of which
/// exist only inside that namespace (as when hearth runs on the manager's machine). A process
/// spawned from `f` starts in it too.
///
/// # Panics
/// When the namespace cannot be entered or the runtime not built.
pub fn run_in_netns<F: std::future::Future<Output = ()>>(netns: &std::path::Path, f: F) {
    let ns = std::fs::File::open(netns).expect("the manager's namespace");
    nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).expect("enter it");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f);
}

/// A hearth config file (TOML) whose solo and team workspaces put `cairnet` on the manager and
/// `lore` on the node labelled `zone=<zone>` (see [`Cluster::label`]), both running `image`
/// (the stand-in) with their data in `/data`: the default workspace, placed across the
/// cluster. Each role has a port of its own (80, 81), the stand-in told to listen there; with
/// `answering` false it listens on 80 while the roles' ports are 81 and 82, so readiness
/// waits with the tasks running (the middle of a provision). (The Swarm driver today takes
/// only `placement` from a template, probing every role on `--service-port`; a daemon that
/// is to wait is also given `--service-port 81`.)
pub fn spread_config(image: &str, zone: &str, answering: bool) -> String {
    let mut out = String::new();
    let offset = u16::from(!answering);
    for tier in ["solo", "team"] {
        out.push_str(&format!("[tiers.{tier}]\nfront_door = \"cairnet\"\n"));
        for (role, port, placement) in [
            ("cairnet", 80 + offset, "node.role==manager".to_owned()),
            ("lore", 81 + offset, format!("node.labels.zone=={zone}")),
        ] {
            let listen = if answering { port } else { 80 };
            out.push_str(&format!(
                "[tiers.{tier}.roles.{role}]\nimage = \"{image}\"\nport = {port}\n\
                 env = {{ PORT = \"{listen}\" }}\nready = {{ http = \"/\" }}\n\
                 volume = \"/data\"\nplacement = [\"{placement}\"]\n"
            ));
        }
    }
    out
}

/// Removes what a crashed cluster of run `run` left: its engines (by their directories, see
/// [`dockerd::sweep`]) and every namespace named after the run. Returns how many namespaces
/// went.
pub fn sweep(run: &str) -> usize {
    dockerd::sweep(run);
    let stem = run_stem(run);
    let listed = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let mut swept = 0;
    for name in listed.lines().filter_map(|l| l.split_whitespace().next()) {
        if name.starts_with(&stem) && ip(&["netns", "del", name]).is_ok() {
            swept += 1;
        }
    }
    swept
}

/// Whether the cluster suite can run here: root, `dockerd`, `nsenter` and `ip`. `Err` names
/// what is missing.
///
/// # Errors
/// The reason it cannot run.
pub fn can_run() -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("the cluster suite needs root (network namespaces, private dockerds): run as root (sudo -E)".into());
    }
    for tool in ["dockerd", "nsenter", "ip"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            return Err(format!("the cluster suite needs `{tool}` on PATH"));
        }
    }
    Ok(())
}
