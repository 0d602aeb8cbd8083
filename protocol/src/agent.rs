//! The agent projection (the Go hearth's): each verb call on a hearth daemon, seen as an
//! agent's invocation. With `HEARTH_AGENT_HATCH_URL` set, hearth POSTs one JSON [`AgentEvent`]
//! per step — `agent.registered` on the first call per workspace and driver,
//! `agent.invoked` when a verb starts, `agent.completed` when it ends — and the console's
//! `POST /api/relay/agent` writes each into HATCH as a CloudEvent of the same type, its
//! subject the workspace slug.
//!
//! The names follow the Go hearth's builders as its public issue describes them (`agent_id =
//! <slug>-driver-<driver>`, `capability = driver.<verb>`, `invocation_id`, `outcome`
//! `ok`/`error`, `duration_ms`); the private contract those builders were written against
//! could not be read, so anything beyond those fields is this project's.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `agent.registered`: the first verb call of a workspace on a driver.
pub const REGISTERED: &str = "agent.registered";
/// `agent.invoked`: a verb call began.
pub const INVOKED: &str = "agent.invoked";
/// `agent.completed`: a verb call ended (`outcome` says how).
pub const COMPLETED: &str = "agent.completed";

/// Every agent event type.
pub const TYPES: [&str; 3] = [REGISTERED, INVOKED, COMPLETED];

/// How a verb call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Error,
}

/// One event of the projection, as hearth POSTs it and the console keeps it as `data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentEvent {
    /// One of [`TYPES`].
    #[serde(rename = "type")]
    pub event_type: String,
    /// `<slug>-driver-<driver>`.
    pub agent_id: String,
    pub workspace_slug: String,
    /// The driver's wire name (`local-docker`, `swarm`, `kustomize`, `fake`).
    pub driver: String,
    /// `driver.<verb>` (`driver.provision`); on `agent.registered`, the verb that
    /// registered it.
    pub capability: String,
    /// Shared by the `agent.invoked` and `agent.completed` of one call; absent on
    /// `agent.registered`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocation_id: Option<String>,
    /// On `agent.completed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// On `agent.completed`: how long the call took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// On an `agent.completed` with outcome `error`: hearth's wire code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// When hearth built it.
    pub time: DateTime<Utc>,
}

impl AgentEvent {
    /// The agent id of `slug` on `driver`.
    pub fn agent_id(slug: &str, driver: &str) -> String {
        format!("{slug}-driver-{driver}")
    }

    /// Why the console would refuse this event, if it would: an unknown type, an agent id
    /// that is not `<slug>-driver-<driver>`, a capability not `driver.<verb>`, a completion
    /// without its outcome.
    pub fn problem(&self) -> Option<String> {
        if !TYPES.contains(&self.event_type.as_str()) {
            return Some(format!(
                "type {:?} is not an agent event (expected one of {})",
                self.event_type,
                TYPES.join(", ")
            ));
        }
        if self.agent_id != Self::agent_id(&self.workspace_slug, &self.driver) {
            return Some(format!(
                "agent_id {:?} is not <workspace_slug>-driver-<driver>",
                self.agent_id
            ));
        }
        let verb = self.capability.strip_prefix("driver.").unwrap_or_default();
        if verb.is_empty() || !verb.bytes().all(|b| b.is_ascii_lowercase()) {
            return Some(format!(
                "capability {:?} is not driver.<verb>",
                self.capability
            ));
        }
        let is_call = self.event_type != REGISTERED;
        if is_call && self.invocation_id.as_deref().is_none_or(str::is_empty) {
            return Some(format!("{} needs an invocation_id", self.event_type));
        }
        if self.event_type == COMPLETED && (self.outcome.is_none() || self.duration_ms.is_none()) {
            return Some("agent.completed needs its outcome and duration_ms".into());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn completed() -> AgentEvent {
        AgentEvent {
            event_type: COMPLETED.into(),
            agent_id: AgentEvent::agent_id("demo", "kustomize"),
            workspace_slug: "demo".into(),
            driver: "kustomize".into(),
            capability: "driver.provision".into(),
            invocation_id: Some("abc".into()),
            outcome: Some(Outcome::Ok),
            duration_ms: Some(12),
            error_code: None,
            time: Utc::now(),
        }
    }

    #[test]
    fn the_wire_names_are_the_go_hearths() {
        let v = serde_json::to_value(completed()).expect("ser");
        assert_eq!(v["type"], "agent.completed");
        assert_eq!(v["agent_id"], "demo-driver-kustomize");
        assert_eq!(v["capability"], "driver.provision");
        assert_eq!(v["outcome"], "ok");
        assert_eq!(v["duration_ms"], 12);
        assert!(v.get("error_code").is_none(), "absent, not null");
        assert_eq!(completed().problem(), None);
    }

    #[test]
    fn malformed_events_are_named() {
        let mut e = completed();
        e.agent_id = "other".into();
        assert!(e.problem().expect("bad id").contains("agent_id"));
        let mut e = completed();
        e.outcome = None;
        assert!(e.problem().expect("no outcome").contains("outcome"));
        let mut e = completed();
        e.event_type = "hearth.provisioned".into();
        assert!(e
            .problem()
            .expect("not agent")
            .contains("not an agent event"));
        let mut e = completed();
        e.capability = "provision".into();
        assert!(e.problem().expect("cap").contains("driver.<verb>"));
    }
}
