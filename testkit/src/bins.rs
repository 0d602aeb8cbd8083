//! Finding the workspace's built binaries (`hearth`, `worker-stub`, `console`) in the cargo
//! target directory the running test or demo executable lives in.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// The binaries the play spawns.
pub const PLAY_BINARIES: &[&str] = &["hearth", "worker-stub", "console"];

/// The cargo profile directory (`target/debug`) of the running executable: test binaries live
/// in `target/debug/deps/`, the demo in `target/debug/`.
///
/// # Errors
/// When the running executable's path cannot be read.
pub fn profile_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the running executable")?;
    let dir = exe
        .parent()
        .context("the running executable has no parent directory")?;
    Ok(if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().unwrap_or(dir).to_path_buf()
    } else {
        dir.to_path_buf()
    })
}

/// The cargo target directory (the profile directory's parent), where `e2e/` reports go.
///
/// # Errors
/// As [`profile_dir`].
pub fn target_dir() -> anyhow::Result<PathBuf> {
    let profile = profile_dir()?;
    Ok(profile.parent().map_or(profile.clone(), Path::to_path_buf))
}

/// The binary `name` in `dir`, or an error naming the binary, where it was looked for and
/// the command that builds it. The play fails here, before its first act.
///
/// # Errors
/// When `dir/name` is not an executable file.
pub fn binary_in(dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => Ok(path),
        Ok(_) => bail!(
            "the `{name}` binary at {} is not an executable file — run `make build` \
             (cargo build --workspace --bins) first",
            path.display()
        ),
        Err(e) => bail!(
            "the `{name}` binary is missing: {} ({e}) — run `make build` \
             (cargo build --workspace --bins) first; `cargo test -p hearth-e2e` does not \
             build other crates' binaries",
            path.display()
        ),
    }
}

/// Every binary of the play in `dir`, in [`PLAY_BINARIES`] order.
///
/// # Errors
/// The first missing one, as [`binary_in`].
pub fn play_binaries_in(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    PLAY_BINARIES.iter().map(|b| binary_in(dir, b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_binary_is_named_with_the_fix() {
        let dir = tempfile::tempdir().expect("tmp");
        let err = binary_in(dir.path(), "hearth").expect_err("missing");
        let msg = format!("{err:#}");
        assert!(msg.contains("`hearth` binary is missing"), "{msg}");
        assert!(msg.contains("make build"), "{msg}");
        assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    }

    #[test]
    fn a_non_executable_file_is_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("console"), b"not a program").expect("write");
        let err = binary_in(dir.path(), "console").expect_err("not executable");
        assert!(format!("{err}").contains("not an executable"));
    }
}
