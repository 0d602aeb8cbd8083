//! One-shot mode (`ONESHOT_EXIT`): models a migration. It logs numbered work lines spread
//! over `ONESHOT_MS`, leaves a marker in the data directory (a trace another role can check
//! through a shared volume), and exits with the chosen code. Nothing listens.

use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::thread;

use crate::config::Oneshot;

/// The marker's file name in the data directory.
pub(crate) const MARKER: &str = ".standin-oneshot";

/// Runs the one-shot, logging to `out`, and returns the code the process must exit with.
pub(crate) fn run(
    o: &Oneshot,
    role: &str,
    data_dir: &Path,
    out: &mut impl Write,
) -> io::Result<u8> {
    writeln!(
        out,
        "hearth-standin: oneshot role={role:?} starting: {} work lines over {} ms, then exit {}",
        o.lines,
        o.work.as_millis(),
        o.exit
    )?;
    out.flush()?;
    let pause = o.work.checked_div(o.lines.max(1)).unwrap_or_default();
    for i in 1..=o.lines {
        thread::sleep(pause);
        writeln!(out, "hearth-standin: oneshot work {i}/{}", o.lines)?;
        out.flush()?;
    }
    if o.lines == 0 {
        thread::sleep(o.work);
    }
    if data_dir.is_dir() {
        let marker = format!("role={role} exit={}\n", o.exit);
        match fs::write(data_dir.join(MARKER), marker) {
            Ok(()) => writeln!(
                out,
                "hearth-standin: oneshot wrote {}",
                data_dir.join(MARKER).display()
            )?,
            Err(e) => writeln!(
                out,
                "hearth-standin: oneshot could not write its marker: {e}"
            )?,
        }
    }
    writeln!(out, "hearth-standin: oneshot done, exit {}", o.exit)?;
    out.flush()?;
    Ok(o.exit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn logs_its_lines_over_its_work_time_marks_the_volume_and_returns_its_code() {
        let dir = std::env::temp_dir().join(format!("standin-oneshot-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let o = Oneshot {
            exit: 3,
            work: Duration::from_millis(60),
            lines: 25,
        };
        let mut out = Vec::new();
        let t0 = Instant::now();
        assert_eq!(run(&o, "migrate", &dir, &mut out).unwrap(), 3);
        assert!(t0.elapsed() >= Duration::from_millis(60));
        let log = String::from_utf8(out).unwrap();
        let lines: Vec<_> = log.lines().collect();
        assert_eq!(lines.len(), 28, "{log}");
        assert!(
            lines[0].contains("starting: 25 work lines over 60 ms, then exit 3"),
            "{log}"
        );
        assert_eq!(lines[25], "hearth-standin: oneshot work 25/25");
        assert_eq!(lines[27], "hearth-standin: oneshot done, exit 3");
        assert_eq!(
            fs::read_to_string(dir.join(MARKER)).unwrap(),
            "role=migrate exit=3\n"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn runs_without_a_data_dir() {
        let o = Oneshot {
            exit: 0,
            work: Duration::ZERO,
            lines: 0,
        };
        let mut out = Vec::new();
        assert_eq!(
            run(&o, "m", Path::new("/nonexistent-standin"), &mut out).unwrap(),
            0
        );
        assert!(String::from_utf8(out)
            .unwrap()
            .ends_with("oneshot done, exit 0\n"));
    }
}
