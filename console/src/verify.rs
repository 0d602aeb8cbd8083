//! `console hatch verify`: checks a HATCH log against a named chain of acts and, where the
//! chain breaks, names the first missing or out-of-order act, its probable cause (read from
//! the evidence in the log: `hearth.failed`, `ralph.submit_rejected`, `ralph.frame_rejected`,
//! `hearth.decommission_failed`) and a hint. A torn last line is reported, never a crash.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use hearth_protocol::hatch::payload::{HearthFailure, Payload, RunEnded, SubmitRejected};
use hearth_protocol::hatch::{read_log, types, HatchEvent};
use hearth_protocol::play::{self, Act};
use serde::Serialize;
use serde_json::Value;

/// The gaps that only mean the play has not got that far yet (a workspace still being made,
/// a run still going, no teardown asked for), not that something broke: the page shows them
/// as progress.
pub const NOT_YET: [&str; 5] = [
    "provision_unfinished",
    "no_run",
    "run_unfinished",
    "no_teardown",
    "teardown_unfinished",
];

/// The chains `verify` knows.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Chain {
    /// provisioning_started → provisioned → run.started → node.* ×N → run.ended →
    /// decommission_started → decommissioned.
    #[value(name = "provision-then-ralph")]
    #[serde(rename = "provision-then-ralph")]
    ProvisionThenRalph,
}

/// How the verdict is printed.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// Arguments of `console hatch verify`.
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// The chain of acts the log must show.
    #[arg(long, value_enum, default_value_t = Chain::ProvisionThenRalph)]
    pub chain: Chain,
    /// How many prompts the run had (one `ralph.node.*` each).
    #[arg(long, default_value_t = 4)]
    pub prompts: usize,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    pub output: Format,
    /// The HATCH log to check.
    pub file: PathBuf,
}

/// A log `verify` cannot judge.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("{path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    /// The prompt count (`--prompts`, or a log's `ralph.run.started`) is past the protocol's
    /// cap, so no chain is built for it.
    #[error("{0} (pass --prompts the run's prompt count)")]
    TooManyPrompts(#[from] play::TooManyPrompts),
}

impl VerifyError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::Unreadable { .. } => "hatch_unreadable",
            VerifyError::Corrupt { .. } => "hatch_corrupt",
            VerifyError::TooManyPrompts(e) => e.code(),
        }
    }
}

fn is_node(e: &HatchEvent) -> bool {
    play::is_node(&e.event_type)
}

/// The acts of `chain`, as the protocol defines the play's.
fn acts(chain: Chain, prompts: usize) -> Result<Vec<Act>, play::TooManyPrompts> {
    match chain {
        Chain::ProvisionThenRalph => play::chain(prompts),
    }
}

/// Whether an event is one of the chain's acts (evidence events are not).
fn is_act_type(e: &HatchEvent) -> bool {
    play::is_act(&e.event_type)
}

/// An act found in the log.
#[derive(Debug, Clone, Serialize)]
pub struct Matched {
    pub act: String,
    pub seq: u64,
    pub subject: String,
    /// Milliseconds since the log's first event.
    pub at_ms: i64,
}

/// Where the chain breaks and why.
#[derive(Debug, Clone, Serialize)]
pub struct Gap {
    /// 1-based position of the missing act in the chain.
    pub position: usize,
    pub act: String,
    /// The event found where the act should be (`None`: the log ends first).
    pub found: Option<String>,
    /// Stable code of the probable cause (`docker_unavailable`, `bearer_drift`, …).
    pub code: String,
    pub cause: String,
    pub hint: String,
    /// The log line the cause was read from.
    pub evidence: Option<String>,
}

/// What `verify` concluded.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub file: PathBuf,
    pub chain: Chain,
    pub prompts: usize,
    pub ok: bool,
    /// Whole events read.
    pub events: usize,
    /// Acts in the chain.
    pub acts: usize,
    pub matched: Vec<Matched>,
    pub gap: Option<Gap>,
    /// Things worth knowing that do not break the chain (a torn last line, failed nodes).
    pub notes: Vec<String>,
}

/// Checks the log at `path`. A missing file is a verdict (nothing ran), not an error.
///
/// # Errors
/// [`VerifyError`] when the file exists but cannot be read, a line before the last is bad, or
/// `prompts` is past the protocol's cap.
pub fn check_file(path: &Path, chain: Chain, prompts: usize) -> Result<Verdict, VerifyError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            return Err(VerifyError::Unreadable {
                path: path.to_owned(),
                reason: e.to_string(),
            })
        }
    };
    let log = read_log(&bytes).map_err(|e| VerifyError::Corrupt {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let mut verdict = check_events(&log.events, chain, prompts)?;
    verdict.file = path.to_owned();
    if let Some(torn) = log.torn_tail {
        verdict.notes.insert(
            0,
            format!(
                "line {} is torn ({}) and was ignored: a crash mid-append leaves this; every \
                 line before it is whole",
                torn.line_no, torn.reason
            ),
        );
    }
    Ok(verdict)
}

/// Checks parsed events against `chain`.
///
/// # Errors
/// [`VerifyError::TooManyPrompts`] when `prompts` is past the protocol's cap.
pub fn check_events(
    events: &[HatchEvent],
    chain: Chain,
    prompts: usize,
) -> Result<Verdict, VerifyError> {
    let chain_acts = acts(chain, prompts)?;
    let walk = walk(events, &chain_acts);
    let gap = chain_acts.get(walk.next).map(|act| {
        let ctx = Context {
            events,
            slug: walk.slug,
            run_id: walk.run_id,
            prompts,
            nodes: walk.matched.len().saturating_sub(3),
        };
        let d = diagnose(*act, walk.found, &ctx);
        Gap {
            position: walk.next + 1,
            act: act.label(),
            found: walk.found.map(ToString::to_string),
            code: d.code.to_owned(),
            cause: d.cause,
            hint: d.hint,
            evidence: d.evidence.map(describe),
        }
    });
    let notes = notes(events, &walk);
    Ok(Verdict {
        file: PathBuf::new(),
        chain,
        prompts,
        ok: gap.is_none(),
        events: events.len(),
        acts: chain_acts.len(),
        matched: walk.matched,
        gap,
        notes,
    })
}

/// How far the log follows the chain.
struct Walk<'a> {
    matched: Vec<Matched>,
    /// The play's workspace and run, once their first act is matched.
    slug: Option<&'a str>,
    run_id: Option<&'a str>,
    /// Acts of other workspaces and runs, passed over.
    skipped_other: usize,
    /// Index of the first act not matched (the chain's length when all are).
    next: usize,
    /// The event found where that act should be.
    found: Option<&'a HatchEvent>,
}

/// Matches the log's acts against `chain_acts` in order, up to the first that does not fit.
fn walk<'a>(events: &'a [HatchEvent], chain_acts: &[Act]) -> Walk<'a> {
    let t0 = events.first().map(|e| e.time);
    let mut w = Walk {
        matched: Vec::new(),
        slug: None,
        run_id: None,
        skipped_other: 0,
        next: 0,
        found: None,
    };
    for e in events.iter().filter(|e| is_act_type(e)) {
        // Once the play's workspace and run are known, other workspaces' and runs' events
        // are not this chain's business.
        let other = if e.event_type.starts_with("hearth.") {
            w.slug.is_some_and(|s| s != e.subject)
        } else {
            w.run_id.is_some_and(|r| r != e.subject)
        };
        if other {
            w.skipped_other += 1;
            continue;
        }
        let Some(act) = chain_acts.get(w.next) else {
            break;
        };
        if !act.matches(&e.event_type) {
            w.found = Some(e);
            break;
        }
        if e.event_type == types::PROVISIONING_STARTED {
            w.slug = Some(&e.subject);
        } else if e.event_type == types::RUN_STARTED {
            w.run_id = Some(&e.subject);
        }
        w.matched.push(Matched {
            act: act.label(),
            seq: e.seq,
            subject: e.subject.clone(),
            at_ms: t0.map_or(0, |t| (e.time - t).num_milliseconds()),
        });
        w.next += 1;
    }
    w
}

/// What is worth knowing beside the chain: failed nodes, other plays' events.
fn notes(events: &[HatchEvent], walk: &Walk<'_>) -> Vec<String> {
    let mut notes = Vec::new();
    let failed = events
        .iter()
        .filter(|e| {
            e.event_type == types::NODE_FAILED && walk.run_id.is_some_and(|r| r == e.subject)
        })
        .count();
    if failed > 0 {
        notes.push(format!(
            "{failed} node(s) ended failed (they still count as acts)"
        ));
    }
    if walk.skipped_other > 0 {
        notes.push(format!(
            "{} event(s) about other workspaces or runs were not part of this chain",
            walk.skipped_other
        ));
    }
    notes
}

/// What the diagnosis may look at.
struct Context<'a> {
    events: &'a [HatchEvent],
    slug: Option<&'a str>,
    run_id: Option<&'a str>,
    prompts: usize,
    /// Nodes matched before the gap.
    nodes: usize,
}

impl<'a> Context<'a> {
    /// The last event of type `ty` about `subject` (any subject when it is unknown).
    fn last(&self, ty: &str, subject: Option<&str>) -> Option<&'a HatchEvent> {
        self.events
            .iter()
            .rev()
            .find(|e| e.event_type == ty && subject.is_none_or(|s| s == e.subject))
    }
}

/// `#seq type subject: code/status/message` — the line a cause was read from.
fn describe(e: &HatchEvent) -> String {
    let mut parts = Vec::new();
    for key in ["status", "code", "reason", "outcome", "message"] {
        match e.data.get(key) {
            Some(Value::String(s)) if !s.is_empty() => parts.push(format!("{key} {s}")),
            Some(Value::Number(n)) => parts.push(format!("{key} {n}")),
            _ => {}
        }
    }
    format!("{e}: {}", parts.join(", "))
}

/// The probable cause of a missing act: a stable code, the cause, a hint, and the log line it
/// was read from.
struct Diagnosis<'a> {
    code: &'static str,
    cause: String,
    hint: String,
    evidence: Option<&'a HatchEvent>,
}

impl<'a> Diagnosis<'a> {
    fn new(
        code: &'static str,
        cause: impl Into<String>,
        hint: impl Into<String>,
        evidence: Option<&'a HatchEvent>,
    ) -> Self {
        Diagnosis {
            code,
            cause: cause.into(),
            hint: hint.into(),
            evidence,
        }
    }
}

/// The probable cause of `act` missing, from the evidence in the log.
fn diagnose<'a>(act: Act, found: Option<&'a HatchEvent>, ctx: &Context<'a>) -> Diagnosis<'a> {
    match act {
        Act::Event(types::PROVISIONING_STARTED) if ctx.events.is_empty() => Diagnosis::new(
            "no_log",
            "hearth or console never ran: the log is empty or missing",
            "start hearth and the console (make demo runs the whole play), and check the \
             console's --hatch path is the file given here",
            None,
        ),
        Act::Event(types::PROVISIONING_STARTED) => Diagnosis::new(
            "no_provision",
            "the console never asked hearth to provision a workspace",
            "the play starts with POST /api/hearth/workspaces {slug, tier}; is this the play's log?",
            found,
        ),
        Act::Event(types::PROVISIONED) => no_provisioned(found, ctx),
        Act::Event(types::RUN_STARTED) => no_run_started(found, ctx),
        Act::Node { .. } => no_node(found, ctx),
        Act::Event(types::RUN_ENDED) => match found {
            Some(e) if is_node(e) => Diagnosis::new(
                "extra_nodes",
                format!("more node events than the {} prompts given", ctx.prompts),
                "pass --prompts the run's prompt count (ralph.run.started carries it)",
                Some(e),
            ),
            _ => run_unfinished(found),
        },
        Act::Event(types::DECOMMISSION_STARTED) => match found {
            Some(e) => Diagnosis::new(
                "unexpected_act",
                format!("{} where the teardown should start", e.event_type),
                "one play is one provision, one run and one teardown; is this log several plays?",
                Some(e),
            ),
            None => Diagnosis::new(
                "no_teardown",
                "the workspace was never torn down",
                "the play's last act is DELETE /api/hearth/workspaces/{slug}",
                None,
            ),
        },
        Act::Event(types::DECOMMISSIONED) => no_decommissioned(found, ctx),
        Act::Event(other) => Diagnosis::new(
            "missing_act",
            format!("{other} is missing"),
            "see the console's log",
            found,
        ),
    }
}

/// `hearth.provisioned` is missing: hearth's failure, or a call that never returned.
fn no_provisioned<'a>(found: Option<&'a HatchEvent>, ctx: &Context<'a>) -> Diagnosis<'a> {
    let Some(e) = ctx.last(types::FAILED, ctx.slug) else {
        return Diagnosis::new(
            "provision_unfinished",
            "the provision never finished: the console or hearth stopped mid-call",
            "check the console's and hearth's logs; a restart reconciles half-made workspaces",
            found,
        );
    };
    let failure = HearthFailure::of(e).unwrap_or_default();
    let (code, cause, hint): (_, String, String) = match failure.code.as_str() {
        "docker_unavailable" => ("docker_unavailable", "Docker engine not running".into(),
            "start the engine (sudo systemctl start docker, or sudo dockerd &) or \
             point hearth's DOCKER_HOST at one; `docker version` must answer".into()),
        "image_unavailable" => ("image_unavailable", "the workspace image is not on the engine".into(),
            "run make images to build the offline stand-in, or set \
             HEARTH_IMAGE_CAIRNET / HEARTH_IMAGE_LORE to an image the engine has".into()),
        "hearth_unreachable" => ("hearth_unreachable", "hearth not running (the console could not reach its socket)".into(),
            "start `hearth serve` on the socket the console's --hearth-socket names".into()),
        "deadline_exceeded" => ("provision_deadline", "provision past its deadline".into(),
            "a service did not answer HTTP in time; see `hearth events SLUG` and the engine's health".into()),
        other => ("provision_failed", format!("hearth failed the provision ({other}): {}", failure.message),
            hint_or_log(&failure)),
    };
    Diagnosis::new(code, cause, hint, Some(e))
}

/// `ralph.run.started` is missing: the worker's refusal, or no submit at all.
fn no_run_started<'a>(found: Option<&'a HatchEvent>, ctx: &Context<'a>) -> Diagnosis<'a> {
    let Some(e) = ctx.last(types::SUBMIT_REJECTED, ctx.slug) else {
        return Diagnosis::new(
            "no_run",
            "no run was submitted to the workspace",
            "the play's second act is POST /api/ralph/runs {workspace, prompts}",
            found,
        );
    };
    let rejected = SubmitRejected::of(e).unwrap_or_default();
    let code = rejected.code.as_str();
    match (rejected.status, code) {
        (Some(401 | 403), _) => Diagnosis::new(
            "bearer_drift",
            "worker bearer drift (keys differ)",
            "give the console and the worker the same --keys lines (key_id:secret): \
             the console signs with its first line, the worker accepts every line; \
             also check both clocks agree",
            Some(e),
        ),
        (_, "worker_unreachable") => Diagnosis::new(
            "worker_unreachable",
            "the worker is not running (or not at --worker-url)",
            "start worker-stub (or ralph serve) and point the console's --worker-url at it",
            Some(e),
        ),
        (status, _) => Diagnosis::new(
            "submit_rejected",
            format!(
                "the worker refused the run ({} {code})",
                status.map_or("-".to_owned(), |n| n.to_string())
            ),
            "see the worker's log for why it refused",
            Some(e),
        ),
    }
}

/// A `ralph.node.*` is missing: rejected frames, a lost stream, too few nodes, or a run that
/// never ended.
fn no_node<'a>(found: Option<&'a HatchEvent>, ctx: &Context<'a>) -> Diagnosis<'a> {
    let rejected = ctx
        .events
        .iter()
        .filter(|e| {
            e.event_type == types::FRAME_REJECTED && ctx.run_id.is_none_or(|r| r == e.subject)
        })
        .collect::<Vec<_>>();
    let ended = ctx.last(types::RUN_ENDED, ctx.run_id);
    let lost = |e: &&HatchEvent| RunEnded::of(e).is_some_and(|r| r.outcome == "lost");
    if let Some(first) = rejected.first() {
        Diagnosis::new(
            "kahn_schema_drift",
            format!(
                "KAHN schema drift: {} frame(s) rejected, {} of {} nodes recorded",
                rejected.len(),
                ctx.nodes,
                ctx.prompts
            ),
            "the worker and the console speak different KAHN frame versions: build both \
             from the same hearth-protocol; the rejected frame's raw text and reason are in the log",
            Some(*first),
        )
    } else if let Some(e) = ended.filter(lost) {
        Diagnosis::new(
            "stream_lost",
            "the console lost the worker's event stream before every node ended",
            "check the worker is alive and reachable; the console reconnects with Last-Event-ID a few times, then gives up",
            Some(e),
        )
    } else if let Some(e) = ended {
        Diagnosis::new(
            "nodes_missing",
            format!("the run ended after {} of {} nodes", ctx.nodes, ctx.prompts),
            "check --prompts is the run's prompt count (ralph.run.started carries it)",
            Some(e),
        )
    } else {
        run_unfinished(found)
    }
}

/// `hearth.decommissioned` is missing: hearth's failure, or a call that never returned.
fn no_decommissioned<'a>(found: Option<&'a HatchEvent>, ctx: &Context<'a>) -> Diagnosis<'a> {
    let Some(e) = ctx.last(types::DECOMMISSION_FAILED, ctx.slug) else {
        return Diagnosis::new(
            "teardown_unfinished",
            "the teardown never finished: the console or hearth stopped mid-call",
            "run the teardown again (it is idempotent) and check hearth's log",
            found,
        );
    };
    let failure = HearthFailure::of(e).unwrap_or_default();
    let (code, cause, hint): (_, String, String) = match failure.code.as_str() {
        "deadline_exceeded" => (
            "teardown_deadline",
            "teardown past its deadline".into(),
            "the engine did not stop or remove the containers within hearth's \
             --teardown-timeout: look for stuck containers (docker ps), check the \
             engine's health, then sweep with make clean-docker"
                .into(),
        ),
        "docker_unavailable" => (
            "docker_unavailable",
            "Docker engine not running during the teardown".into(),
            "start the engine; a teardown retried after that removes what is left".into(),
        ),
        other => (
            "teardown_failed",
            format!("hearth failed the teardown ({other}): {}", failure.message),
            hint_or_log(&failure),
        ),
    };
    Diagnosis::new(code, cause, hint, Some(e))
}

/// hearth's own hint for a failure, or where to look when it gave none.
fn hint_or_log(failure: &HearthFailure) -> String {
    failure
        .hint
        .clone()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "see hearth's log".to_owned())
}

fn run_unfinished(found: Option<&HatchEvent>) -> Diagnosis<'_> {
    Diagnosis::new(
        "run_unfinished",
        "the run never ended in this log",
        "the console stopped mid-run, or the log was read before the run ended (wait with \
         GET /api/ralph/runs/{id}?wait=SECONDS)",
        found,
    )
}

/// The verdict as readable text.
pub fn render_text(v: &Verdict) -> String {
    let mut out = format!(
        "hatch verify: chain provision-then-ralph, {} prompts — {} ({} events)\n",
        v.prompts,
        v.file.display(),
        v.events
    );
    for (i, m) in v.matched.iter().enumerate() {
        out.push_str(&format!(
            "  ok  {:>2}/{}  {:<32} #{:<3} +{}.{:03}s  {}\n",
            i + 1,
            v.acts,
            m.act,
            m.seq,
            m.at_ms / 1000,
            m.at_ms % 1000,
            m.subject
        ));
    }
    if let Some(g) = &v.gap {
        let found = g
            .found
            .as_ref()
            .map_or("the log ends first".to_owned(), |f| {
                format!("found {f} instead")
            });
        out.push_str(&format!(
            "  !!  {:>2}/{}  {:<32} missing ({found})\n",
            g.position, v.acts, g.act
        ));
        out.push_str(&format!("cause: {}\n", g.cause));
        if let Some(e) = &g.evidence {
            out.push_str(&format!("evidence: {e}\n"));
        }
        out.push_str(&format!("hint: {}\n", g.hint));
    }
    for n in &v.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    out.push_str(&format!("verdict: {}\n", summary(v)));
    out
}

/// The verdict in one line, as `verify` prints it after `verdict: ` (and the page shows it):
/// `OK — all 10 acts in order`, or `BROKEN at act 9 of 10: … (code)`.
pub fn summary(v: &Verdict) -> String {
    match &v.gap {
        None => format!("OK — all {} acts in order", v.acts),
        Some(g) => format!(
            "BROKEN at act {} of {}: {} ({})",
            g.position, v.acts, g.act, g.code
        ),
    }
}

/// Checks a log: exit 0 on a whole chain, 1 where it breaks, 2 when it cannot be judged.
pub fn run(args: &VerifyArgs) -> ExitCode {
    match check_file(&args.file, args.chain, args.prompts) {
        Ok(v) => {
            match args.output {
                Format::Text => print!("{}", render_text(&v)),
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&v)
                        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
                ),
            }
            if v.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            match args.output {
                Format::Text => eprintln!("hatch verify: {e} ({})", e.code()),
                Format::Json => println!(
                    "{}",
                    serde_json::json!({"ok": false, "error": {"code": e.code(), "message": e.to_string()}})
                ),
            }
            ExitCode::from(2)
        }
    }
}
