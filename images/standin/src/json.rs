//! Just enough JSON to write answers (std only, so by hand): string escaping and flat objects.

/// Escapes a string for a JSON string literal.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// A JSON value already written out: a quoted string or a raw literal (number, bool).
#[derive(Debug)]
pub(crate) enum Value<'a> {
    Str(&'a str),
    Raw(String),
}

/// A flat JSON object from (key, value) pairs, in the order given.
pub(crate) fn object<'a>(pairs: impl IntoIterator<Item = (&'a str, Value<'a>)>) -> String {
    let mut out = String::from("{");
    for (i, (key, value)) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!("\"{}\":", escape(key)));
        match value {
            Value::Str(s) => out.push_str(&format!("\"{}\"", escape(s))),
            Value::Raw(raw) => out.push_str(&raw),
        }
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_quotes_backslashes_and_controls() {
        assert_eq!(escape("a\"b\\c\n\u{1}é"), r#"a\"b\\c\n\u0001é"#);
    }

    #[test]
    fn objects_keep_order_and_kinds() {
        let o = object([
            ("ok", Value::Raw("true".into())),
            ("k\"", Value::Str("v\n")),
            ("n", Value::Raw("3".into())),
        ]);
        assert_eq!(o, r#"{"ok":true,"k\"":"v\n","n":3}"#);
        assert_eq!(object([]), "{}");
    }
}
