//! Plain-text tables for the CLI: each column as wide as its widest cell, whatever the
//! values (a `Display` that ignores width flags would otherwise push a row out of line).

/// Renders `header` and `rows` with columns separated by two spaces; the last column is not
/// padded, so no line ends in spaces.
pub(super) fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::new();
        for (i, cell) in cells.enumerate() {
            if i + 1 == widths.len() {
                out.push_str(cell);
            } else {
                let pad = widths[i].saturating_sub(cell.chars().count());
                out.push_str(cell);
                out.push_str(&" ".repeat(pad + 2));
            }
        }
        out.trim_end().to_owned()
    };
    let mut lines = vec![line(&mut header.iter().copied())];
    for row in rows {
        lines.push(line(&mut row.iter().map(String::as_str)));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_whatever_the_widths() {
        let rows = vec![
            vec![
                "acme".into(),
                "solo".into(),
                "ready".into(),
                "http://a".into(),
            ],
            vec![
                "a-much-longer-workspace-slug".into(),
                "studio".into(),
                "tier_torn_down".into(),
                String::new(),
            ],
        ];
        let text = render(&["SLUG", "TIER", "STATUS", "ENDPOINT"], &rows);
        let want = [
            "SLUG                          TIER    STATUS          ENDPOINT",
            "acme                          solo    ready           http://a",
            "a-much-longer-workspace-slug  studio  tier_torn_down",
        ];
        assert_eq!(text.lines().collect::<Vec<_>>(), want, "\n{text}");
    }
}
