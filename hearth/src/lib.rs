//! hearth: provisions solo-tier workspaces as real Docker containers behind a JSON RPC on a
//! unix socket, wire-compatible with the Go hearth.
//!
//! - [`slug`], [`names`], [`labels`]: what workspaces and their engine objects are called.
//! - [`lifecycle`]: the verbs and the status guards.
//! - [`driver`]: the driver contract, LocalDocker and Fake.
//! - [`dispatcher`]: the one way every verb goes through.
//! - `store` ([`Store`]), [`journal`], [`lockfile`]: hearth's record, step journal and image
//!   lock.
//! - [`pool`]: the warm pool of workspaces made ahead, claimed by provision.
//! - [`server`]: the RPC on the unix socket; [`client`]: the same RPC from the other side.
//! - [`config`]: flags, environment and config file, merged; `bounds`: the range of every
//!   number they carry.
//! - [`error`]: the one error type with its wire codes.

mod bounds;
pub mod cli;
/// The RPC client, its own crate (`hearth-client`) so callers depend on the wire, not on
/// the daemon and its engine library.
pub use hearth_client as client;
pub mod config;
pub mod credential_error;
pub mod dispatcher;
pub mod driver;
pub mod driver_error;
pub mod engine_error;
pub mod error;
pub mod image_ref;
pub mod in_flight;
pub mod journal;
pub mod labels;
pub mod lifecycle;
pub mod lockfile;
pub mod names;
pub mod pool;
pub mod server;
pub mod slug;
pub mod step;
mod store;
pub mod template;
/// hearth's record of workspaces, which a [`dispatcher::Dispatcher`] is built over.
pub use store::Store;
