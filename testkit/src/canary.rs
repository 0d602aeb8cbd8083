//! A proxy canary: every child of the play gets `HTTP_PROXY`, `HTTPS_PROXY` and `ALL_PROXY`
//! (both spellings) pointing at a loopback listener that serves nothing and only counts who
//! connects. A process that honours proxy variables — and would, on a runner that sets them,
//! send its traffic (and bearer) through someone else's proxy — shows up as a hit.

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

struct Canary {
    url: String,
    /// Connections accepted so far, by any child of this test process.
    hits: Arc<AtomicUsize>,
}

fn canary() -> &'static Canary {
    static CANARY: OnceLock<Canary> = OnceLock::new();
    CANARY.get_or_init(|| {
        let hits = Arc::new(AtomicUsize::new(0));
        let (url, counter) = match TcpListener::bind("127.0.0.1:0") {
            Ok(listener) => {
                let url = listener
                    .local_addr()
                    .map(|a| format!("http://{a}"))
                    .unwrap_or_default();
                let counter = hits.clone();
                std::thread::spawn(move || {
                    for conn in listener.incoming() {
                        counter.fetch_add(1, Ordering::SeqCst);
                        drop(conn);
                    }
                });
                (url, hits)
            }
            // No canary: children get an unroutable proxy instead, which fails loudly too.
            Err(_) => ("http://127.0.0.1:9".to_owned(), hits),
        };
        Canary { url, hits: counter }
    })
}

/// The variables that point a child's proxy settings at the canary.
pub fn proxy_env() -> Vec<(&'static str, String)> {
    let url = canary().url.clone();
    [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ]
    .into_iter()
    .map(|k| (k, url.clone()))
    .collect()
}

/// How many connections the canary has seen.
pub fn hits() -> usize {
    canary().hits.load(Ordering::SeqCst)
}
