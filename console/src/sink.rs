//! The HATCH sink: the console's single writer of the audit log.
//!
//! Each event is appended as one line and made durable with `sync_data` before `append`
//! returns, so the console never answers or acts on an event that is not on disk. After a
//! failed write or fsync the sink is poisoned: every later append fails with the first error
//! (an fsync is never retried after a failure, because the kernel may have dropped the dirty
//! pages and a second "success" would lie).

use hearth_protocol::hearth::ErrorCode;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use hearth_protocol::hatch::{read_log, HatchEvent, ReadError, ReadLog, CONSOLE_SOURCE};
use hearth_protocol::ident;
use tokio::sync::broadcast;

/// Why the sink could not open or append.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SinkError {
    /// The log file could not be opened or read at start.
    #[error("cannot open HATCH log {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    /// A line before the last does not parse; the console will not append to it. The
    /// message names the line and the way to recover (the book's "HATCH" chapter).
    #[error(
        "HATCH log {path} is corrupt: {reason}. The console will not append after a corrupt \
         line (every later line would be unreadable too). Keep the file as evidence and \
         recover: `console hatch verify {path}` shows the line; then either move the log aside \
         (`mv {path} {path}.corrupt`; the next start begins a new log at seq 1) or keep the \
         lines before it (`head -n {keep} {path} > {path}.new`, move the old file aside, move \
         the new one in; seq continues)",
        path = path.display(),
        keep = line.saturating_sub(1)
    )]
    Corrupt {
        path: PathBuf,
        /// The first bad line, 1-based.
        line: usize,
        reason: String,
    },
    /// The event breaks the envelope rule its reader applies (a control character or an
    /// over-long subject, say): it is not written, and the sink stays usable.
    #[error("HATCH refused the event: {0}")]
    Refused(String),
    /// A write or fsync failed now or earlier; the sink no longer writes.
    #[error("HATCH log is unavailable: {0}")]
    Unavailable(String),
}

impl SinkError {
    /// Stable machine-readable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            SinkError::Open { .. } => ErrorCode::HatchOpenFailed,
            SinkError::Corrupt { .. } => ErrorCode::HatchCorrupt,
            SinkError::Refused(_) => ErrorCode::HatchEventRefused,
            SinkError::Unavailable(_) => ErrorCode::HatchUnavailable,
        }
    }
}

/// The writer's state, behind the sink's one mutex.
#[derive(Debug)]
struct Writer {
    /// The log, held under an exclusive lock: one console per HATCH file, or two would hand
    /// out the same seqs.
    file: nix::fcntl::Flock<File>,
    /// The seq the next line gets.
    next_seq: u64,
    /// Set by the first failed write or fsync; every later append answers with it.
    poisoned: Option<String>,
}

/// Appends HATCH events durably and fans them out to live tails.
#[derive(Debug, Clone)]
pub struct HatchSink {
    path: PathBuf,
    source: String,
    /// Single-writer lock: seq assignment, the write, the fsync and the broadcast happen
    /// under it, so seq order is file order is broadcast order.
    writer: Arc<Mutex<Writer>>,
    /// Live tail: every durable event, in seq order.
    live: broadcast::Sender<HatchEvent>,
}

impl HatchSink {
    /// Opens (or creates, mode 0600) the log at `path`, continuing `seq` after its last good
    /// line. A torn last line (a crash mid-append) is cut off so the next line starts clean;
    /// nothing before it is touched.
    ///
    /// # Errors
    /// [`SinkError::Open`] when the file cannot be opened, [`SinkError::Corrupt`] when a line
    /// other than the last is bad.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SinkError> {
        let path = path.as_ref().to_path_buf();
        let open_err = |e: std::io::Error| SinkError::Open {
            path: path.clone(),
            reason: e.to_string(),
        };
        let existed = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&path)
            .map_err(open_err)?;
        let mut file = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
            .map_err(|(_, errno)| SinkError::Open {
            path: path.clone(),
            reason: format!(
                "another console is writing to it ({errno}); give each its own --hatch"
            ),
        })?;
        if !existed {
            // Make the new file's directory entry durable too, not only its lines.
            sync_parent(&path).map_err(open_err)?;
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(open_err)?;
        let log = read_log(&bytes).map_err(|e| corrupt(&path, &e))?;
        if let Some(torn) = &log.torn_tail {
            tracing::warn!(
                path = %path.display(),
                line = torn.line_no,
                reason = %torn.reason,
                "HATCH log ends in a torn line; cutting it off before appending"
            );
            file.set_len(log.valid_len).map_err(open_err)?;
            file.sync_data().map_err(open_err)?;
            file.seek(SeekFrom::End(0)).map_err(open_err)?;
        }
        let (live, _) = broadcast::channel(1024);
        Ok(HatchSink {
            path,
            source: CONSOLE_SOURCE.to_owned(),
            writer: Arc::new(Mutex::new(Writer {
                file,
                next_seq: log.last_seq() + 1,
                poisoned: None,
            })),
            live,
        })
    }

    /// The log file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one event and fsyncs it; returns it once it is durable.
    ///
    /// Blocking file I/O runs on tokio's blocking pool.
    ///
    /// # Errors
    /// [`SinkError::Unavailable`] when the write or fsync fails (now or before).
    pub async fn append(
        &self,
        event_type: &str,
        subject: &str,
        data: serde_json::Value,
    ) -> Result<HatchEvent, SinkError> {
        let this = self.clone();
        let (event_type, subject) = (event_type.to_owned(), subject.to_owned());
        tokio::task::spawn_blocking(move || this.append_blocking(&event_type, &subject, data))
            .await
            .map_err(|e| SinkError::Unavailable(format!("writer task failed: {e}")))?
    }

    /// The synchronous body of [`append`](Self::append).
    ///
    /// # Errors
    /// As [`append`](Self::append).
    pub fn append_blocking(
        &self,
        event_type: &str,
        subject: &str,
        data: serde_json::Value,
    ) -> Result<HatchEvent, SinkError> {
        let mut w = self
            .writer
            .lock()
            .map_err(|_| SinkError::Unavailable("writer lock poisoned".to_owned()))?;
        if let Some(reason) = &w.poisoned {
            return Err(SinkError::Unavailable(reason.clone()));
        }
        let event = HatchEvent::new(
            uuid::Uuid::new_v4().to_string(),
            &self.source,
            event_type,
            subject,
            w.next_seq,
            data,
        );
        // The reader's own rule, applied before the write: a line it would refuse is never
        // written (it would take the whole log down with it).
        let line = event.encode_line().map_err(|reason| {
            tracing::warn!(event_type, subject = ?ident::preview(subject), %reason, "HATCH event refused");
            SinkError::Refused(reason)
        })?;
        let result = w
            .file
            .write_all(line.as_bytes())
            .and_then(|()| w.file.sync_data());
        if let Err(e) = result {
            let reason = format!("append to {} failed: {e}", self.path.display());
            tracing::error!(path = %self.path.display(), error = %e, seq = event.seq, "HATCH append failed; sink poisoned");
            w.poisoned = Some(reason.clone());
            return Err(SinkError::Unavailable(reason));
        }
        w.next_seq += 1;
        tracing::debug!(seq = event.seq, event_type = %event.event_type, subject = %event.subject, "hatch event");
        // No live tail listening is fine.
        let _ = self.live.send(event.clone());
        Ok(event)
    }

    /// Why the sink refuses appends, if it does (after a failed write or fsync).
    pub fn poisoned(&self) -> Option<String> {
        self.writer
            .lock()
            .map(|w| w.poisoned.clone())
            .unwrap_or_else(|_| Some("writer lock poisoned".to_owned()))
    }

    /// A live tail: every event appended after this call.
    pub fn subscribe(&self) -> broadcast::Receiver<HatchEvent> {
        self.live.subscribe()
    }

    /// Reads the log as it is on disk.
    ///
    /// # Errors
    /// [`SinkError::Open`] or [`SinkError::Corrupt`] as for [`open`](Self::open).
    pub fn read(&self) -> Result<ReadLog, SinkError> {
        let bytes = std::fs::read(&self.path).map_err(|e| SinkError::Open {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        read_log(&bytes).map_err(|e| corrupt(&self.path, &e))
    }

    /// Replaces the file handle (tests use a read-only one to make writes fail). The old
    /// handle's lock is released first, so the new one can take it.
    #[cfg(test)]
    pub(crate) fn swap_file(&self, file: File) {
        if let Ok(mut w) = self.writer.lock() {
            // A private placeholder: a lock on a shared file (/dev/null) would collide with
            // any other process doing the same.
            let placeholder = tempfile::tempfile().expect("placeholder file");
            let old = std::mem::replace(
                &mut w.file,
                nix::fcntl::Flock::lock(placeholder, nix::fcntl::FlockArg::LockExclusiveNonblock)
                    .map_err(|(_, e)| e)
                    .expect("lock the placeholder"),
            );
            drop(old);
            w.file = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
                .map_err(|(_, e)| e)
                .expect("lock the swapped-in file");
        }
    }
}

fn corrupt(path: &Path, e: &ReadError) -> SinkError {
    let ReadError::Corrupt { line_no, reason } = e;
    SinkError::Corrupt {
        path: path.to_owned(),
        line: *line_no,
        reason: format!("line {line_no} is not a HATCH event ({reason})"),
    }
}

/// fsyncs the directory holding `path`.
pub(crate) fn sync_parent(path: &Path) -> std::io::Result<()> {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => File::open(dir)?.sync_all(),
        None => File::open(".")?.sync_all(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_protocol::hatch::types;
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn seq_is_monotonic_across_reopen() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("hatch.jsonl");
        let sink = HatchSink::open(&path).expect("open");
        for _ in 0..3 {
            sink.append_blocking(types::RUN_STARTED, "r1", json!({}))
                .expect("append");
        }
        drop(sink);
        let sink = HatchSink::open(&path).expect("reopen");
        let ev = sink
            .append_blocking(types::RUN_ENDED, "r1", json!({}))
            .expect("append");
        assert_eq!(ev.seq, 4);
        let seqs: Vec<u64> = sink
            .read()
            .expect("read")
            .events
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, vec![1, 2, 3, 4]);
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn torn_last_line_is_cut_and_seq_continues() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("hatch.jsonl");
        let sink = HatchSink::open(&path).expect("open");
        sink.append_blocking(types::PROVISIONING_STARTED, "acme", json!({}))
            .expect("append");
        drop(sink);
        let mut f = OpenOptions::new().append(true).open(&path).expect("open");
        f.write_all(br#"{"specversion":"1.0","id":"x","sou"#)
            .expect("tear");
        drop(f);
        let sink = HatchSink::open(&path).expect("reopen tolerates torn tail");
        let ev = sink
            .append_blocking(types::PROVISIONED, "acme", json!({}))
            .expect("append");
        assert_eq!(ev.seq, 2);
        let log = sink.read().expect("read");
        assert!(log.torn_tail.is_none());
        assert_eq!(log.events.len(), 2);
    }

    #[test]
    fn append_is_on_disk_when_it_returns() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("hatch.jsonl");
        let sink = HatchSink::open(&path).expect("open");
        let ev = sink
            .append_blocking(types::PROVISIONING_STARTED, "acme", json!({"tier": "solo"}))
            .expect("append");
        let on_disk = std::fs::read_to_string(&path).expect("read");
        assert_eq!(on_disk, ev.to_line());
    }

    #[test]
    fn one_console_per_hatch_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("hatch.jsonl");
        let first = HatchSink::open(&path).expect("open");
        let err = HatchSink::open(&path).expect_err("second writer");
        assert!(err.to_string().contains("another console"), "{err}");
        drop(first);
        HatchSink::open(&path).expect("free again");
    }

    #[test]
    fn a_failed_write_poisons_the_sink() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("hatch.jsonl");
        let sink = HatchSink::open(&path).expect("open");
        // A read-only handle makes the next write fail, as a full disk would.
        sink.swap_file(File::open(&path).expect("ro"));
        let err = sink
            .append_blocking(types::RUN_STARTED, "r", json!({}))
            .expect_err("write fails");
        assert_eq!(err.code(), "hatch_unavailable");
        // Even with a writable file back, the sink stays poisoned: no retried fsync.
        sink.swap_file(OpenOptions::new().append(true).open(&path).expect("rw"));
        let err = sink
            .append_blocking(types::RUN_STARTED, "r", json!({}))
            .expect_err("still poisoned");
        assert_eq!(err.code(), "hatch_unavailable");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "");
    }

    #[tokio::test]
    async fn live_tail_sees_appends_in_order() {
        let dir = tempfile::tempdir().expect("tmp");
        let sink = HatchSink::open(dir.path().join("h.jsonl")).expect("open");
        let mut rx = sink.subscribe();
        sink.append(types::PAUSED, "a", json!({})).await.expect("1");
        sink.append(types::RESUMED, "a", json!({}))
            .await
            .expect("2");
        assert_eq!(rx.recv().await.expect("ev").seq, 1);
        assert_eq!(rx.recv().await.expect("ev").event_type, types::RESUMED);
    }

    #[test]
    fn corrupt_middle_line_refuses_to_open() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("hatch.jsonl");
        let sink = HatchSink::open(&path).expect("open");
        sink.append_blocking(types::PAUSED, "a", json!({}))
            .expect("1");
        drop(sink);
        let mut text = std::fs::read_to_string(&path).expect("read");
        text = format!("garbage\n{text}");
        std::fs::write(&path, text).expect("write");
        let err = HatchSink::open(&path).expect_err("corrupt");
        assert_eq!(err.code(), "hatch_corrupt");
        let _ = std::fs::metadata(&path).map(|m| m.permissions().mode());
    }
}
