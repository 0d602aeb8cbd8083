//! The warm pool's figures and their section of `BENCH.md`: claims beside the cold
//! provision and the floor's unpause path, the play with and without a pool, hearth's idle
//! memory with a full pool, and the members' engine objects.

use std::fmt::Write as _;
use std::time::Duration;

use super::play::{ActTimes, Pick};
use crate::stats::{median, ms, quantile, ratio, times};

/// Claim p50 target.
pub(crate) const CLAIM_P50: Duration = Duration::from_millis(50);
/// Claim p99 target.
pub(crate) const CLAIM_P99: Duration = Duration::from_millis(120);
/// The play with a pool, as a share of the play without.
pub(crate) const PLAY_RATIO: f64 = 0.6;
/// hearth's idle RSS with a pool of 2, KiB.
pub(crate) const POOL_RSS_KIB: u64 = 12 * 1024;

/// The members' objects on the engine with the pool full.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct MemberObjects {
    pub containers: usize,
    /// Of those, paused.
    pub paused: usize,
    pub networks: usize,
    pub volumes: usize,
}

/// Everything measured about the pool.
#[derive(Debug, Clone, Default)]
pub(crate) struct PoolFigures {
    /// Members per pool.
    pub size: u64,
    /// `POST /v1/provision` answered from the pool, each with the pool full beforehand.
    pub claims: Vec<Duration>,
    /// Provisions the pool answered cold (it should not, with the pool full).
    pub cold_fallbacks: usize,
    /// Claims that failed outright.
    pub failures: usize,
    pub first_error: Option<String>,
    /// The floor: unpause both services of a workspace it built and paused, until each
    /// answers.
    pub floor_unpause: Vec<Duration>,
    /// hearth's RSS with the pool full and nothing claimed.
    pub idle_rss_kib: Option<u64>,
    pub objects: Option<MemberObjects>,
    /// The whole play through a stack with a pool, and without.
    pub play_pool: ActTimes,
    pub play_cold: ActTimes,
}

impl PoolFigures {
    /// Rows for the Targets table.
    pub(crate) fn target_rows(&self) -> Vec<(String, String, Option<bool>)> {
        let p50 = quantile(&self.claims, 0.5);
        let p99 = quantile(&self.claims, 0.99);
        let mut rows = vec![(
            format!(
                "claim from a warm pool: p50 ≤ {} ms, p99 ≤ {} ms over ≥ 30 claims",
                CLAIM_P50.as_millis(),
                CLAIM_P99.as_millis()
            ),
            format!(
                "p50 {} / p99 {} over {} claims",
                ms(p50),
                ms(p99),
                self.claims.len()
            ),
            p50.zip(p99).map(|(a, b)| {
                a <= CLAIM_P50 && b <= CLAIM_P99 && self.claims.len() >= 30 && self.failures == 0
            }),
        )];
        let r = ratio(
            median(&self.play_pool.total()),
            median(&self.play_cold.total()),
        );
        rows.push((
            format!("the whole play with a pool ≤ {PLAY_RATIO}× the play without"),
            times(r),
            r.map(|r| r <= PLAY_RATIO),
        ));
        rows.push((
            format!("hearth idle RSS with a pool of {} ≤ 12 MiB", self.size),
            self.idle_rss_kib.map_or_else(
                || "—".to_owned(),
                |k| format!("{:.1} MiB", k as f64 / 1024.0),
            ),
            self.idle_rss_kib.map(|k| k <= POOL_RSS_KIB),
        ));
        rows
    }

    /// The section; `cold` is hearth's cold provision median from the solo section.
    pub(crate) fn render(&self, w: &mut String, cold: Option<Duration>) {
        let _ = writeln!(w, "## The warm pool\n");
        self.render_claims(w, cold);
        self.render_play(w);
        self.render_idle(w);
    }

    /// What a member and a claim are, and the claims beside the floor and a cold provision.
    fn render_claims(&self, w: &mut String, cold: Option<Duration>) {
        let _ = writeln!(
            w,
            "`hearth serve --pool solo={}`: members are whole workspaces made ahead (network, \
             fresh volumes, both services started and checked ready) and kept paused. A claim \
             is `POST /v1/provision` of a new slug: hearth takes a member, binds it to the slug \
             in its state, unpauses it, checks its images are still current and that every \
             service answers, and answers the ref with `pool: {{member, age_ms}}`. Members are \
             never stale: a rewritten `hearth.lock` (the running daemon follows the file), a \
             moved tag or an image rebuilt under the same tag drains the members built from the \
             old digests at the next check (every 2 s) and refills, and a claim that meets such \
             a member answers cold instead. Each claim below starts with the pool full (the \
             refill after the previous claim has finished), so every one is warm; {} claims \
             after a warm-up, {} answered cold, {} failed. The **floor's unpause path** is the \
             least the engine needs to hand out a ready workspace it already has: unpause both \
             containers of a workspace built and paused before, then probe each until it \
             answers.\n",
            self.size,
            self.claims.len(),
            self.cold_fallbacks,
            self.failures
        );
        let _ = writeln!(w, "| path | p50 | p99 | × floor (p50) |");
        let _ = writeln!(w, "|---|---:|---:|---:|");
        let floor = quantile(&self.floor_unpause, 0.5);
        for (name, samples) in [
            ("hearth: claim from the pool (RPC)", &self.claims),
            ("floor: unpause + probe", &self.floor_unpause),
        ] {
            let p50 = quantile(samples, 0.5);
            let _ = writeln!(
                w,
                "| {name} | {} | {} | {} |",
                ms(p50),
                ms(quantile(samples, 0.99)),
                times(ratio(p50, floor))
            );
        }
        let _ = writeln!(
            w,
            "| hearth: cold provision (the solo section's median) | {} | — | {} |",
            ms(cold),
            times(ratio(cold, floor))
        );
        if let Some(err) = &self.first_error {
            let _ = writeln!(w, "\nfirst failed claim: `{err}`");
        }
    }

    /// The whole play with a pool and without, act by act.
    fn render_play(&self, w: &mut String) {
        let _ = writeln!(
            w,
            "\nThe whole play (console, worker, hearth; as in the play section) through a stack \
             whose hearth keeps a pool of {}, against one whose hearth does not, rounds \
             alternating, each with the pool full; medians of {}. The refill after a claim \
             waits until no verb has been in flight for 150 ms (at most 10 s, so it is never \
             starved), so building the next member does not compete with the play's own \
             teardown and provision for the engine.\n",
            self.size,
            self.play_pool.provision.len()
        );
        let _ = writeln!(w, "| act | with a pool | without | ratio |");
        let _ = writeln!(w, "|---|---:|---:|---:|");
        let acts: [(&str, Pick); 4] = [
            ("provision → ready", |t| t.provision.clone()),
            ("run, 4 prompts", |t| t.run.clone()),
            ("teardown", |t| t.teardown.clone()),
            ("all three acts", ActTimes::total),
        ];
        for (name, pick) in acts {
            let (a, b) = (
                median(&pick(&self.play_pool)),
                median(&pick(&self.play_cold)),
            );
            let _ = writeln!(
                w,
                "| {name} | {} | {} | {} |",
                ms(a),
                ms(b),
                times(ratio(a, b))
            );
        }
        let _ = writeln!(
            w,
            "| failures | {} | {} | |",
            self.play_pool.failures, self.play_cold.failures
        );
    }

    /// hearth's memory and the members' engine objects with the pool full.
    fn render_idle(&self, w: &mut String) {
        let _ = writeln!(w, "\nWith the pool full and nothing claimed:\n");
        let _ = writeln!(w, "| figure | value |");
        let _ = writeln!(w, "|---|---:|");
        if let Some(k) = self.idle_rss_kib {
            let _ = writeln!(w, "| hearth idle RSS | {:.1} MiB |", k as f64 / 1024.0);
        }
        if let Some(o) = self.objects {
            let _ = writeln!(
                w,
                "| members' engine objects (label `dev.hearth.pool`) | {} containers ({} paused), {} networks, {} volumes |",
                o.containers, o.paused, o.networks, o.volumes
            );
        }
        let _ = writeln!(w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn claims_are_judged_by_p50_and_p99_and_the_play_by_its_ratio() {
        let mut f = PoolFigures {
            size: 2,
            claims: (0..30).map(|i| d(30 + i)).collect(),
            floor_unpause: vec![d(25); 30],
            idle_rss_kib: Some(9 * 1024),
            ..PoolFigures::default()
        };
        f.play_pool.record(Ok([d(50), d(5), d(400)]));
        f.play_cold.record(Ok([d(600), d(5), d(400)]));
        let rows = f.target_rows();
        assert_eq!(rows[0].2, Some(true), "{rows:?}");
        assert!(
            rows[0].1.contains("p50 45 ms / p99 59 ms over 30 claims"),
            "{rows:?}"
        );
        assert_eq!(rows[1].2, Some(true), "455/1005 ≤ 0.6: {rows:?}");
        assert_eq!(rows[2].2, Some(true));
        f.claims.push(d(500));
        f.claims.push(d(500));
        assert_eq!(f.target_rows()[0].2, Some(false), "a slow p99 misses");
        let mut md = String::new();
        f.render(&mut md, Some(d(600)));
        assert!(
            md.contains("| floor: unpause + probe | 25 ms | 25 ms | 1.00× |"),
            "{md}"
        );
        assert!(
            md.contains(
                "| hearth: cold provision (the solo section's median) | 600 ms | — | 24.00× |"
            ),
            "{md}"
        );
    }
}
