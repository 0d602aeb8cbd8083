//! Readiness probes: how hearth knows a role is ready (`http`, `tcp`, `log`, `exec`,
//! `healthcheck`, `none`, and `all`/`any` of them), and when a one-shot has completed. The
//! loop here (attempts, interval, per-probe and outer timeouts, the failure message, the boot
//! steps) is the same for every backend; a backend says how to look at its role through
//! [`Target`] (`container` is the Engine-API one, Docker and Podman).
//!
//! A failure names role, probe and last observation — `cairnet: GET /healthz answered 503 for
//! 60 s (412 attempts)`. A role whose process exits while it is waited on fails at once with
//! its exit code and its last log lines.

pub mod container;
mod http;
pub(crate) mod lines;
mod log;
mod tcp;

use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use crate::driver_error::DriverError;
use crate::error::HearthError;
use crate::journal::Steps;
use crate::step::Step;
use crate::template::order::Signal;
use crate::template::{Probe, Ready};

/// The first pause between attempts when the template sets no interval; it grows to
/// [`MAX_POLL`] (the engine floor is well under a second: polling slowly would cost more than
/// it saves).
const FIRST_POLL: Duration = Duration::from_millis(5);
const MAX_POLL: Duration = Duration::from_millis(50);
/// One attempt of one probe may take this long before it counts as "not yet".
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// How many log lines a role that exited shows.
pub const LOG_LINES: usize = 20;
/// A waiting role records a `probe_waiting` step at most this often.
const BATCH: Duration = Duration::from_secs(1);

/// Whether a role's process runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunState {
    Running,
    /// It exited with this code.
    Exited(i64),
    /// Created, paused, restarting… (the engine's word).
    Other(String),
}

/// What a probe looks at: one running role, as its backend reaches it.
#[async_trait]
pub trait Target: Send + Sync {
    /// The role's name.
    fn role(&self) -> &str;
    /// The loopback address where the role's in-container `port` is published, if it is.
    fn published(&self, port: u16) -> Option<SocketAddr>;
    /// Whether its process runs.
    async fn state(&self) -> Result<RunState, String>;
    /// Whether something listens on `port` inside the role (not merely on its published
    /// port). `Err` when the backend cannot tell.
    async fn listens(&self, port: u16) -> Result<bool, String>;
    /// Its log (stdout and stderr), the last `tail` lines or all.
    async fn logs(&self, tail: Option<usize>) -> Result<String, String>;
    /// Runs `command` inside it; the exit code.
    async fn exec(&self, command: &[String]) -> Result<i64, String>;
    /// What its image's HEALTHCHECK reports (`healthy`, `starting`, …); `None` when the image
    /// has none.
    async fn health(&self) -> Result<Option<String>, String>;
}

/// The outcome of one attempt of one probe.
#[derive(Debug, Clone, PartialEq)]
enum Verdict {
    Pass,
    /// Not yet, with what was seen.
    NotYet(String),
}

/// A probe of the template with what the wait has learnt about it.
#[derive(Debug)]
struct Node<'a> {
    probe: &'a Probe,
    passed: bool,
    last: Option<String>,
    children: Vec<Node<'a>>,
}

impl<'a> Node<'a> {
    fn new(probe: &'a Probe) -> Self {
        let children = match probe {
            Probe::All(ps) | Probe::Any(ps) => ps.iter().map(Node::new).collect(),
            _ => Vec::new(),
        };
        Node {
            probe,
            passed: false,
            last: None,
            children,
        }
    }

    /// The probe's own bound, counted from the start of the wait.
    fn timeout(&self) -> Option<Duration> {
        match self.probe {
            Probe::Http { timeout, .. }
            | Probe::Tcp { timeout, .. }
            | Probe::Log { timeout, .. }
            | Probe::Exec { timeout, .. }
            | Probe::Healthcheck { timeout } => *timeout,
            Probe::None | Probe::All(_) | Probe::Any(_) => None,
        }
    }

    /// Whether this probe (or, for `any`, every alternative) ran past its own bound.
    fn expired(&self, waited: Duration) -> bool {
        if self.passed {
            return false;
        }
        match self.probe {
            Probe::All(_) => self.children.iter().any(|c| c.expired(waited)),
            Probe::Any(_) => {
                !self.children.is_empty() && self.children.iter().all(|c| c.expired(waited))
            }
            _ => self.timeout().is_some_and(|t| waited >= t),
        }
    }

    /// The last observation of what has not passed (for `all`, the first such probe).
    fn observation(&self) -> String {
        match self.probe {
            Probe::All(_) => self
                .children
                .iter()
                .find(|c| !c.passed)
                .map_or_else(|| "every probe passed".to_owned(), Node::observation),
            Probe::Any(_) => self
                .children
                .iter()
                .map(Node::observation)
                .collect::<Vec<_>>()
                .join("; and "),
            _ => self
                .last
                .clone()
                .unwrap_or_else(|| format!("{} not tried yet", describe(self.probe))),
        }
    }
}

/// One line naming a probe, for steps and messages.
pub fn describe(probe: &Probe) -> String {
    match probe {
        Probe::Http { path, port, .. } => match port {
            Some(p) => format!("http GET {path} on port {p}"),
            None => format!("http GET {path}"),
        },
        Probe::Tcp { port, .. } => format!("tcp {port}"),
        Probe::Log { regex, times, .. } => format!("log /{regex}/ x{times}"),
        Probe::Exec { command, .. } => format!("exec `{}`", command.join(" ")),
        Probe::Healthcheck { .. } => "healthcheck".to_owned(),
        Probe::None => "none".to_owned(),
        Probe::All(ps) => format!(
            "all of [{}]",
            ps.iter().map(describe).collect::<Vec<_>>().join(", ")
        ),
        Probe::Any(ps) => format!(
            "any of [{}]",
            ps.iter().map(describe).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// How to wait for one role.
#[derive(Debug, Clone, Copy)]
pub struct Wait<'a> {
    pub ready: &'a Ready,
    /// The role's own port (an `http` probe's default).
    pub port: Option<u16>,
    /// The bound when the template sets none (the daemon's readiness timeout).
    pub default_timeout: Duration,
}

/// Waits until `target`'s probe passes, recording a `probe_waiting` step per batch of
/// attempts and `probe_passed` at the end.
///
/// # Errors
/// [`DriverError::NotReady`] past a timeout, [`DriverError::Exited`] at once if the role's
/// process exits, a driver failure if the run was canceled.
pub async fn wait_ready(
    target: &dyn Target,
    wait: Wait<'_>,
    steps: &Steps,
    signal: Option<&Signal>,
) -> Result<(), HearthError> {
    let role = target.role().to_owned();
    let outer = wait.ready.timeout.unwrap_or(wait.default_timeout);
    let mut tree = Node::new(&wait.ready.probe);
    let started = Instant::now();
    let mut last_batch = started;
    let mut pause = wait.ready.interval.unwrap_or(FIRST_POLL);
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        // A process that exited will never pass: say so at once (checked on the first
        // attempts and then every few, as a look at the engine costs a call).
        if attempts <= 2 || attempts % 4 == 0 {
            if let RunState::Exited(code) = target.state().await.unwrap_or(RunState::Running) {
                return Err(exited(target, code, "while hearth waited for it to be ready").await);
            }
        }
        let waited = started.elapsed();
        if evaluate(target, &mut tree, wait.port, outer.saturating_sub(waited)).await {
            steps.step(
                Step::ProbePassed,
                Some(&role),
                Some(format!(
                    "{} ({attempts} attempts, {})",
                    describe(tree.probe),
                    seconds(started.elapsed())
                )),
            );
            return Ok(());
        }
        let waited = started.elapsed();
        if waited >= outer || tree.expired(waited) {
            return Err(not_ready(&role, tree.observation(), waited, attempts));
        }
        if last_batch.elapsed() >= BATCH || attempts == 1 {
            last_batch = Instant::now();
            steps.step(
                Step::ProbeWaiting,
                Some(&role),
                Some(format!("{} ({attempts} attempts)", tree.observation())),
            );
        }
        sleep_or_cancel(pause.min(outer.saturating_sub(waited)), signal, &role).await?;
        if wait.ready.interval.is_none() {
            pause = (pause * 3 / 2).min(MAX_POLL);
        }
    }
}

/// Waits until a one-shot exits: done on 0, [`DriverError::Exited`] on anything else.
///
/// # Errors
/// As said, [`DriverError::NotReady`] past `timeout`, a driver failure if canceled.
pub async fn wait_completed(
    target: &dyn Target,
    timeout: Duration,
    steps: &Steps,
    signal: Option<&Signal>,
) -> Result<(), HearthError> {
    let role = target.role().to_owned();
    let started = Instant::now();
    let mut pause = FIRST_POLL;
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let seen = match target.state().await {
            Ok(RunState::Exited(0)) => {
                steps.step(
                    Step::RoleCompleted,
                    Some(&role),
                    Some(format!("exited 0 after {}", seconds(started.elapsed()))),
                );
                return Ok(());
            }
            Ok(RunState::Exited(code)) => {
                return Err(exited(target, code, "before it completed").await)
            }
            Ok(RunState::Running) => "it still runs".to_owned(),
            Ok(RunState::Other(s)) => format!("it is {s}"),
            Err(e) => e,
        };
        let waited = started.elapsed();
        if waited >= timeout {
            return Err(not_ready(
                &role,
                format!("a one-shot that has not exited ({seen})"),
                waited,
                attempts,
            ));
        }
        sleep_or_cancel(pause.min(timeout - waited), signal, &role).await?;
        pause = (pause * 3 / 2).min(MAX_POLL);
    }
}

async fn sleep_or_cancel(
    pause: Duration,
    signal: Option<&Signal>,
    role: &str,
) -> Result<(), HearthError> {
    let canceled = async {
        match signal {
            Some(s) => s.canceled().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = tokio::time::sleep(pause) => Ok(()),
        () = canceled => Err(HearthError::driver(
            format!("wait for role {role}"),
            "another role failed first",
        )),
    }
}

/// One attempt of every probe of the tree that has not passed yet; whether the whole passes.
async fn evaluate(
    target: &dyn Target,
    node: &mut Node<'_>,
    port: Option<u16>,
    left: Duration,
) -> bool {
    if node.passed {
        return true;
    }
    let passed = match node.probe {
        Probe::All(_) => {
            let mut all = true;
            for child in &mut node.children {
                // In order: a later probe is only tried once the earlier ones hold.
                if !Box::pin(evaluate(target, child, port, left)).await {
                    all = false;
                    break;
                }
            }
            all
        }
        Probe::Any(_) => {
            let mut any = false;
            for child in &mut node.children {
                if Box::pin(evaluate(target, child, port, left)).await {
                    any = true;
                    break;
                }
            }
            any
        }
        leaf => {
            let bound = ATTEMPT_TIMEOUT.min(left.max(Duration::from_millis(50)));
            let verdict = match tokio::time::timeout(bound, attempt(target, leaf, port)).await {
                Ok(v) => v,
                // Cut short by the end of the wait, not by its own bound: what the probe saw
                // before stays the observation (a 503 is news; "it took too long" is not).
                Err(_) if bound < ATTEMPT_TIMEOUT && node.last.is_some() => {
                    node.passed = false;
                    return false;
                }
                Err(_) => Verdict::NotYet(format!(
                    "{} took longer than {}",
                    describe(leaf),
                    seconds(bound)
                )),
            };
            match verdict {
                Verdict::Pass => true,
                Verdict::NotYet(seen) => {
                    node.last = Some(seen);
                    false
                }
            }
        }
    };
    node.passed = passed;
    passed
}

/// One attempt of one leaf probe.
async fn attempt(target: &dyn Target, probe: &Probe, role_port: Option<u16>) -> Verdict {
    match probe {
        Probe::Http {
            path, port, status, ..
        } => http::attempt(target, path, port.or(role_port), *status).await,
        Probe::Tcp { port, .. } => tcp::attempt(target, *port).await,
        Probe::Log { regex, times, .. } => log::attempt(target, regex, *times).await,
        Probe::Exec { command, .. } => match target.exec(command).await {
            Ok(0) => Verdict::Pass,
            Ok(code) => Verdict::NotYet(format!("`{}` exited {code}", command.join(" "))),
            Err(e) => Verdict::NotYet(format!("`{}` could not run: {e}", command.join(" "))),
        },
        Probe::Healthcheck { .. } => match target.health().await {
            Ok(Some(h)) if h == "healthy" => Verdict::Pass,
            Ok(Some(h)) => Verdict::NotYet(format!("its HEALTHCHECK reports {h}")),
            Ok(None) => Verdict::NotYet("its image has no HEALTHCHECK".to_owned()),
            Err(e) => Verdict::NotYet(format!("its health could not be read: {e}")),
        },
        Probe::None => Verdict::Pass,
        Probe::All(_) | Probe::Any(_) => Verdict::NotYet("a nested probe".to_owned()),
    }
}

fn not_ready(role: &str, observation: String, waited: Duration, attempts: u32) -> HearthError {
    HearthError::Driver(DriverError::NotReady {
        role: role.to_owned(),
        observation,
        after: seconds(waited),
        attempts,
    })
}

/// The error of a role that exited with `code`, with its last log lines.
async fn exited(target: &dyn Target, code: i64, when: &'static str) -> HearthError {
    let log = target
        .logs(Some(LOG_LINES))
        .await
        .unwrap_or_else(|e| format!("(its log could not be read: {e})"));
    HearthError::Driver(DriverError::Exited {
        role: target.role().to_owned(),
        code,
        when,
        log: log.trim_end().to_owned(),
    })
}

/// `60 s`, `2.5 s`, `0.3 s`.
pub fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 10.0 || (s - s.round()).abs() < 0.05 {
        format!("{} s", s.round())
    } else {
        format!("{s:.1} s")
    }
}

#[cfg(test)]
mod tests;
