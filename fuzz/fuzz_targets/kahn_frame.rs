//! Any SSE `data:` payload: parsing a KAHN frame never panics, and a frame that parses
//! survives a round trip through its wire form.
#![no_main]

use hearth_protocol::kahn::Frame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(frame) = Frame::parse(text) {
            assert_eq!(Frame::parse(&frame.to_sse_data()).as_ref(), Ok(&frame));
        }
    }
});
