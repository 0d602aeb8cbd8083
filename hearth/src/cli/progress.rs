//! Pull progress while `hearth provision` waits: the daemon's steps followed over SSE
//! (`POST /v1/events`, `Accept: text/event-stream`) for as long as the call is in flight. On a
//! terminal each image being pulled has a line of its own, redrawn with the bytes so far (two
//! roles pulling at once show two lines); otherwise each finished pull prints one line.
//! Progress goes to stderr; stdout keeps the answer.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use futures::StreamExt;
use hearth_protocol::hearth::{ErrorCode, LifecycleEvent, Phase};
use hearth_protocol::verb::Verb;
use tokio::task::JoinHandle;

use crate::client::HearthClient;

/// How long the follower may take, after the call answered, to print the steps still in
/// flight on the stream.
const DRAIN: Duration = Duration::from_millis(500);

/// A follower of one verb's steps; [`Progress::finish`] ends it.
#[derive(Debug)]
pub(super) struct Progress {
    task: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts following `slug`'s steps for `verb` (steps already recorded are skipped). Any
    /// failure to follow just means no progress is shown.
    pub(super) async fn follow(client: &HearthClient, slug: &str, verb: Verb) -> Progress {
        let after = match client.events(slug).await {
            Ok(past) => past.last().map(|e| e.seq),
            // A workspace hearth has never seen has no past steps to skip.
            Err(e) if e.code() == ErrorCode::NotFound => None,
            Err(_) => return Progress { task: None },
        };
        let Ok(stream) = client.follow_events(slug).await else {
            return Progress { task: None };
        };
        let terminal = std::io::stderr().is_terminal();
        let task = tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            let mut board = Board::new(terminal);
            while let Some(Ok(e)) = stream.next().await {
                if after.is_some_and(|a| e.seq <= a) {
                    continue;
                }
                let shown = board.show(&e);
                if !shown.is_empty() {
                    let mut err = std::io::stderr().lock();
                    let _ = err.write_all(shown.as_bytes());
                    let _ = err.flush();
                }
                if e.op == Some(verb) && matches!(e.phase, Some(Phase::Done | Phase::Failed)) {
                    break;
                }
            }
        });
        Progress { task: Some(task) }
    }

    /// Lets the follower print what is still on its way, then stops it.
    pub(super) async fn finish(self) {
        if let Some(mut task) = self.task {
            if tokio::time::timeout(DRAIN, &mut task).await.is_err() {
                task.abort();
            }
        }
    }
}

/// The pulls shown so far: on a terminal, one line per pulling role (so per image), in the
/// order the pulls started, the cursor kept on the line below them.
#[derive(Debug)]
struct Board {
    terminal: bool,
    /// Role → the text of its line, in the order the lines were first drawn.
    lines: Vec<(String, String)>,
}

impl Board {
    fn new(terminal: bool) -> Board {
        Board {
            terminal,
            lines: Vec::new(),
        }
    }

    /// What to write for step `e` (empty when it is not about a pull). On a terminal: the
    /// cursor up over the lines drawn so far, then every line again with the role's new
    /// text; otherwise the line of a finished pull.
    fn show(&mut self, e: &LifecycleEvent) -> String {
        let role = e.role.as_deref().unwrap_or("");
        let detail = e.detail.as_deref().unwrap_or("");
        let text = match (e.step.as_str(), self.terminal) {
            ("image_pulling", true) => format!("pulling {role}: {detail}"),
            ("image_pulled", _) => format!("pulled {role}: {detail}"),
            _ => return String::new(),
        };
        if !self.terminal {
            return text + "\n";
        }
        let drawn = self.lines.len();
        match self.lines.iter_mut().find(|(r, _)| r == role) {
            Some(line) => line.1 = text,
            None => self.lines.push((role.to_owned(), text)),
        }
        let mut out = if drawn > 0 {
            format!("\x1b[{drawn}A")
        } else {
            String::new()
        };
        for (_, line) in &self.lines {
            out.push_str("\r\x1b[2K");
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(step: &str, role: &str, detail: &str) -> LifecycleEvent {
        LifecycleEvent {
            seq: 3,
            at: chrono::Utc::now(),
            step: step.into(),
            role: Some(role.into()),
            elapsed_ms: 10,
            detail: Some(detail.into()),
            op: Some(Verb::Provision),
            phase: Some(Phase::Step),
        }
    }

    /// Two roles pulling at once, their steps interleaved as the daemon records them.
    fn two_pulls() -> Vec<LifecycleEvent> {
        vec![
            step("image_resolving", "lore", "app:v1"),
            step("image_pulling", "lore", "app:v1 1.0 MB of 2.0 MB"),
            step("image_pulling", "cairnet", "big:v1 3.0 MB of 40.0 MB"),
            step("image_pulling", "lore", "app:v1 2.0 MB of 2.0 MB"),
            step(
                "image_pulled",
                "lore",
                "app:v1 2000000 bytes (2.0 MB) in 90 ms",
            ),
            step("image_pulling", "cairnet", "big:v1 9.0 MB of 40.0 MB"),
            step(
                "image_pulled",
                "cairnet",
                "big:v1 40000000 bytes (40.0 MB) in 700 ms",
            ),
            step("role_ready", "lore", ""),
        ]
    }

    fn shown(terminal: bool) -> Vec<String> {
        let mut board = Board::new(terminal);
        two_pulls().iter().map(|e| board.show(e)).collect()
    }

    #[test]
    fn a_pipe_gets_one_line_per_finished_pull_of_two_at_once() {
        assert_eq!(
            shown(false).concat(),
            "pulled lore: app:v1 2000000 bytes (2.0 MB) in 90 ms\n\
             pulled cairnet: big:v1 40000000 bytes (40.0 MB) in 700 ms\n"
        );
    }

    #[test]
    fn a_terminal_gives_each_of_two_pulls_at_once_a_line_of_its_own() {
        let shown = shown(true);
        let line = |text: &str| format!("\r\x1b[2K{text}\n");
        let lore = |d: &str| line(&format!("pulling lore: app:v1 {d} MB of 2.0 MB"));
        let cairnet = |d: &str| line(&format!("pulling cairnet: big:v1 {d} MB of 40.0 MB"));
        let lore_done = line("pulled lore: app:v1 2000000 bytes (2.0 MB) in 90 ms");
        assert_eq!(shown[0], "", "not a pull");
        assert_eq!(shown[1], lore("1.0"), "the first line");
        // A second pull: up over the first line, both drawn.
        assert_eq!(
            shown[2],
            format!("\x1b[1A{}{}", lore("1.0"), cairnet("3.0"))
        );
        // Each update redraws both, each role on its own line.
        assert_eq!(
            shown[3],
            format!("\x1b[2A{}{}", lore("2.0"), cairnet("3.0"))
        );
        assert_eq!(shown[4], format!("\x1b[2A{lore_done}{}", cairnet("3.0")));
        assert_eq!(shown[5], format!("\x1b[2A{lore_done}{}", cairnet("9.0")));
        assert_eq!(
            shown[6],
            format!(
                "\x1b[2A{lore_done}{}",
                line("pulled cairnet: big:v1 40000000 bytes (40.0 MB) in 700 ms")
            )
        );
        assert_eq!(shown[7], "", "not a pull");
    }
}
