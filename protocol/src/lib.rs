//! One definition per wire format. Producers and consumers of every message that crosses a
//! process boundary in hearth import their types from here, so the two sides cannot drift.
//!
//! - [`hearth`]: the hearth daemon's JSON RPC (wire-compatible with the Go hearth).
//! - [`kahn`]: the KAHN frames a worker streams over SSE while it runs a job.
//! - [`bearer`]: the HMAC bearer that signs console → worker requests.
//! - [`error_code`]: the wire error codes of hearth's RPC and the console's API.
//! - [`hatch`]: the HATCH audit log's CloudEvents envelope, event types and tolerant reader.
//! - [`replay`]: the nonces a verifier accepted, journalled so a restart keeps refusing them.
//! - [`play`]: the play's HATCH chain, which `hatch verify` checks and the e2e tests assert.
//! - [`labels`]: the label keys on hearth's engine objects (and on a test run's).
//! - [`ident`]: the one rule for identifiers a worker hands the console (run ids, frame ids).
//! - [`slug`]: the one workspace slug rule; [`limits`]: limits several processes check.
//! - [`roles`]: each role's state and node, as a status answer carries them.
//! - [`verb`]: the lifecycle verbs, shared by hearth's routes and CLI, the client and the console.

pub mod agent;
pub mod bearer;
pub mod error_code;
pub mod guard;
pub mod hatch;
pub mod hearth;
pub mod ident;
pub mod kahn;
pub mod labels;
pub mod limits;
pub mod play;
pub mod replay;
pub mod roles;
pub mod slug;
pub mod verb;
