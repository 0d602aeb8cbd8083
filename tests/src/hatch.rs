//! Reading a play's HATCH log back and asserting its chain from the file alone.

use std::path::Path;

use anyhow::{bail, Context};
use hearth_protocol::hatch::{read_log, types, HatchEvent};
use hearth_protocol::play::{self, Act};

pub use hearth_protocol::play::NODE_PREFIX;

/// Every whole event of the log at `path`; a torn last line is an error here (a play that
/// finished cleanly never leaves one).
///
/// # Errors
/// When the file cannot be read, is corrupt, or ends in a torn line.
pub fn read_events(path: &Path) -> anyhow::Result<Vec<HatchEvent>> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read HATCH log {}", path.display()))?;
    let log = read_log(&bytes).with_context(|| format!("HATCH log {}", path.display()))?;
    if let Some(torn) = log.torn_tail {
        bail!(
            "HATCH log {} ends in a torn line {} ({})",
            path.display(),
            torn.line_no,
            torn.reason
        );
    }
    Ok(log.events)
}

/// The events' types in file order.
pub fn types_of(events: &[HatchEvent]) -> Vec<&str> {
    events.iter().map(|e| e.event_type.as_str()).collect()
}

/// How many events have type `ty` (or start with it, when it ends in `.`).
pub fn count(events: &[HatchEvent], ty: &str) -> usize {
    events
        .iter()
        .filter(|e| {
            if ty.ends_with('.') {
                e.event_type.starts_with(ty)
            } else {
                e.event_type == ty
            }
        })
        .count()
}

/// The first event of type `ty`.
pub fn first<'a>(events: &'a [HatchEvent], ty: &str) -> Option<&'a HatchEvent> {
    events.iter().find(|e| e.event_type == ty)
}

/// The chain as text, one act per line with seq, offset from the first event and subject.
pub fn render(events: &[HatchEvent]) -> String {
    let Some(t0) = events.first().map(|e| e.time) else {
        return "  (no events)\n".to_owned();
    };
    let mut out = String::new();
    for e in events {
        let secs = (e.time - t0).num_milliseconds() as f64 / 1000.0;
        out.push_str(&format!(
            "  #{:<3} +{secs:.3}s  {:<30} {}\n",
            e.seq, e.event_type, e.subject
        ));
    }
    out
}

/// Asserts the whole log is exactly the play's literal chain for workspace `slug` and
/// `prompts` prompts: provisioning_started → provisioned → run.started → node.* ×prompts →
/// run.ended → decommission_started → decommissioned, nothing else; seq 1, 2, 3 …; the
/// workspace events about `slug`, the run events about one run id.
///
/// # Errors
/// A message showing the expected and the found chain.
pub fn assert_play_chain(events: &[HatchEvent], slug: &str, prompts: usize) -> anyhow::Result<()> {
    let expected: Vec<&str> = play::chain(prompts)?.into_iter().map(Act::kind).collect();
    let found: Vec<&str> = events
        .iter()
        .map(|e| {
            if play::is_node(&e.event_type) {
                play::NODE_ACT
            } else {
                e.event_type.as_str()
            }
        })
        .collect();
    if found != expected {
        bail!(
            "the HATCH chain is not the play's:\n expected: {}\n    found: {}\n{}",
            expected.join(" → "),
            found.join(" → "),
            render(events)
        );
    }
    for (i, e) in events.iter().enumerate() {
        if e.seq != i as u64 + 1 {
            bail!("event {} has seq {}, expected {}", i + 1, e.seq, i + 1);
        }
    }
    if count(events, types::RUN_STARTED) != 1 || count(events, types::RUN_ENDED) != 1 {
        bail!("expected exactly one ralph.run.started and one ralph.run.ended");
    }
    let run_id = &events[2].subject;
    for e in events {
        let about = if e.event_type.starts_with("ralph.") {
            run_id.as_str()
        } else {
            slug
        };
        if e.subject != about {
            bail!(
                "event #{} {} is about {:?}, expected {:?}",
                e.seq,
                e.event_type,
                e.subject,
                about
            );
        }
    }
    Ok(())
}
