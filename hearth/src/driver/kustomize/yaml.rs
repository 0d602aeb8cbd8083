//! Building YAML documents in the order a person reads them (`apiVersion`, `kind`,
//! `metadata`, `spec`), on `serde_yaml_ng`'s ordered mapping; and printing them.

use serde_yaml_ng::{Mapping, Value};

/// A mapping with `pairs` in this order.
pub(super) fn map<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    let mut m = Mapping::new();
    for (k, v) in pairs {
        m.insert(Value::String(k.to_owned()), v);
    }
    Value::Mapping(m)
}

/// A mapping from string pairs (labels, selectors), in the order given.
pub(super) fn strings<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Value {
    let mut m = Mapping::new();
    for (k, v) in pairs {
        m.insert(Value::String(k.to_owned()), s(v));
    }
    Value::Mapping(m)
}

/// A string scalar.
pub(super) fn s(text: &str) -> Value {
    Value::String(text.to_owned())
}

/// A sequence.
pub(super) fn seq(items: impl IntoIterator<Item = Value>) -> Value {
    Value::Sequence(items.into_iter().collect())
}

/// Inserts `key: value` at the end of `m` (a mapping; anything else is left alone).
pub(super) fn push(m: &mut Value, key: &str, value: Value) {
    if let Value::Mapping(m) = m {
        m.insert(Value::String(key.to_owned()), value);
    }
}

/// `docs` as one YAML stream, each document after `---`, under `comments` (one `# ` line
/// each).
pub(super) fn stream(comments: &[String], docs: &[Value]) -> String {
    let mut out = String::new();
    for c in comments {
        for line in c.lines() {
            out.push_str("# ");
            out.push_str(line);
            out.push('\n');
        }
    }
    for d in docs {
        out.push_str("---\n");
        // A Value of mappings, sequences and scalars always serializes.
        out.push_str(&serde_yaml_ng::to_string(d).unwrap_or_default());
    }
    out
}
