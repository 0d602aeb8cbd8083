//! Any text as a slug: accepted exactly when it is a lower-case DNS label of at most 32.
#![no_main]

use hearth_protocol::slug;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let expected = !text.is_empty()
        && text.len() <= slug::MAX_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !text.starts_with('-')
        && !text.ends_with('-');
    assert_eq!(slug::parse(text).is_ok(), expected, "{text:?}");
});
