//! What each fuzz target checks, written once: the targets in `fuzz_targets/` call these on
//! libFuzzer's inputs, and `console/tests/fuzz_corpus.rs` calls them on every committed
//! corpus entry and crash reproducer in `make test`, so a crash found once stays fixed.
#![allow(dead_code)]

use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures::{executor::block_on, stream, StreamExt};
use hearth_protocol::bearer::{parse_header, sign_at, Keyring, Verifier};
use hearth_protocol::hatch::{is_field_text, read_log};
use hearth_protocol::hearth::{
    DeploymentRef, ErrorResponse, EventsResponse, ListResponse, ProvisionRequest, RefRequest,
    StatusResponse, UpgradeRequest,
};
use hearth_protocol::kahn::Frame;
use hearth_protocol::slug;
use serde::de::DeserializeOwned;
use serde::Serialize;

const KEYS: &str = "k1:fuzzing-secret-fuzzing-secret\n";
const SECRET: &[u8] = b"fuzzing-secret-fuzzing-secret";

/// One target's check.
pub type Check = fn(&[u8]);

/// The targets by name, for the corpus replay.
pub const TARGETS: &[(&str, Check)] = &[
    ("bearer_verify", bearer_verify),
    ("bearer_mutation", bearer_mutation),
    ("kahn_frame", kahn_frame),
    ("hatch_read", hatch_read),
    ("sse_reader", sse_reader),
    ("slug_parse", slug_parse),
    ("rpc_shapes", rpc_shapes),
];

/// `header \0 path \0 body`: parsing and verifying never panic, and a header that is not a
/// correct signature never verifies, even at its own timestamp.
pub fn bearer_verify(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\u{0}');
    let header = parts.next().unwrap_or_default();
    let path = parts.next().unwrap_or("/runs");
    let body = parts.next().unwrap_or_default().as_bytes();
    let _ = parse_header(header);
    let verifier = Verifier::new(Keyring::parse(KEYS).expect("keys"));
    if let Some(ts) = header.split('.').nth(2).and_then(|t| t.parse::<u64>().ok()) {
        assert!(verifier
            .verify(Some(header), "POST", path, body, ts)
            .is_err());
    }
}

/// `at(2) byte(1) body…`: a valid bearer with the byte at `at` changed never verifies —
/// except a change of case in the auth scheme, which HTTP defines as case-insensitive
/// (RFC 9110 §11.1: `BearEr` is `Bearer`; the signed token is what must not bend).
pub fn bearer_mutation(data: &[u8]) {
    let [a, b, byte, body @ ..] = data else {
        return;
    };
    let now = 1_700_000_000;
    let header = sign_at("k1", SECRET, now, &"0".repeat(32), "POST", "/runs", body);
    let mut bytes = header.into_bytes();
    let i = usize::from(u16::from_le_bytes([*a, *b])) % bytes.len();
    if bytes[i] == *byte {
        return;
    }
    bytes[i] = *byte;
    let mutated = String::from_utf8_lossy(&bytes);
    if mutated
        .get(..6)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("bearer"))
        && mutated[6..] == sign_at("k1", SECRET, now, &"0".repeat(32), "POST", "/runs", body)[6..]
    {
        return;
    }
    let verifier = Verifier::new(Keyring::parse(KEYS).expect("keys"));
    assert!(
        verifier
            .verify(Some(&mutated), "POST", "/runs", body, now)
            .is_err(),
        "a mutated bearer verified: {mutated}"
    );
}

/// Any SSE data payload: parsing never panics; a frame survives its wire form.
pub fn kahn_frame(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(frame) = Frame::parse(text) {
            assert_eq!(Frame::parse(&frame.to_sse_data()).as_ref(), Ok(&frame));
        }
    }
}

/// Any bytes as a HATCH log: no panic; what is accepted is clean and re-reads the same.
pub fn hatch_read(data: &[u8]) {
    if let Ok(log) = read_log(data) {
        let valid = usize::try_from(log.valid_len).expect("fits");
        assert!(valid <= data.len());
        for e in &log.events {
            assert!(is_field_text(&e.event_type) && is_field_text(&e.id));
            assert!(e.seq > 0);
        }
        let again = read_log(&data[..valid]).expect("valid prefix");
        assert_eq!(again.events, log.events);
    }
}

/// `step(1) bytes…`: the stream cut every `step` bytes, read as the console reads the
/// worker (eventsource-stream, then KAHN frames): never a panic.
pub fn sse_reader(data: &[u8]) {
    let [step, rest @ ..] = data else {
        return;
    };
    let step = usize::from(*step).max(1);
    let chunks: Vec<Result<Bytes, std::io::Error>> = rest
        .chunks(step)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    block_on(async {
        let mut events = stream::iter(chunks).eventsource();
        while let Some(item) = events.next().await {
            if let Ok(event) = item {
                let _ = Frame::parse(&event.data);
            }
        }
    });
}

/// Any text as a slug: accepted exactly when it is a lower-case DNS label of at most 32.
pub fn slug_parse(data: &[u8]) {
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
}

fn round_trip<T: DeserializeOwned + Serialize>(data: &[u8]) {
    if let Ok(v) = serde_json::from_slice::<T>(data) {
        let once = serde_json::to_value(&v).expect("encodes");
        let back: T = serde_json::from_value(once.clone()).expect("decodes its own encoding");
        assert_eq!(serde_json::to_value(&back).expect("encodes"), once);
    }
}

/// Any bytes as every hearth RPC shape: no panic; what decodes re-encodes stably.
pub fn rpc_shapes(data: &[u8]) {
    round_trip::<ProvisionRequest>(data);
    round_trip::<RefRequest>(data);
    round_trip::<UpgradeRequest>(data);
    round_trip::<DeploymentRef>(data);
    round_trip::<StatusResponse>(data);
    round_trip::<ListResponse>(data);
    round_trip::<EventsResponse>(data);
    round_trip::<ErrorResponse>(data);
}
