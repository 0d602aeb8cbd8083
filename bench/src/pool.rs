//! The warm pool: claims from a daemon running `--pool solo=2` (each after the pool is full
//! again, so each is a warm claim), beside the floor's own fastest path to a ready workspace
//! (unpausing one it built before, then probing it); hearth's idle memory and the members'
//! engine objects with the pool full; and the whole play with a pool against the play
//! without one, rounds alternating.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use bollard::query_parameters::{ListContainersOptions, ListNetworksOptions, ListVolumesOptions};
use futures::future::try_join_all;
use tokio::time::Instant;

use crate::hearth::Launch;
use crate::play::play_once;
use crate::report::play::ActTimes;
use crate::report::pool::{MemberObjects, PoolFigures};
use crate::run::Bench;
use crate::spec::{Names, ROLES, RUN_LABEL};
use crate::stack::Stack;

/// Members per pool in the bench, as the figures ask.
pub(crate) const POOL_SIZE: u64 = 2;
/// Claims measured (at least 30 for a p99 worth the name).
const MIN_CLAIMS: usize = 30;
/// Bound on the pool filling up again after a claim.
const REFILL_BOUND: Duration = Duration::from_secs(120);

impl Bench<'_> {
    /// The daemon launch with a pool of [`POOL_SIZE`].
    fn pool_launch(&self) -> Launch {
        let mut launch = self.launch.clone();
        launch
            .extra_args
            .extend(["--pool".to_owned(), format!("solo={POOL_SIZE}")]);
        launch
    }

    /// Every pool figure; the run's objects are swept afterwards (a stopped daemon leaves its
    /// members paused for the next start, which here never comes).
    ///
    /// # Errors
    /// When a daemon cannot start, the pool never fills, or the floor fails.
    pub(crate) async fn pool(&mut self) -> anyhow::Result<PoolFigures> {
        let mut figures = PoolFigures {
            size: POOL_SIZE,
            ..PoolFigures::default()
        };
        let result = self.claims(&mut figures).await;
        self.scope.sweep(&self.docker).await?;
        result?;
        let result = self.pool_play(&mut figures).await;
        self.scope.sweep(&self.docker).await?;
        result?;
        Ok(figures)
    }

    async fn claims(&mut self, figures: &mut PoolFigures) -> anyhow::Result<()> {
        let (daemon, _) = self.pool_launch().start().await?;
        daemon.wait_pool(POOL_SIZE, REFILL_BOUND).await?;
        // Let the refill loop and the allocator settle before reading "idle".
        tokio::time::sleep(Duration::from_millis(300)).await;
        figures.idle_rss_kib = Some(daemon.memory()?.rss_kib);
        figures.objects = Some(self.member_objects().await?);

        let claims = MIN_CLAIMS.max(self.plan.runs * 6);
        for i in 0..=claims {
            daemon.wait_pool(POOL_SIZE, REFILL_BOUND).await?;
            let slug = self.next_slug();
            let t0 = Instant::now();
            let answer = daemon.provision_ref(&slug).await;
            let took = t0.elapsed();
            match answer {
                Ok(r) if i == 0 => drop(r), // warm-up
                Ok(r) if r.get("pool").is_some_and(|p| !p.is_null()) => figures.claims.push(took),
                Ok(_) => figures.cold_fallbacks += 1,
                Err(e) => {
                    figures.failures += 1;
                    figures.first_error.get_or_insert_with(|| format!("{e:#}"));
                }
            }
            daemon.teardown(&slug).await?;
        }
        daemon.stop(Duration::from_secs(10)).await?;

        // The floor's fastest path to a ready workspace: one it built and paused before,
        // unpaused (both services at once) and probed until each answers.
        let slug = self.next_slug();
        let names = Names::new("hbf", &slug);
        let urls = self.floor.provision_endpoints(&names).await?;
        for i in 0..=claims {
            try_join_all(ROLES.iter().map(|role| {
                let name = names.container(role);
                let docker = &self.floor.docker;
                async move { docker.pause_container(&name).await }
            }))
            .await
            .context("floor: pause")?;
            let t0 = Instant::now();
            try_join_all(ROLES.iter().map(|role| {
                let name = names.container(role);
                let docker = &self.floor.docker;
                async move { docker.unpause_container(&name).await }
            }))
            .await
            .context("floor: unpause")?;
            try_join_all(
                urls.iter()
                    .map(|u| self.floor.prober.wait(u, Duration::from_secs(10))),
            )
            .await?;
            if i > 0 {
                figures.floor_unpause.push(t0.elapsed());
            }
        }
        self.floor.teardown(&names).await?;
        Ok(())
    }

    /// The members' objects as the engine lists them (by the pool and run labels).
    async fn member_objects(&self) -> anyhow::Result<MemberObjects> {
        let filters = HashMap::from([(
            "label".to_owned(),
            vec![
                "dev.hearth.pool".to_owned(),
                format!("{RUN_LABEL}={}", self.scope.run_id),
            ],
        )]);
        let docker = &self.docker;
        let containers = docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters.clone()),
                ..Default::default()
            }))
            .await?;
        let paused = containers
            .iter()
            .filter(|c| c.state.as_ref().is_some_and(|s| s.to_string() == "paused"))
            .count();
        let networks = docker
            .list_networks(Some(ListNetworksOptions {
                filters: Some(filters.clone()),
            }))
            .await?
            .len();
        let volumes = docker
            .list_volumes(Some(ListVolumesOptions {
                filters: Some(filters),
            }))
            .await?
            .volumes
            .unwrap_or_default()
            .len();
        Ok(MemberObjects {
            containers: containers.len(),
            paused,
            networks,
            volumes,
        })
    }

    /// The whole play through a stack whose hearth keeps a pool, against one whose hearth
    /// does not; rounds alternate, each starting with the pool full.
    async fn pool_play(&mut self, figures: &mut PoolFigures) -> anyhow::Result<()> {
        let bins = self.plan.play_bins.clone();
        let (warm, _) = Stack::start(&self.pool_launch(), &bins, &[]).await?;
        let (cold, _) = Stack::start(&self.launch, &bins, &[]).await?;
        for round in 0..=self.plan.runs {
            let mut order = [true, false];
            order.rotate_left(round % 2);
            for pooled in order {
                warm.hearth().wait_pool(POOL_SIZE, REFILL_BOUND).await?;
                let slug = self.next_slug();
                let stack = if pooled { &warm } else { &cold };
                let result = play_once(stack, &slug).await;
                if !self
                    .after_round(("play", pooled), false, round, &result)
                    .await?
                {
                    continue;
                }
                let times: &mut ActTimes = if pooled {
                    &mut figures.play_pool
                } else {
                    &mut figures.play_cold
                };
                times.record(result);
            }
        }
        warm.stop().await?;
        cold.stop().await?;
        Ok(())
    }
}
