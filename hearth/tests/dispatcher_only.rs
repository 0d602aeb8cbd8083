//! One way through: no code in `hearth/src` outside `dispatcher/` calls a driver's lifecycle
//! verbs. A handler that reached a driver directly would skip the guard, the record and the
//! events — the way backends drift apart. The check reads the source: every call of a verb
//! method (`.provision(`, `.teardown(` …) whose statement names a driver, or that passes the
//! driver's `Steps`, is a driver call. A file's unit-test module is not production code and
//! is not read.

use std::path::{Path, PathBuf};

/// The `Driver` trait's lifecycle verbs.
const VERBS: [&str; 7] = [
    "provision",
    "upgrade",
    "teardown",
    "pause",
    "resume",
    "hibernate",
    "wake",
];

/// Where driver verbs may be called: the dispatcher, and the warm pool, which is its own
/// instrument — a claim happens inside the dispatcher's provision verb, the pool's `Bound`
/// wrapper is the driver the dispatcher holds (it only maps a claimed slug to its member's
/// objects, delegating every verb), and refill builds members, which are no one's workspace
/// until the dispatcher binds one.
const ALLOWED: [&str; 2] = ["dispatcher", "pool"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The driver verb calls in `source`, as `line: statement`.
fn driver_calls(source: &str) -> Vec<String> {
    let mut found = Vec::new();
    for verb in VERBS {
        let needle = format!(".{verb}(");
        let mut from = 0;
        while let Some(at) = source[from..].find(&needle) {
            let at = from + at;
            from = at + needle.len();
            // The statement so far: back to the previous `;`, `{` or `}`.
            let start = source[..at].rfind([';', '{', '}']).map_or(0, |i| i + 1);
            let receiver = &source[start..at];
            // The arguments: up to the matching `)`.
            let mut depth = 1;
            let mut end = from;
            for (i, c) in source[from..].char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    end = from + i;
                    break;
                }
            }
            let args = &source[from..end];
            let on_a_driver = receiver.to_lowercase().contains("driver");
            let with_steps = args.contains("steps") || args.contains("Steps::");
            if on_a_driver || with_steps {
                let line = source[..at].lines().count();
                found.push(format!(
                    "{line}: {}{needle}{args})",
                    receiver.split_whitespace().collect::<Vec<_>>().join(" ")
                ));
            }
        }
    }
    found
}

#[test]
fn only_the_dispatcher_calls_driver_verbs() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 10, "the scan sees the source: {files:?}");
    let mut outside = Vec::new();
    let mut inside = 0;
    for file in files {
        let rel = file.strip_prefix(&src).expect("under src");
        let text = std::fs::read_to_string(&file).expect("read");
        // A driver's own unit tests (its `#[cfg(test)] mod tests`, last in the file) drive it
        // directly; that is what they test.
        let code = text
            .split("\n#[cfg(test)]\nmod tests")
            .next()
            .unwrap_or(&text);
        let calls = driver_calls(code);
        if ALLOWED.iter().any(|a| rel.starts_with(a)) {
            inside += calls.len();
        } else {
            outside.extend(calls.into_iter().map(|c| format!("{}:{c}", rel.display())));
        }
    }
    assert!(
        inside >= VERBS.len() - 2,
        "the scan finds the dispatcher's own driver calls ({inside})"
    );
    assert!(
        outside.is_empty(),
        "driver verbs called outside hearth/src/{{{}}}/ — go through the Dispatcher:\n{}",
        ALLOWED.join(","),
        outside.join("\n")
    );
}

#[test]
fn the_scan_tells_driver_calls_from_rpc_calls() {
    let handler = "async fn h(d: &Dispatcher) { let x = d.pause(&slug).await?; }";
    assert!(
        driver_calls(handler).is_empty(),
        "the dispatcher's own verb"
    );
    let client = "client\n    .resume(&a.slug)\n    .await";
    assert!(driver_calls(client).is_empty(), "the RPC client");
    let bypass = "fn h(s: &State) { s.driver.pause(&r, &steps).await?; }";
    assert_eq!(driver_calls(bypass).len(), 1);
    let multiline =
        "let d = state.dispatcher.driver()\n        .teardown(&slug, &Steps::detached(&slug));";
    assert_eq!(driver_calls(multiline).len(), 1);
    let via_steps = "{ engine.wake(&r, &steps).await }";
    assert_eq!(driver_calls(via_steps).len(), 1);
}
