//! hearth's ground floor owns its vocabulary: the files every room builds on (errors, the
//! step journal and its steps, slugs, names, labels, the record, the lifecycle table, the
//! verbs-in-flight counter, the template model) import nothing from a room above them — not
//! the drivers, the dispatcher, the pool, the server, the CLI or the config. Read from the
//! sources, so a wrong-way `use` fails here, named, before it becomes an import circle.

use std::path::Path;

/// The ground floor's modules (files under `hearth/src`, without `.rs`; a folder's `mod.rs`
/// is the folder).
const GROUND: &[&str] = &[
    "credential_error",
    "driver_error",
    "engine_error",
    "error",
    "image_ref",
    "in_flight",
    "journal",
    "labels",
    "lifecycle",
    "lockfile",
    "names",
    "slug",
    "step",
    "store",
    "template",
];

/// The top-level modules a `crate::NAME` path in `text` names.
fn crate_paths(text: &str) -> Vec<String> {
    text.match_indices("crate::")
        .map(|(i, m)| {
            text[i + m.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

fn files(module: &str, src: &Path) -> Vec<std::path::PathBuf> {
    let file = src.join(format!("{module}.rs"));
    if file.is_file() {
        return vec![file];
    }
    let dir = src.join(module);
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    out.sort();
    out
}

#[test]
fn the_ground_floor_imports_nothing_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut wrong = Vec::new();
    for module in GROUND {
        for file in files(module, &src) {
            let text = std::fs::read_to_string(&file).expect("read source");
            for used in crate_paths(&text) {
                if !GROUND.contains(&used.as_str()) {
                    wrong.push(format!("{} uses crate::{used}", file.display()));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "wrong-way imports:\n{}", wrong.join("\n"));
}

#[test]
fn the_check_sees_a_wrong_way_path() {
    assert_eq!(
        crate_paths("use crate::driver::Step; x crate::slug::Slug"),
        ["driver", "slug"]
    );
}

/// The config file's model and the bounds on its numbers are the library's; how `hearth serve`
/// merges them with its flags is the CLI's (`cli/settings.rs`). Neither imports the CLI.
#[test]
fn the_config_knows_no_flags() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut wrong = Vec::new();
    for module in ["config", "bounds"] {
        for file in files(module, &src) {
            let text = std::fs::read_to_string(&file).expect("read source");
            if crate_paths(&text).iter().any(|m| m == "cli") {
                wrong.push(file.display().to_string());
            }
        }
    }
    assert!(wrong.is_empty(), "these import the CLI: {wrong:?}");
}

/// The names `text` reaches through `prefix` (`driver::`, `super::`): the one right after it,
/// or each top-level name of a `{…}` group after it (`driver::{docker, Step}`).
fn names_after(text: &str, prefix: &str) -> Vec<String> {
    let ident = |t: &str| -> String {
        t.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    for (i, _) in text.match_indices(prefix) {
        let rest = &text[i + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let (mut depth, mut start) = (0, 0);
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        out.push(ident(&group[start..j]));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.push(ident(&group[start..j]));
                        start = j + 1;
                    }
                    _ => {}
                }
            }
        } else {
            out.push(ident(rest));
        }
    }
    out.retain(|n| !n.is_empty());
    out
}

#[test]
fn the_room_check_sees_plain_and_grouped_paths() {
    assert_eq!(
        names_after(
            "use crate::driver::docker::X; use crate::driver::{swarm, engine::{a, b}, Step};",
            "driver::"
        ),
        ["docker", "swarm", "engine", "Step"]
    );
}

/// The driver rooms: `engine/` holds what every Engine-API backend shares, and the backends
/// stand beside each other above it. `docker/` and `swarm/` never import each other, and
/// neither the engine room nor the other backends import a backend — so a new backend is a
/// new folder over `engine/`, not a floor above `docker/`. A room's `mod.rs` reaches the
/// driver module as `super::`, its other files as `super::super::`.
#[test]
fn the_backends_are_siblings_over_the_engine_room() {
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/driver");
    let rules: &[(&str, &[&str])] = &[
        ("engine", &["docker", "swarm", "kustomize", "fake"]),
        ("docker", &["swarm", "kustomize", "fake"]),
        ("swarm", &["docker", "kustomize", "fake"]),
        ("kustomize", &["docker", "swarm", "fake"]),
    ];
    let mut wrong = Vec::new();
    for (room, banned) in rules {
        for file in files(room, &driver) {
            let text = std::fs::read_to_string(&file).expect("read source");
            let up = if file.ends_with("mod.rs") {
                "super::"
            } else {
                "super::super::"
            };
            let mut reached = names_after(&text, "driver::");
            reached.extend(names_after(&text, up));
            for name in reached.iter().filter(|n| banned.contains(&n.as_str())) {
                wrong.push(format!("{} reaches driver::{name}", file.display()));
            }
        }
    }
    wrong.dedup();
    assert!(
        wrong.is_empty(),
        "rooms reaching a sibling:\n{}",
        wrong.join("\n")
    );
}
