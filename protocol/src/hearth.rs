//! The hearth daemon's JSON-over-HTTP RPC, as it travels on the unix socket.
//!
//! Field names and the error body are those of the Go hearth (`POST /v1/provision {slug,
//! profile}` → `DeploymentRef`, `POST /v1/status {ref}` → `{status}`, `POST /v1/teardown {ref}`
//! → `{ok: true}`, errors as `{"error":{"code","message","retryable"}}`), so a client written
//! against either daemon works against both. Our extensions only add fields and routes.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::error_code::ErrorCode;

/// The product tier a workspace is provisioned at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// One seat, two services (`cairnet` + `lore`); the tier the local play runs.
    Solo,
    Team,
    Studio,
    Bespoke,
}

impl Tier {
    /// Every tier, smallest first.
    pub const ALL: [Tier; 4] = [Tier::Solo, Tier::Team, Tier::Studio, Tier::Bespoke];

    /// The wire spelling (`solo`, `team`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Solo => "solo",
            Tier::Team => "team",
            Tier::Studio => "studio",
            Tier::Bespoke => "bespoke",
        }
    }

    /// Resource caps a profile gets when it names none.
    pub fn default_caps(self) -> ResourceCaps {
        let (storage, retention, seats, index) = match self {
            Tier::Solo => (1024, 30, 1, "none"),
            Tier::Team => (8192, 90, 10, "hnsw"),
            Tier::Studio => (32768, 365, 50, "hnsw"),
            Tier::Bespoke => (65536, 730, 250, "hnsw"),
        };
        ResourceCaps {
            cairnet_storage_mb: storage,
            lore_retention_days: retention,
            seats,
            vector_index: index.to_owned(),
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Tier {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "solo" => Ok(Tier::Solo),
            "team" => Ok(Tier::Team),
            "studio" => Ok(Tier::Studio),
            "bespoke" => Ok(Tier::Bespoke),
            other => Err(format!(
                "unknown tier {other:?} (expected solo, team, studio or bespoke)"
            )),
        }
    }
}

/// Which driver provisions a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DriverName {
    /// Real containers on a Docker engine.
    #[serde(rename = "local-docker")]
    LocalDocker,
    /// In-memory driver for tests and console development.
    #[serde(rename = "fake")]
    Fake,
    /// Services on a Docker Swarm (the engine hearth talks to is a manager).
    #[serde(rename = "swarm")]
    Swarm,
    /// Kubernetes manifests written to a directory, applied out-of-band (`kubectl apply -k`).
    #[serde(rename = "kustomize")]
    Kustomize,
}

impl DriverName {
    /// The wire spelling (`local-docker`, `fake`, `swarm`, `kustomize`).
    pub fn as_str(self) -> &'static str {
        match self {
            DriverName::LocalDocker => "local-docker",
            DriverName::Fake => "fake",
            DriverName::Swarm => "swarm",
            DriverName::Kustomize => "kustomize",
        }
    }
}

impl fmt::Display for DriverName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for DriverName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "local-docker" | "localdocker" | "docker" => Ok(DriverName::LocalDocker),
            "fake" => Ok(DriverName::Fake),
            "swarm" => Ok(DriverName::Swarm),
            "kustomize" => Ok(DriverName::Kustomize),
            other => Err(format!(
                "unknown driver {other:?} (expected local-docker, swarm, kustomize or fake)"
            )),
        }
    }
}

/// A workspace's lifecycle status. The allowed moves between them live in
/// `hearth::lifecycle`; this is only the wire spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Provisioning,
    Ready,
    Upgrading,
    Paused,
    Hibernated,
    TearingDown,
    Failed,
    /// Terminal: the workspace was torn down. An answer, not an error.
    TierTornDown,
}

impl Status {
    /// Every status.
    pub const ALL: [Status; 8] = [
        Status::Provisioning,
        Status::Ready,
        Status::Upgrading,
        Status::Paused,
        Status::Hibernated,
        Status::TearingDown,
        Status::Failed,
        Status::TierTornDown,
    ];

    /// The wire spelling (`ready`, `tier_torn_down`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Provisioning => "provisioning",
            Status::Ready => "ready",
            Status::Upgrading => "upgrading",
            Status::Paused => "paused",
            Status::Hibernated => "hibernated",
            Status::TearingDown => "tearing_down",
            Status::Failed => "failed",
            Status::TierTornDown => "tier_torn_down",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Per-tier resource caps; passed to the services as environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceCaps {
    pub cairnet_storage_mb: u64,
    pub lore_retention_days: u64,
    pub seats: u64,
    pub vector_index: String,
}

/// What to provision. Only `tier` is required on our side; a missing `driver` means "the
/// daemon's driver", missing caps mean the tier's defaults. A Go client sends its zero values
/// instead of leaving fields out (`"driver": ""`, `"driver_flags": null`, caps of all zeros):
/// those mean "not given" too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProvisioningProfile {
    pub tier: Tier,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "go_zero::driver"
    )]
    pub driver: Option<DriverName>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "go_zero::caps"
    )]
    pub resource_caps: Option<ResourceCaps>,
    /// Free-form driver knobs. LocalDocker reads `cairnet_image` / `lore_image` (as the Go
    /// hearth does).
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "go_zero::flags"
    )]
    pub driver_flags: BTreeMap<String, serde_json::Value>,
}

/// Reading the Go hearth client's zero values as "not given".
mod go_zero {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer};

    use super::{DriverName, ResourceCaps};

    pub(super) fn driver<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DriverName>, D::Error> {
        match Option::<String>::deserialize(d)?.as_deref() {
            None | Some("") => Ok(None),
            Some(name) => name.parse().map(Some).map_err(serde::de::Error::custom),
        }
    }

    pub(super) fn caps<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ResourceCaps>, D::Error> {
        Ok(Option::<ResourceCaps>::deserialize(d)?.filter(|c| {
            *c != ResourceCaps {
                cairnet_storage_mb: 0,
                lore_retention_days: 0,
                seats: 0,
                vector_index: String::new(),
            }
        }))
    }

    pub(super) fn flags<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, serde_json::Value>, D::Error> {
        Ok(Option::deserialize(d)?.unwrap_or_default())
    }
}

impl ProvisioningProfile {
    /// A profile for `tier` with every other field defaulted.
    pub fn for_tier(tier: Tier) -> Self {
        ProvisioningProfile {
            tier,
            driver: None,
            resource_caps: None,
            driver_flags: BTreeMap::new(),
        }
    }

    /// The caps to apply: the profile's own, or the tier's defaults.
    pub fn caps(&self) -> ResourceCaps {
        self.resource_caps
            .clone()
            .unwrap_or_else(|| self.tier.default_caps())
    }
}

/// One running service of a workspace (our extension of the Go ref).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRef {
    pub role: String,
    /// The image reference asked for (`nginx:alpine`, or `repo@sha256:…` under a lock).
    pub image: String,
    /// What actually ran: the image ID (`sha256:…`) the container was created from.
    pub image_digest: String,
    pub container_id: String,
    /// `http://127.0.0.1:PORT` — the service's published port on loopback.
    pub endpoint: String,
}

/// The handle to a provisioned workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentRef {
    pub workspace_slug: String,
    pub tier: Tier,
    pub driver: DriverName,
    /// The workspace's front door: the `cairnet` role's URL.
    pub endpoint: String,
    pub secrets_vault_path: String,
    pub created: DateTime<Utc>,
    pub last_status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_caps: Option<ResourceCaps>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceRef>,
    /// Set when the workspace was claimed from hearth's warm pool rather than built cold;
    /// absent otherwise, so clients that do not know it (the Go ones) see the origin's shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<PoolClaim>,
}

/// How a workspace came from the warm pool (our extension of the Go ref).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolClaim {
    /// The pool member that became this workspace (its engine objects carry this id).
    pub member: String,
    /// How long the member had waited in the pool, ready, before it was claimed.
    pub age_ms: u64,
}

/// One warm pool, as `GET /v1/pool` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolReport {
    pub tier: Tier,
    /// The configured size: a ceiling on members kept ready.
    pub size: u32,
    /// Members ready to be claimed (whole, paused, built from the current digests).
    pub ready: u32,
    /// Members being built now.
    pub building: u32,
    /// Each role's image digest the current members are built from.
    #[serde(default)]
    pub digests: BTreeMap<String, String>,
    /// Consecutive failed refills (reset by a success).
    pub refill_failures: u32,
    /// The last refill error, if the last refill failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// While refills are stopped after too many failures: when they are tried again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_until: Option<DateTime<Utc>>,
    /// Members claimed, drained as stale and removed since the daemon started.
    pub claimed: u64,
    pub drained: u64,
}

/// Answer to `GET /v1/pool`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PoolResponse {
    pub pools: Vec<PoolReport>,
}

/// `POST /v1/provision`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProvisionRequest {
    pub slug: String,
    pub profile: ProvisioningProfile,
}

/// The `ref` a verb acts on. Only the slug is read: hearth looks everything else up in its own
/// state, so a full `DeploymentRef` (the Go client's habit) and `{workspace_slug}` both work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefSelector {
    pub workspace_slug: String,
}

/// `POST /v1/status|teardown|pause|resume|hibernate|events`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefRequest {
    #[serde(rename = "ref")]
    pub reference: RefSelector,
}

impl RefRequest {
    /// A request naming `slug`.
    pub fn new(slug: impl Into<String>) -> Self {
        RefRequest {
            reference: RefSelector {
                workspace_slug: slug.into(),
            },
        }
    }
}

/// `POST /v1/upgrade`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpgradeRequest {
    #[serde(rename = "ref")]
    pub reference: RefSelector,
    pub profile: ProvisioningProfile,
}

/// Answer to `POST /v1/status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusResponse {
    pub status: Status,
    /// Each role's state (and, on Swarm, its node); our extension, absent when empty (the Go
    /// hearth's shape), and empty while a verb is under way or once torn down.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<crate::roles::RoleStatus>,
}

/// Answer to `POST /v1/teardown` and `GET /v1/healthz`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OkResponse {
    pub ok: bool,
}

/// Answer to `GET /v1/list`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListResponse {
    pub workspaces: Vec<DeploymentRef>,
}

/// One step of a workspace's life, with its timing (`POST /v1/events`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LifecycleEvent {
    /// Position in this workspace's event list, from 0.
    pub seq: u64,
    pub at: DateTime<Utc>,
    /// What happened: `provision_started`, `image_resolved`, `network_created`,
    /// `container_created`, `container_started`, `role_ready`, `provisioned`, …
    pub step: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Milliseconds since the operation this step belongs to began.
    pub elapsed_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The verb whose operation this step belongs to (absent for steps outside a verb: a
    /// pool member's build, a reconcile after a restart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<crate::verb::Verb>,
    /// Where in its operation this step stands, so a reader never parses `step`'s suffix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
}

/// Where a [`LifecycleEvent`] stands in its operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The operation began (`provision_started`).
    Started,
    /// A step inside it (`container_started`, `role_ready`, `claimed`, …).
    Step,
    /// It succeeded (`provision_done`).
    Done,
    /// It failed (`provision_failed`).
    Failed,
    /// Undoing a provision that did not finish (`rollback_started`, `rolled_back`,
    /// `rollback_failed`, `reconcile_rollback`).
    Rollback,
}

impl Phase {
    /// Every phase.
    pub const ALL: [Phase; 5] = [
        Phase::Started,
        Phase::Step,
        Phase::Done,
        Phase::Failed,
        Phase::Rollback,
    ];

    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Phase::Started => "started",
            Phase::Step => "step",
            Phase::Done => "done",
            Phase::Failed => "failed",
            Phase::Rollback => "rollback",
        }
    }
}

/// Answer to `POST /v1/events`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventsResponse {
    pub events: Vec<LifecycleEvent>,
}

/// The error envelope: `{"error": {...}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub error: ErrorBody,
}

/// A wire error. `code` is stable and machine-readable; `hint` (our extension) says what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    pub retryable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_client_ref_with_every_field_is_accepted() {
        let body = r#"{"ref":{"workspace_slug":"acme","tier":"solo","driver":"local-docker",
            "endpoint":"unix:///var/run/rocky-hearth.sock","secrets_vault_path":"",
            "created":"2026-01-01T00:00:00Z","last_status":"ready"}}"#;
        let req: RefRequest = serde_json::from_str(body).expect("parse");
        assert_eq!(req.reference.workspace_slug, "acme");
    }

    #[test]
    fn go_clients_zero_values_mean_not_given() {
        // What the Go hearth's client marshals for a profile with only the tier set.
        let body = r#"{"slug":"acme","profile":{"tier":"solo","driver":"",
            "resource_caps":{"cairnet_storage_mb":0,"lore_retention_days":0,"seats":0,"vector_index":""},
            "driver_flags":null}}"#;
        let req: ProvisionRequest = serde_json::from_str(body).expect("parse");
        assert_eq!(req.profile, ProvisioningProfile::for_tier(Tier::Solo));
        let named: ProvisioningProfile =
            serde_json::from_str(r#"{"tier":"team","driver":"local-docker"}"#).expect("parse");
        assert_eq!(named.driver, Some(DriverName::LocalDocker));
        let k: ProvisioningProfile =
            serde_json::from_str(r#"{"tier":"solo","driver":"kustomize"}"#).expect("parse");
        assert_eq!(k.driver, Some(DriverName::Kustomize));
        assert!(
            serde_json::from_str::<ProvisioningProfile>(r#"{"tier":"solo","driver":"helm"}"#)
                .is_err()
        );
    }

    #[test]
    fn profile_needs_only_a_tier() {
        let p: ProvisioningProfile = serde_json::from_str(r#"{"tier":"solo"}"#).expect("parse");
        assert_eq!(p.tier, Tier::Solo);
        assert_eq!(p.caps().seats, 1);
        assert!(p.driver.is_none());
    }

    #[test]
    fn statuses_use_snake_case() {
        let s = serde_json::to_string(&Status::TierTornDown).expect("ser");
        assert_eq!(s, "\"tier_torn_down\"");
        let d: DriverName = serde_json::from_str("\"local-docker\"").expect("de");
        assert_eq!(d, DriverName::LocalDocker);
        let swarm: ProvisioningProfile =
            serde_json::from_str(r#"{"tier":"solo","driver":"swarm"}"#).expect("parse");
        assert_eq!(swarm.driver, Some(DriverName::Swarm));
        assert_eq!("swarm".parse::<DriverName>(), Ok(DriverName::Swarm));
    }

    #[test]
    fn error_body_keeps_the_go_shape() {
        let e = ErrorResponse {
            error: ErrorBody {
                code: ErrorCode::InvalidRequest,
                message: "bad".into(),
                retryable: false,
                hint: None,
            },
        };
        assert_eq!(
            serde_json::to_string(&e).expect("ser"),
            r#"{"error":{"code":"invalid_request","message":"bad","retryable":false}}"#
        );
    }
}
