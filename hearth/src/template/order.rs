//! The start order every driver uses: each role of a template is brought up once the
//! conditions its `depends_on` names hold (`started`, `ready`, `completed`), independent roles
//! at the same time; the first failure cancels the rest (roles still waiting never start,
//! roles in the middle of a probe stop waiting at their next attempt, an engine call already
//! sent is let finish so nothing lands after a rollback has listed what to remove). Teardown
//! and hibernate go the other way round ([`reverse_layers`]).
//!
//! The runner knows nothing of engines: a driver passes `bring_up(role, signal)`, an async
//! function that starts the role, reports [`Signal::started`] when its process runs, and
//! returns once the role is ready (a service) or has completed (a one-shot).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use futures::future::join_all;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{Condition, Role, Template};

/// How far a role has come. Ordered: a role that has completed has also started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Reached {
    Waiting,
    Started,
    Ready,
    Completed,
    /// A service is ready and its bring-up returned: it will never be `completed`.
    Finished,
    /// It failed or was canceled.
    Failed,
}

impl Reached {
    fn of(c: Condition) -> Reached {
        match c {
            Condition::Started => Reached::Started,
            Condition::Ready => Reached::Ready,
            Condition::Completed => Reached::Completed,
        }
    }
}

/// A role's own handle on the run: it says when it started, and learns when the run is
/// canceled (another role failed).
#[derive(Debug, Clone)]
pub struct Signal {
    reached: Arc<watch::Sender<Reached>>,
    cancel: CancellationToken,
}

impl Signal {
    /// The role's process runs (its dependents waiting for `started` may go).
    pub fn started(&self) {
        self.reached.send_if_modified(|r| {
            let more = *r < Reached::Started;
            if more {
                *r = Reached::Started;
            }
            more
        });
    }

    /// Resolves when another role failed and this one should stop waiting.
    pub async fn canceled(&self) {
        self.cancel.cancelled().await;
    }

    /// Whether another role failed.
    pub fn is_canceled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

/// A dependency that can never be met: `completed` asked of a role that is not a one-shot, or
/// a role missing from the template (the config check refuses both; this is the backstop).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("role {role} waits for {dependency} to be {wanted}, which it never will ({why})")]
pub struct Unmeetable {
    pub role: String,
    pub dependency: String,
    pub wanted: &'static str,
    pub why: &'static str,
}

impl From<Unmeetable> for crate::error::HearthError {
    fn from(u: Unmeetable) -> Self {
        crate::error::HearthError::driver(format!("start role {} in order", u.role), &u)
    }
}

/// Brings every role of `template` up in dependency order and returns what each
/// `bring_up` returned, in the template's role order.
///
/// # Errors
/// The first role's error (later errors, consequences of the cancellation, are dropped), or an
/// [`Unmeetable`] dependency.
pub async fn bring_up<'t, T, E, F, Fut>(template: &'t Template, bring_up: F) -> Result<Vec<T>, E>
where
    F: Fn(&'t Role, Signal) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: From<Unmeetable>,
{
    let cancel = CancellationToken::new();
    let states: BTreeMap<&str, Arc<watch::Sender<Reached>>> = template
        .roles
        .iter()
        .map(|r| {
            (
                r.name.as_str(),
                Arc::new(watch::channel(Reached::Waiting).0),
            )
        })
        .collect();
    let first_error: Mutex<Option<E>> = Mutex::new(None);
    let fail = |e: E| {
        let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() && !cancel.is_cancelled() {
            *slot = Some(e);
        }
        cancel.cancel();
    };
    let runs = template.roles.iter().map(|role| {
        let states = &states;
        let cancel = cancel.clone();
        let bring_up = &bring_up;
        let fail = &fail;
        async move {
            let mine = states[role.name.as_str()].clone();
            if let Err(e) = wait_for_dependencies(role, states, &cancel).await {
                mine.send_replace(Reached::Failed);
                if let Some(e) = e {
                    fail(E::from(e));
                }
                return None;
            }
            let signal = Signal {
                reached: mine.clone(),
                cancel,
            };
            match bring_up(role, signal).await {
                Ok(value) => {
                    // A one-shot has completed; a service is ready, and nothing more will
                    // come (a dependent that wants it `completed` fails).
                    mine.send_replace(if role.once {
                        Reached::Completed
                    } else {
                        Reached::Finished
                    });
                    Some(value)
                }
                Err(e) => {
                    mine.send_replace(Reached::Failed);
                    fail(e);
                    None
                }
            }
        }
    });
    let results = join_all(runs).await;
    if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    Ok(results.into_iter().flatten().collect())
}

/// Waits until every dependency of `role` has reached what it asks. `Err(None)`: the run was
/// canceled, or a dependency failed (its own error is the run's).
async fn wait_for_dependencies(
    role: &Role,
    states: &BTreeMap<&str, Arc<watch::Sender<Reached>>>,
    cancel: &CancellationToken,
) -> Result<(), Option<Unmeetable>> {
    for (dependency, condition) in &role.depends_on {
        let unmeetable = |why| Unmeetable {
            role: role.name.clone(),
            dependency: dependency.clone(),
            wanted: condition.as_str(),
            why,
        };
        let Some(state) = states.get(dependency.as_str()) else {
            return Err(Some(unmeetable("no such role")));
        };
        let wanted = Reached::of(*condition);
        let mut rx = state.subscribe();
        let reached = tokio::select! {
            r = rx.wait_for(|r| *r >= wanted) => r.map(|r| *r).unwrap_or(Reached::Failed),
            () = cancel.cancelled() => return Err(None),
        };
        match reached {
            Reached::Failed => return Err(None),
            Reached::Finished if wanted == Reached::Completed => {
                return Err(Some(unmeetable("it is not a one-shot")))
            }
            _ => {}
        }
    }
    Ok(())
}

/// The roles in groups for teardown and hibernate: every role comes after all the roles that
/// depend on it, roles in one group may go at the same time.
pub fn reverse_layers(template: &Template) -> Vec<Vec<String>> {
    let mut layers = start_layers(template);
    layers.reverse();
    layers
}

/// The roles in groups of the start order: each role after everything it depends on (the
/// depth of its longest dependency chain). A cycle (refused by the config check) puts the
/// roles on it last rather than looping.
pub fn start_layers(template: &Template) -> Vec<Vec<String>> {
    let mut depth: BTreeMap<&str, usize> = BTreeMap::new();
    let n = template.roles.len();
    for _ in 0..=n {
        for role in &template.roles {
            let d = role
                .depends_on
                .keys()
                .filter(|dep| template.role(dep).is_some())
                .map(|dep| depth.get(dep.as_str()).map_or(1, |d| d + 1))
                .max()
                .unwrap_or(0)
                .min(n);
            depth.insert(role.name.as_str(), d);
        }
    }
    let mut layers: Vec<Vec<String>> = vec![Vec::new(); n + 1];
    for role in &template.roles {
        layers[depth[role.name.as_str()]].push(role.name.clone());
    }
    layers.retain(|l| !l.is_empty());
    layers
}

#[cfg(test)]
mod tests;
