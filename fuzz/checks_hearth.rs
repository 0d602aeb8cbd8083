//! What hearth's fuzz targets check, written once: `fuzz_targets/config_file.rs` and
//! `fuzz_targets/lock_file.rs` call these on libFuzzer's inputs, and
//! `hearth/tests/fuzz_corpus.rs` replays every committed corpus entry through them.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

use hearth::config::FileConfig;
use hearth::lockfile::ImageLock;

/// One target's check.
pub type Check = fn(&[u8]);

/// The targets by name, for the corpus replay.
pub const TARGETS: &[(&str, Check)] = &[("config_file", config_file), ("lock_file", lock_file)];

/// A scratch file of this process, rewritten per input (the parsers read files).
fn scratch(name: &str, data: &[u8]) -> PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = DIR.get_or_init(|| tempfile::tempdir().expect("tmp"));
    let path = dir.path().join(name);
    let mut f = std::fs::File::create(&path).expect("scratch file");
    f.write_all(data).expect("write scratch");
    path
}

/// Any bytes as `hearth serve --config FILE`: never a panic; a refusal names the file; what
/// parses applies to a pool config without a panic (huge sizes and ages included).
pub fn config_file(data: &[u8]) {
    let path = scratch("hearth.toml", data);
    match FileConfig::load(&path) {
        Ok(cfg) => {
            cfg.pool.apply(&mut hearth::pool::PoolConfig::default());
        }
        Err(e) => assert!(e.to_string().contains("hearth.toml"), "{e}"),
    }
}

/// Any bytes as a lock file (`hearth lock --out`, `serve --lock`): never a panic; a refusal
/// names the file; what loads saves and loads back the same.
pub fn lock_file(data: &[u8]) {
    let path = scratch("hearth.lock", data);
    match ImageLock::load(&path) {
        Ok(lock) => {
            let again = scratch("again.lock", b"");
            lock.save(&again).expect("save");
            let back = ImageLock::load(&again).expect("load what was saved");
            assert_eq!(back, lock);
        }
        Err(e) => assert!(e.to_string().contains("hearth.lock"), "{e}"),
    }
}
