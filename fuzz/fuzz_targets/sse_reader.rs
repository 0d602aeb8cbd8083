//! Any bytes, in any chunking, as the worker's SSE stream: the reader the console uses
//! (`eventsource-stream`, then KAHN frames from each event's data) never panics.
#![no_main]

use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures::{executor::block_on, stream, StreamExt};
use hearth_protocol::kahn::Frame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (Vec<u8>, Vec<u8>)| {
    let (data, cuts) = input;
    let mut chunks = Vec::new();
    let mut rest = &data[..];
    for c in cuts {
        let at = usize::from(c).min(rest.len());
        let (head, tail) = rest.split_at(at);
        chunks.push(Ok::<_, std::io::Error>(Bytes::copy_from_slice(head)));
        rest = tail;
    }
    chunks.push(Ok(Bytes::copy_from_slice(rest)));
    block_on(async {
        let mut events = stream::iter(chunks).eventsource();
        while let Some(item) = events.next().await {
            if let Ok(event) = item {
                let _ = Frame::parse(&event.data);
            }
        }
    });
});
