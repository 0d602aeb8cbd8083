//! The accept loop both listeners share: one thread per connection, at most
//! `MAX_CONNECTIONS` at once; beyond that a connection gets `overflow` and is closed.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

/// Most connections served at once (per listener).
const MAX_CONNECTIONS: usize = 64;

/// Accepts connections forever and runs `handle` on each in its own thread.
pub(crate) fn accept_loop<H>(listener: TcpListener, overflow: &[u8], handle: H)
where
    H: Fn(TcpStream) + Send + Sync + 'static,
{
    let handle = Arc::new(handle);
    let live = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        if live.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
            live.fetch_sub(1, Ordering::AcqRel);
            let _ = stream.write_all(overflow);
            continue;
        }
        let handle = Arc::clone(&handle);
        let live_for_thread = Arc::clone(&live);
        let spawned = thread::Builder::new()
            .name("conn".to_owned())
            .spawn(move || {
                handle(stream);
                live_for_thread.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            live.fetch_sub(1, Ordering::AcqRel);
        }
    }
}
