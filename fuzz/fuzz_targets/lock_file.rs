//! Any bytes as a lock file: no panic, what loads saves and loads back the same.
//! The checks live in `../checks_hearth.rs`, shared with the corpus replay in `make test`.
#![no_main]

#[path = "../checks_hearth.rs"]
mod checks_hearth;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks_hearth::lock_file(data));
