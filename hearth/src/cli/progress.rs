//! Pull progress while `hearth provision` waits: the daemon's steps followed over SSE
//! (`POST /v1/events`, `Accept: text/event-stream`) for as long as the call is in flight. On a
//! terminal one line is redrawn with the bytes so far; otherwise each finished pull prints one
//! line. Progress goes to stderr; stdout keeps the answer.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use futures::StreamExt;
use hearth_protocol::hearth::{ErrorCode, LifecycleEvent};
use tokio::task::JoinHandle;

use crate::client::HearthClient;

/// How long the follower may take, after the call answered, to print the steps still in
/// flight on the stream.
const DRAIN: Duration = Duration::from_millis(500);

/// A follower of one verb's steps; [`Progress::finish`] ends it.
#[derive(Debug)]
pub struct Progress {
    task: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts following `slug`'s steps for `verb` (steps already recorded are skipped). Any
    /// failure to follow just means no progress is shown.
    pub async fn follow(client: &HearthClient, slug: &str, verb: &'static str) -> Progress {
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
            while let Some(Ok(e)) = stream.next().await {
                if after.is_some_and(|a| e.seq <= a) {
                    continue;
                }
                if let Some(line) = render(&e, terminal) {
                    let mut err = std::io::stderr().lock();
                    let _ = err.write_all(line.as_bytes());
                    let _ = err.flush();
                }
                if e.step == format!("{verb}_done") || e.step == format!("{verb}_failed") {
                    break;
                }
            }
        });
        Progress { task: Some(task) }
    }

    /// Lets the follower print what is still on its way, then stops it.
    pub async fn finish(self) {
        if let Some(mut task) = self.task {
            if tokio::time::timeout(DRAIN, &mut task).await.is_err() {
                task.abort();
            }
        }
    }
}

/// The text a step shows, if it is about a pull.
fn render(e: &LifecycleEvent, terminal: bool) -> Option<String> {
    let role = e.role.as_deref().unwrap_or("");
    let detail = e.detail.as_deref().unwrap_or("");
    match (e.step.as_str(), terminal) {
        ("image_pulling", true) => Some(format!("\r\x1b[2Kpulling {role}: {detail}")),
        ("image_pulled", true) => Some(format!("\r\x1b[2Kpulled {role}: {detail}\n")),
        ("image_pulled", false) => Some(format!("pulled {role}: {detail}\n")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(step: &str) -> LifecycleEvent {
        LifecycleEvent {
            seq: 3,
            at: chrono::Utc::now(),
            step: step.into(),
            role: Some("lore".into()),
            elapsed_ms: 10,
            detail: Some("app:v1 1.0 MB of 2.0 MB".into()),
        }
    }

    #[test]
    fn a_terminal_redraws_one_line_a_pipe_gets_one_line_per_pull() {
        let pulling = step("image_pulling");
        let pulled = step("image_pulled");
        assert_eq!(
            render(&pulling, true).as_deref(),
            Some("\r\x1b[2Kpulling lore: app:v1 1.0 MB of 2.0 MB")
        );
        assert_eq!(render(&pulling, false), None);
        assert!(render(&pulled, true).is_some_and(|l| l.ends_with('\n')));
        assert_eq!(
            render(&pulled, false).as_deref(),
            Some("pulled lore: app:v1 1.0 MB of 2.0 MB\n")
        );
        assert_eq!(render(&step("role_ready"), true), None);
    }
}
