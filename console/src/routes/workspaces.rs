//! `/api/hearth/workspaces`: provision, list, show, decommission and the lifecycle verbs,
//! each through hearth's RPC, each act framed by HATCH events (started on disk before the
//! call, the outcome after).

use std::time::Instant;

use axum::extract::{Path, State};
use axum::Json;
use hearth_protocol::hatch::payload::{
    DecommissionStarted, Decommissioned, Payload, ProvisioningStarted, Timing, WorkspaceRef,
};
use hearth_protocol::hatch::types;
use hearth_protocol::hearth::{
    DeploymentRef, ErrorCode, ProvisioningProfile, Status, StatusResponse, Tier,
};
use hearth_protocol::verb::{Shape, Verb};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{detached, ApiJson};
use crate::error::ApiError;
use crate::extract::check_slug;
use crate::AppState;

/// `POST /api/hearth/workspaces` body.
#[derive(Debug, Deserialize)]
pub(super) struct CreateWorkspace {
    slug: String,
    #[serde(default = "default_tier")]
    tier: Tier,
}

fn default_tier() -> Tier {
    Tier::Solo
}

/// `POST /api/hearth/workspaces/{slug}/upgrade` body.
#[derive(Debug, Deserialize)]
pub(super) struct UpgradeWorkspace {
    tier: Tier,
}

/// The ref as HATCH data: endpoint, services, how long the call took, and the pool claim if
/// there was one.
fn ref_data(r: &DeploymentRef, started: Instant) -> Value {
    WorkspaceRef {
        workspace_slug: r.workspace_slug.clone(),
        tier: r.tier,
        driver: r.driver,
        endpoint: r.endpoint.clone(),
        status: r.last_status,
        services: r.services.clone(),
        timing: timing(started),
        // A workspace claimed from hearth's warm pool says so, with the member's age, as
        // hearth's own boot events do; a cold one carries no `pool` key at all.
        pool: r.pool.clone(),
    }
    .to_data()
}

/// The time since `started`, as HATCH data carries it.
fn timing(started: Instant) -> Timing {
    Timing {
        elapsed_ms: elapsed_ms(started),
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    started.elapsed().as_millis() as u64
}

/// `POST /api/hearth/workspaces {slug, tier}`.
pub(super) async fn create(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<CreateWorkspace>,
) -> Result<Json<DeploymentRef>, ApiError> {
    check_slug(&req.slug)?;
    detached(&state, provision(state.clone(), req))
        .await
        .map(Json)
}

/// Provision framed by its events.
async fn provision(state: AppState, req: CreateWorkspace) -> Result<DeploymentRef, ApiError> {
    let slug = req.slug.as_str();
    state
        .sink
        .append(
            types::PROVISIONING_STARTED,
            slug,
            ProvisioningStarted {
                slug: slug.to_owned(),
                tier: req.tier,
            }
            .to_data(),
        )
        .await?;
    let started = Instant::now();
    let profile = ProvisioningProfile::for_tier(req.tier);
    match state.hearth.provision(slug, &profile).await {
        Ok(r) => {
            state
                .sink
                .append(types::PROVISIONED, slug, ref_data(&r, started))
                .await?;
            tracing::info!(workspace = %slug, endpoint = %r.endpoint, "workspace provisioned");
            Ok(r)
        }
        Err(e) => {
            let data = e.failure(elapsed_ms(started)).to_data();
            state.sink.append(types::FAILED, slug, data).await?;
            tracing::warn!(workspace = %slug, code = %e.code, "provision failed");
            Err(e.into())
        }
    }
}

/// `GET /api/hearth/workspaces`.
pub(super) async fn list(
    State(state): State<AppState>,
) -> Result<Json<Vec<DeploymentRef>>, ApiError> {
    Ok(Json(state.hearth.list().await?))
}

/// `GET /api/hearth/workspaces/{slug}`.
pub(super) async fn show(
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Json<DeploymentRef>, ApiError> {
    check_slug(&slug)?;
    Ok(Json(state.hearth.get(&slug).await?))
}

/// `GET /api/hearth/workspaces/{slug}/status`: hearth's status answer relayed as it is — the
/// status and each role's state and node. A read, so, as for `show`, nothing is written to
/// HATCH; the gate admits only the local admin.
pub(super) async fn status(
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Json<StatusResponse>, ApiError> {
    check_slug(&slug)?;
    let report = state.hearth.status(&slug).await?;
    tracing::debug!(workspace = %slug, status = %report.status, roles = report.roles.len(), "status relayed");
    Ok(Json(report))
}

/// `DELETE /api/hearth/workspaces/{slug}`: 404 with nothing written for a slug hearth does
/// not know, 200 with nothing written for one already torn down, else the teardown framed by
/// its events.
///
/// hearth's own `/v1/teardown` stays idempotent on any slug (the Go hearth's wire, which
/// scripts retry blindly); the console's API is a resource API whose audit log must only
/// record acts on workspaces, so it asks hearth first. A teardown racing another for the same
/// slug between the two calls is still framed by events, as hearth did act on it.
pub(super) async fn delete(
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Json<Value>, ApiError> {
    check_slug(&slug)?;
    // A console that can no longer record acts asks hearth nothing on their behalf either.
    if let Some(reason) = state.sink.poisoned() {
        return Err(ApiError::HatchUnavailable(reason));
    }
    let known = match state.hearth.get(&slug).await {
        Ok(r) => r,
        Err(e) if e.code == ErrorCode::NotFound => {
            return Err(ApiError::NotFound(format!("workspace {slug:?}")));
        }
        Err(e) => return Err(e.into()),
    };
    if known.last_status == Status::TierTornDown {
        return Ok(Json(json!({"ok": true, "slug": slug, "already": true})));
    }
    detached(&state, decommission(state.clone(), slug))
        .await
        .map(Json)
}

/// Teardown framed by its events.
async fn decommission(state: AppState, slug: String) -> Result<Value, ApiError> {
    state
        .sink
        .append(
            types::DECOMMISSION_STARTED,
            &slug,
            DecommissionStarted { slug: slug.clone() }.to_data(),
        )
        .await?;
    let started = Instant::now();
    match state.hearth.teardown(&slug).await {
        Ok(()) => {
            let timing = timing(started);
            let data = Decommissioned {
                slug: slug.clone(),
                timing,
            };
            state
                .sink
                .append(types::DECOMMISSIONED, &slug, data.to_data())
                .await?;
            tracing::info!(workspace = %slug, elapsed_ms = timing.elapsed_ms, "workspace decommissioned");
            Ok(json!({"ok": true, "slug": slug}))
        }
        Err(e) => {
            let data = e.failure(elapsed_ms(started)).to_data();
            state
                .sink
                .append(types::DECOMMISSION_FAILED, &slug, data)
                .await?;
            tracing::warn!(workspace = %slug, code = %e.code, "decommission failed");
            Err(e.into())
        }
    }
}

/// `POST /api/hearth/workspaces/{slug}/pause|resume|hibernate|upgrade`: the verb, then its
/// outcome event (a refused verb changes nothing and is answered, not logged).
pub(super) async fn lifecycle(
    State(state): State<AppState>,
    Path((slug, action)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Json<DeploymentRef>, ApiError> {
    check_slug(&slug)?;
    detached(&state, lifecycle_act(state.clone(), slug, action, body))
        .await
        .map(Json)
}

/// The HATCH event type written when `verb` succeeded.
fn done_event(verb: Verb) -> &'static str {
    match verb {
        Verb::Provision => types::PROVISIONED,
        Verb::Upgrade => types::UPGRADED,
        Verb::Teardown => types::DECOMMISSIONED,
        Verb::Pause => types::PAUSED,
        Verb::Resume => types::RESUMED,
        Verb::Hibernate => types::HIBERNATED,
    }
}

/// One lifecycle verb and its outcome event.
async fn lifecycle_act(
    state: AppState,
    slug: String,
    action: String,
    body: axum::body::Bytes,
) -> Result<DeploymentRef, ApiError> {
    let started = Instant::now();
    let unknown = || ApiError::NotFound(format!("workspace action {action:?}"));
    let verb: Verb = action.parse().map_err(|_| unknown())?;
    let r = match verb.shape() {
        Shape::Act => state.hearth.act(verb, &slug).await?,
        Shape::Upgrade => {
            let req: UpgradeWorkspace = serde_json::from_slice(&body).map_err(|e| {
                ApiError::BadRequest(format!("upgrade needs a JSON body {{\"tier\": …}}: {e}"))
            })?;
            let profile = ProvisioningProfile::for_tier(req.tier);
            state.hearth.upgrade(&slug, &profile).await?
        }
        // Provision and teardown have routes of their own, framed by more events.
        Shape::Provision | Shape::Remove => return Err(unknown()),
    };
    state
        .sink
        .append(done_event(verb), &slug, ref_data(&r, started))
        .await?;
    Ok(r)
}
