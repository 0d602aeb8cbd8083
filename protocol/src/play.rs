//! The play's HATCH chain, defined once: `hearth.provisioning_started → hearth.provisioned →
//! ralph.run.started → ralph.node.* (one per prompt) → ralph.run.ended →
//! hearth.decommission_started → hearth.decommissioned`. `console hatch verify` checks a log
//! against it and the end-to-end tests assert it, from this one list.

use crate::error_code::ErrorCode;
use crate::hatch::types;
use crate::limits::MAX_PROMPTS;

/// The node events' common prefix (`ralph.node.succeeded`, `ralph.node.failed`).
pub const NODE_PREFIX: &str = "ralph.node.";

/// How a node act reads in a chain: either node event counts.
pub const NODE_ACT: &str = "ralph.node.*";

/// The acts before the nodes.
pub const OPENING: [&str; 3] = [
    types::PROVISIONING_STARTED,
    types::PROVISIONED,
    types::RUN_STARTED,
];

/// The acts after the nodes.
pub const CLOSING: [&str; 3] = [
    types::RUN_ENDED,
    types::DECOMMISSION_STARTED,
    types::DECOMMISSIONED,
];

/// One act of the play's chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// An event of exactly this type.
    Event(&'static str),
    /// The `n`th (1-based) `ralph.node.*` of `of`.
    Node {
        /// Which node, from 1.
        n: usize,
        /// How many the chain has.
        of: usize,
    },
}

impl Act {
    /// The act as a verdict names it: the event type, or `ralph.node.* (n of m)`.
    pub fn label(self) -> String {
        match self {
            Act::Event(t) => t.to_owned(),
            Act::Node { n, of } => format!("{NODE_ACT} ({n} of {of})"),
        }
    }

    /// The act's type, a node act as [`NODE_ACT`].
    pub fn kind(self) -> &'static str {
        match self {
            Act::Event(t) => t,
            Act::Node { .. } => NODE_ACT,
        }
    }

    /// Whether an event of type `event_type` is this act.
    pub fn matches(self, event_type: &str) -> bool {
        match self {
            Act::Event(t) => event_type == t,
            Act::Node { .. } => is_node(event_type),
        }
    }
}

/// Whether `event_type` is a node event.
pub fn is_node(event_type: &str) -> bool {
    event_type.starts_with(NODE_PREFIX)
}

/// A prompt count no run can have: past [`MAX_PROMPTS`], which the console and the worker
/// both refuse at the door. A log (or a `--prompts`) naming one did not come from a real run,
/// and a chain of that length is not built (it would be gigabytes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{prompts} prompts is over the protocol's cap of {MAX_PROMPTS} a run (limits::MAX_PROMPTS); \
     no run the console submits can have that many"
)]
pub struct TooManyPrompts {
    /// The count asked for, as it came (a log's number may not fit a `usize`).
    pub prompts: u64,
}

impl TooManyPrompts {
    /// The stable snake_case code.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::TooManyPrompts
    }
}

/// `prompts` as a count a chain can be built for.
///
/// # Errors
/// [`TooManyPrompts`] past [`MAX_PROMPTS`].
pub fn prompt_count(prompts: u64) -> Result<usize, TooManyPrompts> {
    usize::try_from(prompts)
        .ok()
        .filter(|n| *n <= MAX_PROMPTS)
        .ok_or(TooManyPrompts { prompts })
}

/// The play's chain for `prompts` prompts.
///
/// # Errors
/// [`TooManyPrompts`] past [`MAX_PROMPTS`].
pub fn chain(prompts: usize) -> Result<Vec<Act>, TooManyPrompts> {
    let prompts = prompt_count(prompts as u64)?;
    let mut acts: Vec<Act> = OPENING.into_iter().map(Act::Event).collect();
    acts.extend((1..=prompts).map(|n| Act::Node { n, of: prompts }));
    acts.extend(CLOSING.into_iter().map(Act::Event));
    Ok(acts)
}

/// Whether an event of type `event_type` is one of the chain's acts (evidence events such as
/// `hearth.failed` are not).
pub fn is_act(event_type: &str) -> bool {
    is_node(event_type) || OPENING.contains(&event_type) || CLOSING.contains(&event_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_frames_one_node_per_prompt() {
        let kinds: Vec<&str> = chain(2).expect("2").into_iter().map(Act::kind).collect();
        assert_eq!(
            kinds,
            [
                "hearth.provisioning_started",
                "hearth.provisioned",
                "ralph.run.started",
                "ralph.node.*",
                "ralph.node.*",
                "ralph.run.ended",
                "hearth.decommission_started",
                "hearth.decommissioned",
            ]
        );
        assert_eq!(chain(2).expect("2")[4].label(), "ralph.node.* (2 of 2)");
        assert!(is_act("ralph.node.failed") && !is_act(types::FAILED));
    }

    #[test]
    fn a_chain_past_the_prompt_cap_is_refused_not_built() {
        assert_eq!(chain(MAX_PROMPTS).map(|c| c.len()), Ok(MAX_PROMPTS + 6));
        for n in [
            MAX_PROMPTS as u64 + 1,
            150_000_000,
            1_000_000_000_000,
            u64::MAX,
        ] {
            let e = prompt_count(n).expect_err("over the cap");
            assert_eq!(e, TooManyPrompts { prompts: n });
            assert!(e.to_string().contains("cap of 64"), "{e}");
            assert_eq!(e.code(), "too_many_prompts");
        }
        assert!(chain(150_000_000).is_err() && chain(usize::MAX).is_err());
    }
}
