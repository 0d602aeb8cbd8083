//! HATCH appends per second with an fsync per event: the console's own sink
//! (`console::sink::HatchSink`), called directly and through its async `append` as the relay
//! calls it, against the floor — a bare loop of `write` + `fdatasync` of the very same lines
//! on the same disk. If the sink misses its target and the bare loop does too, the disk bounds
//! it, not the sink.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use console::sink::HatchSink;
use hearth_protocol::hatch::types;
use serde_json::json;
use tokio::time::Instant;

use crate::report::play::HatchFigures;

/// What the HATCH measurement writes, where and how often.
#[derive(Debug, Clone)]
pub(crate) struct HatchPlan {
    /// A directory on the disk to measure (temp files are made and removed inside it).
    pub dir: PathBuf,
    /// Events appended per sample.
    pub events: usize,
    /// Measured samples per path (after one warm-up).
    pub runs: usize,
}

/// The three ways of appending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    Sink,
    SinkAsync,
    Floor,
}

/// Runs the three paths alternating, `runs` times each after a warm-up.
///
/// # Errors
/// When the directory is not writable or an append fails.
pub(crate) async fn measure(plan: &HatchPlan) -> anyhow::Result<HatchFigures> {
    std::fs::create_dir_all(&plan.dir).with_context(|| format!("create {}", plan.dir.display()))?;
    let dir = tempfile::Builder::new()
        .prefix("hearth-bench-hatch.")
        .tempdir_in(&plan.dir)
        .with_context(|| format!("temp dir in {}", plan.dir.display()))?;
    let mut figures = HatchFigures {
        dir: crate::report::shown(&plan.dir),
        filesystem: filesystem_of(&plan.dir),
        events: plan.events,
        ..HatchFigures::default()
    };
    // The floor writes exactly the lines the sink wrote (same sizes, same content).
    let lines = {
        let path = dir.path().join("lines.jsonl");
        sample(Way::Sink, &path, plan.events, &[]).await?;
        let text = std::fs::read_to_string(&path).context("read the sink's lines")?;
        text.split_inclusive('\n')
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    figures.line_bytes = lines.iter().map(String::len).sum::<usize>() / lines.len().max(1);
    let ways = [Way::Sink, Way::SinkAsync, Way::Floor];
    for round in 0..=plan.runs {
        let mut order = ways;
        order.rotate_left(round % ways.len());
        for way in order {
            let path = dir.path().join(format!("{way:?}-{round}.jsonl"));
            let took = sample(way, &path, plan.events, &lines).await?;
            std::fs::remove_file(&path).ok();
            if round == 0 {
                continue; // warm-up
            }
            match way {
                Way::Sink => figures.sink.push(took),
                Way::SinkAsync => figures.sink_async.push(took),
                Way::Floor => figures.floor.push(took),
            }
        }
    }
    Ok(figures)
}

/// A node event as the relay writes it.
fn node_data(i: usize) -> serde_json::Value {
    json!({
        "run_id": "bench-run", "node": format!("n{i}"), "index": i,
        "attempts": 1, "duration_ms": 3, "error": null,
    })
}

/// Appends `events` events to a fresh file at `path` the `way` way; returns the wall time.
async fn sample(
    way: Way,
    path: &Path,
    events: usize,
    lines: &[String],
) -> anyhow::Result<Duration> {
    match way {
        Way::SinkAsync => {
            let sink = HatchSink::open(path)?;
            let t0 = Instant::now();
            for i in 0..events {
                sink.append(types::NODE_SUCCEEDED, "bench-run", node_data(i))
                    .await?;
            }
            Ok(t0.elapsed())
        }
        Way::Sink => {
            let path = path.to_owned();
            tokio::task::spawn_blocking(move || {
                let sink = HatchSink::open(&path)?;
                let t0 = Instant::now();
                for i in 0..events {
                    sink.append_blocking(types::NODE_SUCCEEDED, "bench-run", node_data(i))?;
                }
                Ok(t0.elapsed())
            })
            .await?
        }
        Way::Floor => {
            let (path, lines) = (path.to_owned(), lines.to_vec());
            tokio::task::spawn_blocking(move || {
                let mut file = OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(&path)
                    .with_context(|| format!("open {}", path.display()))?;
                let t0 = Instant::now();
                for line in lines.iter().cycle().take(events) {
                    file.write_all(line.as_bytes())?;
                    file.sync_data()?;
                }
                Ok(t0.elapsed())
            })
            .await?
        }
    }
}

/// The filesystem type and device `dir` lives on, from `/proc/mounts` (longest mount point).
fn filesystem_of(dir: &Path) -> String {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (dev, at, fs) = (f.next()?, f.next()?, f.next()?);
            dir.starts_with(at)
                .then(|| (at.len(), format!("{fs} on {dev}")))
        })
        .max_by_key(|(len, _)| *len)
        .map_or_else(|| "unknown".to_owned(), |(_, fs)| fs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_filesystem_of_a_dir() {
        let fs = filesystem_of(Path::new("/proc/self"));
        assert!(fs.starts_with("proc"), "{fs}");
    }

    #[tokio::test]
    async fn every_way_writes_the_events() {
        let dir = tempfile::tempdir().unwrap();
        let plan = HatchPlan {
            dir: dir.path().to_owned(),
            events: 3,
            runs: 1,
        };
        let f = measure(&plan).await.unwrap();
        assert_eq!((f.sink.len(), f.sink_async.len(), f.floor.len()), (1, 1, 1));
        assert!(f.line_bytes > 100, "{}", f.line_bytes);
    }
}
