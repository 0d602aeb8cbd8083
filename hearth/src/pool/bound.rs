//! The driver as the dispatcher sees it once a pool exists: a workspace claimed from the pool
//! lives on engine objects named and labelled for its member (labels cannot change), so every
//! verb on such a workspace is passed to the real driver under the member's id and its answer
//! brought back under the workspace's slug. A claimed workspace is thereby indistinguishable
//! from a cold one for status, pause, hibernate, wake, upgrade and teardown (which removes the
//! member's data). Members not yet claimed are the pool's business and hidden from `owned`, so
//! reconciliation never mistakes them for orphans.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use hearth_protocol::hearth::{
    DeploymentRef, DriverName, ProvisioningProfile, Status, StatusResponse,
};

use super::member::Book;
use crate::driver::{Driver, Owned};
use crate::error::HearthError;
use crate::journal::Steps;
use crate::slug::Slug;

/// The real driver, seen through the pool's bindings.
#[derive(Debug)]
pub struct Bound {
    pub(super) inner: Arc<dyn Driver>,
    pub(super) book: Arc<Book>,
}

impl Bound {
    /// The slug the engine knows `slug`'s objects by.
    fn engine_slug(&self, slug: &Slug) -> Result<Slug, HearthError> {
        match self.book.binding(slug.as_str()) {
            Some(b) => Slug::parse(&b.member),
            None => Ok(slug.clone()),
        }
    }

    /// `r` as the engine knows it.
    fn to_engine(&self, r: &DeploymentRef) -> Result<DeploymentRef, HearthError> {
        let slug = Slug::parse(&r.workspace_slug)?;
        let engine = self.engine_slug(&slug)?;
        let mut out = r.clone();
        out.workspace_slug = engine.to_string();
        Ok(out)
    }

    /// The driver's answer under the workspace's slug, keeping the claim facts of `asked`.
    fn from_engine(asked: &DeploymentRef, mut r: DeploymentRef) -> DeploymentRef {
        if r.workspace_slug != asked.workspace_slug {
            r.secrets_vault_path = r
                .secrets_vault_path
                .replace(&r.workspace_slug, &asked.workspace_slug);
            r.workspace_slug.clone_from(&asked.workspace_slug);
        }
        r.pool.clone_from(&asked.pool);
        r
    }
}

#[async_trait]
impl Driver for Bound {
    fn name(&self) -> DriverName {
        self.inner.name()
    }

    async fn provision(
        &self,
        slug: &Slug,
        profile: &ProvisioningProfile,
        steps: &Steps,
    ) -> Result<DeploymentRef, HearthError> {
        // A cold provision builds under the slug itself; a binding left from an earlier life
        // of the slug (its objects already removed) must not redirect it.
        self.book.unbind(slug.as_str())?;
        self.inner.provision(slug, profile, steps).await
    }

    async fn status(&self, r: &DeploymentRef) -> Result<Status, HearthError> {
        self.inner.status(&self.to_engine(r)?).await
    }

    async fn observe(&self, r: &DeploymentRef) -> Result<StatusResponse, HearthError> {
        self.inner.observe(&self.to_engine(r)?).await
    }

    async fn upgrade(
        &self,
        r: &DeploymentRef,
        profile: &ProvisioningProfile,
        steps: &Steps,
    ) -> Result<DeploymentRef, HearthError> {
        let out = self
            .inner
            .upgrade(&self.to_engine(r)?, profile, steps)
            .await?;
        Ok(Bound::from_engine(r, out))
    }

    async fn teardown(&self, slug: &Slug, steps: &Steps) -> Result<(), HearthError> {
        let engine = self.engine_slug(slug)?;
        self.inner.teardown(&engine, steps).await?;
        self.book.unbind(slug.as_str())
    }

    async fn pause(&self, r: &DeploymentRef, steps: &Steps) -> Result<DeploymentRef, HearthError> {
        let out = self.inner.pause(&self.to_engine(r)?, steps).await?;
        Ok(Bound::from_engine(r, out))
    }

    async fn resume(&self, r: &DeploymentRef, steps: &Steps) -> Result<DeploymentRef, HearthError> {
        let out = self.inner.resume(&self.to_engine(r)?, steps).await?;
        Ok(Bound::from_engine(r, out))
    }

    async fn hibernate(
        &self,
        r: &DeploymentRef,
        steps: &Steps,
    ) -> Result<DeploymentRef, HearthError> {
        let out = self.inner.hibernate(&self.to_engine(r)?, steps).await?;
        Ok(Bound::from_engine(r, out))
    }

    async fn wake(&self, r: &DeploymentRef, steps: &Steps) -> Result<DeploymentRef, HearthError> {
        let out = self.inner.wake(&self.to_engine(r)?, steps).await?;
        Ok(Bound::from_engine(r, out))
    }

    /// The workspaces' objects, claimed members' under their workspace's slug; unclaimed
    /// members' objects are left out (the pool adopts or removes them itself).
    async fn owned(&self) -> Result<Vec<Owned>, HearthError> {
        let (members, bound) = self.book.ids();
        Ok(self
            .inner
            .owned()
            .await?
            .into_iter()
            .filter(|o| !members.contains(&o.slug))
            .map(|mut o| {
                if let Some(slug) = bound.get(&o.slug) {
                    o.slug.clone_from(slug);
                }
                o
            })
            .collect())
    }

    async fn image_digests(
        &self,
        profile: &ProvisioningProfile,
    ) -> Result<BTreeMap<String, String>, HearthError> {
        self.inner.image_digests(profile).await
    }
}
