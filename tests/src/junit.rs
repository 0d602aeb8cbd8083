//! The JUnit report of `make e2e`, written by the tests themselves (no test runner plugin
//! needed): each case records its outcome in `target/e2e/cases/`, and every record rewrites
//! `target/e2e/junit.xml` from all of them under a file lock (tests run in parallel threads
//! and in several test binaries).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use futures::FutureExt;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

/// What a case body says when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    /// Not run, and why (e.g. no `HEARTH_E2E=1`).
    Skipped(String),
}

/// One case as recorded on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    suite: String,
    name: String,
    seconds: f64,
    /// `passed`, `failed` or `skipped`.
    outcome: String,
    message: Option<String>,
}

/// `target/e2e`.
///
/// # Errors
/// When the target directory cannot be found or created.
pub fn e2e_dir() -> anyhow::Result<PathBuf> {
    let dir = crate::bins::target_dir()?.join("e2e");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// Runs one test case, records it, and panics (failing the test) if it failed: with the
/// error's whole chain as the message, or the panic's own.
pub async fn case<F>(suite: &str, name: &str, body: F)
where
    F: Future<Output = anyhow::Result<Outcome>>,
{
    let started = Instant::now();
    let result = AssertUnwindSafe(body).catch_unwind().await;
    let seconds = started.elapsed().as_secs_f64();
    let (outcome, message) = match &result {
        Ok(Ok(Outcome::Passed)) => ("passed", None),
        Ok(Ok(Outcome::Skipped(why))) => ("skipped", Some(why.clone())),
        Ok(Err(e)) => ("failed", Some(format!("{e:#}"))),
        Err(panic) => ("failed", Some(panic_message(panic.as_ref()))),
    };
    let record = Record {
        suite: suite.to_owned(),
        name: name.to_owned(),
        seconds,
        outcome: outcome.to_owned(),
        message: message.clone(),
    };
    if let Err(e) = write_record(&record) {
        eprintln!("junit: could not record {suite}::{name}: {e:#}");
    }
    match result {
        Ok(Ok(Outcome::Skipped(why))) => eprintln!("SKIPPED {name}: {why}"),
        Ok(Ok(Outcome::Passed)) => {}
        Ok(Err(e)) => panic!("{name} failed: {e:#}"),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "panicked".to_owned())
}

fn write_record(record: &Record) -> anyhow::Result<()> {
    let dir = e2e_dir()?;
    let cases = dir.join("cases");
    std::fs::create_dir_all(&cases)?;
    let lock_file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(".junit.lock"))?;
    let _lock = Flock::lock(lock_file, FlockArg::LockExclusive)
        .map_err(|(_, e)| anyhow::anyhow!("cannot lock the junit report: {e}"))?;
    let file = cases.join(format!("{}.{}.json", record.suite, record.name));
    std::fs::write(&file, serde_json::to_vec_pretty(record)?)?;
    let xml = render(&read_records(&cases)?);
    let tmp = dir.join("junit.xml.tmp");
    std::fs::write(&tmp, xml)?;
    std::fs::rename(&tmp, dir.join("junit.xml"))?;
    Ok(())
}

fn read_records(cases: &Path) -> anyhow::Result<Vec<Record>> {
    let mut records = Vec::new();
    for entry in std::fs::read_dir(cases)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            if let Ok(r) = serde_json::from_slice::<Record>(&std::fs::read(&path)?) {
                records.push(r);
            }
        }
    }
    records.sort_by(|a, b| (&a.suite, &a.name).cmp(&(&b.suite, &b.name)));
    Ok(records)
}

fn escape(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect::<String>()
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// JUnit XML with one `<testsuite>` per suite.
fn render(records: &[Record]) -> String {
    let mut suites: Vec<&str> = records.iter().map(|r| r.suite.as_str()).collect();
    suites.dedup();
    let failures = records.iter().filter(|r| r.outcome == "failed").count();
    let total: f64 = records.iter().map(|r| r.seconds).sum();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"hearth-e2e\" \
         tests=\"{}\" failures=\"{failures}\" time=\"{total:.3}\">\n",
        records.len()
    );
    for suite in suites {
        let cases: Vec<&Record> = records.iter().filter(|r| r.suite == suite).collect();
        let fails = cases.iter().filter(|r| r.outcome == "failed").count();
        let skips = cases.iter().filter(|r| r.outcome == "skipped").count();
        let time: f64 = cases.iter().map(|r| r.seconds).sum();
        out.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{fails}\" skipped=\"{skips}\" \
             time=\"{time:.3}\">\n",
            escape(suite),
            cases.len()
        ));
        for r in cases {
            out.push_str(&format!(
                "    <testcase classname=\"hearth-e2e.{}\" name=\"{}\" time=\"{:.3}\"",
                escape(suite),
                escape(&r.name),
                r.seconds
            ));
            let raw = r.message.as_deref().unwrap_or("");
            let msg = escape(raw);
            match r.outcome.as_str() {
                "failed" => out.push_str(&format!(
                    ">\n      <failure message=\"{}\">{msg}</failure>\n    </testcase>\n",
                    escape(raw.lines().next().unwrap_or("failed"))
                )),
                "skipped" => out.push_str(&format!(
                    ">\n      <skipped message=\"{msg}\"/>\n    </testcase>\n"
                )),
                _ => out.push_str("/>\n"),
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_passed_failed_and_skipped() {
        let r = |name: &str, outcome: &str, message: Option<&str>| Record {
            suite: "drills".into(),
            name: name.into(),
            seconds: 1.5,
            outcome: outcome.into(),
            message: message.map(str::to_owned),
        };
        let xml = render(&[
            r("a", "passed", None),
            r("b", "failed", Some("chain <broken> & \"gone\"\nmore")),
            r("c", "skipped", Some("no engine")),
        ]);
        assert!(xml.contains("tests=\"3\" failures=\"1\""), "{xml}");
        assert!(
            xml.contains("<testcase classname=\"hearth-e2e.drills\" name=\"a\" time=\"1.500\"/>")
        );
        assert!(
            xml.contains("<failure message=\"chain &lt;broken&gt; &amp; &quot;gone&quot;\">"),
            "{xml}"
        );
        assert!(xml.contains("<skipped message=\"no engine\"/>"));
    }
}
