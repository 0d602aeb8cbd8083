//! Putting a workspace's files on disk so that a crash leaves either the old set or the new
//! one, never a mix: the files are written (and synced) into a fresh temp dir beside the
//! workspace's, which then takes the workspace's place in one `renameat2(RENAME_EXCHANGE)`
//! (or one `rename` the first time); the old set, now in the temp dir, is removed after.
//! Teardown renames the directory away before removing it. The out dir and everything in it
//! is not writable by group or others, and nothing is written outside it.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::emit::File;
use crate::error::HearthError;

/// Mode of the out dir and of each workspace dir.
pub const DIR_MODE: u32 = 0o750;
/// Mode of each manifest.
pub const FILE_MODE: u32 = 0o640;

/// The prefix of hearth's temp dirs in the out dir (never a workspace: a slug cannot start
/// with a dot).
pub const TEMP_PREFIX: &str = ".hearth-";

fn io(attempted: String, e: &std::io::Error) -> HearthError {
    HearthError::driver(attempted, e)
}

/// `name` as one path component of the out dir: a DNS label, so never `..`, never a slash.
///
/// # Errors
/// [`HearthError::InvalidRequest`] naming it, for anything that could leave the out dir.
pub fn component(what: &str, name: &str) -> Result<(), HearthError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(HearthError::InvalidRequest {
            message: format!(
                "{what} {name:?} cannot name a file in the out dir (a DNS label is needed: \
                 a-z, 0-9 and '-'); nothing was written"
            ),
        })
    }
}

/// Makes the out dir if it is missing (mode 0750), and refuses one that others could write.
///
/// # Errors
/// [`HearthError::InvalidRequest`] for an out dir writable by group or others, or not a
/// directory; the driver's error when it cannot be made.
pub fn out_dir(out: &Path) -> Result<(), HearthError> {
    if !out.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(out)
            .map_err(|e| io(format!("create the out dir {}", out.display()), &e))?;
    }
    let meta =
        fs::metadata(out).map_err(|e| io(format!("read the out dir {}", out.display()), &e))?;
    if !meta.is_dir() {
        return Err(HearthError::InvalidRequest {
            message: format!("the kustomize out dir {} is not a directory", out.display()),
        });
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o022 != 0 {
        return Err(HearthError::InvalidRequest {
            message: format!(
                "the kustomize out dir {} is writable by its group or others (mode {mode:o}): \
                 anyone could change what gets applied; `chmod go-w {}`",
                out.display(),
                out.display()
            ),
        });
    }
    Ok(())
}

/// Replaces `out/<slug>` with exactly `files`, atomically.
///
/// # Errors
/// The driver's error naming the file or rename that failed; what was there before stays.
pub fn replace(out: &Path, slug: &str, instance: &str, files: &[File]) -> Result<(), HearthError> {
    component("workspace slug", slug)?;
    for f in files {
        let stem = f.name.strip_suffix(".yaml").unwrap_or(&f.name);
        component("manifest", stem)?;
    }
    out_dir(out)?;
    let target = out.join(slug);
    let temp = temp_dir(out, instance, slug);
    fs::DirBuilder::new()
        .mode(DIR_MODE)
        .create(&temp)
        .map_err(|e| io(format!("create {}", temp.display()), &e))?;
    let written = write_all(&temp, files).and_then(|()| swap(&temp, &target));
    // Whatever is in the temp dir now is the old set (or, on failure, the unused new one).
    let _ = fs::remove_dir_all(&temp);
    written?;
    sync_dir(out)
}

/// A fresh temp dir name in `out` for `slug`: `.hearth-<instance>-<slug>-<random>`.
fn temp_dir(out: &Path, instance: &str, slug: &str) -> PathBuf {
    out.join(format!(
        "{TEMP_PREFIX}{instance}-{slug}-{:08x}",
        rand::random::<u32>()
    ))
}

/// The slug a temp dir of `instance` was made for, if `name` is one.
pub fn temp_of<'a>(name: &'a str, instance: &str) -> Option<&'a str> {
    let rest = name.strip_prefix(TEMP_PREFIX)?.strip_prefix(instance)?;
    let rest = rest.strip_prefix('-')?;
    let (slug, random) = rest.rsplit_once('-')?;
    (random.len() == 8 && random.bytes().all(|b| b.is_ascii_hexdigit())).then_some(slug)
}

fn write_all(dir: &Path, files: &[File]) -> Result<(), HearthError> {
    for f in files {
        let path = dir.join(&f.name);
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(&path)
            .map_err(|e| io(format!("create {}", path.display()), &e))?;
        file.write_all(f.text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| io(format!("write {}", path.display()), &e))?;
    }
    sync_dir(dir)
}

/// Puts `temp` in `target`'s place; `target`'s old content, if any, ends up in `temp`.
fn swap(temp: &Path, target: &Path) -> Result<(), HearthError> {
    use nix::fcntl::{renameat2, RenameFlags, AT_FDCWD};
    let attempted = || format!("move {} into place", target.display());
    if target.exists() {
        renameat2(
            AT_FDCWD,
            temp,
            AT_FDCWD,
            target,
            RenameFlags::RENAME_EXCHANGE,
        )
        .map_err(|e| HearthError::driver(attempted(), e))
    } else {
        fs::rename(temp, target).map_err(|e| io(attempted(), &e))
    }
}

fn sync_dir(dir: &Path) -> Result<(), HearthError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io(format!("sync {}", dir.display()), &e))
}

/// Removes `out/<slug>` (renamed away first, so it vanishes at once) and every temp dir of
/// `instance` for it. Nothing there is fine.
///
/// # Errors
/// The driver's error naming what could not be removed.
pub fn remove(out: &Path, slug: &str, instance: &str) -> Result<(), HearthError> {
    component("workspace slug", slug)?;
    let target = out.join(slug);
    if target.exists() {
        let gone = temp_dir(out, instance, slug);
        fs::rename(&target, &gone)
            .map_err(|e| io(format!("move {} away", target.display()), &e))?;
        sync_dir(out)?;
    }
    for name in entries(out)? {
        if temp_of(&name, instance) == Some(slug) {
            let path = out.join(&name);
            fs::remove_dir_all(&path).map_err(|e| io(format!("remove {}", path.display()), &e))?;
        }
    }
    Ok(())
}

/// The names in `dir` (none if it does not exist).
///
/// # Errors
/// The driver's error if it exists and cannot be read.
pub fn entries(dir: &Path) -> Result<Vec<String>, HearthError> {
    match fs::read_dir(dir) {
        Ok(rd) => Ok(rd
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io(format!("list {}", dir.display()), &e)),
    }
}
