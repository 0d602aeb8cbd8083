//! Any bytes as a HATCH log: no panic; what is accepted is clean and re-reads the same.
//! The checks live in `../checks.rs`, shared with the corpus replay in `make test`.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::hatch_read(data));
