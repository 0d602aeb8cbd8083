//! The fixtures every test suite of hearth needs, written once: `hearth/tests`,
//! `console/tests`, the end-to-end harness (`tests/`) and the bench use them.
//!
//! - [`run`]: this test run's id and label, the test image, whether engine tests are asked for.
//! - [`listening`]: reading the `listening http://…` line a server prints first.
//! - [`daemon`]: `hearth serve` as a test starts it, and waiting until it answers.
//! - [`bins`]: finding the built binaries (failing, naming one and its fix, when missing).
//! - [`process`]: children under an empty environment, their stderr kept, stopped on drop;
//!   [`canary`]: the proxy variables those children get, pointing at a counting listener.
//! - [`servers`]: the arguments of `worker-stub serve` and `console serve`, and key secrets.
//! - [`console_api`]: the console's HTTP API with the admin token (the play's calls, HATCH).
//! - [`stack`]: one play's three processes (hearth on any driver, the worker, the console)
//!   and their API client, swept by instance label on drop.
//! - [`objects`]: engine objects by label (listed and swept, also from a drop guard).
//! - [`registry`]: a real registry on loopback, and one that stalls.
//! - [`dockerd`]: a private dockerd (unix socket, optionally TLS on loopback) and the sweep
//!   of a run's leftovers; [`cluster`]: a multi-node swarm of private engines in network
//!   namespaces of the run's own; [`certs`]: the CA and certificates a TLS engine test makes.
//!
//! The stack and the last four need the engine (bollard, and hearth's engine resolver): the
//! `engine` feature.
//!
//! Label keys are [`hearth_protocol::labels`]; the play's HATCH chain is
//! [`hearth_protocol::play`]. A dev-dependency only (the bench, a tool, takes it as a normal one).

pub mod bins;
pub mod canary;
#[cfg(feature = "engine")]
pub mod certs;
#[cfg(feature = "engine")]
pub mod cluster;
pub mod console_api;
pub mod daemon;
#[cfg(feature = "engine")]
pub mod dockerd;
pub mod listening;
#[cfg(feature = "engine")]
pub mod objects;
pub mod process;
#[cfg(feature = "engine")]
pub mod registry;
pub mod run;
pub mod servers;
#[cfg(feature = "engine")]
pub mod stack;
