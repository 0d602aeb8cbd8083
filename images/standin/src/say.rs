//! One line on stderr in one `write(2)`.
//!
//! Rust's stderr is unbuffered, so `eprintln!` writes each piece of its format separately.
//! A log driver records each write as its own (partial) entry, and Podman's log reader joins
//! partial entries with whatever entry comes next, from either stream: a ready line printed on
//! stdout by another thread in between ends up in the middle of the stderr line, and a log
//! probe anchored at `^` never sees it. Formatting the whole line first and writing it at once
//! keeps every line whole.

use std::io::{self, Write};

/// Writes `line` and a newline to stderr in one call; errors are ignored, as `eprintln!`'s
/// panics are not wanted in a server.
pub(crate) fn stderr_line(line: &str) {
    let mut buf = String::with_capacity(line.len() + 1);
    buf.push_str(line);
    buf.push('\n');
    let _ = io::stderr().lock().write_all(buf.as_bytes());
}

/// `eprintln!` that writes the line in one call (see the module doc).
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::say::stderr_line(&format!($($arg)*))
    };
}
pub(crate) use say;
