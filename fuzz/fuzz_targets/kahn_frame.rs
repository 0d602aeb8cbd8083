//! Any SSE `data:` payload: no panic; a KAHN frame that parses survives its wire form.
//! The checks live in `../checks.rs`, shared with the corpus replay in `make test`.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::kahn_frame(data));
