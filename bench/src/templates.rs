//! The templates section: the 3-role template ([`crate::template_shape`]) provisioned
//! through hearth (`hearth serve --config` with the template as its solo tier) against its
//! floor ([`crate::template_floor`]), and beside them, in the same run, the default 2-role
//! workspace through hearth against its floor ([`crate::floor`]) — rounds in which the four
//! take turns going first, so every ratio reads against a floor measured at the same time.
//! Runnable alone (`--section templates`): it then rewrites only its own section of
//! `BENCH.md`.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Context;
use tokio::time::Instant;

use crate::engine::{self, Scope};
use crate::hearth::Daemon;
use crate::podman::{self, Side};
use crate::report::PathTimes;
use crate::run::Plan;
use crate::section::{self, Markers};
use crate::spec::{self, Names};
use crate::stats::{median, ms, ratio, times};
use crate::template_floor::TemplateFloor;
use crate::template_shape;

/// Where the section starts and ends in `BENCH.md`.
pub(crate) const MARKERS: Markers = Markers {
    begin: "<!-- templates-section: begin -->",
    end: "<!-- templates-section: end -->",
};

/// Slugs of this section start here, clear of the other sections' numbering.
const FIRST_SLUG: usize = 60_000;

/// The four paths, in the order of [`Figures::paths`].
const PATHS: [&str; 4] = [
    "template: hearth",
    "template: floor",
    "default: hearth",
    "default: floor",
];

/// The section's figures: each path's times, in [`PATHS`] order.
#[derive(Debug, Clone)]
pub(crate) struct Figures {
    /// `Docker 20.10.24`.
    pub engine: String,
    pub paths: Vec<PathTimes>,
}

/// Measures the four paths on the engine at `DOCKER_HOST`.
///
/// # Errors
/// When the engine does not answer, lacks the image, or a daemon does not start.
pub(crate) async fn measure(plan: &Plan, scope: &Scope) -> anyhow::Result<Figures> {
    let side = podman::side(plan, scope, engine::connect().await?, None).await?;
    let config = tempfile::Builder::new()
        .prefix("hearth-bench-template.")
        .suffix(".toml")
        .tempfile()
        .context("temp file for the template")?;
    std::fs::write(config.path(), template_shape::config_toml(&plan.image))
        .context("write the template")?;
    let mut templated = side.launch.clone();
    templated.extra_args.extend([
        "--config".to_owned(),
        config.path().to_string_lossy().into_owned(),
    ]);
    let (plain, _) = side.launch.start().await?;
    let (templated, _) = templated.start().await?;
    let floor = TemplateFloor {
        floor: side.floor.clone(),
    };
    let at = |round: usize, path: usize| FIRST_SLUG + round * PATHS.len() + path;
    let paths = section::rounds(plan.runs, PATHS.len(), |path, round| {
        let slug = spec::slug(&scope.run_id, at(round, path));
        let (side, floor, daemons) = (&side, &floor, [&templated, &plain]);
        async move {
            let result = one(side, floor, daemons, path, &slug).await;
            if result.is_err() {
                scope.sweep(&side.docker).await?;
            }
            result
        }
    })
    .await;
    templated.stop(Duration::from_secs(10)).await?;
    plain.stop(Duration::from_secs(10)).await?;
    scope.sweep(&side.docker).await?;
    Ok(Figures {
        engine: side.name.clone(),
        paths,
    })
}

/// Path `path` once on `slug`: its provision → ready and its teardown.
async fn one(
    side: &Side,
    floor: &TemplateFloor,
    [templated, plain]: [&Daemon; 2],
    path: usize,
    slug: &str,
) -> anyhow::Result<(Duration, Duration)> {
    let names = Names::new("hbf", slug);
    let t0 = Instant::now();
    match path {
        0 => templated.provision(slug).await?,
        1 => floor.provision(&names).await?,
        2 => plain.provision(slug).await?,
        _ => side.floor.provision(&names).await?,
    }
    let provision = t0.elapsed();
    let t1 = Instant::now();
    match path {
        0 => templated.teardown(slug).await?,
        1 => floor.teardown(&names).await?,
        2 => plain.teardown(slug).await?,
        _ => side.floor.teardown(&names).await?,
    }
    Ok((provision, t1.elapsed()))
}

/// The section, markers included.
pub(crate) fn render(f: &Figures, command: &str, runs: usize, stamp: &str) -> String {
    let mut w = String::new();
    let _ = writeln!(w, "{}", MARKERS.begin);
    let _ = writeln!(
        w,
        "## Templates: a 3-role workspace of the user's own shape\n"
    );
    let _ = writeln!(
        w,
        "A template of three roles — a one-shot migration (the stand-in working {} ms, then \
         exiting 0), then `lore`, then `cairnet` (the front door), each waiting for the one \
         before it (`completed`, `ready`), every role with its own volume, each service ready \
         on an HTTP probe of `/` on its own port — through hearth (`hearth serve --config` \
         with the template as the solo tier), against a floor doing the same engine work in \
         the same order straight through the API: network and volumes, the one-shot run \
         until the engine's wait says it exited 0, then each service created, started and \
         probed before the next; torn down in reverse. Beside it, in the same run, the \
         default 2-role workspace through hearth and its floor (as in the solo section). \
         On {}, {stamp}, `{command}`; medians of {runs} rounds after a warm-up, the four \
         paths taking turns going first.\n",
        template_shape::ONESHOT_MS,
        f.engine,
    );
    let _ = writeln!(
        w,
        "| workspace | path | provision | × floor | teardown | × floor |"
    );
    let _ = writeln!(w, "|---|---|---:|---:|---:|---:|");
    for (i, label) in PATHS.iter().enumerate() {
        let (t, fl) = (&f.paths[i], &f.paths[i | 1]);
        let (p, td) = (median(&t.provision), median(&t.teardown));
        let (fp, ft) = (median(&fl.provision), median(&fl.teardown));
        let (shape, path) = label.split_once(": ").unwrap_or((label, ""));
        let shape = match shape {
            "template" => "3-role template",
            _ => "default (2 roles)",
        };
        let _ = writeln!(
            w,
            "| {shape} | {path} | {} | {} | {} | {} |",
            ms(p),
            times(ratio(p, fp)),
            ms(td),
            times(ratio(td, ft))
        );
    }
    for (label, t) in PATHS.iter().zip(&f.paths) {
        if t.failures > 0 {
            let _ = writeln!(
                w,
                "\n{label}: {} failed round(s), first: `{}`",
                t.failures,
                t.first_error.as_deref().unwrap_or_default()
            );
        }
    }
    let _ = writeln!(
        w,
        "\nTarget: hearth ≤ 1.1× its floor, provision and teardown, for both workspaces."
    );
    let _ = writeln!(w, "\n{}", MARKERS.end);
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_row_reads_against_its_own_floor() {
        let t = |ms: u64| PathTimes {
            provision: vec![Duration::from_millis(ms)],
            teardown: vec![Duration::from_millis(ms / 2)],
            ..PathTimes::default()
        };
        let f = Figures {
            engine: "Docker 20.10.24".into(),
            paths: vec![t(1100), t(1000), t(300), t(400)],
        };
        let md = render(&f, "make bench", 5, "now");
        assert!(md.starts_with(MARKERS.begin) && md.trim_end().ends_with(MARKERS.end));
        assert!(
            md.contains("| 3-role template | hearth | 1100 ms | 1.10× | 550 ms | 1.10× |"),
            "{md}"
        );
        assert!(
            md.contains("| default (2 roles) | hearth | 300 ms | 0.75× | 150 ms | 0.75× |"),
            "{md}"
        );
    }
}
