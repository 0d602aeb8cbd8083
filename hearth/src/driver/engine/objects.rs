//! Engine objects both engine drivers (LocalDocker and Swarm) list the same way: always by
//! label, never by name (names are not unique on the engine, and another hearth instance may
//! use the same ones).

use std::collections::HashMap;

use bollard::models::Network;
use bollard::query_parameters::{ListContainersOptions, ListNetworksOptions};
use bollard::Docker;

use super::map_err;
use crate::driver::ContainerState;
use crate::error::HearthError;
use crate::labels;
use crate::slug::Slug;

/// A container of a workspace as listed by the engine.
#[derive(Debug, Clone)]
pub(crate) struct Container {
    pub id: String,
    pub role: String,
    /// The tier its labels carry (which template it was made from).
    pub tier: String,
    /// The spec hash LocalDocker stamps on it (`dev.hearth.spec`), empty if none: an upgrade
    /// keeps a role whose spec did not change.
    pub spec: String,
    pub state: ContainerState,
}

/// The label carrying a container's spec hash.
pub(crate) const SPEC_LABEL: &str = "dev.hearth.spec";

/// The value of label `key` in an engine object's labels (empty if it has none).
pub(crate) fn label_of(labels: Option<&HashMap<String, String>>, key: &str) -> String {
    labels.and_then(|l| l.get(key)).cloned().unwrap_or_default()
}

/// The containers of `slug` (or of every workspace) owned by `instance`.
///
/// # Errors
/// `docker_unavailable` or a driver failure.
pub(crate) async fn list_containers(
    docker: &Docker,
    instance: &str,
    slug: Option<&Slug>,
) -> Result<Vec<Container>, HearthError> {
    let list = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(labels::filter(instance, slug)),
            ..Default::default()
        }))
        .await
        .map_err(|e| map_err("list containers", e))?;
    Ok(list
        .into_iter()
        .map(|c| Container {
            id: c.id.unwrap_or_default(),
            role: label_of(c.labels.as_ref(), labels::ROLE),
            tier: label_of(c.labels.as_ref(), labels::TIER),
            spec: label_of(c.labels.as_ref(), SPEC_LABEL),
            state: c.state.unwrap_or(ContainerState::EMPTY),
        })
        .collect())
}

/// The networks of `slug` (or of every workspace) owned by `instance`.
///
/// # Errors
/// `docker_unavailable` or a driver failure.
pub(crate) async fn list_networks(
    docker: &Docker,
    instance: &str,
    slug: Option<&Slug>,
) -> Result<Vec<Network>, HearthError> {
    docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(labels::filter(instance, slug)),
        }))
        .await
        .map_err(|e| map_err("list networks", e))
}

/// The ID of `slug`'s network owned by `instance`.
///
/// # Errors
/// A driver failure if it is gone, `docker_unavailable`.
pub(crate) async fn network_id(
    docker: &Docker,
    instance: &str,
    slug: &Slug,
) -> Result<String, HearthError> {
    let networks = list_networks(docker, instance, Some(slug)).await?;
    networks.into_iter().find_map(|n| n.id).ok_or_else(|| {
        HearthError::driver(
            format!("find the network of {slug}"),
            "it was removed outside hearth",
        )
    })
}
