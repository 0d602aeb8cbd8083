//! Any bytes as hearth's config file: no panic, a refusal names the file.
//! The checks live in `../checks_hearth.rs`, shared with the corpus replay in `make test`.
#![no_main]

#[path = "../checks_hearth.rs"]
mod checks_hearth;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks_hearth::config_file(data));
