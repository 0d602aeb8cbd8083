//! The payload (`data`) of each HATCH event type, one struct per shape. The console builds
//! these when it writes an event; `console hatch verify` and the page read them back. Their
//! JSON is the log's format: field names are the wire names, and a field marked as omitted
//! when absent is left out of the line rather than written as `null`.
//!
//! The page (`console/assets/app.js`) reads [`RunStarted`], [`NodeEnded`] and [`RunEnded`] by
//! these names too.
//!
//! Readers are lenient: a field missing from a line reads as its default (an empty string,
//! zero, `None`), so a log written by an older console still reads.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::HatchEvent;
use crate::error_code::ErrorCode;
use crate::hearth::{DriverName, PoolClaim, ServiceRef, Status, Tier};

/// A payload: written as an event's `data`, read back from it.
pub trait Payload: Serialize + DeserializeOwned {
    /// The payload as event data.
    fn to_data(&self) -> Value {
        // Structs of strings, numbers and options always serialize.
        serde_json::to_value(self).unwrap_or_default()
    }

    /// The payload `event` carries, if its data has this shape.
    fn of(event: &HatchEvent) -> Option<Self> {
        Self::deserialize(&event.data).ok()
    }
}

/// How long an act took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timing {
    pub elapsed_ms: u64,
}

/// `hearth.provisioning_started`: written before the console asks hearth to provision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProvisioningStarted {
    pub slug: String,
    pub tier: Tier,
}

/// `hearth.provisioned`, `hearth.paused`, `hearth.resumed`, `hearth.hibernated`,
/// `hearth.upgraded`: the workspace's ref as hearth answered it, and how long the call took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkspaceRef {
    pub workspace_slug: String,
    pub tier: Tier,
    pub driver: DriverName,
    pub endpoint: String,
    pub status: Status,
    pub services: Vec<ServiceRef>,
    pub timing: Timing,
    /// The warm-pool member the workspace was claimed from; omitted for a cold provision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<PoolClaim>,
}

/// `hearth.failed`, `hearth.decommission_failed`: hearth's error and how long the call took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HearthFailure {
    /// hearth's wire code, or `hearth_unreachable` / `deadline_exceeded`.
    pub code: ErrorCode,
    pub message: String,
    /// Written as `null` when hearth gave none.
    pub hint: Option<String>,
    pub elapsed_ms: u64,
}

impl Default for HearthFailure {
    fn default() -> Self {
        HearthFailure {
            code: ErrorCode::Unknown(String::new()),
            message: String::new(),
            hint: None,
            elapsed_ms: 0,
        }
    }
}

/// `hearth.decommission_started`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecommissionStarted {
    pub slug: String,
}

/// `hearth.decommissioned`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decommissioned {
    pub slug: String,
    pub timing: Timing,
}

/// `hearth.woken`: a hibernated workspace woken so a run could use it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Woken {
    pub slug: String,
    pub endpoint: String,
    pub status: Status,
    /// Why it was woken (`run submitted`).
    pub reason: String,
}

/// `ralph.run.started`: the worker accepted a run (subject: the run id).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunStarted {
    pub run_id: String,
    /// The workspace the run uses.
    pub workspace: String,
    pub endpoint: String,
    /// How many prompts (one `ralph.node.*` each) the run has; the console always writes
    /// it, a reader finds `None` in a line without it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompts: Option<u64>,
}

/// `ralph.submit_rejected`: the worker refused a submit, or could not be reached.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SubmitRejected {
    pub workspace: String,
    pub prompts: u64,
    /// The worker's HTTP status; `null` when it was not reached.
    pub status: Option<u16>,
    /// The worker's code, or `worker_unreachable` / `bad_answer`.
    pub code: String,
    pub message: String,
}

/// `ralph.node.succeeded`, `ralph.node.failed`: one node at its terminal transition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeEnded {
    pub run_id: String,
    pub node: String,
    pub index: u32,
    pub attempts: u32,
    pub duration_ms: u64,
    /// Why the node failed; `null` when it did not.
    pub error: Option<String>,
}

/// `ralph.frame_rejected`: a frame from the worker that was not counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameRejected {
    pub run_id: String,
    /// The frame's SSE id; `null` when it had none.
    pub frame_id: Option<String>,
    /// Stable code (`missing_id`, `invalid_frame_id`, `run_id_mismatch`, `node_out_of_range`,
    /// a KAHN code, …; `rejections_suppressed` for the one summary after the cap).
    pub reason: String,
    pub message: String,
    /// The start of the frame's raw text.
    pub raw: String,
    /// On the summary event only: how many rejected frames past the per-run cap were counted
    /// but not logged one by one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<u64>,
}

/// `ralph.run.ended`: the run ended (or was lost), with what the console counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunEnded {
    pub run_id: String,
    pub prompts_expected: u64,
    pub nodes_recorded: u64,
    pub nodes_succeeded: u64,
    pub nodes_failed: u64,
    pub frames_rejected: u64,
    pub duration_ms: u64,
    /// `succeeded`, `failed`, `incomplete` (the worker's word not taken: nodes missing or
    /// frames rejected) or `lost` (the stream could not be followed to its end).
    pub outcome: String,
    /// What the worker said; omitted when the run was lost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker_outcome: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker_nodes_succeeded: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker_nodes_failed: Option<u32>,
    /// Why the run was lost; omitted otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Payload for ProvisioningStarted {}
impl Payload for WorkspaceRef {}
impl Payload for HearthFailure {}
impl Payload for DecommissionStarted {}
impl Payload for Decommissioned {}
impl Payload for Woken {}
impl Payload for RunStarted {}
impl Payload for SubmitRejected {}
impl Payload for NodeEnded {}
impl Payload for FrameRejected {}
impl Payload for RunEnded {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn optional_fields_are_null_or_omitted_as_the_log_has_them() {
        let failure = HearthFailure {
            code: ErrorCode::DockerUnavailable,
            message: "m".into(),
            hint: None,
            elapsed_ms: 3,
        };
        assert_eq!(
            failure.to_data(),
            json!({"code": "docker_unavailable", "message": "m", "hint": null, "elapsed_ms": 3})
        );
        let lost = RunEnded {
            run_id: "r".into(),
            outcome: "lost".into(),
            reason: Some("gone".into()),
            ..RunEnded::default()
        };
        let data = lost.to_data();
        assert!(data.get("worker_outcome").is_none(), "{data}");
        assert_eq!(data["reason"], "gone");
        assert_eq!(data["nodes_recorded"], 0);
    }

    #[test]
    fn a_cold_workspace_ref_has_no_pool_key() {
        let r = WorkspaceRef {
            workspace_slug: "acme".into(),
            tier: Tier::Solo,
            driver: DriverName::Fake,
            endpoint: "http://127.0.0.1:1".into(),
            status: Status::Ready,
            services: Vec::new(),
            timing: Timing { elapsed_ms: 7 },
            pool: None,
        };
        let data = r.to_data();
        let keys: Vec<&str> = data
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "driver",
                "endpoint",
                "services",
                "status",
                "tier",
                "timing",
                "workspace_slug"
            ]
        );
        assert_eq!(data["timing"], json!({"elapsed_ms": 7}));
    }

    #[test]
    fn readers_take_missing_fields_as_defaults() {
        let e = HatchEvent::new("i", "s", super::super::types::FAILED, "a", 1, json!({}));
        let f = HearthFailure::of(&e).expect("lenient");
        assert_eq!(f.code.as_str(), "");
        let e = HatchEvent::new(
            "i",
            "s",
            super::super::types::RUN_STARTED,
            "r",
            1,
            json!({"prompts": 2}),
        );
        assert_eq!(RunStarted::of(&e).and_then(|r| r.prompts), Some(2));
    }
}
