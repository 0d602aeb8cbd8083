//! What the sections of `BENCH.md` that can be measured alone share: a section sits between
//! two markers, so a run of one section rewrites only it ([`splice`]); and rounds in which
//! the paths compared take turns going first ([`rounds`]).

use std::future::Future;
use std::time::Duration;

use crate::report::PathTimes;

/// One section's markers in `BENCH.md`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Markers {
    pub begin: &'static str,
    pub end: &'static str,
}

/// `doc` with the section between `m`'s markers replaced by `section` (which carries the
/// markers itself); appended if `doc` has no such section.
pub(crate) fn splice(doc: &str, m: Markers, section: &str) -> String {
    match (doc.find(m.begin), doc.find(m.end)) {
        (Some(b), Some(e)) if b < e => {
            let after = &doc[e + m.end.len()..];
            format!(
                "{}{}{}",
                &doc[..b],
                section.trim_end(),
                after
                    .strip_prefix('\n')
                    .map_or(after.to_owned(), |a| format!("\n{a}"))
            )
        }
        _ => format!(
            "{}\n{section}",
            doc.trim_end_matches('\n').to_owned() + "\n"
        ),
    }
}

/// One warm-up round, then `runs` rounds of `paths` paths, path `i` going first in round
/// `i`'s turn (the order rotates each round); `one(path, round)` runs path `path` once.
/// The warm-up is not recorded; a failed round is (as a failure), and the rounds go on.
pub(crate) async fn rounds<F, Fut>(runs: usize, paths: usize, mut one: F) -> Vec<PathTimes>
where
    F: FnMut(usize, usize) -> Fut,
    Fut: Future<Output = anyhow::Result<(Duration, Duration)>>,
{
    let mut out = vec![PathTimes::default(); paths];
    for round in 0..=runs {
        for k in 0..paths {
            let path = (k + round) % paths;
            let result = one(path, round).await;
            if let Err(err) = &result {
                tracing::warn!(path, round, error = %format!("{err:#}"), "round failed");
            }
            if round > 0 {
                out[path].record(result);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: Markers = Markers {
        begin: "<!-- x: begin -->",
        end: "<!-- x: end -->",
    };

    #[test]
    fn splice_replaces_only_the_section() {
        let doc = "# B\n\nbefore\n";
        let one = splice(doc, M, &format!("{}\nfirst\n{}\n", M.begin, M.end));
        assert!(one.starts_with("# B\n\nbefore\n"), "{one}");
        assert!(one.contains("first"));
        let two = splice(
            &(one.clone() + "after\n"),
            M,
            &format!("{}\nsecond\n{}\n", M.begin, M.end),
        );
        assert!(two.contains("second") && !two.contains("first"), "{two}");
        assert!(
            two.starts_with("# B\n\nbefore\n") && two.ends_with("after\n"),
            "{two}"
        );
    }

    #[tokio::test]
    async fn rounds_rotate_and_skip_the_warm_up() {
        let mut order = Vec::new();
        let times = rounds(2, 2, |path, round| {
            order.push((round, path));
            async move { Ok((Duration::from_millis(path as u64 + 1), Duration::ZERO)) }
        })
        .await;
        assert_eq!(order, [(0, 0), (0, 1), (1, 1), (1, 0), (2, 0), (2, 1)]);
        assert_eq!(times[0].provision, [Duration::from_millis(1); 2]);
        assert_eq!(times[1].provision, [Duration::from_millis(2); 2]);
    }
}
