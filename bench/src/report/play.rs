//! The figures of the play, of HATCH and of the relay, and their sections of `BENCH.md`:
//! each absolute and next to its floor.

use std::fmt::Write as _;
use std::time::Duration;

use crate::stack::StartTimes;
use crate::stats::{median, ms, quantile, ratio, times};

/// The HATCH target: fsynced events per second on this disk.
pub(crate) const HATCH_TARGET_PER_S: f64 = 2000.0;

/// Per-act timings of one way of running the play.
#[derive(Debug, Clone, Default)]
pub(crate) struct ActTimes {
    /// Provision → ready.
    pub provision: Vec<Duration>,
    /// The four-prompt job (the floor: the four requests).
    pub run: Vec<Duration>,
    /// Teardown → gone.
    pub teardown: Vec<Duration>,
    /// Rounds that failed.
    pub failures: usize,
    /// The first failure, for the report.
    pub first_error: Option<String>,
}

impl ActTimes {
    /// Records one round: `[provision, run, teardown]` or its failure.
    pub(crate) fn record(&mut self, result: anyhow::Result<[Duration; 3]>) {
        match result {
            Ok([p, r, t]) => {
                self.provision.push(p);
                self.run.push(r);
                self.teardown.push(t);
            }
            Err(err) => {
                self.failures += 1;
                self.first_error.get_or_insert_with(|| format!("{err:#}"));
            }
        }
    }

    /// Each round's three acts together.
    pub(crate) fn total(&self) -> Vec<Duration> {
        (0..self.provision.len())
            .map(|i| self.provision[i] + self.run[i] + self.teardown[i])
            .collect()
    }
}

/// The whole play against the floor, and the processes' start-up.
#[derive(Debug, Clone, Default)]
pub(crate) struct PlayFigures {
    /// One entry per fresh stack.
    pub startup: Vec<StartTimes>,
    /// Through the console, the worker and hearth.
    pub play: ActTimes,
    /// The same engine work through the API, plus the same four requests.
    pub floor: ActTimes,
    /// The same acts through hearth's own RPC on the same stack (the run act: the same four
    /// requests), to show what the console adds to provision and teardown.
    pub rpc: ActTimes,
}

/// The console's share over hearth's own RPC that the targets allow.
pub(crate) const CONSOLE_OVER_RPC: f64 = 1.05;
/// The run act's allowance over the floor's four requests.
pub(crate) const RUN_OVER_FLOOR: Duration = Duration::from_millis(5);

impl PlayFigures {
    /// Rows for the Targets table.
    pub(crate) fn target_rows(&self) -> Vec<(String, String, Option<bool>)> {
        let (run, floor) = (median(&self.play.run), median(&self.floor.run));
        let mut rows = vec![(
            "run act ≤ the floor's four requests + 5 ms".to_owned(),
            format!("{} vs {}", ms(run), ms(floor)),
            run.zip(floor).map(|(r, f)| r <= f + RUN_OVER_FLOOR),
        )];
        for (act, pick) in [
            ("provision", (|t: &ActTimes| t.provision.clone()) as Pick),
            ("teardown", |t| t.teardown.clone()),
        ] {
            let r = ratio(median(&pick(&self.play)), median(&pick(&self.rpc)));
            rows.push((
                format!("console {act} ≤ {CONSOLE_OVER_RPC}× hearth's own RPC"),
                times(r),
                r.map(|r| r <= CONSOLE_OVER_RPC),
            ));
        }
        rows
    }
}

/// HATCH appends with an fsync per event.
#[derive(Debug, Clone, Default)]
pub(crate) struct HatchFigures {
    /// Where the files were written.
    pub dir: String,
    /// The filesystem there.
    pub filesystem: String,
    /// Events per sample.
    pub events: usize,
    /// Mean line length, bytes.
    pub line_bytes: usize,
    /// `HatchSink::append_blocking`, per sample.
    pub sink: Vec<Duration>,
    /// `HatchSink::append` (async, as the relay calls it), per sample.
    pub sink_async: Vec<Duration>,
    /// `write` + `fdatasync` of the same lines, per sample.
    pub floor: Vec<Duration>,
}

impl HatchFigures {
    fn per_event(&self, samples: &[Duration]) -> Option<Duration> {
        let n = u32::try_from(self.events).ok().filter(|n| *n > 0)?;
        median(samples).map(|d| d / n)
    }

    fn rate(&self, samples: &[Duration]) -> Option<f64> {
        self.per_event(samples)
            .filter(|d| !d.is_zero())
            .map(|d| 1.0 / d.as_secs_f64())
    }
}

/// The console's latency per relayed frame.
#[derive(Debug, Clone, Default)]
pub(crate) struct RelayFigures {
    /// Prompts per run.
    pub prompts: usize,
    /// The worker's `--fault slow=MS`.
    pub slow_ms: u64,
    /// One per recorded frame, over all measured runs.
    pub latencies: Vec<Duration>,
    /// Frames left out because they may have come from the worker's backlog.
    pub backlog_skipped: usize,
    /// Runs that failed.
    pub failures: usize,
    /// The first failure, for the report.
    pub first_error: Option<String>,
}

/// The play, HATCH and relay sections of a report.
#[derive(Debug, Clone, Default)]
pub(crate) struct Extras {
    /// The whole play, when it ran.
    pub play: Option<PlayFigures>,
    /// HATCH appends, when measured.
    pub hatch: Option<HatchFigures>,
    /// Relay latency, when measured.
    pub relay: Option<RelayFigures>,
    /// The warm pool, when measured (rendered by the report after these sections).
    pub pool: Option<super::pool::PoolFigures>,
    /// What could not be measured, and why.
    pub errors: Vec<(&'static str, String)>,
}

impl Extras {
    /// Renders the three sections (those that ran) and what could not be measured.
    pub(crate) fn render(&self, w: &mut String) {
        for (what, err) in &self.errors {
            let _ = writeln!(w, "**{what} was not measured in this run:** {err}\n");
        }
        if let Some(p) = &self.play {
            render_play(w, p);
        }
        if let Some(h) = &self.hatch {
            render_hatch(w, h);
        }
        if let Some(r) = &self.relay {
            render_relay(w, r, self.hatch.as_ref());
        }
    }

    /// Rows for the Targets table.
    pub(crate) fn target_rows(&self) -> Vec<(String, String, Option<bool>)> {
        let mut rows = Vec::new();
        if let Some(h) = &self.hatch {
            let sink = h.rate(&h.sink_async);
            let floor = h.rate(&h.floor);
            let measured = format!("{} (bare write + fdatasync: {})", per_s(sink), per_s(floor));
            rows.push((
                "HATCH ≥ 2,000 fsynced events/s on this disk".to_owned(),
                measured,
                sink.map(|s| s >= HATCH_TARGET_PER_S),
            ));
        }
        if let Some(p) = &self.play {
            rows.extend(p.target_rows());
        }
        if let Some(p) = &self.pool {
            rows.extend(p.target_rows());
        }
        rows
    }
}

/// Picks one act's samples out of [`ActTimes`].
pub(crate) type Pick = fn(&ActTimes) -> Vec<Duration>;

fn render_play(w: &mut String, p: &PlayFigures) {
    let _ = writeln!(w, "## The whole play (no builds)\n");
    let _ = writeln!(
        w,
        "One stack — the release `hearth`, `worker-stub` and `console`, started once — serves \
         every round. A round through the console creates a fresh solo workspace (`POST \
         /api/hearth/workspaces`), runs a four-prompt job in it (`POST /api/ralph/runs`, then \
         `GET /api/ralph/runs/{{id}}?wait=60` until it has succeeded; each node is one HTTP \
         request from the worker to the workspace), and deletes it (`DELETE \
         /api/hearth/workspaces/{{slug}}`), with every act in HATCH. The **floor** does the \
         same engine work through the API and sends the same four requests to the workspace's \
         front door itself. Rounds alternate, medians of {} after a warm-up.\n",
        p.play.provision.len().max(p.floor.provision.len())
    );
    play_against_floor(w, p);
    console_against_rpc(w, p);
    startup_table(w, p);
    let _ = writeln!(w);
}

/// One row per act: the medians of `first` and `second`, their ratio, and what `first` adds.
fn act_rows(w: &mut String, acts: &[(&str, Pick)], first: &ActTimes, second: &ActTimes) {
    for (name, pick) in acts {
        let (a, b) = (median(&pick(first)), median(&pick(second)));
        let added = a
            .zip(b)
            .map_or_else(|| "—".to_owned(), |(a, b)| signed_ms(a, b));
        let _ = writeln!(
            w,
            "| {name} | {} | {} | {} | {added} |",
            ms(a),
            ms(b),
            times(ratio(a, b))
        );
    }
}

/// The play against the floor, act by act, and each side's first failure.
fn play_against_floor(w: &mut String, p: &PlayFigures) {
    let _ = writeln!(
        w,
        "| act | play (console, worker, hearth) | floor (API + 4 requests) | × floor | added |"
    );
    let _ = writeln!(w, "|---|---:|---:|---:|---:|");
    let acts: [(&str, Pick); 4] = [
        ("provision → ready", |t| t.provision.clone()),
        ("run, 4 prompts (floor: 4 requests)", |t| t.run.clone()),
        ("teardown", |t| t.teardown.clone()),
        ("all three acts", ActTimes::total),
    ];
    act_rows(w, &acts, &p.play, &p.floor);
    let _ = writeln!(
        w,
        "| failures | {} | {} | | |",
        p.play.failures, p.floor.failures
    );
    for (name, t) in [
        ("play", &p.play),
        ("floor", &p.floor),
        ("hearth RPC", &p.rpc),
    ] {
        if let Some(err) = &t.first_error {
            let _ = writeln!(w, "\n{name}, first failure: `{err}`");
        }
    }
}

/// What the console adds over the same stack's hearth RPC.
fn console_against_rpc(w: &mut String, p: &PlayFigures) {
    let _ = writeln!(
        w,
        "\nWhat the console adds: the same stack's hearth called over its own socket (`POST \
         /v1/provision`, `POST /v1/teardown`) in rounds alternating with the two above.\n"
    );
    let _ = writeln!(w, "| act | console | hearth RPC | console ÷ RPC | added |");
    let _ = writeln!(w, "|---|---:|---:|---:|---:|");
    let acts: [(&str, Pick); 2] = [
        ("provision → ready", |t| t.provision.clone()),
        ("teardown", |t| t.teardown.clone()),
    ];
    act_rows(w, &acts, &p.play, &p.rpc);
}

/// Each process's start-up, before any act.
fn startup_table(w: &mut String, p: &PlayFigures) {
    let _ = writeln!(
        w,
        "\nStart-up, before any act (medians over {} fresh stacks; the floor starts no process):\n",
        p.startup.len()
    );
    let _ = writeln!(w, "| process | spawn → accepting |");
    let _ = writeln!(w, "|---|---:|");
    let pick =
        |f: fn(&StartTimes) -> Duration| ms(median(&p.startup.iter().map(f).collect::<Vec<_>>()));
    let rows = [
        ("hearth (first `/v1/healthz` answer)", pick(|s| s.hearth)),
        ("worker-stub (`listening` line)", pick(|s| s.worker)),
        (
            "console (`listening` line; spawned once the worker's URL is known)",
            pick(|s| s.console),
        ),
        (
            "all three (first spawn → console accepting)",
            pick(|s| s.all),
        ),
    ];
    for (name, value) in rows {
        let _ = writeln!(w, "| {name} | {value} |");
    }
}

fn render_hatch(w: &mut String, h: &HatchFigures) {
    let _ = writeln!(w, "## HATCH: appends with an fsync per event\n");
    let _ = writeln!(
        w,
        "{} events per sample, each a `ralph.node.succeeded` line of about {} bytes, appended \
         to a fresh file in `{}` ({}) by the console's own sink (`console::sink::HatchSink`: \
         seq, CloudEvents envelope, `write`, `fdatasync`, live-tail broadcast, all under its \
         writer lock). The **floor** writes the very same lines with one `write` + \
         `fdatasync` each and nothing else. Medians of {} samples after a warm-up, \
         alternating.\n",
        h.events,
        h.line_bytes,
        h.dir,
        h.filesystem,
        h.sink.len()
    );
    let _ = writeln!(w, "| path | events/s | per event | × floor |");
    let _ = writeln!(w, "|---|---:|---:|---:|");
    let floor = h.per_event(&h.floor);
    let rows = [
        (
            "`HatchSink::append` (async, as the relay calls it)",
            &h.sink_async,
        ),
        ("`HatchSink::append_blocking`", &h.sink),
        ("floor: `write` + `fdatasync` per line", &h.floor),
    ];
    for (name, samples) in rows {
        let per = h.per_event(samples);
        let _ = writeln!(
            w,
            "| {name} | {} | {} | {} |",
            per_s(h.rate(samples)),
            us(per),
            times(ratio(per, floor))
        );
    }
    let _ = writeln!(w);
    let (sink, bare) = (h.rate(&h.sink_async), h.rate(&h.floor));
    let verdict = match (sink, bare) {
        (Some(s), _) if s >= HATCH_TARGET_PER_S => format!(
            "The target (≥ 2,000 fsynced events/s) is met: {} through the console's path.",
            per_s(sink)
        ),
        (Some(_), Some(b)) if b < HATCH_TARGET_PER_S * 1.1 => format!(
            "**The disk bounds it.** A bare `write` + `fdatasync` loop of the same lines \
             reaches only {} on this disk, so no sink that syncs every event can reach 2,000/s \
             here; the sink itself costs {} per event on top of the sync. Past this bound only \
             group commit (one sync for the events that arrive during the previous one) helps; \
             it is not built.",
            per_s(bare),
            sink.zip(bare).map_or_else(
                || "—".to_owned(),
                |(s, b)| us(Some(Duration::from_secs_f64((1.0 / s - 1.0 / b).max(0.0))))
            )
        ),
        (Some(_), Some(_)) => format!(
            "**The sink misses the target while the disk does not** ({} bare): its overhead \
             per event is the cause.",
            per_s(bare)
        ),
        _ => "No figure.".to_owned(),
    };
    let _ = writeln!(w, "{verdict}\n");
}

fn render_relay(w: &mut String, r: &RelayFigures, hatch: Option<&HatchFigures>) {
    let _ = writeln!(w, "## The console's added latency per relayed KAHN frame\n");
    let _ = writeln!(
        w,
        "Two observers on one clock: the bench subscribes to the worker's signed event stream \
         itself (with the console's own `WorkerClient`) and to the console's HATCH live tail \
         (`GET /api/hatch/events`, SSE). For every frame the console records — each terminal \
         `node_transition` and `run_ended` — the latency is the time from the frame reaching \
         the bench from the worker to its `ralph.node.*` / `ralph.run.ended` reaching the bench \
         from the tail: the console's SSE parse, its bookkeeping, the HATCH append with its \
         fsync, and the tail's delivery. The worker runs with `--fault slow={}` so nodes are \
         {} ms apart: every frame is seen live by both observers (not replayed from the \
         worker's backlog) and none queues behind the previous one's fsync. {} runs of {} \
         prompts after a warm-up; {} frames measured. Frames the console parses and drops \
         (`run_started`, `node_attempt`) write nothing. The floor is one `write` + \
         `fdatasync` of a HATCH line (the HATCH table's bare loop): the least any relay that \
         makes each event durable before it is visible must pay.\n",
        r.slow_ms,
        r.slow_ms,
        r.latencies.len() / (r.prompts + 1).max(1),
        r.prompts,
        r.latencies.len()
    );
    let floor = hatch.and_then(|h| h.per_event(&h.floor));
    let med = median(&r.latencies);
    let _ = writeln!(w, "| figure | median | p90 | max | × floor |");
    let _ = writeln!(w, "|---|---:|---:|---:|---:|");
    let _ = writeln!(
        w,
        "| worker frame → its HATCH event on the tail | {} | {} | {} | {} |",
        us(med),
        us(quantile(&r.latencies, 0.9)),
        us(r.latencies.iter().max().copied()),
        times(ratio(med, floor))
    );
    let _ = writeln!(
        w,
        "| floor: one `write` + `fdatasync` of a HATCH line | {} | | | 1.00× |",
        us(floor)
    );
    if r.backlog_skipped > 0 || r.failures > 0 {
        let _ = writeln!(
            w,
            "\nLeft out: {} frames that may have come from the worker's backlog; {} failed runs.",
            r.backlog_skipped, r.failures
        );
    }
    if let Some(err) = &r.first_error {
        let _ = writeln!(w, "\nFirst failure: `{err}`");
    }
    let _ = writeln!(w);
}

/// `+25 ms` / `−3 ms`: how much `a` adds to `f`.
fn signed_ms(a: Duration, f: Duration) -> String {
    if a >= f {
        format!("+{} ms", (a - f).as_millis())
    } else {
        format!("−{} ms", (f - a).as_millis())
    }
}

/// `2,345/s`, or `—`.
fn per_s(rate: Option<f64>) -> String {
    let Some(rate) = rate else {
        return "—".to_owned();
    };
    let n = rate.round() as u64;
    let (hi, lo) = (n / 1000, n % 1000);
    if hi > 0 {
        format!("{hi},{lo:03}/s")
    } else {
        format!("{lo}/s")
    }
}

/// `426 µs` (or `1.8 ms` from 1 ms up), or `—`.
fn us(d: Option<Duration>) -> String {
    match d {
        None => "—".to_owned(),
        Some(d) if d >= Duration::from_millis(1) => format!("{:.1} ms", d.as_secs_f64() * 1e3),
        Some(d) => format!("{} µs", d.as_micros()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    fn hatch(sink_ms: u64, floor_ms: u64) -> HatchFigures {
        HatchFigures {
            dir: "target".into(),
            filesystem: "ext4 on /dev/vda".into(),
            events: 1000,
            line_bytes: 300,
            sink: vec![d(sink_ms)],
            sink_async: vec![d(sink_ms)],
            floor: vec![d(floor_ms)],
        }
    }

    #[test]
    fn formats_rates_and_latencies() {
        assert_eq!(per_s(Some(2345.4)), "2,345/s");
        assert_eq!(per_s(Some(812.0)), "812/s");
        assert_eq!(us(Some(Duration::from_micros(426))), "426 µs");
        assert_eq!(us(Some(Duration::from_micros(1800))), "1.8 ms");
        assert_eq!(signed_ms(d(30), d(10)), "+20 ms");
    }

    #[test]
    fn a_disk_bound_miss_is_explained() {
        let extras = Extras {
            hatch: Some(hatch(1250, 1000)),
            ..Extras::default()
        };
        let mut md = String::new();
        extras.render(&mut md);
        assert!(
            md.contains("| floor: `write` + `fdatasync` per line | 1,000/s | 1.0 ms | 1.00× |"),
            "{md}"
        );
        assert!(md.contains("**The disk bounds it.**"), "{md}");
        let rows = extras.target_rows();
        assert_eq!(rows[0].2, Some(false));
        assert!(rows[0].1.contains("800/s"), "{rows:?}");
    }

    #[test]
    fn a_met_target_and_the_play_table() {
        let mut play = PlayFigures::default();
        play.play.record(Ok([d(550), d(40), d(420)]));
        play.floor.record(Ok([d(500), d(4), d(400)]));
        play.startup.push(StartTimes {
            hearth: d(14),
            worker: d(5),
            console: d(8),
            all: d(23),
        });
        let relay = RelayFigures {
            prompts: 8,
            slow_ms: 30,
            latencies: vec![Duration::from_micros(900); 9],
            ..RelayFigures::default()
        };
        let extras = Extras {
            play: Some(play),
            hatch: Some(hatch(250, 200)),
            relay: Some(relay),
            pool: None,
            errors: vec![],
        };
        let mut md = String::new();
        extras.render(&mut md);
        assert!(
            md.contains("| run, 4 prompts (floor: 4 requests) | 40 ms | 4 ms | 10.00× | +36 ms |"),
            "{md}"
        );
        assert!(
            md.contains("| all three acts | 1010 ms | 904 ms | 1.12× | +106 ms |"),
            "{md}"
        );
        assert!(
            md.contains("| all three (first spawn → console accepting) | 23 ms |"),
            "{md}"
        );
        assert!(md.contains("is met: 4,000/s"), "{md}");
        assert!(
            md.contains(
                "| worker frame → its HATCH event on the tail | 900 µs | 900 µs | 900 µs | 4.50× |"
            ),
            "{md}"
        );
        assert_eq!(extras.target_rows()[0].2, Some(true));
    }
}
