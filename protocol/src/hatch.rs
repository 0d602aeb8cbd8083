//! HATCH, the audit log: one CloudEvents 1.0 structured JSON event per line, append-only.
//!
//! The envelope ([`HatchEvent`]), the event type names ([`types`]) and the tolerant reader
//! ([`read_log`]) are defined here once, so the console's sink and `hatch verify` cannot drift.
//! A crash can leave the last line half-written: the reader returns every good line before it
//! and reports the torn tail instead of failing. A bad line anywhere else is corruption.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub mod payload;

/// The CloudEvents spec version every HATCH line carries.
pub const SPECVERSION: &str = "1.0";

/// Longest `id`, `source`, `type` or `subject` a line may carry, in bytes (subjects are slugs
/// and run ids, both far shorter).
pub const MAX_FIELD_BYTES: usize = 256;

/// The `source` the console stamps on the events it writes.
pub const CONSOLE_SOURCE: &str = "urn:hearth:console";

/// The event type names. A chain in `hatch verify` is a sequence of these.
pub mod types {
    /// Written before the console asks hearth to provision (subject: the slug).
    pub const PROVISIONING_STARTED: &str = "hearth.provisioning_started";
    /// Provision succeeded; data is the deployment ref.
    pub const PROVISIONED: &str = "hearth.provisioned";
    /// Provision failed; data is `{code, message, hint}`.
    pub const FAILED: &str = "hearth.failed";
    /// Written before the console asks hearth to tear a workspace down.
    pub const DECOMMISSION_STARTED: &str = "hearth.decommission_started";
    /// Teardown succeeded.
    pub const DECOMMISSIONED: &str = "hearth.decommissioned";
    /// Teardown failed; data is `{code, message, hint}`.
    pub const DECOMMISSION_FAILED: &str = "hearth.decommission_failed";
    /// The worker accepted a run (subject: the run id).
    pub const RUN_STARTED: &str = "ralph.run.started";
    /// One node reached `succeeded`.
    pub const NODE_SUCCEEDED: &str = "ralph.node.succeeded";
    /// One node reached `failed`.
    pub const NODE_FAILED: &str = "ralph.node.failed";
    /// The run ended (or was lost); data carries the outcome and counts.
    pub const RUN_ENDED: &str = "ralph.run.ended";
    /// The worker refused a submit (bearer drift, bad request, …).
    pub const SUBMIT_REJECTED: &str = "ralph.submit_rejected";
    /// A frame from the worker broke the KAHN schema and was not counted.
    pub const FRAME_REJECTED: &str = "ralph.frame_rejected";
    /// A hibernated workspace was woken so a run could use it.
    pub const WOKEN: &str = "hearth.woken";
    /// A workspace was paused.
    pub const PAUSED: &str = "hearth.paused";
    /// A paused or hibernated workspace was resumed.
    pub const RESUMED: &str = "hearth.resumed";
    /// A workspace was hibernated.
    pub const HIBERNATED: &str = "hearth.hibernated";
    /// A workspace moved to another tier.
    pub const UPGRADED: &str = "hearth.upgraded";
    /// The agent projection, relayed from hearth (see [`crate::agent`]): evidence, never an
    /// act of a chain.
    pub const AGENT_REGISTERED: &str = crate::agent::REGISTERED;
    /// A verb call on hearth began.
    pub const AGENT_INVOKED: &str = crate::agent::INVOKED;
    /// A verb call on hearth ended.
    pub const AGENT_COMPLETED: &str = crate::agent::COMPLETED;

    /// Every known type, for validation and documentation.
    pub const ALL: &[&str] = &[
        PROVISIONING_STARTED,
        PROVISIONED,
        FAILED,
        DECOMMISSION_STARTED,
        DECOMMISSIONED,
        DECOMMISSION_FAILED,
        RUN_STARTED,
        NODE_SUCCEEDED,
        NODE_FAILED,
        RUN_ENDED,
        SUBMIT_REJECTED,
        FRAME_REJECTED,
        WOKEN,
        PAUSED,
        RESUMED,
        HIBERNATED,
        UPGRADED,
        AGENT_REGISTERED,
        AGENT_INVOKED,
        AGENT_COMPLETED,
    ];
}

/// One HATCH line: a CloudEvents 1.0 structured event plus the log's own `seq`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HatchEvent {
    /// Always [`SPECVERSION`].
    pub specversion: String,
    /// Unique per event (a UUID v4 from the console).
    pub id: String,
    /// Who wrote it, a URI (`urn:hearth:console`).
    pub source: String,
    /// One of [`types`].
    #[serde(rename = "type")]
    pub event_type: String,
    /// When it was written (RFC 3339, UTC).
    pub time: DateTime<Utc>,
    /// What it is about: a workspace slug or a run id.
    pub subject: String,
    /// Position in the log: 1 for the first line, +1 per line, continuing across restarts.
    pub seq: u64,
    /// The event's payload; its shape depends on `type`.
    #[serde(default)]
    pub data: serde_json::Value,
}

impl HatchEvent {
    /// An event stamped with [`SPECVERSION`] and the current time.
    pub fn new(
        id: impl Into<String>,
        source: impl Into<String>,
        event_type: impl Into<String>,
        subject: impl Into<String>,
        seq: u64,
        data: serde_json::Value,
    ) -> Self {
        HatchEvent {
            specversion: SPECVERSION.to_owned(),
            id: id.into(),
            source: source.into(),
            event_type: event_type.into(),
            time: Utc::now(),
            subject: subject.into(),
            seq,
            data,
        }
    }

    /// The event as one log line, newline included.
    pub fn to_line(&self) -> String {
        // A struct of strings, numbers and a `Value` always serializes.
        let mut line = serde_json::to_string(self).unwrap_or_default();
        line.push('\n');
        line
    }

    /// The event as one log line, newline included, if its reader would take it back: the
    /// sink writes only what this returns, so it never writes a line [`read_log`] refuses.
    ///
    /// # Errors
    /// The reason the envelope is not one a reader accepts (as [`check`](Self::check)).
    pub fn encode_line(&self) -> Result<String, String> {
        self.check()?;
        Ok(self.to_line())
    }

    /// Parses one line (without its newline) and checks the envelope.
    ///
    /// # Errors
    /// The reason the line is not a HATCH event.
    pub fn parse_line(line: &str) -> Result<Self, String> {
        let event: HatchEvent = serde_json::from_str(line).map_err(|e| e.to_string())?;
        event.check()?;
        Ok(event)
    }

    /// The envelope rule, one definition for the writer ([`encode_line`](Self::encode_line))
    /// and the reader ([`parse_line`](Self::parse_line)).
    ///
    /// # Errors
    /// Which rule the envelope breaks.
    pub fn check(&self) -> Result<(), String> {
        if self.specversion != SPECVERSION {
            return Err(format!(
                "specversion {:?}, expected \"1.0\"",
                self.specversion
            ));
        }
        if self.seq == 0 {
            return Err("seq 0 (seq starts at 1)".to_owned());
        }
        // These fields become SSE fields (`event:`, `id:`) and log fields downstream: a line
        // break in one would split a frame, so a line holding one is not a HATCH event. The
        // cap keeps one outside value from making every line it names huge.
        for (field, value) in [
            ("id", &self.id),
            ("source", &self.source),
            ("type", &self.event_type),
            ("subject", &self.subject),
        ] {
            if !is_field_text(value) {
                return Err(format!("{field} holds a control character"));
            }
            if value.len() > MAX_FIELD_BYTES {
                return Err(format!(
                    "{field} is {} bytes, over the cap of {MAX_FIELD_BYTES}",
                    value.len()
                ));
            }
        }
        Ok(())
    }
}

/// Whether `text` may stand in a single-line field (an SSE `event:` or `id:`, a log field):
/// no control characters, CR and LF above all.
pub fn is_field_text(text: &str) -> bool {
    !text.chars().any(char::is_control)
}

/// The last line of a log that did not parse: what a crash mid-append leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornLine {
    /// 1-based line number.
    pub line_no: usize,
    /// Byte offset where the torn line starts (= [`ReadLog::valid_len`]).
    pub offset: u64,
    /// Why it did not parse.
    pub reason: String,
}

/// What [`read_log`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadLog {
    /// Every good line, in file order.
    pub events: Vec<HatchEvent>,
    /// The torn last line, if there is one.
    pub torn_tail: Option<TornLine>,
    /// Bytes of the file that hold whole, good lines; an appender truncates to this.
    pub valid_len: u64,
}

impl ReadLog {
    /// The `seq` of the last good line (0 for an empty log).
    pub fn last_seq(&self) -> u64 {
        self.events.last().map_or(0, |e| e.seq)
    }
}

/// A log that cannot be trusted: a bad line that is not the last one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// A line before the last did not parse; something rewrote the log.
    #[error("line {line_no} is not a HATCH event ({reason}); only the last line may be torn")]
    Corrupt { line_no: usize, reason: String },
}

impl ReadError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ReadError::Corrupt { .. } => "hatch_corrupt",
        }
    }
}

/// Reads a whole log, tolerating a torn last line.
///
/// A last line without its newline counts as torn even when it parses: the writer appends
/// the newline in the same write, so a missing one means the write did not finish.
///
/// # Errors
/// [`ReadError::Corrupt`] when a line other than the last is not a HATCH event.
pub fn read_log(bytes: &[u8]) -> Result<ReadLog, ReadError> {
    let mut events = Vec::new();
    let mut offset = 0usize;
    let mut line_no = 0usize;
    while offset < bytes.len() {
        line_no += 1;
        let rest = &bytes[offset..];
        let (line, complete) = match rest.iter().position(|&b| b == b'\n') {
            Some(end) => (&rest[..end], true),
            None => (rest, false),
        };
        let is_last = !complete || offset + line.len() + 1 == bytes.len();
        let parsed = std::str::from_utf8(line)
            .map_err(|e| e.to_string())
            .and_then(HatchEvent::parse_line)
            .and_then(|ev| {
                if complete {
                    Ok(ev)
                } else {
                    Err("no newline at end of the last line".to_owned())
                }
            });
        match parsed {
            Ok(ev) => events.push(ev),
            Err(reason) if is_last => {
                return Ok(ReadLog {
                    events,
                    torn_tail: Some(TornLine {
                        line_no,
                        offset: offset as u64,
                        reason,
                    }),
                    valid_len: offset as u64,
                });
            }
            Err(reason) => return Err(ReadError::Corrupt { line_no, reason }),
        }
        offset += line.len() + 1;
    }
    Ok(ReadLog {
        events,
        torn_tail: None,
        valid_len: bytes.len() as u64,
    })
}

impl fmt::Display for HatchEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} {} {}", self.seq, self.event_type, self.subject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(seq: u64, ty: &str) -> HatchEvent {
        HatchEvent::new(
            format!("id-{seq}"),
            CONSOLE_SOURCE,
            ty,
            "acme",
            seq,
            serde_json::json!({"n": seq}),
        )
    }

    #[test]
    fn envelope_is_cloudevents_structured_json() {
        let line = ev(1, types::PROVISIONED).to_line();
        assert!(line.ends_with('\n'));
        let v: serde_json::Value = serde_json::from_str(line.trim_end()).expect("json");
        assert_eq!(v["specversion"], "1.0");
        assert_eq!(v["type"], "hearth.provisioned");
        assert_eq!(v["source"], "urn:hearth:console");
        assert_eq!(v["subject"], "acme");
        assert_eq!(v["seq"], 1);
        assert_eq!(v["data"]["n"], 1);
        let time = v["time"].as_str().expect("time");
        assert!(DateTime::parse_from_rfc3339(time).is_ok(), "{time}");
    }

    #[test]
    fn reads_whole_lines_back() {
        let text = format!(
            "{}{}",
            ev(1, types::RUN_STARTED).to_line(),
            ev(2, types::RUN_ENDED).to_line()
        );
        let log = read_log(text.as_bytes()).expect("read");
        assert_eq!(log.events.len(), 2);
        assert_eq!(log.last_seq(), 2);
        assert!(log.torn_tail.is_none());
        assert_eq!(log.valid_len, text.len() as u64);
    }

    #[test]
    fn torn_last_line_is_reported_not_fatal() {
        let good = ev(1, types::RUN_STARTED).to_line();
        let torn = &ev(2, types::RUN_ENDED).to_line()[..20];
        let text = format!("{good}{torn}");
        let log = read_log(text.as_bytes()).expect("read");
        assert_eq!(log.events.len(), 1);
        let tail = log.torn_tail.expect("torn");
        assert_eq!(tail.line_no, 2);
        assert_eq!(tail.offset, good.len() as u64);
        assert_eq!(log.valid_len, good.len() as u64);
    }

    #[test]
    fn a_parseable_last_line_without_newline_is_still_torn() {
        let good = ev(1, types::RUN_STARTED).to_line();
        let text = format!("{good}{}", ev(2, types::RUN_ENDED).to_line().trim_end());
        let log = read_log(text.as_bytes()).expect("read");
        assert_eq!(log.events.len(), 1);
        assert!(log.torn_tail.is_some());
    }

    #[test]
    fn a_bad_line_in_the_middle_is_corruption() {
        let text = format!(
            "{}garbage\n{}",
            ev(1, types::RUN_STARTED).to_line(),
            ev(2, types::RUN_ENDED).to_line()
        );
        let err = read_log(text.as_bytes()).expect_err("corrupt");
        assert_eq!(err.code(), "hatch_corrupt");
        assert!(matches!(err, ReadError::Corrupt { line_no: 2, .. }));
    }

    #[test]
    fn a_line_break_in_a_field_is_corruption_naming_the_line() {
        for (ty, subject) in [("hearth.x\nevent: forged", "acme"), ("ok", "a\rb")] {
            let text = format!(
                "{}{}{}",
                ev(1, types::RUN_STARTED).to_line(),
                ev(2, ty).to_line().replace("acme", subject),
                ev(3, types::RUN_ENDED).to_line()
            );
            let err = read_log(text.as_bytes()).expect_err("corrupt");
            assert!(
                matches!(&err, ReadError::Corrupt { line_no: 2, reason } if reason.contains("control")),
                "{err}"
            );
        }
    }

    #[test]
    fn empty_log_is_empty() {
        let log = read_log(b"").expect("read");
        assert!(log.events.is_empty());
        assert_eq!(log.last_seq(), 0);
    }

    #[test]
    fn all_types_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for t in types::ALL {
            assert!(seen.insert(*t), "duplicate {t}");
        }
        assert_eq!(types::ALL.len(), 20);
    }
}
