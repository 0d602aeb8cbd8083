//! Stamps the commit into the version string: `HEARTH_COMMIT` from the environment (the
//! Makefile or a packager may set it), else `git rev-parse --short HEAD`, else `unknown`
//! (a source tarball has no git).

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-env-changed=HEARTH_COMMIT");
    let commit = std::env::var("HEARTH_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            // Rebuild when HEAD moves: logs/HEAD gains a line on every commit and checkout
            // (in a worktree too, where .git is a file pointing elsewhere).
            for path in ["HEAD", "logs/HEAD"] {
                if let Some(p) = git(&["rev-parse", "--git-path", path]) {
                    println!("cargo:rerun-if-changed={p}");
                }
            }
            git(&["rev-parse", "--short=9", "HEAD"])
        })
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=HEARTH_COMMIT={commit}");
}
