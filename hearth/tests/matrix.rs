//! The parity matrix in `docs/src/backends.md` says what the conformance suite proves: every cell
//! there (✔, ✘ or `unsupported`) equals the cell of the table in code
//! (`support/matrix.rs`) that the scenarios assert against.

mod support;

use support::matrix::{cell, Cell, Column, Feature};

fn doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/src/backends.md");
    std::fs::read_to_string(path).expect("docs/src/backends.md")
}

/// The rows of the first markdown table: cells trimmed, separator row dropped.
fn table(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .filter(|l| !l.starts_with("|---"))
        .map(|l| {
            l.trim()
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect()
        })
        .collect()
}

fn parse_cell(text: &str) -> Option<Cell> {
    if text.starts_with('✔') {
        Some(Cell::Yes)
    } else if text.starts_with('✘') {
        Some(Cell::No)
    } else if text.starts_with("`unsupported`") {
        Some(Cell::Unsupported)
    } else {
        None
    }
}

#[test]
fn docs_backends_md_matches_what_the_suite_asserts() {
    let rows = table(&doc());
    let (head, body) = rows.split_first().expect("a table with a header");
    let expected_head: Vec<&str> = std::iter::once("Feature")
        .chain(Column::ALL.iter().map(|c| c.heading()))
        .collect();
    assert_eq!(head, &expected_head, "the matrix's columns");
    let features: Vec<&str> = body.iter().map(|r| r[0].as_str()).collect();
    let expected_features: Vec<&str> = Feature::ALL.iter().map(|f| f.heading()).collect();
    assert_eq!(features, expected_features, "the matrix's rows");
    let mut wrong = Vec::new();
    for (row, feature) in body.iter().zip(Feature::ALL) {
        assert_eq!(row.len(), head.len(), "row {:?} has every column", row[0]);
        for (text, column) in row[1..].iter().zip(Column::ALL) {
            let said = parse_cell(text)
                .unwrap_or_else(|| panic!("cell {:?} / {:?}: {text:?}", row[0], column));
            if said != cell(column, feature) {
                wrong.push(format!(
                    "{} / {}: the document says {said:?}, the suite asserts {:?}",
                    feature.heading(),
                    column.heading(),
                    cell(column, feature)
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "docs/src/backends.md is wrong:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn a_changed_cell_is_caught() {
    // The check above must be able to fail: flip one cell of the document and parse again.
    let flipped = doc().replacen("| pause / resume | ✔ |", "| pause / resume | ✘ |", 1);
    let rows = table(&flipped);
    let pause = rows
        .iter()
        .find(|r| r[0] == Feature::PauseResume.heading())
        .expect("pause row");
    assert_eq!(parse_cell(&pause[1]), Some(Cell::No));
    assert_ne!(
        parse_cell(&pause[1]),
        Some(cell(Column::Fake, Feature::PauseResume))
    );
}
