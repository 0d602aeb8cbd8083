//! A stand-in [`Hearth`] for tests of the console's own behaviour: built only for the
//! console's unit tests and with the `test-support` feature (the fuzz targets), so the
//! library's public face carries no test double.

use async_trait::async_trait;
use hearth_protocol::hearth::{DeploymentRef, ProvisioningProfile, StatusResponse};
use hearth_protocol::roles::{RoleState, RoleStatus};
use hearth_protocol::verb::Verb;

use crate::hearth_api::{Hearth, HearthRefusal};

/// A [`Hearth`] that answers every workspace as ready at one fixed endpoint and counts the
/// calls it gets: for tests of the console's own behaviour (hearth itself has its own fake
/// driver behind the real daemon).
#[derive(Debug)]
pub struct StaticHearth {
    endpoint: String,
    calls: std::sync::atomic::AtomicUsize,
}

impl StaticHearth {
    /// Every workspace's front door is `endpoint`.
    pub fn new(endpoint: impl Into<String>) -> Self {
        StaticHearth {
            endpoint: endpoint.into(),
            calls: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// How many calls it answered.
    pub fn calls(&self) -> usize {
        self.calls.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn answer(&self, slug: &str) -> DeploymentRef {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        DeploymentRef {
            workspace_slug: slug.to_owned(),
            tier: hearth_protocol::hearth::Tier::Solo,
            driver: hearth_protocol::hearth::DriverName::Fake,
            endpoint: self.endpoint.clone(),
            secrets_vault_path: String::new(),
            created: chrono::Utc::now(),
            last_status: hearth_protocol::hearth::Status::Ready,
            resource_caps: None,
            services: Vec::new(),
            pool: None,
        }
    }
}

#[async_trait]
impl Hearth for StaticHearth {
    async fn provision(
        &self,
        slug: &str,
        _: &ProvisioningProfile,
    ) -> Result<DeploymentRef, HearthRefusal> {
        Ok(self.answer(slug))
    }
    async fn get(&self, slug: &str) -> Result<DeploymentRef, HearthRefusal> {
        Ok(self.answer(slug))
    }
    async fn status(&self, slug: &str) -> Result<StatusResponse, HearthRefusal> {
        let r = self.answer(slug);
        Ok(StatusResponse {
            status: r.last_status,
            roles: vec![RoleStatus {
                role: "cairnet".to_owned(),
                state: RoleState::Running,
                node: None,
                reason: None,
            }],
        })
    }
    async fn list(&self) -> Result<Vec<DeploymentRef>, HearthRefusal> {
        Ok(Vec::new())
    }
    async fn teardown(&self, slug: &str) -> Result<(), HearthRefusal> {
        self.answer(slug);
        Ok(())
    }
    async fn act(&self, _: Verb, slug: &str) -> Result<DeploymentRef, HearthRefusal> {
        Ok(self.answer(slug))
    }
    async fn upgrade(
        &self,
        slug: &str,
        _: &ProvisioningProfile,
    ) -> Result<DeploymentRef, HearthRefusal> {
        Ok(self.answer(slug))
    }
}
