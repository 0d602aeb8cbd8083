//! How hearth's two servers (the daemon on its unix socket, the console on loopback TCP) meet
//! their clients, defined once so both hold the same bounds and speak the same errors; and how
//! all three binaries stop.
//!
//! - [`bounds`]: [`Limits`] and [`serve`], an HTTP/1 accept loop with a header read timeout
//!   (which also closes idle keep-alive connections), a body read timeout, a header size cap,
//!   a connection cap at which the longest-waiting connection makes room, and headers put on
//!   every answer (`intake` and `slots` hold the per-connection parts).
//! - [`errors`]: [`json_errors`], the layer that puts every error answer — the framework's own
//!   rejections included — in the `{"error":{code,message,retryable,hint}}` shape.
//! - [`shutdown`]: [`shutdown::on_signal`], SIGINT/SIGTERM as a cancellation token, and
//!   [`shutdown::drain`], the bounded wait for tracked tasks.
//! - [`private`]: state directories 0700 (refused when others can write them) and state
//!   files 0600, whatever the umask.

pub mod bounds;
pub mod errors;
mod intake;
pub mod private;
pub mod shutdown;
mod slots;

pub use bounds::{serve, Limits};
pub use errors::json_errors;
