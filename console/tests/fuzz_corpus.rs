//! The fuzz corpora and crash reproducers committed under `fuzz/`, replayed through the same
//! checks the fuzz targets run (`fuzz/checks.rs`), on stable, in every `make test`: an input
//! that once crashed a parser is a regression test from then on.

#[path = "../../fuzz/checks.rs"]
mod checks;
#[path = "../../fuzz/checks_console.rs"]
mod checks_console;

use std::path::Path;

#[test]
fn every_committed_fuzz_input_passes_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut replayed = 0usize;
    for (target, check) in checks::TARGETS.iter().chain(checks_console::TARGETS) {
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
        replayed >= checks::TARGETS.len() + checks_console::TARGETS.len(),
        "the committed corpora are missing: only {replayed} inputs under {}",
        root.display()
    );
}
