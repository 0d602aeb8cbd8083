//! Property tests (stable, part of `make test`) for the console's readers: the worker's SSE
//! stream as the console reads it (`eventsource-stream`, then KAHN frames) in any chunking,
//! and `hatch verify` on arbitrary logs.

use bytes::Bytes;
use console::verify::{check_events, render_text, Chain};
use eventsource_stream::Eventsource;
use futures::{executor::block_on, stream, StreamExt};
use hearth_protocol::hatch::{read_log, types, HatchEvent};
use hearth_protocol::kahn::{Frame, RunStarted};
use proptest::prelude::*;

/// The events of `bytes` cut into chunks at `cuts`.
fn read_sse(bytes: &[u8], cuts: &[usize]) -> Vec<(String, String, String)> {
    let mut chunks = Vec::new();
    let mut rest = bytes;
    for &c in cuts {
        let (head, tail) = rest.split_at(c.min(rest.len()));
        chunks.push(Ok::<_, std::io::Error>(Bytes::copy_from_slice(head)));
        rest = tail;
    }
    chunks.push(Ok(Bytes::copy_from_slice(rest)));
    block_on(
        stream::iter(chunks)
            .eventsource()
            .filter_map(|e| async move { e.ok().map(|e| (e.id, e.event, e.data)) })
            .collect(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// However the network cuts a stream of frames, the reader sees the same frames.
    #[test]
    fn sse_frames_survive_any_chunking(
        frames in proptest::collection::vec(("[a-z0-9-]{1,12}", any::<u32>()), 1..6),
        cuts in proptest::collection::vec(0usize..64, 0..12),
        crlf in any::<bool>(),
    ) {
        let nl = if crlf { "\r\n" } else { "\n" };
        let mut wire = String::new();
        let mut sent = Vec::new();
        for (i, (run_id, prompts)) in frames.iter().enumerate() {
            let f = Frame::RunStarted(RunStarted { run_id: run_id.clone(), workspace: "w".into(), prompts: *prompts });
            wire.push_str(&format!("id: {i}{nl}event: {}{nl}data: {}{nl}{nl}", f.event_type(), f.to_sse_data()));
            sent.push(f);
        }
        let read = read_sse(wire.as_bytes(), &cuts);
        let got: Vec<Frame> = read.iter().map(|(_, _, d)| Frame::parse(d).expect("frame")).collect();
        prop_assert_eq!(got, sent);
        let ids: Vec<String> = read.into_iter().map(|(id, _, _)| id).collect();
        prop_assert_eq!(ids, (0..frames.len()).map(|i| i.to_string()).collect::<Vec<_>>());
    }

    /// Any bytes in any chunking: the reader and the frame parser never panic.
    #[test]
    fn sse_reader_is_total(
        bytes in proptest::collection::vec(any::<u8>(), 0..1024),
        cuts in proptest::collection::vec(0usize..128, 0..8),
    ) {
        for (_, _, data) in read_sse(&bytes, &cuts) {
            let _ = Frame::parse(&data);
        }
    }

    /// `hatch verify` on arbitrary logs of known and unknown types: always a verdict, and a
    /// verdict of ok only when every act of the chain was matched.
    #[test]
    fn hatch_verify_is_total(
        picks in proptest::collection::vec((0usize..20, "[a-z0-9-]{1,8}"), 0..30),
        prompts in 0usize..6,
        garbage in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut text = String::new();
        for (i, (pick, subject)) in picks.iter().enumerate() {
            let ty = types::ALL.get(*pick).copied().unwrap_or("other.type");
            let data = serde_json::json!({"slug": subject, "run_id": subject, "workspace": subject, "prompts": prompts});
            text.push_str(&HatchEvent::new("id", "urn:x", ty, subject.clone(), i as u64 + 1, data).to_line());
        }
        let mut bytes = text.into_bytes();
        bytes.extend_from_slice(&garbage);
        if let Ok(log) = read_log(&bytes) {
            let verdict = check_events(&log.events, Chain::ProvisionThenRalph, prompts).expect("in range");
            prop_assert!(!verdict.ok || verdict.matched.len() == verdict.acts);
            let _ = render_text(&verdict);
        }
    }
}
