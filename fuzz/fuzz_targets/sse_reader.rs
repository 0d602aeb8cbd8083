//! Any bytes, cut into chunks, as the worker's SSE stream: the console's reader never panics.
//! The checks live in `../checks.rs`, shared with the corpus replay in `make test`.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::sse_reader(data));
