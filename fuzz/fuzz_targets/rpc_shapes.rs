//! Any bytes as every hearth RPC shape: no panic; what decodes re-encodes stably.
//! The checks live in `../checks.rs`, shared with the corpus replay in `make test`.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::rpc_shapes(data));
