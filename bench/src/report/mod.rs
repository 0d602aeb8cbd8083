//! The figures of a run and their rendering as `BENCH.md`: every figure absolute and as a
//! ratio to its floor, with the machine, the engine and the exact command that made them.

pub(crate) mod play;
pub(crate) mod pool;

use std::fmt::Write as _;
use std::time::Duration;

use crate::engine::EngineInfo;
use crate::run::Plan;
use crate::stats::{median, ms, ratio, times};

pub(crate) use play::Extras;

/// Timings of one path in the solo comparison.
#[derive(Debug, Clone, Default)]
pub(crate) struct PathTimes {
    /// Provision → every service answers HTTP.
    pub provision: Vec<Duration>,
    /// Teardown → every object removed.
    pub teardown: Vec<Duration>,
    /// Rounds that failed.
    pub failures: usize,
    /// The first failure, for the report.
    pub first_error: Option<String>,
}

impl PathTimes {
    /// Records one round's outcome.
    pub(crate) fn record(&mut self, result: anyhow::Result<(Duration, Duration)>) {
        match result {
            Ok((p, t)) => {
                self.provision.push(p);
                self.teardown.push(t);
            }
            Err(err) => {
                self.failures += 1;
                self.first_error.get_or_insert_with(|| format!("{err:#}"));
            }
        }
    }

    fn total(&self) -> Vec<Duration> {
        self.provision
            .iter()
            .zip(&self.teardown)
            .map(|(p, t)| *p + *t)
            .collect()
    }
}

/// The solo comparison: hearth (when it ran), the floor, the docker CLI.
#[derive(Debug, Clone, Default)]
pub(crate) struct Solo {
    /// hearth through its RPC; `None` when hearth could not be started.
    pub hearth: Option<PathTimes>,
    /// The Docker API called directly.
    pub floor: PathTimes,
    /// The docker CLI, one call after another.
    pub cli: PathTimes,
}

/// One rung of the concurrency ladder for one system.
#[derive(Debug, Clone)]
pub(crate) struct ScaleRow {
    /// Workspaces at once.
    pub n: usize,
    /// `hearth` or `floor`.
    pub system: &'static str,
    /// Wall time until all `n` were ready, per repetition.
    pub provision: Vec<Duration>,
    /// Wall time until all `n` were gone, per repetition.
    pub teardown: Vec<Duration>,
    /// Failed provisions and teardowns over all repetitions.
    pub failures: usize,
    /// Objects left on the engine after teardown, over all repetitions.
    pub leaks: usize,
    /// hearth's peak resident set over the rung, KiB.
    pub peak_rss_kib: Option<u64>,
    /// The first failure, for the report.
    pub first_error: Option<String>,
}

impl ScaleRow {
    /// An empty row.
    pub(crate) fn new(n: usize, system: &'static str) -> Self {
        Self {
            n,
            system,
            provision: Vec::new(),
            teardown: Vec::new(),
            failures: 0,
            leaks: 0,
            peak_rss_kib: None,
            first_error: None,
        }
    }
}

/// hearth's own start-up and memory.
#[derive(Debug, Clone, Default)]
pub(crate) struct DaemonFigures {
    /// Spawn → first `GET /v1/healthz` answered on the socket.
    pub start_to_accepting: Vec<Duration>,
    /// Resident set with no workspaces, KiB.
    pub idle_rss_kib: Vec<u64>,
}

/// Everything `BENCH.md` says.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    /// The command line.
    pub command: String,
    /// The image used by every path.
    pub image: String,
    /// The hearth binary measured.
    pub hearth_bin: String,
    /// Measured repetitions per figure.
    pub runs: usize,
    /// The engine.
    pub engine: EngineInfo,
    /// The solo comparison.
    pub solo: Solo,
    /// The concurrency ladder.
    pub scale: Vec<ScaleRow>,
    /// hearth's start-up and memory, when it ran.
    pub daemon: Option<DaemonFigures>,
    /// Why hearth was not measured, when it was not.
    pub hearth_error: Option<String>,
    /// The play, HATCH and the relay.
    pub extra: Extras,
}

/// `path` as BENCH.md shows it: relative to the checkout when it lies inside it, so the
/// report names no machine's or checkout's own directories.
pub(crate) fn shown(path: &std::path::Path) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(|r| r.canonicalize().ok());
    let full = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    root.and_then(|r| full.strip_prefix(r).ok().map(|p| p.display().to_string()))
        .unwrap_or_else(|| path.display().to_string())
}

impl Report {
    /// An empty report for `plan` on `engine`.
    pub(crate) fn new(plan: &Plan, engine: EngineInfo) -> Self {
        Self {
            command: plan.command.clone(),
            image: plan.image.clone(),
            hearth_bin: shown(&plan.hearth_bin),
            runs: plan.runs,
            engine,
            solo: Solo::default(),
            scale: Vec::new(),
            daemon: None,
            hearth_error: None,
            extra: Extras::default(),
        }
    }

    /// Renders the report as Markdown; `machine` and `stamp` describe where and when.
    pub(crate) fn render(&self, machine: &str, stamp: &str) -> String {
        let mut md = String::new();
        let w = &mut md;
        let _ = writeln!(w, "# hearth benchmarks\n");
        let _ = writeln!(
            w,
            "Regenerated by `make bench`. This run: `{}`, {stamp}.\n",
            self.command
        );
        let _ = writeln!(w, "- machine: {machine}");
        let _ = writeln!(
            w,
            "- engine: Docker {} (API {}), storage driver {}",
            self.engine.version, self.engine.api_version, self.engine.storage_driver
        );
        let _ = writeln!(w, "- image: `{}` for both services", self.image);
        let _ = writeln!(
            w,
            "- method: medians of {} measured runs after one warm-up, paths alternating in a rotating order\n",
            self.runs
        );
        let _ = writeln!(
            w,
            "A solo workspace is what hearth builds: one bridge network, one volume per role, two \
             containers (`cairnet`, `lore`) with an init, memory/CPU/pids limits and port 80 \
             published on 127.0.0.1, ready when each answers HTTP 200; teardown is a graceful stop \
             and removal of all of it. The **floor** does exactly that through the Docker API \
             (bollard), services in parallel, nothing else (past the engine's ~30 default \
             bridge subnets it creates networks in /28s of its own range, as hearth does). The **CLI** does it with `docker` \
             calls one after another. **hearth** is `{}` (`hearth serve --driver local-docker`) \
             called over its unix socket (`POST /v1/provision`, `POST /v1/teardown`).\n",
            self.hearth_bin
        );
        let _ = writeln!(
            w,
            "The floor, step by step (`bench/src/floor.rs`): (1) create the bridge network and \
             both volumes at once; (2) for each role at once: create the container (init, \
             limits, the volume bound at `/data`, port 80 published on 127.0.0.1 with an \
             engine-chosen host port, joined to the network by name, no aliases), start it, \
             inspect it once for the host port, then probe `GET /` on it — first after 5 ms, \
             each pause half again as long up to 50 ms, exactly as hearth's readiness does — \
             until it answers 200; (3) teardown: for each role at once stop (SIGTERM through \
             the init, the same stop timeout as hearth) and remove the container, then remove \
             both volumes and the network at once. One engine connection (bollard, API \
             version negotiated once) serves every call; nothing is listed, recorded or \
             journaled.\n"
        );
        if let Some(err) = &self.hearth_error {
            let _ = writeln!(w, "**hearth was not measured in this run:** {err}\n");
        }
        self.render_solo(w);
        self.render_scale(w);
        self.render_daemon(w);
        self.extra.render(w);
        if let Some(p) = &self.extra.pool {
            let cold = self.solo.hearth.as_ref().and_then(|h| median(&h.provision));
            p.render(w, cold);
        }
        self.render_targets(w);
        self.render_findings(w);
        render_notes(w);
        md
    }

    fn render_targets(&self, w: &mut String) {
        let mut rows: Vec<(String, String, Option<bool>)> = Vec::new();
        if let Some(h) = &self.solo.hearth {
            self.solo_target_rows(h, &mut rows);
        }
        rows.extend(self.extra.target_rows());
        if rows.is_empty() {
            return;
        }
        let _ = writeln!(w, "## Targets\n");
        let _ = writeln!(w, "| target | measured | |");
        let _ = writeln!(w, "|---|---:|---|");
        for (target, measured, met) in rows {
            let verdict = match met {
                Some(true) => "met",
                Some(false) => "**missed**",
                None => "—",
            };
            let _ = writeln!(w, "| {target} | {measured} | {verdict} |");
        }
        let _ = writeln!(w);
    }

    fn solo_target_rows(&self, h: &PathTimes, rows: &mut Vec<(String, String, Option<bool>)>) {
        let f = &self.solo.floor;
        let r = ratio(median(&h.provision), median(&f.provision));
        rows.push((
            "provision ≤ 1.15× the floor".into(),
            times(r),
            r.map(|r| r <= 1.15),
        ));
        let r = ratio(median(&h.teardown), median(&f.teardown));
        rows.push((
            "teardown ≤ 1.2× the floor".into(),
            times(r),
            r.map(|r| r <= 1.2),
        ));
        let top = self.scale.iter().map(|r| r.n).max();
        let rung = |system: &str| {
            self.scale
                .iter()
                .find(|r| Some(r.n) == top && r.system == system)
        };
        if let (Some(hr), Some(fr)) = (rung("hearth"), rung("floor")) {
            let p = ratio(median(&hr.provision), median(&fr.provision));
            let t = ratio(median(&hr.teardown), median(&fr.teardown));
            let met = p
                .zip(t)
                .map(|(p, t)| p <= 1.2 && t <= 1.2 && hr.failures == 0);
            rows.push((
                format!("{} at once: wall ≤ 1.2× the floor, 0 failures", hr.n),
                format!("{} / {}, {} failures", times(p), times(t), hr.failures),
                met,
            ));
        }
        if let Some(d) = &self.daemon {
            let mut rss = d.idle_rss_kib.clone();
            rss.sort_unstable();
            let idle = rss.get(rss.len() / 2).copied();
            rows.push((
                "idle RSS ≤ 10 MiB".into(),
                idle.map_or_else(|| "—".to_owned(), mib),
                idle.map(|k| k <= 10 * 1024),
            ));
        }
    }

    fn render_findings(&self, w: &mut String) {
        let errors = self
            .scale
            .iter()
            .filter_map(|r| r.first_error.as_deref())
            .chain(
                self.solo
                    .hearth
                    .iter()
                    .filter_map(|h| h.first_error.as_deref()),
            );
        let pool_exhausted = errors
            .into_iter()
            .any(|e| e.contains("non-overlapping IPv4 address pool"));
        if !pool_exhausted {
            return;
        }
        let _ = writeln!(w, "## Findings\n");
        let _ = writeln!(
            w,
            "**The engine ran out of bridge-network subnets.** Each workspace has its own \
             bridge network, and an engine with the default address pools (172.17–31.0.0/16 \
             and 192.168.0.0/16 in /20 slices) has room for about 30 user networks besides \
             `docker0`. Past that, `network create` fails with \"could not find an available, \
             non-overlapping IPv4 address pool\" — for the floor exactly as for hearth, so \
             the failures at the top rung are the engine's capacity, not hearth's (both fall \
             back to a subnet range of their own; failures here mean that fallback failed too). To run more \
             workspaces at once, give the engine smaller slices in `/etc/docker/daemon.json`, \
             e.g. `\"default-address-pools\": [{{\"base\": \"10.200.0.0/16\", \"size\": 24}}]` \
             (256 networks), or have hearth create each network with an explicit small subnet \
             from a range of its own.\n"
        );
    }

    fn render_solo(&self, w: &mut String) {
        let _ = writeln!(w, "## Provision → ready and teardown, one solo workspace\n");
        let _ = writeln!(
            w,
            "| path | provision | × floor | teardown | × floor | both | × floor | failures |"
        );
        let _ = writeln!(w, "|---|---:|---:|---:|---:|---:|---:|---:|");
        let floor = &self.solo.floor;
        let (fp, ft, fb) = (
            median(&floor.provision),
            median(&floor.teardown),
            median(&floor.total()),
        );
        let mut rows: Vec<(&str, &PathTimes)> = Vec::new();
        if let Some(h) = &self.solo.hearth {
            rows.push(("hearth (RPC)", h));
        }
        rows.push(("floor (API, parallel)", floor));
        rows.push(("docker CLI (serial)", &self.solo.cli));
        for (name, t) in &rows {
            let (p, td, b) = (
                median(&t.provision),
                median(&t.teardown),
                median(&t.total()),
            );
            let _ = writeln!(
                w,
                "| {name} | {} | {} | {} | {} | {} | {} | {} |",
                with_range(p, &t.provision),
                times(ratio(p, fp)),
                with_range(td, &t.teardown),
                times(ratio(td, ft)),
                ms(b),
                times(ratio(b, fb)),
                t.failures
            );
        }
        for (name, t) in &rows {
            if let Some(err) = &t.first_error {
                let _ = writeln!(w, "\n{name}, first failure: `{err}`");
            }
        }
        let _ = writeln!(w);
    }

    fn render_scale(&self, w: &mut String) {
        if self.scale.is_empty() {
            return;
        }
        let _ = writeln!(w, "## Concurrent solo workspaces\n");
        let _ = writeln!(
            w,
            "All `N` provisioned at once (wall until every one is ready), then all torn down at \
             once. Failures and leaked objects are summed over the runs; peak RSS is hearth's \
             `VmHWM` over the rung (a fresh daemon per rung).\n"
        );
        let _ = writeln!(
            w,
            "| N | system | provision wall | × floor | teardown wall | × floor | failures | leaks | peak RSS |"
        );
        let _ = writeln!(w, "|---:|---|---:|---:|---:|---:|---:|---:|---:|");
        for row in &self.scale {
            let floor = self
                .scale
                .iter()
                .find(|r| r.n == row.n && r.system == "floor");
            let fp = floor.and_then(|f| median(&f.provision));
            let ft = floor.and_then(|f| median(&f.teardown));
            let (p, t) = (median(&row.provision), median(&row.teardown));
            let _ = writeln!(
                w,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                row.n,
                row.system,
                ms(p),
                times(ratio(p, fp)),
                ms(t),
                times(ratio(t, ft)),
                row.failures,
                row.leaks,
                row.peak_rss_kib.map_or_else(|| "—".to_owned(), mib),
            );
        }
        for row in &self.scale {
            if let Some(err) = &row.first_error {
                let _ = writeln!(w, "\n{} × {}, first failure: `{err}`", row.system, row.n);
            }
        }
        let _ = writeln!(w);
    }

    fn render_daemon(&self, w: &mut String) {
        let Some(d) = &self.daemon else { return };
        let _ = writeln!(w, "## hearth itself\n");
        let _ = writeln!(w, "| figure | median | target |");
        let _ = writeln!(w, "|---|---:|---:|");
        let _ = writeln!(
            w,
            "| start → accepting on its socket (spawn → first `/v1/healthz` answer) | {} | — |",
            ms(median(&d.start_to_accepting))
        );
        let mut rss = d.idle_rss_kib.clone();
        rss.sort_unstable();
        let idle = rss.get(rss.len() / 2).copied();
        let _ = writeln!(
            w,
            "| idle RSS (no workspaces) | {} | ≤ 10 MiB |",
            idle.map_or_else(|| "—".to_owned(), mib)
        );
        let _ = writeln!(w);
    }
}

fn render_notes(w: &mut String) {
    let _ = writeln!(w, "## Reading these figures\n");
    let _ = writeln!(
        w,
        "- hearth and the floor make the same engine calls (hearth adds a few listings by \
         label, its state file and its event log), so a ratio within about ±10% of 1.00× is \
         this machine's run-to-run noise (2 cores, a shared engine); the ranges in brackets \
         are the fastest and slowest run.\n\
         - The engine dominates every figure: container start, port publishing \
         (docker-proxy) and network setup. A concurrency rung's wall time grows with `N` \
         for the floor as much as for hearth.\n\
         - The play's and the relay's figures include two loopback HTTP hops and the \
         console's fsync per audit event; HATCH's figures depend on the disk more than on \
         anything in this repository (the bare loop says how much).\n"
    );
}

/// `543 ms (512–601)`: the median with the fastest and slowest run.
fn with_range(median: Option<Duration>, samples: &[Duration]) -> String {
    match (samples.iter().min(), samples.iter().max()) {
        (Some(lo), Some(hi)) if samples.len() > 1 => {
            format!("{} ({}–{})", ms(median), lo.as_millis(), hi.as_millis())
        }
        _ => ms(median),
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

#[cfg(test)]
mod tests;
