//! Any `Authorization` value, path and body: no panic, and no forged header verifies.
//! The checks live in `../checks.rs`, shared with the corpus replay in `make test`.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::bearer_verify(data));
