//! The fixtures every test suite of hearth needs, written once: `hearth/tests`,
//! `console/tests`, the end-to-end harness (`tests/`) and the bench use them.
//!
//! - [`run`]: this test run's id and label, the test image, whether engine tests are asked for.
//! - [`listening`]: reading the `listening http://…` line a server prints first.
//! - [`daemon`]: `hearth serve` as a test starts it, and waiting until it answers.
//! - [`objects`]: engine objects by label (listed and swept, also from a drop guard).
//! - [`registry`]: a real registry on loopback, and one that stalls.
//! - [`dockerd`]: a private dockerd (unix socket, optionally TLS on loopback) and the sweep
//!   of a run's leftovers; [`cluster`]: a multi-node swarm of private engines in network
//!   namespaces of the run's own; [`certs`]: the CA and certificates a TLS engine test makes.
//!
//! The last four need the engine (bollard, and hearth's engine resolver): the `engine`
//! feature.
//!
//! Label keys are [`hearth_protocol::labels`]; the play's HATCH chain is
//! [`hearth_protocol::play`]. A dev-dependency only (the bench, a tool, takes it as a normal one).

#[cfg(feature = "engine")]
pub mod certs;
#[cfg(feature = "engine")]
pub mod cluster;
pub mod daemon;
#[cfg(feature = "engine")]
pub mod dockerd;
pub mod listening;
#[cfg(feature = "engine")]
pub mod objects;
#[cfg(feature = "engine")]
pub mod registry;
pub mod run;
