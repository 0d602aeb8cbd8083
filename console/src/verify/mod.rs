//! `console hatch verify`: checks a HATCH log against a named chain of acts and, where the
//! chain breaks, names the first missing or out-of-order act, its probable cause (read from
//! the evidence in the log: `hearth.failed`, `ralph.submit_rejected`, `ralph.frame_rejected`,
//! `hearth.decommission_failed`) and a hint. A torn last line is reported, never a crash.

mod diagnose;
mod render;

use diagnose::{describe, diagnose, Context};
use hearth_protocol::hearth::ErrorCode;
pub use render::{render_text, run, summary};

use std::path::{Path, PathBuf};

use hearth_protocol::hatch::{read_log, types, HatchEvent};
use hearth_protocol::play::{self, Act};
use serde::Serialize;

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
    pub fn code(&self) -> ErrorCode {
        match self {
            VerifyError::Unreadable { .. } => ErrorCode::HatchUnreadable,
            VerifyError::Corrupt { .. } => ErrorCode::HatchCorrupt,
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
