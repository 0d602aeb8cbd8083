//! The Docker driver's own object work: its containers, and pause, resume and stop applied
//! to every container of a workspace (stop in the reverse of the start order). Listing every
//! object and removing a workspace are the engine room's (`engine::removal`).

use bollard::query_parameters::StopContainerOptions;
use bollard::Docker;
use futures::future::join_all;
use hearth_protocol::hearth::DeploymentRef;

use super::LocalDocker;
use crate::driver::engine::map_refusal;
use crate::driver::engine::objects::{list_containers, Container};
use crate::driver::engine::removal::StopOrder;
use crate::driver::Step;
use crate::error::HearthError;
use crate::journal::Steps;
use crate::slug::Slug;

/// The containers of `slug` (or of every workspace) owned by this instance.
///
/// # Errors
/// `docker_unavailable` or a driver failure.
pub(crate) async fn containers(
    d: &LocalDocker,
    slug: Option<&Slug>,
) -> Result<Vec<Container>, HearthError> {
    list_containers(d.engine.client().await?, &d.instance, slug).await
}

/// A per-container lifecycle action.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Action {
    Pause,
    Unpause,
    Stop,
}

/// Applies `action` to every container of `r`'s workspace, in parallel.
///
/// # Errors
/// `docker_unavailable`, or a driver failure naming the role.
pub(crate) async fn each_container(
    d: &LocalDocker,
    r: &DeploymentRef,
    action: Action,
    steps: &Steps,
) -> Result<(), HearthError> {
    let slug = Slug::parse(&r.workspace_slug)?;
    let docker = d.engine.client().await?;
    let list = containers(d, Some(&slug)).await?;
    if list.is_empty() {
        return Err(HearthError::driver(
            format!("find the containers of {slug}"),
            "none exist; they were removed outside hearth",
        ));
    }
    // A one-shot that completed has nothing to freeze or thaw.
    let template = d.config.template(r.tier);
    let list: Vec<Container> = list
        .into_iter()
        .filter(|c| {
            let once = template.role(&c.role).is_some_and(|r| r.once);
            !(once && matches!(action, Action::Pause | Action::Unpause))
        })
        .collect();
    // A stop goes in the reverse of the start order (dependents first); pause and thaw
    // touch every role at once.
    let groups = match action {
        Action::Stop => StopOrder::of(&d.config).groups(&list),
        Action::Pause | Action::Unpause => vec![list.iter().collect()],
    };
    let mut done = Vec::new();
    for group in groups {
        done.extend(act_on(d, docker, &group, action, steps).await);
    }
    done.into_iter().collect()
}

/// `action` on every container of `group` at once. Every role is acted on, even when the
/// engine refuses one: a refusal of one role must not leave what happens to the others to
/// chance (the dispatcher then records what the roles are, asking the engine).
async fn act_on(
    d: &LocalDocker,
    docker: &Docker,
    group: &[&Container],
    action: Action,
    steps: &Steps,
) -> Vec<Result<(), HearthError>> {
    join_all(group.iter().map(|c| async move {
        let (res, verb, step) = match action {
            Action::Pause => (docker.pause_container(&c.id).await, "pause", Step::Paused),
            Action::Unpause => (
                docker.unpause_container(&c.id).await,
                "resume",
                Step::Resumed,
            ),
            Action::Stop => {
                let stop = StopContainerOptions {
                    t: Some(d.config.stop_timeout_secs),
                    signal: None,
                };
                (
                    docker.stop_container(&c.id, Some(stop)).await,
                    "stop",
                    Step::Stopped,
                )
            }
        };
        match res {
            Ok(()) => {}
            // A stop of a container that is already stopped: the state asked for holds.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => {}
            Err(e) => return Err(map_refusal(format!("{verb} role {}", c.role), e)),
        }
        steps.step(step, Some(&c.role), None);
        Ok::<(), HearthError>(())
    }))
    .await
}
