//! The lifecycle verbs, one enum shared by hearth's RPC route table, its CLI, the client, the
//! Fake driver's faults and the console's actions. Everything a verb shows on hearth's wire
//! (its name, its route, the shape of its request and answer) is a full match here, so a new
//! verb is named by the compiler in every place that must decide. What a verb does to a
//! workspace's status is hearth's business (`hearth/src/lifecycle.rs`); the HATCH event the
//! console writes for it, the console's (`console/src/routes/workspaces.rs`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A lifecycle verb. Its name (`as_str`, serde) is the RPC path's last segment, the CLI
/// subcommand, the fault syntax's `VERB` and the console's action segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verb {
    Provision,
    Upgrade,
    Teardown,
    Pause,
    Resume,
    Hibernate,
}

/// The request a verb's route takes and the answer it gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// [`crate::hearth::ProvisionRequest`] → the ref.
    Provision,
    /// [`crate::hearth::UpgradeRequest`] → the ref.
    Upgrade,
    /// [`crate::hearth::RefRequest`] → [`crate::hearth::OkResponse`].
    Remove,
    /// [`crate::hearth::RefRequest`] → the ref: a verb on a workspace that exists, with no
    /// argument. Routes, the CLI, the client and the console handle every such verb alike.
    Act,
}

impl Verb {
    /// How many verbs there are.
    pub const COUNT: usize = {
        let mut n = 0;
        let mut next = Some(Verb::Provision);
        while let Some(v) = next {
            n += 1;
            next = v.after();
        }
        n
    };

    /// Every verb, in the order the CLI and the docs list them: walked from `Verb::after`, so
    /// a new verb is in it as soon as the compiler has made `after` name it.
    pub const ALL: [Verb; Verb::COUNT] = {
        let mut all = [Verb::Provision; Verb::COUNT];
        let mut i = 0;
        let mut next = Some(Verb::Provision);
        while let Some(v) = next {
            all[i] = v;
            i += 1;
            next = v.after();
        }
        all
    };

    /// The verb listed after this one (`None` after the last): the one place the order is
    /// written, a full match, so no verb can be left out of [`Verb::ALL`].
    const fn after(self) -> Option<Verb> {
        match self {
            Verb::Provision => Some(Verb::Upgrade),
            Verb::Upgrade => Some(Verb::Teardown),
            Verb::Teardown => Some(Verb::Pause),
            Verb::Pause => Some(Verb::Resume),
            Verb::Resume => Some(Verb::Hibernate),
            Verb::Hibernate => None,
        }
    }

    /// The verb's name, as it appears on the wire, in errors, logs and step names.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Provision => "provision",
            Verb::Upgrade => "upgrade",
            Verb::Teardown => "teardown",
            Verb::Pause => "pause",
            Verb::Resume => "resume",
            Verb::Hibernate => "hibernate",
        }
    }

    /// The RPC route (`POST`).
    pub fn path(self) -> &'static str {
        match self {
            Verb::Provision => "/v1/provision",
            Verb::Upgrade => "/v1/upgrade",
            Verb::Teardown => "/v1/teardown",
            Verb::Pause => "/v1/pause",
            Verb::Resume => "/v1/resume",
            Verb::Hibernate => "/v1/hibernate",
        }
    }

    /// The request the route takes and the answer it gives.
    pub fn shape(self) -> Shape {
        match self {
            Verb::Provision => Shape::Provision,
            Verb::Upgrade => Shape::Upgrade,
            Verb::Teardown => Shape::Remove,
            Verb::Pause | Verb::Resume | Verb::Hibernate => Shape::Act,
        }
    }

    /// What the verb does, in one line (the CLI's help for its subcommand).
    pub fn about(self) -> &'static str {
        match self {
            Verb::Provision => {
                "Provision a workspace (idempotent) and wait until every service answers"
            }
            Verb::Upgrade => "Change a live workspace's tier or caps, keeping its slug and data",
            Verb::Teardown => {
                "Tear a workspace down: every container, network and volume (irreversible, \
                 idempotent)"
            }
            Verb::Pause => "Freeze a ready workspace's services",
            Verb::Resume => {
                "Thaw a paused workspace, or wake a hibernated (or failed) one, keeping its data"
            }
            Verb::Hibernate => {
                "Stop a ready workspace's services, keeping its network and data volumes"
            }
        }
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no verb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownVerb(pub String);

impl fmt::Display for UnknownVerb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Verb::ALL.iter().map(|v| v.as_str()).collect();
        write!(
            f,
            "unknown verb {:?} (expected one of {})",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownVerb {}

impl FromStr for Verb {
    type Err = UnknownVerb;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Verb::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownVerb(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for v in Verb::ALL {
            assert_eq!(v.as_str().parse::<Verb>(), Ok(v));
            assert_eq!(serde_json::to_string(&v).expect("json"), format!("\"{v}\""));
            assert_eq!(v.path(), format!("/v1/{v}"));
        }
        assert!("wake".parse::<Verb>().is_err());
    }

    #[test]
    fn all_lists_each_verb_once_in_the_documented_order() {
        assert_eq!(
            Verb::ALL.map(Verb::as_str),
            [
                "provision",
                "upgrade",
                "teardown",
                "pause",
                "resume",
                "hibernate"
            ]
        );
    }
}
