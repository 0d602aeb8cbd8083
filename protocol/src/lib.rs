//! One definition per wire format. Producers and consumers of every message that crosses a
//! process boundary in hearth import their types from here, so the two sides cannot drift.
//!
//! - [`hearth`]: the hearth daemon's JSON RPC (wire-compatible with the Go hearth).

pub mod hearth;
