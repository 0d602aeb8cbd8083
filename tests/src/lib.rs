//! Harness for the end-to-end play and fault drills: spawns the real `hearth`,
//! `worker-stub` and `console` binaries and reads the play's HATCH log back.
//!
//! - [`browser`]: headless chromium over chromedriver, for the page's test.
//! - [`bins`], [`process`], [`stack`], [`canary`]: the binaries, the children, one play's
//!   three processes and the console API client, and the proxy canary — written once in
//!   [`hearth_testkit`], re-exported here under their old paths.
//! - [`play`]: the four acts, shared by the tests and the `demo` binary; [`checked`]: the play
//!   with every check that needs no engine.
//! - [`hatch`]: asserting the chain from the JSONL file alone.
//! - [`engine`]: `HEARTH_E2E`, the engine, and sweeping by instance label.
//! - [`proxy`]: a stalling proxy in front of the engine's socket.
//! - [`netcheck`]: the OSS-parity check that nothing connects beyond loopback.
//! - [`junit`]: `target/e2e/junit.xml`, written by the tests themselves.

pub mod browser;
pub mod checked;
pub mod engine;
pub mod hatch;
pub mod junit;
pub mod netcheck;
pub mod play;
pub mod proxy;

pub use hearth_testkit::{bins, canary, process, stack};
