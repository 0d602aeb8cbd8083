//! Naming the cause where the chain breaks: the evidence the log holds for a missing act
//! (`hearth.failed`, `ralph.submit_rejected`, `ralph.frame_rejected`,
//! `hearth.decommission_failed`), turned into a gap with its code, cause and hint.

use hearth_protocol::hatch::payload::{HearthFailure, Payload, RunEnded, SubmitRejected};
use hearth_protocol::hatch::{types, HatchEvent};
use hearth_protocol::play::Act;
use serde_json::Value;

use super::*;

/// What the diagnosis may look at.
pub(super) struct Context<'a> {
    pub(super) events: &'a [HatchEvent],
    pub(super) slug: Option<&'a str>,
    pub(super) run_id: Option<&'a str>,
    pub(super) prompts: usize,
    /// Nodes matched before the gap.
    pub(super) nodes: usize,
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
pub(super) fn describe(e: &HatchEvent) -> String {
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
pub(super) struct Diagnosis<'a> {
    pub(super) code: &'static str,
    pub(super) cause: String,
    pub(super) hint: String,
    pub(super) evidence: Option<&'a HatchEvent>,
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
pub(super) fn diagnose<'a>(
    act: Act,
    found: Option<&'a HatchEvent>,
    ctx: &Context<'a>,
) -> Diagnosis<'a> {
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
