//! The replay journal: the nonces a [`Verifier`](crate::bearer::Verifier) has accepted, on
//! disk, so a captured bearer replayed against a restarted verifier is still refused within
//! its tolerance window.
//!
//! One line per accepted nonce, `<expires unix s> <nonce>\n`, appended and fsynced before the
//! request is let through. On open, lines whose token is stale anyway are dropped and the file
//! is rewritten (0600, atomically); a torn last line from a crash is dropped the same way —
//! its request was never answered, since the append had not finished.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The nonces of the window, kept on disk.
#[derive(Debug)]
pub struct ReplayJournal {
    path: PathBuf,
    /// Open for appending; every record is fsynced before it counts.
    file: File,
}

impl ReplayJournal {
    /// Opens (or starts) the journal at `path`, keeping only entries that expire at or after
    /// `now`, and returns them.
    ///
    /// # Errors
    /// The I/O error of reading, compacting or opening the file.
    pub fn open(path: &Path, now: u64) -> io::Result<(ReplayJournal, Vec<(String, u64)>)> {
        let text = match fs::read(path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        let live: Vec<(String, u64)> = text
            .split_inclusive('\n')
            .filter(|line| line.ends_with('\n'))
            .filter_map(parse_line)
            .filter(|(_, expires)| *expires >= now)
            .collect();
        let mut compact = String::new();
        for (nonce, expires) in &live {
            compact.push_str(&format!("{expires} {nonce}\n"));
        }
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let _ = fs::remove_file(&tmp);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(compact.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        let file = OpenOptions::new().append(true).mode(0o600).open(path)?;
        Ok((
            ReplayJournal {
                path: path.to_owned(),
                file,
            },
            live,
        ))
    }

    /// Records `nonce` until `expires`, durably.
    ///
    /// # Errors
    /// The write or fsync error; the caller must then refuse the request.
    pub fn record(&mut self, nonce: &str, expires: u64) -> io::Result<()> {
        self.file
            .write_all(format!("{expires} {nonce}\n").as_bytes())?;
        self.file.sync_data()
    }

    /// Where the journal lives.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn parse_line(line: &str) -> Option<(String, u64)> {
    let (expires, nonce) = line.trim_end_matches('\n').split_once(' ')?;
    let expires = expires.parse().ok()?;
    (nonce.len() == 32
        && nonce
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
    .then(|| (nonce.to_owned(), expires))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn keeps_the_window_and_drops_the_stale_and_the_torn() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("replay.log");
        let a = "a".repeat(32);
        let b = "b".repeat(32);
        {
            let (mut j, live) = ReplayJournal::open(&path, 100).expect("open");
            assert!(live.is_empty());
            j.record(&a, 50).expect("stale by the next start");
            j.record(&b, 500).expect("still live");
        }
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(b"600 cccc"))
            .expect("torn");
        let (_j, live) = ReplayJournal::open(&path, 200).expect("reopen");
        assert_eq!(live, vec![(b.clone(), 500)]);
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            format!("500 {b}\n"),
            "compacted"
        );
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
