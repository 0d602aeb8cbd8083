//! The corpora of hearth's fuzz targets (`fuzz/corpus/config_file`, `fuzz/corpus/lock_file`)
//! and any crash reproducers, replayed through the same checks the targets run
//! (`fuzz/checks_hearth.rs`) on stable, in every `make test`.

#[path = "../../fuzz/checks_hearth.rs"]
mod checks_hearth;

use std::path::Path;

#[test]
fn every_committed_fuzz_input_passes_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut replayed = 0usize;
    for (target, check) in checks_hearth::TARGETS {
        for dir in ["corpus", "artifacts"] {
            let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
                continue;
            };
            for entry in entries {
                let path = entry.expect("entry").path();
                let data = std::fs::read(&path).expect("read input");
                let outcome = std::panic::catch_unwind(|| check(&data));
                assert!(outcome.is_ok(), "{target}: {} fails", path.display());
                replayed += 1;
            }
        }
    }
    assert!(
        replayed >= checks_hearth::TARGETS.len(),
        "the committed corpora are missing: only {replayed} inputs under {}",
        root.display()
    );
}
