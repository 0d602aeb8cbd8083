//! A role's readiness probe in Kubernetes terms: `http` → `httpGet`, `tcp` → `tcpSocket`,
//! `exec` → `exec`. `log` and `healthcheck` have no Kubernetes equivalent (the kubelet reads
//! no log for readiness and ignores an image's HEALTHCHECK): the container then gets no
//! readiness probe, and the emitted file says so in a comment, as it does for whatever else
//! does not map (a status range other than Kubernetes' own 200–399, `any`, the later probes of
//! an `all`).

use std::time::Duration;

use serde_yaml_ng::Value;

use super::yaml::{map, s, seq};
use crate::template::{Probe, Ready, Role, StatusRange};

/// The `readinessProbe` of `role` (if Kubernetes has one for it) and what the file must say
/// about what did not map.
pub fn readiness(role: &Role) -> (Option<Value>, Vec<String>) {
    let mut notes = Vec::new();
    let handler = handler(&role.ready.probe, role.port, &mut notes);
    let probe = handler.map(|(mut h, timeout)| {
        tune(&mut h, &role.ready, timeout);
        h
    });
    if let (Some(_), Some(bound)) = (&probe, role.ready.timeout) {
        notes.push(format!(
            "readiness: the template's bound on the wait ({} s) is hearth's own: the kubelet \
             keeps probing, the pod stays unready until the probe passes",
            bound.as_secs()
        ));
    }
    (probe, notes)
}

/// The probe's handler (`httpGet`, `tcpSocket` or `exec` with its per-attempt timeout).
fn handler(
    probe: &Probe,
    port: Option<u16>,
    notes: &mut Vec<String>,
) -> Option<(Value, Option<Duration>)> {
    match probe {
        Probe::Http {
            path,
            port: own,
            status,
            timeout,
        } => {
            if *status != StatusRange::default() {
                notes.push(format!(
                    "readiness: the kubelet counts any status 200-399 as ready; the template's \
                     range {}-{} is not expressible",
                    status.low, status.high
                ));
            }
            let Some(port) = own.or(port) else {
                notes.push("readiness: an http probe with no port: no readinessProbe".into());
                return None;
            };
            Some((
                map([(
                    "httpGet",
                    map([("path", s(path)), ("port", Value::from(port))]),
                )]),
                *timeout,
            ))
        }
        Probe::Tcp { port, timeout } => Some((
            map([("tcpSocket", map([("port", Value::from(*port))]))]),
            *timeout,
        )),
        Probe::Exec { command, timeout } => Some((
            map([(
                "exec",
                map([("command", seq(command.iter().map(|c| s(c))))]),
            )]),
            *timeout,
        )),
        Probe::Log { regex, times, .. } => {
            notes.push(format!(
                "readiness: probe `log` ({regex:?} x{times}) has no Kubernetes equivalent: \
                 no readinessProbe, the pod is ready once it runs"
            ));
            None
        }
        Probe::Healthcheck { .. } => {
            notes.push(
                "readiness: probe `healthcheck` (the image's HEALTHCHECK) has no Kubernetes \
                 equivalent (the kubelet ignores it): no readinessProbe, the pod is ready once \
                 it runs"
                    .into(),
            );
            None
        }
        Probe::None => None,
        Probe::All(probes) => {
            let mut first = None;
            for (i, p) in probes.iter().enumerate() {
                match handler(p, port, notes) {
                    Some(h) if first.is_none() => first = Some(h),
                    Some(_) => notes.push(format!(
                        "readiness: `all` probe {} is not mapped (a container has one \
                         readinessProbe; the first mappable one is used)",
                        i + 1
                    )),
                    None => {}
                }
            }
            first
        }
        Probe::Any(_) => {
            notes.push(
                "readiness: probe `any` has no Kubernetes equivalent (a container has one \
                 readinessProbe): none is set"
                    .into(),
            );
            None
        }
    }
}

/// Period and per-attempt timeout from the template.
fn tune(h: &mut Value, ready: &Ready, timeout: Option<Duration>) {
    let period = ready.interval.map_or(1, |i| i.as_secs().max(1));
    super::yaml::push(h, "periodSeconds", Value::from(period));
    if let Some(t) = timeout {
        super::yaml::push(h, "timeoutSeconds", Value::from(t.as_secs().max(1)));
    }
}
