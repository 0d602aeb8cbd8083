//! A valid bearer with any one byte changed never verifies (the scheme's case aside).
//! The checks live in `../checks.rs`, shared with the corpus replay in `make test`.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::bearer_mutation(data));
