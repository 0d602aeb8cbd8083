//! The one start-up rule of the play's servers (console, worker-stub): the first stdout line
//! is `listening http://ADDR`. Read with a deadline, the rest of stdout drained in the
//! background so the child never blocks on a full pipe.

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::mpsc;
use std::time::Duration;

use tokio::io::AsyncBufReadExt;

/// Why a child did not announce where it listens.
#[derive(Debug)]
pub enum NotListening {
    /// It printed nothing within the deadline.
    Silent(Duration),
    /// It closed stdout (exited) without a line.
    Closed,
    /// Its stdout could not be read.
    Unreadable(std::io::Error),
    /// Its first line was something else.
    Said(String),
}

impl std::fmt::Display for NotListening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotListening::Silent(d) => write!(f, "printed no `listening` line within {d:?}"),
            NotListening::Closed => write!(f, "closed its stdout before a `listening` line"),
            NotListening::Unreadable(e) => write!(f, "stdout could not be read: {e}"),
            NotListening::Said(line) => write!(
                f,
                "did not start: first stdout line {line:?}, expected `listening http://…`"
            ),
        }
    }
}

impl std::error::Error for NotListening {}

/// The URL of a `listening http://…` line.
///
/// # Errors
/// [`NotListening::Said`] for any other line.
pub fn parse(line: &str) -> Result<String, NotListening> {
    match line.trim().strip_prefix("listening ") {
        Some(url) if url.starts_with("http://") => Ok(url.to_owned()),
        _ => Err(NotListening::Said(line.trim().to_owned())),
    }
}

/// Waits up to `deadline` for the first line of `stdout` and returns its URL; the rest of
/// stdout is copied, line by line as printed, to `rest` on a thread of its own.
///
/// # Errors
/// When the child is silent past the deadline, exits, or prints something else.
pub fn wait(
    stdout: impl Read + Send + 'static,
    mut rest: impl Write + Send + 'static,
    deadline: Duration,
) -> Result<String, NotListening> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut first = String::new();
        let _ = tx.send(reader.read_line(&mut first).map(|n| (n, first)));
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
            let _ = rest.write_all(line.as_bytes()).and_then(|()| rest.flush());
            line.clear();
        }
    });
    match rx.recv_timeout(deadline) {
        Ok(Ok((0, _))) => Err(NotListening::Closed),
        Ok(Ok((_, line))) => parse(&line),
        Ok(Err(e)) => Err(NotListening::Unreadable(e)),
        Err(_) => Err(NotListening::Silent(deadline)),
    }
}

/// [`wait`] for a tokio child: the rest of stdout is drained by a task.
///
/// # Errors
/// As [`wait`].
pub async fn wait_async(
    stdout: tokio::process::ChildStdout,
    deadline: Duration,
) -> Result<String, NotListening> {
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = match tokio::time::timeout(deadline, lines.next_line()).await {
        Err(_) => return Err(NotListening::Silent(deadline)),
        Ok(Err(e)) => return Err(NotListening::Unreadable(e)),
        Ok(Ok(None)) => return Err(NotListening::Closed),
        Ok(Ok(Some(line))) => line,
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    parse(&line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_listening_line() {
        assert_eq!(
            parse("listening http://127.0.0.1:4100\n").unwrap(),
            "http://127.0.0.1:4100"
        );
        assert!(matches!(parse("hello"), Err(NotListening::Said(l)) if l == "hello"));
    }

    #[test]
    fn waits_for_the_first_line_and_copies_the_rest() {
        let out = std::io::Cursor::new(b"listening http://127.0.0.1:1\nui x\n".to_vec());
        let url = wait(out, std::io::sink(), Duration::from_secs(5)).unwrap();
        assert_eq!(url, "http://127.0.0.1:1");
        let empty = std::io::Cursor::new(Vec::new());
        let err = wait(empty, std::io::sink(), Duration::from_secs(5)).unwrap_err();
        assert!(matches!(err, NotListening::Closed), "{err}");
    }
}
