//! A workspace's Kubernetes manifests, from its template: `kustomization.yaml`,
//! `namespace.yaml` (namespace `rocky-<slug>`) and one `<role>.yaml` per role holding its
//! `Deployment` (a one-shot: a `Job`), its `Service` when it has a port, and its
//! `PersistentVolumeClaim` when it has a volume. Pure: no file is touched here.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use hearth_protocol::hearth::{ResourceCaps, Tier};
use serde_yaml_ng::Value;

use super::probe::readiness;
use super::yaml::{map, push, s, seq, stream, strings};
use crate::error::HearthError;
use crate::labels::{INSTANCE, MANAGED_BY, MANAGED_BY_VALUE, ROLE, TIER, WORKSPACE};
use crate::lockfile::ImageLock;
use crate::slug::Slug;
use crate::template::refs::{render, Context};
use crate::template::{Condition, Role, Template};

/// The annotation that keeps the workspace's creation time across upgrades.
pub const CREATED: &str = "dev.hearth.created";
/// The annotation on a role's workload listing what it waits for (`lore=ready`).
pub const DEPENDS_ON: &str = "dev.hearth.depends-on";
/// The kustomization file, which lists every other file.
pub const KUSTOMIZATION: &str = "kustomization.yaml";
/// The namespace file.
pub const NAMESPACE: &str = "namespace.yaml";

/// The namespace of `slug`'s workspace.
pub fn namespace(slug: &Slug) -> String {
    format!("rocky-{slug}")
}

/// The in-cluster DNS name of `role` in `slug`'s workspace.
pub fn host(role: &str, slug: &Slug) -> String {
    format!("{role}.{}.svc", namespace(slug))
}

/// The limits a role runs with when its template gives none: the tier's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TierLimits {
    pub memory_bytes: i64,
    pub nano_cpus: i64,
    pub pids: i64,
}

/// Everything the manifests are made from.
#[derive(Debug, Clone)]
pub struct Workspace<'a> {
    pub slug: &'a Slug,
    pub tier: Tier,
    pub caps: &'a ResourceCaps,
    pub template: &'a Template,
    /// This daemon's instance id (a label on every object, as on the engine drivers').
    pub instance: &'a str,
    pub created: DateTime<Utc>,
    /// The workspace's directory as the header's commands name it.
    pub dir: &'a str,
    pub limits: TierLimits,
    /// The pins of `hearth.lock`, when one is in use.
    pub lock: Option<&'a ImageLock>,
}

/// One emitted file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub name: String,
    pub text: String,
}

/// The manifests of a workspace, and the image each role runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emitted {
    pub files: Vec<File>,
    pub images: BTreeMap<String, String>,
}

/// The manifests of `w`.
///
/// # Errors
/// [`HearthError::InvalidRequest`] when a role's `env` or `command` holds a reference that
/// cannot be rendered, naming the role and the reference.
pub fn emit(w: &Workspace<'_>) -> Result<Emitted, HearthError> {
    let ctx = context(w);
    let mut files = vec![
        File {
            name: KUSTOMIZATION.into(),
            text: kustomization(w),
        },
        File {
            name: NAMESPACE.into(),
            text: stream(
                &[format!("The namespace of hearth workspace {}.", w.slug)],
                &[map([
                    ("apiVersion", s("v1")),
                    ("kind", s("Namespace")),
                    ("metadata", map([("name", s(&namespace(w.slug)))])),
                ])],
            ),
        },
    ];
    let mut images = BTreeMap::new();
    for role in &w.template.roles {
        let (image, note) = image(role, w.lock);
        let text = role_file(w, role, &image, note, &ctx)?;
        images.insert(role.name.clone(), image);
        files.push(File {
            name: format!("{}.yaml", role.name),
            text,
        });
    }
    Ok(Emitted { files, images })
}

/// The file names `template`'s workspace consists of, `kustomization.yaml` first.
pub fn file_names(template: &Template) -> Vec<String> {
    [KUSTOMIZATION.to_owned(), NAMESPACE.to_owned()]
        .into_iter()
        .chain(template.roles.iter().map(|r| format!("{}.yaml", r.name)))
        .collect()
}

fn context(w: &Workspace<'_>) -> Context {
    Context {
        slug: w.slug.to_string(),
        tier: w.tier.as_str().to_owned(),
        roles: w
            .template
            .roles
            .iter()
            .map(|r| (r.name.clone(), (host(&r.name, w.slug), r.port)))
            .collect(),
    }
}

fn kustomization(w: &Workspace<'_>) -> String {
    let header = [
        format!(
            "hearth workspace {} (tier {}), written by hearth's kustomize driver.",
            w.slug,
            w.tier.as_str()
        ),
        format!("Inspect: kubectl kustomize {}", w.dir),
        format!("Apply:   kubectl apply -k {}", w.dir),
        format!("Delete:  kubectl delete -k {}", w.dir),
        "Start order: Kubernetes starts every role at once. A role's readinessProbe keeps\n\
         its Service without endpoints until it is ready, so a dependent's requests fail\n\
         (and it restarts, if it exits) until what it needs answers. A role's depends_on\n\
         is recorded in its dev.hearth.depends-on annotation."
            .to_owned(),
    ];
    let resources = file_names(w.template).into_iter().skip(1).map(|f| s(&f));
    let doc = map([
        ("apiVersion", s("kustomize.config.k8s.io/v1beta1")),
        ("kind", s("Kustomization")),
        ("namespace", s(&namespace(w.slug))),
        (
            "commonLabels",
            strings([
                (MANAGED_BY, MANAGED_BY_VALUE),
                (INSTANCE, w.instance),
                (WORKSPACE, w.slug.as_str()),
                (TIER, w.tier.as_str()),
            ]),
        ),
        (
            "commonAnnotations",
            strings([(
                CREATED,
                w.created
                    .to_rfc3339_opts(SecondsFormat::Micros, true)
                    .as_str(),
            )]),
        ),
        ("resources", seq(resources)),
    ]);
    let text = stream(&header, &[doc]);
    // One document: no `---` needed after the header.
    text.replacen("---\n", "", 1)
}

/// The image `role` runs: the lock's `repo@sha256:…` pin when the lock pins this very
/// reference, else the reference as written (with a note when the pin is a local image ID,
/// which a cluster cannot pull).
fn image(role: &Role, lock: Option<&ImageLock>) -> (String, Option<String>) {
    let Some(pin) = lock.and_then(|l| l.roles.get(&role.name)) else {
        return (role.image.clone(), None);
    };
    if pin.image != role.image {
        return (
            role.image.clone(),
            Some(format!(
                "image: hearth.lock pins {} for this role, not {}; running it as written",
                pin.image, role.image
            )),
        );
    }
    if pin.digest.contains('@') {
        (pin.digest.clone(), None)
    } else {
        (
            role.image.clone(),
            Some(format!(
                "image: hearth.lock pins {} to the local image ID {}, which a cluster cannot \
                 pull; running it as written",
                pin.image, pin.digest
            )),
        )
    }
}

fn role_file(
    w: &Workspace<'_>,
    role: &Role,
    image: &str,
    image_note: Option<String>,
    ctx: &Context,
) -> Result<String, HearthError> {
    let mut notes = vec![describe(role)];
    notes.extend(image_note);
    let (probe, probe_notes) = if role.once {
        (
            None,
            vec!["readiness: a one-shot Job is done when it exits 0; no readinessProbe".into()],
        )
    } else {
        readiness(role)
    };
    notes.extend(probe_notes);
    let (limits, limit_notes) = limits(role, w.limits);
    notes.extend(limit_notes);
    let mut container = map([
        ("name", s(&role.name)),
        ("image", s(image)),
        ("env", env(w, role, ctx)?),
        ("resources", map([("limits", limits)])),
    ]);
    if let Some(command) = &role.command {
        let rendered = command
            .iter()
            .map(|c| render(c, ctx).map(|t| s(&t)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad_ref(role, "command", &e))?;
        push(&mut container, "command", seq(rendered));
    }
    if let Some(port) = role.port {
        push(
            &mut container,
            "ports",
            seq([map([("containerPort", Value::from(port))])]),
        );
    }
    if let Some(p) = probe {
        push(&mut container, "readinessProbe", p);
    }
    if let Some(path) = &role.volume {
        push(
            &mut container,
            "volumeMounts",
            seq([map([("name", s("data")), ("mountPath", s(path))])]),
        );
    }
    let mut pod = map([("containers", seq([container]))]);
    if role.once {
        push(&mut pod, "restartPolicy", s("Never"));
    }
    if role.volume.is_some() {
        push(
            &mut pod,
            "volumes",
            seq([map([
                ("name", s("data")),
                (
                    "persistentVolumeClaim",
                    map([("claimName", s(&claim(role)))]),
                ),
            ])]),
        );
    }
    let (selector, placement_notes) = placement(role);
    notes.extend(placement_notes);
    if let Some(sel) = selector {
        push(&mut pod, "nodeSelector", sel);
    }
    let mut docs = vec![workload(role, pod)];
    if let (Some(port), false) = (role.port, role.once) {
        docs.push(service(role, port));
    }
    if role.volume.is_some() {
        docs.push(volume_claim(role, w.caps));
    }
    Ok(stream(&notes, &docs))
}

/// The first comment line of a role's file: what it holds.
fn describe(role: &Role) -> String {
    let mut parts = vec![if role.once {
        "Job (a one-shot)".to_owned()
    } else {
        "Deployment".to_owned()
    }];
    if let (Some(port), false) = (role.port, role.once) {
        parts.push(format!("Service on port {port}"));
    }
    if let Some(path) = &role.volume {
        parts.push(format!("PersistentVolumeClaim {} at {path}", claim(role)));
    }
    format!("role {}: {}", role.name, parts.join(", "))
}

fn claim(role: &Role) -> String {
    format!("{}-data", role.name)
}

fn selector(role: &Role) -> Value {
    strings([(ROLE, role.name.as_str())])
}

fn metadata(role: &Role) -> Value {
    let mut m = map([("name", s(&role.name)), ("labels", selector(role))]);
    if !role.depends_on.is_empty() {
        let waits: Vec<String> = role
            .depends_on
            .iter()
            .map(|(r, c): (&String, &Condition)| format!("{r}={}", c.as_str()))
            .collect();
        push(
            &mut m,
            "annotations",
            strings([(DEPENDS_ON, waits.join(",").as_str())]),
        );
    }
    m
}

/// The role's Deployment, or for a one-shot its Job, running `pod`.
fn workload(role: &Role, pod: Value) -> Value {
    let template = map([
        ("metadata", map([("labels", selector(role))])),
        ("spec", pod),
    ]);
    if role.once {
        return map([
            ("apiVersion", s("batch/v1")),
            ("kind", s("Job")),
            ("metadata", metadata(role)),
            (
                "spec",
                map([("backoffLimit", Value::from(0)), ("template", template)]),
            ),
        ]);
    }
    // One pod at a time: a new one starts only once the old one let go of the volume.
    let strategy = if role.volume.is_some() {
        "Recreate"
    } else {
        "RollingUpdate"
    };
    map([
        ("apiVersion", s("apps/v1")),
        ("kind", s("Deployment")),
        ("metadata", metadata(role)),
        (
            "spec",
            map([
                ("replicas", Value::from(1)),
                ("strategy", map([("type", s(strategy))])),
                ("selector", map([("matchLabels", selector(role))])),
                ("template", template),
            ]),
        ),
    ])
}

fn service(role: &Role, port: u16) -> Value {
    map([
        ("apiVersion", s("v1")),
        ("kind", s("Service")),
        ("metadata", metadata(role)),
        (
            "spec",
            map([
                ("selector", selector(role)),
                (
                    "ports",
                    seq([map([
                        ("port", Value::from(port)),
                        ("targetPort", Value::from(port)),
                    ])]),
                ),
            ]),
        ),
    ])
}

fn volume_claim(role: &Role, caps: &ResourceCaps) -> Value {
    map([
        ("apiVersion", s("v1")),
        ("kind", s("PersistentVolumeClaim")),
        (
            "metadata",
            map([("name", s(&claim(role))), ("labels", selector(role))]),
        ),
        (
            "spec",
            map([
                ("accessModes", seq([s("ReadWriteOnce")])),
                (
                    "resources",
                    map([(
                        "requests",
                        map([(
                            "storage",
                            s(&format!("{}Mi", caps.cairnet_storage_mb.max(1))),
                        )]),
                    )]),
                ),
            ]),
        ),
    ])
}

/// The `ROCKY_*` caps, then the role's own env with its references rendered to in-cluster
/// names.
fn env(w: &Workspace<'_>, role: &Role, ctx: &Context) -> Result<Value, HearthError> {
    let caps = w.caps;
    let mut vars = vec![
        (
            "ROCKY_CAIRNET_STORAGE_MB".to_owned(),
            caps.cairnet_storage_mb.to_string(),
        ),
        (
            "ROCKY_LORE_RETENTION_DAYS".to_owned(),
            caps.lore_retention_days.to_string(),
        ),
        ("ROCKY_SEATS".to_owned(), caps.seats.to_string()),
        ("ROCKY_VECTOR_INDEX".to_owned(), caps.vector_index.clone()),
    ];
    for (k, v) in &role.env {
        let value = render(v, ctx).map_err(|e| bad_ref(role, &format!("env.{k}"), &e))?;
        vars.retain(|(name, _)| name != k);
        vars.push((k.clone(), value));
    }
    Ok(seq(vars
        .iter()
        .map(|(k, v)| map([("name", s(k)), ("value", s(v))]))))
}

fn bad_ref(role: &Role, what: &str, e: &crate::template::refs::RefError) -> HearthError {
    HearthError::InvalidRequest {
        message: format!("role {} {what}: {e}", role.name),
    }
}

/// `resources.limits`: the role's own limits, else the tier's; a PID limit has no
/// per-container field in Kubernetes (the kubelet sets it per pod, node-wide).
fn limits(role: &Role, tier: TierLimits) -> (Value, Vec<String>) {
    let own = role.limits;
    let memory_bytes = own
        .and_then(|l| l.memory_mb)
        .map_or(tier.memory_bytes, |mb| {
            i64::try_from(mb.saturating_mul(1024 * 1024)).unwrap_or(i64::MAX)
        });
    let millicpus = own
        .and_then(|l| l.cpus)
        .map_or(tier.nano_cpus / 1_000_000, |c| {
            // Bounded by the template's checks; rounding to whole millicores is Kubernetes' own.
            #[allow(clippy::cast_possible_truncation)]
            let m = (c * 1000.0).round() as i64;
            m
        });
    let pids = own.and_then(|l| l.pids).unwrap_or(tier.pids);
    let memory = if memory_bytes % (1024 * 1024) == 0 {
        format!("{}Mi", memory_bytes / (1024 * 1024))
    } else {
        memory_bytes.to_string()
    };
    (
        map([
            ("memory", s(&memory)),
            ("cpu", s(&format!("{}m", millicpus.max(1)))),
        ]),
        vec![format!(
            "limits: pids {pids} is not set: Kubernetes limits PIDs per pod on the node \
             (kubelet podPidsLimit), not per container"
        )],
    )
}

/// Swarm placement constraints in Kubernetes terms: `node.labels.KEY==VALUE` becomes a
/// `nodeSelector`; any other constraint is named in a comment and left out.
fn placement(role: &Role) -> (Option<Value>, Vec<String>) {
    let mut selector = Vec::new();
    let mut notes = Vec::new();
    for c in &role.placement {
        match c
            .strip_prefix("node.labels.")
            .and_then(|kv| kv.split_once("=="))
        {
            Some((k, v)) => selector.push((k.trim().to_owned(), v.trim().to_owned())),
            None => notes.push(format!(
                "placement: {c:?} has no nodeSelector form; it is not applied"
            )),
        }
    }
    let sel = (!selector.is_empty())
        .then(|| strings(selector.iter().map(|(k, v)| (k.as_str(), v.as_str()))));
    (sel, notes)
}
