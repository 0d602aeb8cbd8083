//! `console hatch verify` on any log with any prompt count (huge ones included): an error past the cap, never an oversized chain.
//! The checks live in `../checks_console.rs`, shared with the corpus replay in `make test`.
#![no_main]

#[path = "../checks_console.rs"]
mod checks_console;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks_console::hatch_verify(data));
