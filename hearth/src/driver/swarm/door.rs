//! A workspace's door: how hearth reaches roles on other nodes without anything listening
//! beyond loopback. One small service per workspace, pinned to hearth's own node and attached
//! to the workspace's overlay, runs the door image's forwarder (`hearth-standin forward
//! PORT=HOST:PORT…`): one port per (role, port) of the template's service roles (the role's
//! own and its probes'), forwarding to the role's service name, which the
//! swarm's DNS resolves to the task's address wherever it runs (`dnsrr`). Each role's loopback
//! relay (`relay`) points at the door's address on this node's `docker_gwbridge` at that
//! port's door port. The door publishes nothing; hearth never sends traffic to an overlay address.

use std::net::SocketAddr;
use std::time::Duration;

use bollard::models::{
    Limit, NetworkAttachmentConfig, ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated,
    TaskSpec, TaskSpecContainerSpec, TaskSpecPlacement, TaskSpecResources,
};
use bollard::Docker;

use super::objects::{self, Part};
use super::{spec, tasks, Swarm};
use crate::driver::engine::map_err;
use crate::driver::engine::template::ports;
use crate::error::HearthError;
use crate::journal::Steps;
use crate::labels;
use crate::slug::Slug;
use crate::step::Step;
use crate::template::Template;

/// The image the door runs unless the operator names another (`HEARTH_SWARM_DOOR_IMAGE`):
/// the offline stand-in (`make standin-image`), whose `forward` mode is the forwarder.
pub const DEFAULT_DOOR_IMAGE: &str = "hearth-standin:local";

/// The door's first port; the `i`th (role, port) of the workspace (in the template's role
/// order, each service role's ports in order: its own and its probes') is forwarded from
/// `DOOR_BASE + i`.
const DOOR_BASE: u16 = 20_000;

/// The door port of the `index`th (role, port).
pub(super) fn port(index: usize) -> u16 {
    DOOR_BASE + u16::try_from(index).unwrap_or(0)
}

/// Every (role, in-container port) the door forwards: each service role's port and its
/// probes' ports (a one-shot has nothing to reach).
pub(super) fn slots(template: &Template) -> Vec<(&str, u16)> {
    template
        .roles
        .iter()
        .filter(|r| !r.once)
        .flat_map(|r| ports(r).into_iter().map(move |p| (r.name.as_str(), p)))
        .collect()
}

/// The index of `role`'s `port` among the door's [`slots`].
pub(super) fn slot(template: &Template, role: &str, port: u16) -> Option<usize> {
    slots(template)
        .iter()
        .position(|(r, p)| *r == role && *p == port)
}

/// The service name of `slug`'s door (no role can be named so: role names have no `_`).
pub(super) fn name(d: &Swarm, slug: &Slug) -> String {
    format!("{}__door", d.names(slug).network())
}

/// Where a door forwards: each slot's door port to its role's service name and port.
pub(super) fn rules(d: &Swarm, slug: &Slug, template: &Template) -> Vec<String> {
    slots(template)
        .iter()
        .enumerate()
        .map(|(i, (role, p))| format!("{}={}:{p}", port(i), d.names(slug).container(role)))
        .collect()
}

/// What differs between doors.
pub(super) struct DoorSpec<'a> {
    pub name: &'a str,
    pub labels: std::collections::HashMap<String, String>,
    pub image: &'a str,
    pub network_id: &'a str,
    pub node_id: &'a str,
    pub rules: Vec<String>,
    pub replicas: i64,
}

/// The door's service spec: one replica on hearth's node, small limits, `init`.
pub(super) fn service(stop_timeout_secs: i32, s: &DoorSpec<'_>) -> ServiceSpec {
    let mut args = vec!["forward".to_owned()];
    args.extend(s.rules.iter().cloned());
    ServiceSpec {
        name: Some(s.name.to_owned()),
        labels: Some(s.labels.clone()),
        task_template: Some(TaskSpec {
            container_spec: Some(TaskSpecContainerSpec {
                image: Some(s.image.to_owned()),
                args: Some(args),
                labels: Some(s.labels.clone()),
                init: Some(true),
                stop_grace_period: Some(i64::from(stop_timeout_secs) * 1_000_000_000),
                ..Default::default()
            }),
            resources: Some(TaskSpecResources {
                limits: Some(Limit {
                    nano_cpus: Some(250_000_000),
                    memory_bytes: Some(64 * 1024 * 1024),
                    pids: Some(256),
                }),
                ..Default::default()
            }),
            placement: Some(TaskSpecPlacement {
                constraints: Some(spec::with_pin(&[], Some(s.node_id))),
                ..Default::default()
            }),
            networks: Some(vec![NetworkAttachmentConfig {
                target: Some(s.network_id.to_owned()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        mode: Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated {
                replicas: Some(s.replicas),
            }),
            ..Default::default()
        }),
        endpoint_spec: Some(spec::dnsrr()),
        ..Default::default()
    }
}

/// The door image's ID on hearth's node (pinned in the spec, as the roles' images are).
///
/// # Errors
/// `image_unavailable` with a hint when the image is not on hearth's node.
pub(super) async fn image_id(d: &Swarm, docker: &Docker) -> Result<String, HearthError> {
    match docker.inspect_image(&d.door_image).await {
        Ok(i) => Ok(i.id.unwrap_or_else(|| d.door_image.clone())),
        Err(e) if crate::driver::engine::is_not_found(&e) => Err(HearthError::ImageUnavailable {
            role: "door".into(),
            image: d.door_image.clone(),
            cause: crate::error::ImageCause::NotPulled,
            detail: "the swarm driver's door image must be on hearth's node: run make \
                         standin-image, or name another with HEARTH_SWARM_DOOR_IMAGE"
                .into(),
        }),
        Err(e) => Err(map_err(
            format!("inspect the door image {}", d.door_image),
            e,
        )),
    }
}

/// Creates `slug`'s door for `template`'s roles on hearth's node, its objects labelled with
/// `object_labels` (the workspace's, for role `door`).
///
/// # Errors
/// A driver failure naming the door.
pub(super) async fn create(
    d: &Swarm,
    docker: &Docker,
    slug: &Slug,
    network_id: &str,
    object_labels: std::collections::HashMap<String, String>,
    template: &Template,
    steps: &Steps,
) -> Result<(), HearthError> {
    let image = image_id(d, docker).await?;
    let node = d.node_id().await?;
    let mut door_labels = object_labels;
    door_labels.insert(labels::SWARM_PART.into(), Part::Door.as_str().into());
    let name = name(d, slug);
    let spec = service(
        d.config.stop_timeout_secs,
        &DoorSpec {
            name: &name,
            labels: door_labels,
            image: &image,
            network_id,
            node_id: &node,
            rules: rules(d, slug, template),
            replicas: 1,
        },
    );
    docker
        .create_service(spec, None)
        .await
        .map_err(|e| map_err(format!("create the door of {slug} ({name})"), e))?;
    steps.step(Step::ServiceCreated, None, Some(name));
    Ok(())
}

/// The door's address on this node's `docker_gwbridge`, at the door port of `slot`, once its
/// task runs.
///
/// # Errors
/// A driver failure if the door is missing or its task does not run within `timeout`.
pub(super) async fn addr(
    d: &Swarm,
    docker: &Docker,
    slug: &Slug,
    slot: usize,
    timeout: Duration,
) -> Result<SocketAddr, HearthError> {
    let door = objects::part(docker, &d.instance, slug, Part::Door)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| {
            HearthError::driver(
                format!("find the door of {slug}"),
                "it was removed outside hearth",
            )
        })?;
    let task = tasks::wait_running(docker, &door.id, "door", &Default::default(), timeout).await?;
    tasks::gwbridge_addr(docker, &task.container_id, "door", port(slot)).await
}
