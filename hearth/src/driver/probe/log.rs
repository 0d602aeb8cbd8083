//! The `log` probe: the role's log (stdout and stderr) matches a regex at least `times` times.

use super::{Target, Verdict};

pub(super) async fn attempt(target: &dyn Target, pattern: &str, times: u32) -> Verdict {
    let re = match regex::Regex::new(pattern) {
        Ok(re) => re,
        Err(e) => return Verdict::NotYet(format!("log /{pattern}/ is not a regex ({e})")),
    };
    match target.logs(None).await {
        Ok(text) => {
            let seen = text.lines().filter(|l| re.is_match(l)).count();
            if seen >= times as usize {
                Verdict::Pass
            } else {
                Verdict::NotYet(format!(
                    "its log matched /{pattern}/ {seen} of {times} times{}",
                    last_line(&text)
                ))
            }
        }
        Err(e) => Verdict::NotYet(format!("its log could not be read: {e}")),
    }
}

/// What the log ended with, for the observation: a user whose pattern never matches sees what
/// the role printed instead (bounded, one line).
fn last_line(text: &str) -> String {
    const MAX: usize = 160;
    let lines = text.lines().filter(|l| !l.trim().is_empty()).count();
    match text.lines().rev().find(|l| !l.trim().is_empty()) {
        None => " (its log is empty)".to_owned(),
        Some(l) => {
            let l = l.trim_end();
            let shown: String = l.chars().take(MAX).collect();
            let more = if shown.len() < l.len() { "…" } else { "" };
            format!(" ({lines} lines; the last: {shown:?}{more})")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::last_line;

    #[test]
    fn the_observation_names_the_last_line_or_an_empty_log() {
        assert_eq!(last_line(""), " (its log is empty)");
        assert_eq!(
            last_line("booting\nlistening on 8080\n\n"),
            r#" (2 lines; the last: "listening on 8080")"#
        );
        let long = "x".repeat(200);
        assert!(last_line(&long).ends_with("…)"), "{}", last_line(&long));
    }
}
