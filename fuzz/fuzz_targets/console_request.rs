//! Any request through the console's real router in-process: no panic, one error shape, HATCH stays readable.
//! The checks live in `../checks_console.rs`, shared with the corpus replay in `make test`.
#![no_main]

#[path = "../checks_console.rs"]
mod checks_console;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks_console::console_request(data));
