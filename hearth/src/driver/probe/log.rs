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
                    "its log matched /{pattern}/ {seen} of {times} times"
                ))
            }
        }
        Err(e) => Verdict::NotYet(format!("its log could not be read: {e}")),
    }
}
