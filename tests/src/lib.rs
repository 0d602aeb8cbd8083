//! Harness for the end-to-end play and fault drills: spawns the real `hearth`,
//! `worker-stub` and `console` binaries and reads the play's HATCH log back.
//!
//! - [`browser`]: headless chromium over chromedriver, for the page's test.
//! - [`bins`]: finding the built binaries (and failing, naming one, when it is missing).
//! - [`process`]: children under an empty environment, stopped on drop.
//! - [`stack`]: one play's three processes and the console API client.
//! - [`play`]: the four acts, shared by the tests and the `demo` binary; [`checked`]: the play
//!   with every check that needs no engine.
//! - [`hatch`]: asserting the chain from the JSONL file alone.
//! - [`engine`]: `HEARTH_E2E`, the engine, and sweeping by instance label.
//! - [`proxy`]: a stalling proxy in front of the engine's socket.
//! - [`netcheck`]: the OSS-parity check that nothing connects beyond loopback.
//! - [`canary`]: proxy variables pointing at a listener that counts who uses them.
//! - [`junit`]: `target/e2e/junit.xml`, written by the tests themselves.

pub mod bins;
pub mod browser;
pub mod canary;
pub mod checked;
pub mod engine;
pub mod hatch;
pub mod junit;
pub mod netcheck;
pub mod play;
pub mod process;
pub mod proxy;
pub mod stack;
