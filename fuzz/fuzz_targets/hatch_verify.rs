//! Any bytes as a HATCH log given to `hatch verify`: a verdict or an error, never a panic.
#![no_main]

use console::verify::{check_events, render_text, Chain};
use hearth_protocol::hatch::read_log;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let prompts = usize::from(data[0] % 8);
    if let Ok(log) = read_log(&data[1..]) {
        let verdict = check_events(&log.events, Chain::ProvisionThenRalph, prompts);
        let _ = render_text(&verdict);
    }
});
