//! hearth: provisions solo-tier workspaces as real Docker containers behind a JSON RPC on a
//! unix socket, wire-compatible with the Go hearth.
//!
//! - [`slug`], [`names`], [`labels`]: what workspaces and their engine objects are called.
//! - `lifecycle`: the verbs' guards and what each asks of the engine (private).
//! - [`driver`]: the driver contract, LocalDocker and Fake.
//! - [`dispatcher`]: the one way every verb goes through.
//! - `store` ([`Store`]), [`journal`], [`lockfile`]: hearth's record, step journal and image
//!   lock.
//! - [`pool`]: the warm pool of workspaces made ahead, claimed by provision.
//! - `server`: the RPC on the unix socket (private; `hearth serve` runs it); [`client`]: the
//!   same RPC from the other side.
//! - [`config`]: the config file's model and shared defaults; `bounds`: the range of every
//!   number it carries; `cli` (private): the binary's flags and commands, run by [`run_cli`].
//! - [`error`]: the one error type with its wire codes.

pub mod agent;
mod bounds;
/// The `hearth` binary's flags and commands (clap, anyhow): private, so the library's face
/// carries none of it; the binary calls [`run_cli`].
mod cli;
pub use cli::main::main as run_cli;
/// The RPC client, its own crate (`hearth-client`) so callers depend on the wire, not on
/// the daemon and its engine library.
pub use hearth_client as client;
pub mod config;
mod credential_error;
pub mod dispatcher;
pub mod driver;
mod driver_error;
mod engine_error;
pub mod error;
mod image_ref;
mod in_flight;
pub mod journal;
pub mod labels;
mod lifecycle;
pub mod lockfile;
pub mod names;
pub mod pool;
mod server;
pub mod slug;
mod step;
mod store;
pub mod template;
/// hearth's record of workspaces, which a [`dispatcher::Dispatcher`] is built over.
pub use store::Store;
