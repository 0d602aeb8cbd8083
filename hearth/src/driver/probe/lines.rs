//! A container's log as whole lines, each from one stream.
//!
//! The Engine API sends a log as frames, one per write the process made; a line written in
//! several writes arrives as several frames, and frames of stdout and stderr interleave when
//! two threads write at once. Joining the frames in arrival order would splice a stdout line
//! into the middle of a stderr one (and a `log` probe anchored at `^` would never match it),
//! so each stream keeps its own unfinished line, and a line is emitted when its stream ends it.

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions;
use futures::StreamExt;

/// Which stream a frame came from; a TTY's console output counts as stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    Out,
    Err,
}

/// Collects frames into whole lines, in the order each line was completed.
#[derive(Debug, Default)]
pub(crate) struct Lines {
    text: String,
    open: [String; 2],
}

impl Lines {
    /// Adds one frame of `stream`.
    pub(crate) fn push(&mut self, stream: Stream, frame: &str) {
        let open = &mut self.open[stream as usize];
        open.push_str(frame);
        while let Some(end) = open.find('\n') {
            self.text.push_str(&open[..=end]);
            open.drain(..=end);
        }
    }

    /// The lines, the unfinished ones last (stdout's, then stderr's), each ending in `\n`.
    pub(crate) fn finish(mut self) -> String {
        for open in self.open {
            if !open.is_empty() {
                self.text.push_str(&open);
                self.text.push('\n');
            }
        }
        self.text
    }
}

/// Reads a log stream of the Engine API (a container's or a swarm task's) to its end, as
/// whole lines.
///
/// # Errors
/// The stream's error, in words.
pub(crate) async fn read(
    mut stream: impl futures::Stream<Item = Result<LogOutput, bollard::errors::Error>> + Unpin,
) -> Result<String, String> {
    let mut lines = Lines::default();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("reading the log failed: {e}"))?;
        let from = match chunk {
            LogOutput::StdErr { .. } => Stream::Err,
            _ => Stream::Out,
        };
        lines.push(from, &String::from_utf8_lossy(&chunk.into_bytes()));
    }
    Ok(lines.finish())
}

/// The options of a log read: both streams, the last `tail` lines or all.
pub(crate) fn options(tail: Option<usize>) -> LogsOptions {
    LogsOptions {
        stdout: true,
        stderr: true,
        tail: tail.map_or_else(|| "all".to_owned(), |n| n.to_string()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::{Lines, Stream};

    #[test]
    fn a_line_written_in_pieces_is_not_split_by_the_other_stream() {
        let mut l = Lines::default();
        l.push(Stream::Err, "listening on ");
        l.push(Stream::Out, "cairnet is ready\n");
        l.push(Stream::Err, "8080\n");
        assert_eq!(l.finish(), "cairnet is ready\nlistening on 8080\n");
    }

    #[test]
    fn several_lines_in_one_frame_and_unfinished_lines_at_the_end() {
        let mut l = Lines::default();
        l.push(Stream::Out, "a\nb\nc");
        l.push(Stream::Err, "e");
        assert_eq!(l.finish(), "a\nb\nc\ne\n");
    }
}
