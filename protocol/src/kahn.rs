//! KAHN frames: the versioned events a worker streams over SSE while it runs a job, defined
//! once for the worker that writes them and the console that reads them.
//!
//! Each SSE event carries `event: <type>`, `id: <sequence number in the run, from 0>` and a
//! `data:` line of JSON with `"kahn": 1` and a `"type"` tag:
//!
//! - `run_started {run_id, workspace, prompts}` (`prompts` is the count),
//! - `node_attempt {run_id, node, index, attempt, prompt}` (`node` is `n<index>`),
//! - `node_transition {run_id, node, index, attempt, from, to, duration_ms, error?}`,
//! - `run_ended {run_id, outcome, nodes_succeeded, nodes_failed}`.
//!
//! Fields this version does not know (the optional KILN fields such as `kiln: {…}`) are
//! tolerated and ignored.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The frame format version every frame carries as `"kahn"`.
pub const KAHN_VERSION: u64 = 1;

/// Why a `data:` payload is not a KAHN frame this version understands. The console records
/// these as `ralph.frame_rejected` with the [`code`](KahnError::code) and the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KahnError {
    #[error("frame is not JSON: {0}")]
    NotJson(String),
    #[error("frame is not a JSON object")]
    NotObject,
    #[error("frame has no \"kahn\" version field")]
    MissingVersion,
    #[error("frame has kahn version {found}, this reader speaks {KAHN_VERSION}")]
    WrongVersion { found: String },
    #[error("frame has no string \"type\" field")]
    MissingType,
    #[error("unknown frame type '{0}'")]
    UnknownType(String),
    #[error("invalid {ty} frame: {reason}")]
    InvalidFields { ty: String, reason: String },
}

impl KahnError {
    /// The stable snake_case code for the wire and the audit log.
    pub fn code(&self) -> &'static str {
        match self {
            KahnError::NotJson(_) => "not_json",
            KahnError::NotObject => "not_object",
            KahnError::MissingVersion => "missing_version",
            KahnError::WrongVersion { .. } => "wrong_version",
            KahnError::MissingType => "missing_type",
            KahnError::UnknownType(_) => "unknown_type",
            KahnError::InvalidFields { .. } => "invalid_fields",
        }
    }
}

/// Where a node is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    Running,
    Succeeded,
    Failed,
}

impl NodeState {
    /// True for the states a node never leaves.
    pub fn is_terminal(self) -> bool {
        match self {
            NodeState::Running => false,
            NodeState::Succeeded | NodeState::Failed => true,
        }
    }

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Running => "running",
            NodeState::Succeeded => "succeeded",
            NodeState::Failed => "failed",
        }
    }
}

/// How a whole run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    Succeeded,
    Failed,
}

/// The run was accepted and begins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunStarted {
    pub run_id: String,
    pub workspace: String,
    /// How many prompts (and so nodes) the run has.
    pub prompts: u32,
}

/// A node begins an attempt at its prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAttempt {
    pub run_id: String,
    /// `n<index>`.
    pub node: String,
    /// The prompt's position in the submitted list, from 0.
    pub index: u32,
    /// From 1.
    pub attempt: u32,
    pub prompt: String,
}

/// A node changed state; terminal when `to` is succeeded or failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeTransition {
    pub run_id: String,
    pub node: String,
    pub index: u32,
    pub attempt: u32,
    pub from: NodeState,
    pub to: NodeState,
    pub duration_ms: u64,
    /// Why the node failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl NodeTransition {
    /// True when the node is done (succeeded or failed).
    pub fn is_terminal(&self) -> bool {
        self.to.is_terminal()
    }
}

/// The run is over; no frame follows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunEnded {
    pub run_id: String,
    pub outcome: RunOutcome,
    pub nodes_succeeded: u32,
    pub nodes_failed: u32,
}

/// One KAHN frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Frame {
    RunStarted(RunStarted),
    NodeAttempt(NodeAttempt),
    NodeTransition(NodeTransition),
    RunEnded(RunEnded),
}

/// The frame types this version knows, as spelled in `type` and in SSE `event:`.
pub const FRAME_TYPES: [&str; 4] = [
    "run_started",
    "node_attempt",
    "node_transition",
    "run_ended",
];

/// The wire shape: the version beside the tagged frame.
#[derive(Serialize)]
struct Versioned<'a> {
    kahn: u64,
    #[serde(flatten)]
    frame: &'a Frame,
}

impl Frame {
    /// Parses an SSE `data:` payload, checking the version and type before the fields so the
    /// error says what is wrong.
    ///
    /// # Errors
    /// A [`KahnError`] naming the first problem found.
    pub fn parse(data: &str) -> Result<Frame, KahnError> {
        let value: Value =
            serde_json::from_str(data).map_err(|e| KahnError::NotJson(e.to_string()))?;
        let obj = value.as_object().ok_or(KahnError::NotObject)?;
        match obj.get("kahn") {
            None => return Err(KahnError::MissingVersion),
            Some(v) if v.as_u64() == Some(KAHN_VERSION) => {}
            Some(v) => {
                return Err(KahnError::WrongVersion {
                    found: v.to_string(),
                })
            }
        }
        let ty = obj
            .get("type")
            .and_then(Value::as_str)
            .ok_or(KahnError::MissingType)?;
        if !FRAME_TYPES.contains(&ty) {
            return Err(KahnError::UnknownType(ty.to_owned()));
        }
        let ty = ty.to_owned();
        serde_json::from_value(value).map_err(|e| KahnError::InvalidFields {
            ty,
            reason: e.to_string(),
        })
    }

    /// The JSON for the SSE `data:` line, with `"kahn": 1`.
    pub fn to_sse_data(&self) -> String {
        serde_json::to_string(&Versioned {
            kahn: KAHN_VERSION,
            frame: self,
        })
        .expect("frames always serialize")
    }

    /// The frame's type, also the SSE `event:` name.
    pub fn event_type(&self) -> &'static str {
        match self {
            Frame::RunStarted(_) => "run_started",
            Frame::NodeAttempt(_) => "node_attempt",
            Frame::NodeTransition(_) => "node_transition",
            Frame::RunEnded(_) => "run_ended",
        }
    }

    /// The run the frame belongs to.
    pub fn run_id(&self) -> &str {
        match self {
            Frame::RunStarted(f) => &f.run_id,
            Frame::NodeAttempt(f) => &f.run_id,
            Frame::NodeTransition(f) => &f.run_id,
            Frame::RunEnded(f) => &f.run_id,
        }
    }

    /// True for `run_ended`, after which the stream closes.
    pub fn is_last(&self) -> bool {
        matches!(self, Frame::RunEnded(_))
    }
}

/// The node name for a prompt index: `n<index>`.
pub fn node_name(index: u32) -> String {
    format!("n{index}")
}
