//! A valid bearer with any one byte changed never verifies.
#![no_main]

use hearth_protocol::bearer::{sign_at, Keyring, Verifier};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u16, u8, Vec<u8>)| {
    let (at, byte, body) = input;
    let keys = Keyring::parse("k1:fuzzing-secret-fuzzing-secret\n").expect("keys");
    let now = 1_700_000_000;
    let header = sign_at(
        "k1",
        b"fuzzing-secret-fuzzing-secret",
        now,
        &"0".repeat(32),
        "POST",
        "/runs",
        &body,
    );
    let mut bytes = header.into_bytes();
    let i = usize::from(at) % bytes.len();
    if bytes[i] == byte {
        return;
    }
    bytes[i] = byte;
    let mutated = String::from_utf8_lossy(&bytes);
    let verifier = Verifier::new(keys);
    assert!(
        verifier.verify(Some(&mutated), "POST", "/runs", &body, now).is_err(),
        "a mutated bearer verified: {mutated}"
    );
});
