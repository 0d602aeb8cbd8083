//! Property tests (stable, part of `make test`) for the parsers an attacker can feed: the
//! bearer, KAHN frames, HATCH logs, slugs and the RPC shapes. The fuzz targets in `fuzz/`
//! check the same properties with coverage guidance; these keep them in every test run.

use hearth_protocol::bearer::{parse_header, sign_at, Keyring, Verifier};
use hearth_protocol::hatch::{is_field_text, read_log, HatchEvent};
use hearth_protocol::hearth::{
    DeploymentRef, ErrorResponse, ProvisionRequest, RefRequest, UpgradeRequest,
};
use hearth_protocol::kahn::{Frame, RunStarted};
use hearth_protocol::{ident, slug};
use proptest::prelude::*;

const SECRET: &[u8] = b"property-secret-property-secret";
const NOW: u64 = 1_700_000_000;

fn verifier() -> Verifier {
    Verifier::new(Keyring::parse("k1:property-secret-property-secret\n").expect("keys"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A valid bearer with one byte changed, anywhere, to anything else never verifies —
    /// except a change of case in the auth scheme, which HTTP defines as case-insensitive
    /// (`BearEr` is `Bearer`; fuzzing found this, fuzz/artifacts/bearer_mutation).
    #[test]
    fn a_one_byte_mutation_of_a_valid_bearer_never_verifies(
        body in proptest::collection::vec(any::<u8>(), 0..256),
        nonce in "[0-9a-f]{32}",
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let header = sign_at("k1", SECRET, NOW, &nonce, "POST", "/runs", &body);
        prop_assert!(verifier().verify(Some(&header), "POST", "/runs", &body, NOW).is_ok());
        let mut bytes = header.clone().into_bytes();
        let i = at.index(bytes.len());
        prop_assume!(bytes[i] != byte);
        bytes[i] = byte;
        let mutated = String::from_utf8_lossy(&bytes).into_owned();
        prop_assume!(!(i < 6 && mutated.get(..6).is_some_and(|s| s.eq_ignore_ascii_case("bearer"))));
        prop_assert!(verifier().verify(Some(&mutated), "POST", "/runs", &body, NOW).is_err(), "{mutated}");
    }

    /// The same bearer for another method, path or body never verifies.
    #[test]
    fn a_bearer_is_bound_to_its_request(
        body in proptest::collection::vec(any::<u8>(), 0..64),
        other in proptest::collection::vec(any::<u8>(), 0..64),
        path in "/[a-z/]{0,20}",
    ) {
        let header = sign_at("k1", SECRET, NOW, &"a".repeat(32), "POST", "/runs", &body);
        if other != body {
            prop_assert!(verifier().verify(Some(&header), "POST", "/runs", &other, NOW).is_err());
        }
        if path != "/runs" {
            prop_assert!(verifier().verify(Some(&header), "POST", &path, &body, NOW).is_err());
        }
        prop_assert!(verifier().verify(Some(&header), "GET", "/runs", &body, NOW).is_err());
    }

    /// Any header text: parsing and verifying never panic, and never accept.
    #[test]
    fn arbitrary_headers_never_verify(header in "\\PC{0,200}", ts in any::<u64>()) {
        let _ = parse_header(&header);
        prop_assert!(verifier().verify(Some(&header), "POST", "/runs", b"", ts).is_err());
    }

    /// Arbitrary data payloads never panic the KAHN parser; a frame survives its wire form.
    #[test]
    fn kahn_parse_is_total_and_round_trips(
        data in "\\PC{0,300}",
        run_id in "\\PC{0,40}",
        workspace in "\\PC{0,40}",
        prompts in any::<u32>(),
    ) {
        let _ = Frame::parse(&data);
        let frame = Frame::RunStarted(RunStarted { run_id, workspace, prompts });
        prop_assert_eq!(Frame::parse(&frame.to_sse_data()), Ok(frame));
    }

    /// Any bytes as a HATCH log: no panic; what is accepted is clean and re-reads the same.
    #[test]
    fn read_log_is_total_and_accepts_only_clean_fields(
        data in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        if let Ok(log) = read_log(&data) {
            prop_assert!(log.valid_len as usize <= data.len());
            for e in &log.events {
                prop_assert!(is_field_text(&e.event_type) && is_field_text(&e.subject));
            }
            let again = read_log(&data[..log.valid_len as usize]).expect("valid prefix");
            prop_assert_eq!(again.events, log.events);
        }
    }

    /// A well-formed log with any event types and subjects: kept whole when every field is
    /// clean, refused naming the first line that holds a control character otherwise.
    #[test]
    fn a_log_keeps_clean_lines_and_names_the_first_dirty_one(
        fields in proptest::collection::vec(("\\PC{0,12}|[a-z]{0,3}[\\r\\n\\t][a-z]{0,3}", "\\PC{0,12}"), 1..12),
    ) {
        let mut text = String::new();
        for (i, (ty, subject)) in fields.iter().enumerate() {
            let e = HatchEvent::new("id", "urn:x", ty.clone(), subject.clone(), i as u64 + 1, serde_json::json!({}));
            text.push_str(&e.to_line());
        }
        let first_dirty = fields.iter().position(|(t, s)| !is_field_text(t) || !is_field_text(s));
        match (read_log(text.as_bytes()), first_dirty) {
            (Ok(log), None) => prop_assert_eq!(log.events.len(), fields.len()),
            (Ok(log), Some(i)) => {
                // Only the last line may be dirty and read: as a torn tail, not as an event.
                prop_assert_eq!(i, fields.len() - 1);
                prop_assert_eq!(log.events.len(), i);
                prop_assert!(log.torn_tail.is_some());
            }
            (Err(e), Some(i)) => prop_assert!(e.to_string().contains(&format!("line {}", i + 1)), "{}", e),
            (Err(e), None) => prop_assert!(false, "a clean log was refused: {}", e),
        }
    }

    /// The writer and the reader share one rule: whatever the fields (control characters,
    /// ESC, huge subjects, any data), `encode_line` either refuses the event or writes a line
    /// that `read_log` takes back as exactly that event; it never writes a line the reader
    /// refuses. This is what keeps one worker answer from taking the audit log out.
    #[test]
    fn the_sink_never_writes_a_line_its_reader_refuses(
        ty in "\\PC{0,12}|[a-z.]{1,8}[\\x00-\\x1f\\x7f\\u{85}][a-z]{0,3}",
        subject in "\\PC{0,40}|run-[\\x00-\\x1f\\x7f]-x|[a-z]{250,300}",
        id in "\\PC{0,40}",
        seq in 0u64..4,
        data in "\\PC{0,40}",
    ) {
        let event = HatchEvent::new(id, "urn:x", ty, subject, seq, serde_json::json!({"d": data}));
        match event.encode_line() {
            Ok(line) => {
                prop_assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
                let log = read_log(line.as_bytes());
                prop_assert!(log.is_ok(), "the reader refused what the writer wrote: {:?}", log);
                let log = log.expect("read");
                prop_assert!(log.torn_tail.is_none());
                prop_assert_eq!(log.events, vec![event]);
            }
            Err(reason) => {
                // Refused by the writer: the reader refuses the same line with the same reason.
                let refused = HatchEvent::parse_line(event.to_line().trim_end_matches('\n'));
                prop_assert_eq!(refused.expect_err("reader refuses it too"), reason);
            }
        }
    }

    /// Worker-supplied identifiers: what the rule accepts is a clean HATCH subject and one
    /// URL path segment that needs no escaping; what it refuses never reaches either.
    #[test]
    fn an_accepted_identifier_is_a_clean_subject_and_one_segment(
        id in "[A-Za-z0-9][A-Za-z0-9._-]{0,140}|\\PC{0,40}|[./?#%\\x00-\\x1f]{1,4}",
    ) {
        if ident::check("run id", &id).is_ok() {
            prop_assert!(id.len() <= ident::MAX_IDENT_BYTES && is_field_text(&id));
            prop_assert!(id != "." && id != "..");
            prop_assert!(id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)));
            let e = HatchEvent::new("x", "urn:x", "ralph.run.started", id.clone(), 1, serde_json::json!({}));
            prop_assert!(e.encode_line().is_ok());
        } else {
            let e = ident::check("run id", &id).expect_err("refused");
            prop_assert!(!e.to_string().chars().any(char::is_control), "{}", e);
        }
    }

    /// The slug rule, stated plainly, agrees with the parser on any text.
    #[test]
    fn slug_parse_is_the_dns_label_rule(text in "[a-z0-9-]{0,40}|\\PC{0,40}") {
        let expected = !text.is_empty()
            && text.len() <= slug::MAX_LEN
            && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !text.starts_with('-')
            && !text.ends_with('-');
        prop_assert_eq!(slug::parse(&text).is_ok(), expected);
    }

    /// Any JSON text as each RPC shape: no panic, and what decodes re-encodes stably.
    #[test]
    fn rpc_shapes_decode_totally(data in "\\PC{0,200}", slug in "\\PC{0,40}") {
        fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(data: &str) -> Result<(), TestCaseError> {
            if let Ok(v) = serde_json::from_str::<T>(data) {
                let once = serde_json::to_value(&v).expect("encodes");
                let back: T = serde_json::from_value(once.clone()).expect("decodes its own encoding");
                prop_assert_eq!(serde_json::to_value(&back).expect("encodes"), once);
            }
            Ok(())
        }
        for text in [data.clone(), format!("{{\"ref\":{{\"workspace_slug\":{}}}}}", serde_json::json!(slug))] {
            round_trip::<ProvisionRequest>(&text)?;
            round_trip::<RefRequest>(&text)?;
            round_trip::<UpgradeRequest>(&text)?;
            round_trip::<DeploymentRef>(&text)?;
            round_trip::<ErrorResponse>(&text)?;
        }
    }
}
