//! The manual's links hold. README.md and every chapter of the book (`docs/src/**/*.md`) are
//! read as CommonMark (pulldown-cmark, the parser mdBook renders with), and every relative
//! link must name a file that exists, every `#anchor` a heading of the file it points into
//! (the slug rule GitHub and mdBook share: lower case, letters, digits, `-` and `_` kept,
//! spaces to `-`, the rest dropped; a repeated heading gets `-1`, `-2` …). A chapter links
//! only inside the book, since anything else is a dead link in the built HTML, and every
//! chapter file is listed in `SUMMARY.md`, since mdBook renders no other. Needs no engine;
//! `make test` runs it, and `make lint` through `make docs`.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Component, Path, PathBuf};

use pulldown_cmark::{BrokenLink, Event, LinkType, Options, Parser, Tag, TagEnd};

/// The checkout's root (this crate lives in `tests/`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("the checkout's root")
}

/// A link as written, with the line it is on.
struct Link {
    dest: String,
    line: usize,
}

/// What the checker needs from one markdown file.
#[derive(Default)]
struct Doc {
    /// Every anchor its headings make, numbered as GitHub and mdBook number repeats.
    anchors: HashSet<String>,
    links: Vec<Link>,
    /// `[text][label]` whose label has no definition: rendered as plain text, so a dead link.
    undefined_refs: Vec<Link>,
}

/// The options mdBook renders with (tables matter: a link in a table cell is a link).
fn options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
}

/// A heading's anchor: GitHub's rule, which mdBook's `normalize_id` follows.
fn slug(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .filter_map(|c| match c {
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            c if c.is_whitespace() => Some('-'),
            _ => None,
        })
        .collect()
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].matches('\n').count() + 1
}

fn parse(text: &str) -> Doc {
    let mut undefined = Vec::new();
    let mut on_broken = |b: BrokenLink<'_>| {
        // A shortcut `[word]` with no definition is ordinary bracketed prose, not a link.
        if matches!(b.link_type, LinkType::Reference | LinkType::Collapsed) {
            undefined.push((b.reference.to_string(), b.span.start));
        }
        None
    };
    let parser = Parser::new_with_broken_link_callback(text, options(), Some(&mut on_broken));
    let mut doc = Doc::default();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut heading: Option<String> = None;
    for (event, range) in parser.into_offset_iter() {
        match event {
            Event::Start(Tag::Heading { .. }) => heading = Some(String::new()),
            Event::Text(t) | Event::Code(t) => {
                if let Some(h) = heading.as_mut() {
                    h.push_str(&t);
                }
            }
            Event::End(TagEnd::Heading(_)) => {
                let base = slug(&heading.take().unwrap_or_default());
                let n = seen.entry(base.clone()).or_insert(0);
                doc.anchors.insert(match *n {
                    0 => base,
                    k => format!("{base}-{k}"),
                });
                *n += 1;
            }
            Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => {
                doc.links.push(Link {
                    dest: dest_url.to_string(),
                    line: line_of(text, range.start),
                });
            }
            _ => {}
        }
    }
    doc.undefined_refs = undefined
        .into_iter()
        .map(|(label, at)| Link {
            dest: label,
            line: line_of(text, at),
        })
        .collect();
    doc
}

/// `a/./b/../c` → `a/c`, without touching the disk (the target may not exist).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn is_external(dest: &str) -> bool {
    dest.contains("://") || dest.starts_with("mailto:")
}

/// Parsed files, read once each.
struct Docs(HashMap<PathBuf, Doc>);

impl Docs {
    fn get(&mut self, path: &Path) -> &Doc {
        self.0.entry(path.to_path_buf()).or_insert_with(|| {
            let text = std::fs::read_to_string(path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            parse(&text)
        })
    }
}

/// Why `dest`, written in `from`, does not resolve; `None` when it does.
fn check(from: &Path, dest: &str, book: &Path, docs: &mut Docs) -> Option<String> {
    if is_external(dest) {
        return None;
    }
    let (file, anchor) = match dest.split_once('#') {
        Some((f, a)) => (f, Some(a)),
        None => (dest, None),
    };
    if file.starts_with('/') {
        return Some("an absolute path: write it relative to this file".into());
    }
    let target = if file.is_empty() {
        from.to_path_buf()
    } else {
        normalize(&from.parent().expect("a file has a directory").join(file))
    };
    if !target.exists() {
        return Some(format!("no such file {}", target.display()));
    }
    if from.starts_with(book) && !target.starts_with(book) {
        return Some(format!(
            "{} is outside the book: the built HTML would have no page for it",
            target.display()
        ));
    }
    let anchor = anchor?;
    if target.extension().is_none_or(|e| e != "md") {
        return Some(format!(
            "#{anchor} into {}, which has no headings",
            target.display()
        ));
    }
    if docs.get(&target).anchors.contains(anchor) {
        None
    } else {
        Some(format!("{} has no heading #{anchor}", target.display()))
    }
}

/// Every problem in `files`, as `file:line: (dest): why`; chapters are the files under `book`.
fn problems(files: &[PathBuf], book: &Path) -> Vec<String> {
    let mut docs = Docs(HashMap::new());
    let mut out = Vec::new();
    for from in files {
        let doc = docs.get(from);
        let links: Vec<(String, usize)> =
            doc.links.iter().map(|l| (l.dest.clone(), l.line)).collect();
        for r in &doc.undefined_refs {
            out.push(format!(
                "{}:{}: [{}]: no such link label",
                from.display(),
                r.line,
                r.dest
            ));
        }
        for (dest, line) in links {
            if let Some(why) = check(from, &dest, book, &mut docs) {
                out.push(format!("{}:{line}: ({dest}): {why}", from.display()));
            }
        }
    }
    out
}

/// Every `*.md` under `dir`, sorted.
fn markdown_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_relative_link_and_anchor_in_the_readme_and_the_book_resolves() {
    let root = root();
    let book = root.join("docs/src");
    let mut files = vec![root.join("README.md")];
    files.extend(markdown_under(&book));
    assert!(
        files.len() > 10,
        "the book's chapters are missing: {files:?}"
    );
    let found = problems(&files, &book);
    assert!(
        found.is_empty(),
        "{} broken link(s) (fix the link, or the heading it names):\n{}",
        found.len(),
        found.join("\n")
    );
}

#[test]
fn every_chapter_is_listed_in_the_summary() {
    let book = root().join("docs/src");
    let summary = book.join("SUMMARY.md");
    let listed: BTreeSet<PathBuf> = Docs(HashMap::new())
        .get(&summary)
        .links
        .iter()
        .map(|l| normalize(&book.join(&l.dest)))
        .collect();
    let unlisted: Vec<_> = markdown_under(&book)
        .into_iter()
        .filter(|p| *p != summary && !listed.contains(p))
        .collect();
    assert!(
        unlisted.is_empty(),
        "chapters mdBook would not render (add a line to SUMMARY.md): {unlisted:?}"
    );
}

#[test]
fn anchors_follow_the_github_and_mdbook_slug_rule() {
    let doc = parse(
        "# The play: provision → run → teardown, proven from the audit log\n\
         ## Try it: `make demo`\n## hearth — the daemon\n## Troubleshooting\n\
         ## Troubleshooting\n```sh\n# not a heading\n```\n",
    );
    let want: HashSet<String> = [
        "the-play-provision--run--teardown-proven-from-the-audit-log",
        "try-it-make-demo",
        "hearth--the-daemon",
        "troubleshooting",
        "troubleshooting-1",
    ]
    .map(String::from)
    .into();
    assert_eq!(doc.anchors, want);
}

/// The check can fail: a missing file, a missing heading, a link out of the book and an
/// undefined label are each reported, with their line; good links are not.
#[test]
fn broken_links_are_reported() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let book = dir.path().join("src");
    std::fs::create_dir(&book).expect("src/");
    std::fs::write(dir.path().join("outside.md"), "# Out\n").expect("outside.md");
    std::fs::write(book.join("b.md"), "# Bee\n## Two words\n").expect("b.md");
    let a = book.join("a.md");
    std::fs::write(
        &a,
        "# A\n[ok](b.md#two-words) [ok](#a) [ok](https://example.com/x#y)\n\
         [gone](missing.md)\n[no heading](b.md#three)\n[out](../outside.md)\n[undefined][nowhere]\n\
         `[not a link](nope.md)`\n",
    )
    .expect("a.md");
    let found = problems(&[a], &book);
    assert_eq!(found.len(), 4, "{found:#?}");
    for (needle, line) in [
        ("(missing.md): no such file", 3),
        ("(b.md#three):", 4),
        ("(../outside.md):", 5),
        ("[nowhere]: no such link label", 6),
    ] {
        assert!(
            found
                .iter()
                .any(|p| p.contains(needle) && p.contains(&format!("a.md:{line}:"))),
            "{needle} on line {line} not reported: {found:#?}"
        );
    }
}
