//! Engine objects both engine drivers (LocalDocker and Swarm) list the same way: always by
//! label, never by name (names are not unique on the engine, and another hearth instance may
//! use the same ones).

use std::collections::HashMap;

use std::time::Duration;

use bollard::models::{ContainerSummary, Network};
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
    let list = summaries(docker, labels::filter(instance, slug))
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

/// How often a listing is asked again while a container is in Podman's `stopped` moment, and
/// how long apart.
const RELIST_TRIES: u32 = 40;
const RELIST_PAUSE: Duration = Duration::from_millis(50);

/// Every container (running or not) matching `filters`, as the engine lists them. Podman
/// lists a container that has just stopped, until its cleanup is done, in a state
/// (`stopped`) the Docker API's schema does not have, which the client refuses to decode as
/// a whole; the listing is asked again (up to 40 times, 50 ms
/// apart) until that moment has passed.
///
/// # Errors
/// The engine's error, or the decoding error if it persists.
pub async fn summaries(
    docker: &Docker,
    filters: HashMap<String, Vec<String>>,
) -> Result<Vec<ContainerSummary>, bollard::errors::Error> {
    let mut tries = 0;
    loop {
        let listed = docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters.clone()),
                ..Default::default()
            }))
            .await;
        match listed {
            Err(bollard::errors::Error::JsonDataError { .. }) if tries < RELIST_TRIES => {
                tries += 1;
                tracing::debug!(tries, "a container listing did not decode; asking again");
                tokio::time::sleep(RELIST_PAUSE).await;
            }
            other => return other,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An engine on a unix socket answering every request with the next of `bodies` (the
    /// last one again once they run out); returns its socket's directory.
    fn engine(bodies: Vec<&'static str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("dir");
        let listener = tokio::net::UnixListener::bind(dir.path().join("e.sock")).expect("bind");
        tokio::spawn(async move {
            let mut n = 0;
            while let Ok((mut conn, _)) = listener.accept().await {
                let body = bodies[n.min(bodies.len() - 1)];
                n += 1;
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf).await;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(answer.as_bytes()).await;
            }
        });
        dir
    }

    fn client(dir: &tempfile::TempDir) -> Docker {
        let socket = dir.path().join("e.sock");
        Docker::connect_with_unix(&socket.to_string_lossy(), 5, bollard::API_DEFAULT_VERSION)
            .expect("client")
    }

    const STOPPED: &str = r#"[{"Id":"c1","State":"stopped","Labels":{}}]"#;
    const EXITED: &str = r#"[{"Id":"c1","State":"exited","Labels":{}}]"#;

    #[tokio::test]
    async fn a_listing_in_podmans_stopped_moment_is_asked_again() {
        let dir = engine(vec![STOPPED, STOPPED, EXITED]);
        let list = summaries(&client(&dir), HashMap::new())
            .await
            .expect("the third answer decodes");
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].id.as_deref(), Some("c1"));
    }

    #[tokio::test]
    async fn a_listing_that_never_decodes_fails_with_the_decoding_error() {
        let dir = engine(vec![STOPPED]);
        let err = summaries(&client(&dir), HashMap::new())
            .await
            .expect_err("never decodes");
        assert!(
            matches!(err, bollard::errors::Error::JsonDataError { .. }),
            "{err:?}"
        );
    }
}
