//! The play's HATCH chain, defined once: `hearth.provisioning_started → hearth.provisioned →
//! ralph.run.started → ralph.node.* (one per prompt) → ralph.run.ended →
//! hearth.decommission_started → hearth.decommissioned`. `console hatch verify` checks a log
//! against it and the end-to-end tests assert it, from this one list.

use crate::hatch::types;

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

/// The play's chain for `prompts` prompts.
pub fn chain(prompts: usize) -> Vec<Act> {
    let mut acts: Vec<Act> = OPENING.into_iter().map(Act::Event).collect();
    acts.extend((1..=prompts).map(|n| Act::Node { n, of: prompts }));
    acts.extend(CLOSING.into_iter().map(Act::Event));
    acts
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
        let kinds: Vec<&str> = chain(2).into_iter().map(Act::kind).collect();
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
        assert_eq!(chain(2)[4].label(), "ralph.node.* (2 of 2)");
        assert!(is_act("ralph.node.failed") && !is_act(types::FAILED));
    }
}
