//! Any `Authorization` value, method, path and body: verifying never panics, and nothing
//! but a correct signature under the ring's key is accepted.
#![no_main]

use hearth_protocol::bearer::{Keyring, Verifier};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\u{0}');
    let header = parts.next().unwrap_or_default();
    let path = parts.next().unwrap_or("/runs");
    let body = parts.next().unwrap_or_default().as_bytes();
    let keys = Keyring::parse("k1:fuzzing-secret-fuzzing-secret\n").expect("keys");
    let verifier = Verifier::new(keys);
    let _ = hearth_protocol::bearer::parse_header(header);
    if let Some(ts) = header.split('.').nth(2).and_then(|t| t.parse::<u64>().ok()) {
        // A forged header must not verify even at its own timestamp.
        assert!(verifier.verify(Some(header), "POST", path, body, ts).is_err());
    }
});
