//! Any bytes as a HATCH log: the reader never panics; what it accepts has fields that can
//! stand in an SSE frame, seqs it can resume from, and a valid length inside the file.
#![no_main]

use hearth_protocol::hatch::{is_field_text, read_log};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(log) = read_log(data) {
        assert!(log.valid_len as usize <= data.len());
        for e in &log.events {
            assert!(is_field_text(&e.event_type) && is_field_text(&e.id));
            assert!(e.seq > 0);
        }
        // What was read back from a whole prefix reads the same again.
        let again = read_log(&data[..log.valid_len as usize]).expect("valid prefix");
        assert_eq!(again.events, log.events);
    }
});
