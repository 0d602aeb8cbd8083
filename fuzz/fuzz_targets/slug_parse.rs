//! Any text as a slug: accepted exactly when it is a lower-case DNS label of at most 32.
//! The checks live in `../checks.rs`, shared with the corpus replay in `make test`.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::slug_parse(data));
