//! The kustomize driver's manifests, checked offline against Kubernetes itself: every emitted
//! workspace (the default one and templates covering one-shots, volumes, limits, env
//! references and every probe kind) is rendered by `kubectl kustomize`, and every rendered
//! object validated by `kubernetes-validate` against Kubernetes [`K8S`] in strict mode (an
//! unknown field is an error). The default workspace is also compared with golden files
//! (`UPDATE_GOLDEN=1` rewrites them). No cluster is involved: none can run here.
//!
//! The tools: `kubectl` (Debian's kubernetes-client) and `kubernetes-validate` (PyPI), in
//! the venv `make tools` makes under the target dir. Missing tools skip these tests unless
//! HEARTH_E2E=1, which makes them a loud failure.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use hearth::driver::engine::EngineConfig;
use hearth::driver::kustomize::emit::{emit, TierLimits, Workspace};
use hearth::driver::kustomize::Kustomize;
use hearth::driver::Driver;
use hearth::journal::Journal;
use hearth::slug::Slug;
use hearth::template::{Condition, Limits, Probe, Ready, Role, StatusRange, Template, Templates};
use hearth_protocol::hearth::{ProvisioningProfile, Tier};

/// The Kubernetes version every object is validated against.
const K8S: &str = "1.32.0";

fn kubectl() -> String {
    std::env::var("HEARTH_KUBECTL").unwrap_or_else(|_| "kubectl".into())
}

fn validator() -> PathBuf {
    std::env::var_os("HEARTH_KUBERNETES_VALIDATE").map_or_else(
        || {
            Path::new(env!("CARGO_TARGET_TMPDIR"))
                .parent()
                .expect("target dir")
                .join("kubernetes-validate/bin/kubernetes-validate")
        },
        PathBuf::from,
    )
}

/// Whether both tools are here; without them the test is skipped, or fails under HEARTH_E2E=1.
fn tools(test: &str) -> bool {
    let kubectl_ok = Command::new(kubectl())
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    let validate_ok = validator().is_file();
    if kubectl_ok && validate_ok {
        return true;
    }
    let missing = format!(
        "{}{}",
        if kubectl_ok {
            ""
        } else {
            "kubectl (apt-get install kubernetes-client) "
        },
        if validate_ok {
            String::new()
        } else {
            format!("{} (make tools)", validator().display())
        }
    );
    assert!(
        !hearth_testkit::run::docker_wanted(),
        "HEARTH_E2E=1 but {missing} is missing: run `make tools`"
    );
    eprintln!("{test}: skipped (needs {missing})");
    false
}

fn role(name: &str, port: Option<u16>, probe: Probe) -> Role {
    Role {
        name: name.into(),
        image: "nginx:alpine".into(),
        port,
        command: None,
        once: false,
        depends_on: BTreeMap::new(),
        env: BTreeMap::new(),
        limits: None,
        ready: Ready {
            probe,
            timeout: None,
            interval: None,
        },
        volume: None,
        placement: Vec::new(),
    }
}

fn http(path: &str) -> Probe {
    Probe::Http {
        path: path.into(),
        port: None,
        status: StatusRange::default(),
        timeout: Some(Duration::from_secs(2)),
    }
}

/// The templates every test renders, by name: the default one and a few that together use
/// every role feature the manifests map.
fn templates() -> Vec<(&'static str, Template)> {
    let default = Template::default_for(&BTreeMap::new(), 80);
    // A one-shot migration before an app that waits for it and for its database.
    let mut db = role(
        "db",
        Some(5432),
        Probe::Tcp {
            port: 5432,
            timeout: Some(Duration::from_secs(1)),
        },
    );
    db.volume = Some("/var/lib/postgresql/data".into());
    db.limits = Some(Limits {
        memory_mb: Some(512),
        cpus: Some(1.5),
        pids: Some(512),
    });
    db.placement = vec!["node.labels.zone==b".into(), "node.role==manager".into()];
    let mut migrate = role("migrate", None, Probe::None);
    migrate.once = true;
    migrate.command = Some(vec![
        "sh".into(),
        "-c".into(),
        "migrate --db {{db.host}}:{{db.port}} --ws {{workspace.slug}}".into(),
    ]);
    migrate.depends_on = [("db".to_owned(), Condition::Ready)].into();
    let mut app = role("app", Some(8080), http("/healthz"));
    app.env = [
        (
            "DB_URL".to_owned(),
            "postgres://{{db.host}}:{{db.port}}/app".to_owned(),
        ),
        ("TIER".to_owned(), "{{tier}}".to_owned()),
    ]
    .into();
    app.depends_on = [
        ("db".to_owned(), Condition::Ready),
        ("migrate".to_owned(), Condition::Completed),
    ]
    .into();
    app.ready.timeout = Some(Duration::from_secs(60));
    app.ready.interval = Some(Duration::from_secs(2));
    let migrations = Template {
        front_door: "app".into(),
        roles: vec![db, migrate, app],
    };
    // Every probe kind, the unmappable ones included.
    let mut exec = role(
        "worker",
        None,
        Probe::Exec {
            command: vec!["test".into(), "-f".into(), "/tmp/ready".into()],
            timeout: None,
        },
    );
    exec.volume = Some("/work".into());
    let probes = Template {
        front_door: "web".into(),
        roles: vec![
            role("web", Some(80), http("/")),
            exec,
            role(
                "logger",
                Some(9000),
                Probe::Log {
                    regex: "listening".into(),
                    times: 1,
                    timeout: None,
                },
            ),
            role("checked", Some(9001), Probe::Healthcheck { timeout: None }),
            role(
                "both",
                Some(9002),
                Probe::All(vec![
                    http("/ready"),
                    Probe::Tcp {
                        port: 9002,
                        timeout: None,
                    },
                ]),
            ),
            role(
                "either",
                Some(9003),
                Probe::Any(vec![http("/a"), http("/b")]),
            ),
        ],
    };
    vec![
        ("default", default),
        ("migrations", migrations),
        ("probes", probes),
    ]
}

fn config_with(tier: Tier, template: Template) -> EngineConfig {
    EngineConfig {
        templates: Templates {
            by_tier: [(tier, template)].into(),
        },
        ..EngineConfig::default()
    }
}

fn slug(s: &str) -> Slug {
    Slug::parse(s).expect("slug")
}

/// `kubectl kustomize DIR`: the rendered objects, or the error it printed.
fn render(dir: &Path) -> Result<String, String> {
    let out = Command::new(kubectl())
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("run kubectl");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// `kubernetes-validate --strict -k K8S FILE`: its output, Ok when every object is valid.
fn validate(rendered: &str, scratch: &Path) -> Result<String, String> {
    let file = scratch.join("rendered.yaml");
    std::fs::write(&file, rendered).expect("write rendered");
    let out = Command::new(validator())
        .args(["--strict", "-k", K8S])
        .arg(&file)
        .output()
        .expect("run kubernetes-validate");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

/// The kinds and names `kubectl kustomize` rendered, as `Kind/name`.
fn objects(rendered: &str) -> Vec<String> {
    rendered
        .split("\n---\n")
        .filter_map(|doc| {
            let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(doc).ok()?;
            Some(format!(
                "{}/{}",
                v["kind"].as_str()?,
                v["metadata"]["name"].as_str()?
            ))
        })
        .collect()
}

#[tokio::test]
async fn every_template_renders_and_validates_strictly() {
    if !tools("every_template_renders_and_validates_strictly") {
        return;
    }
    for (name, template) in templates() {
        let out = tempfile::tempdir().expect("tempdir");
        let roles: Vec<String> = template.roles.iter().map(|r| r.name.clone()).collect();
        let d = Kustomize::new(out.path(), config_with(Tier::Team, template), "t1");
        let s = slug(name);
        let r = d
            .provision(
                &s,
                &ProvisioningProfile::for_tier(Tier::Team),
                &Journal::default().steps(&s),
            )
            .await
            .unwrap_or_else(|e| panic!("{name}: provision: {e}"));
        assert_eq!(
            r.endpoint,
            format!("kustomize://{}", out.path().join(name).display())
        );
        let rendered = render(&out.path().join(name))
            .unwrap_or_else(|e| panic!("{name}: kubectl kustomize failed: {e}"));
        let report = validate(&rendered, out.path())
            .unwrap_or_else(|e| panic!("{name}: kubernetes-validate {K8S} --strict: {e}"));
        let objs = objects(&rendered);
        assert!(
            objs.contains(&format!("Namespace/rocky-{name}")),
            "{name}: {objs:?}"
        );
        for role in &roles {
            assert!(
                objs.iter()
                    .any(|o| o == &format!("Deployment/{role}") || o == &format!("Job/{role}")),
                "{name}: role {role} has a workload: {objs:?}"
            );
        }
        assert!(
            report.matches("passed for resource").count() >= objs.len(),
            "{name}: every object was checked: {report}"
        );
        // Every object landed in the workspace's namespace, labelled with it.
        for doc in rendered.split("\n---\n") {
            let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(doc).expect("yaml");
            if v["kind"].as_str() != Some("Namespace") {
                assert_eq!(
                    v["metadata"]["namespace"].as_str(),
                    Some(format!("rocky-{name}").as_str()),
                    "{name}: {doc}"
                );
            }
            assert_eq!(
                v["metadata"]["labels"]["dev.hearth.workspace"].as_str(),
                Some(name),
                "{name}: {doc}"
            );
        }
    }
}

#[tokio::test]
async fn the_manifests_map_what_kubernetes_can_express() {
    if !tools("the_manifests_map_what_kubernetes_can_express") {
        return;
    }
    let (_, migrations) = templates().remove(1);
    let out = tempfile::tempdir().expect("tempdir");
    let d = Kustomize::new(out.path(), config_with(Tier::Solo, migrations), "t1");
    let s = slug("mig");
    d.provision(
        &s,
        &ProvisioningProfile::for_tier(Tier::Solo),
        &Journal::default().steps(&s),
    )
    .await
    .expect("provision");
    let rendered = render(&out.path().join("mig")).expect("render");
    let docs: Vec<serde_yaml_ng::Value> = rendered
        .split("\n---\n")
        .map(|d| serde_yaml_ng::from_str(d).expect("yaml"))
        .collect();
    let find = |kind: &str, name: &str| {
        docs.iter()
            .find(|d| {
                d["kind"].as_str() == Some(kind) && d["metadata"]["name"].as_str() == Some(name)
            })
            .unwrap_or_else(|| panic!("{kind}/{name} in {rendered}"))
    };
    // The one-shot is a Job that never restarts, with its references rendered in-cluster.
    let job = find("Job", "migrate");
    assert_eq!(
        job["spec"]["template"]["spec"]["restartPolicy"].as_str(),
        Some("Never")
    );
    let cmd = job["spec"]["template"]["spec"]["containers"][0]["command"][2].as_str();
    assert_eq!(cmd, Some("migrate --db db.rocky-mig.svc:5432 --ws mig"));
    // The app's env: the caps, then its own with references resolved.
    let app = &find("Deployment", "app")["spec"]["template"]["spec"]["containers"][0];
    let env: BTreeMap<&str, &str> = app["env"]
        .as_sequence()
        .expect("env")
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap_or(""),
                e["value"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(env["DB_URL"], "postgres://db.rocky-mig.svc:5432/app");
    assert_eq!(env["TIER"], "solo");
    assert_eq!(env["ROCKY_SEATS"], "1");
    assert_eq!(
        app["readinessProbe"]["httpGet"]["path"].as_str(),
        Some("/healthz")
    );
    assert_eq!(app["readinessProbe"]["periodSeconds"].as_u64(), Some(2));
    assert_eq!(
        find("Deployment", "app")["metadata"]["annotations"]["dev.hearth.depends-on"].as_str(),
        Some("db=ready,migrate=completed")
    );
    // The database: its limits, its volume, its tcp probe, its placement.
    let db_pod = &find("Deployment", "db")["spec"]["template"]["spec"];
    let db = &db_pod["containers"][0];
    assert_eq!(db["resources"]["limits"]["memory"].as_str(), Some("512Mi"));
    assert_eq!(db["resources"]["limits"]["cpu"].as_str(), Some("1500m"));
    assert_eq!(
        db["readinessProbe"]["tcpSocket"]["port"].as_u64(),
        Some(5432)
    );
    assert_eq!(
        db_pod["volumes"][0]["persistentVolumeClaim"]["claimName"].as_str(),
        Some("db-data")
    );
    assert_eq!(db_pod["nodeSelector"]["zone"].as_str(), Some("b"));
    find("PersistentVolumeClaim", "db-data");
    find("Service", "db");
    assert!(
        !docs.iter().any(|d| d["kind"].as_str() == Some("Service")
            && d["metadata"]["name"].as_str() == Some("migrate")),
        "a one-shot has no Service"
    );
    // What does not map is said in the file.
    let db_file = std::fs::read_to_string(out.path().join("mig/db.yaml")).expect("db.yaml");
    assert!(db_file.contains("pids 512 is not set"), "{db_file}");
    assert!(
        db_file.contains("\"node.role==manager\" has no nodeSelector form"),
        "{db_file}"
    );
}

#[tokio::test]
async fn unmappable_probes_are_said_in_the_file() {
    let (_, probes) = templates().remove(2);
    let out = tempfile::tempdir().expect("tempdir");
    let d = Kustomize::new(out.path(), config_with(Tier::Solo, probes), "t1");
    let s = slug("probes");
    d.provision(
        &s,
        &ProvisioningProfile::for_tier(Tier::Solo),
        &Journal::default().steps(&s),
    )
    .await
    .expect("provision");
    let file = |role: &str| {
        std::fs::read_to_string(out.path().join(format!("probes/{role}.yaml"))).expect("file")
    };
    assert!(
        file("logger").contains("# readiness: probe `log`"),
        "{}",
        file("logger")
    );
    assert!(!file("logger").contains("readinessProbe:"));
    assert!(file("checked").contains("# readiness: probe `healthcheck`"));
    assert!(!file("checked").contains("readinessProbe:"));
    assert!(file("either").contains("# readiness: probe `any`"));
    assert!(file("worker").contains("exec:"));
    assert!(
        file("both").contains("httpGet:") && file("both").contains("`all` probe 2 is not mapped")
    );
}

/// The files written for the default workspace are the golden ones (file names and resource
/// names are the Go hearth's: cairnet.yaml, lore.yaml, namespace rocky-<slug>).
#[test]
fn the_default_workspace_matches_its_golden_files() {
    let template = Template::default_for(&BTreeMap::new(), 80);
    let caps = Tier::Solo.default_caps();
    let s = slug("demo");
    let emitted = emit(&Workspace {
        slug: &s,
        tier: Tier::Solo,
        caps: &caps,
        template: &template,
        instance: "golden",
        created: Utc
            .with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
            .single()
            .expect("time"),
        dir: "OUT/demo",
        limits: TierLimits {
            memory_bytes: 256 * 1024 * 1024,
            nano_cpus: 500_000_000,
            pids: 256,
        },
        lock: None,
    })
    .expect("emit");
    let names: Vec<&str> = emitted.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "kustomization.yaml",
            "namespace.yaml",
            "cairnet.yaml",
            "lore.yaml"
        ]
    );
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/kustomize/demo");
    let update = std::env::var("UPDATE_GOLDEN").as_deref() == Ok("1");
    for f in &emitted.files {
        let path = golden.join(&f.name);
        if update {
            std::fs::create_dir_all(&golden).expect("mkdir");
            std::fs::write(&path, &f.text).expect("write golden");
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
        assert_eq!(f.text, want, "{} differs from its golden file", f.name);
    }
}

/// The check can fail, and for the right reason: a field Kubernetes does not know, and a
/// value of the wrong type, are each named by the validator.
#[tokio::test]
async fn a_broken_manifest_fails_validation_for_the_right_reason() {
    if !tools("a_broken_manifest_fails_validation_for_the_right_reason") {
        return;
    }
    let out = tempfile::tempdir().expect("tempdir");
    let d = Kustomize::new(out.path(), EngineConfig::default(), "t1");
    let s = slug("broken");
    d.provision(
        &s,
        &ProvisioningProfile::for_tier(Tier::Solo),
        &Journal::default().steps(&s),
    )
    .await
    .expect("provision");
    let good = render(&out.path().join("broken")).expect("render");
    validate(&good, out.path()).expect("the unbroken workspace is valid");
    let unknown = good.replacen("replicas: 1", "replicas: 1\n  replicaz: 2", 1);
    assert_ne!(unknown, good);
    let err = validate(&unknown, out.path()).expect_err("an unknown field fails strict validation");
    assert!(err.contains("replicaz"), "names the unknown field: {err}");
    let typed = good.replacen("containerPort: 80", "containerPort: eighty", 1);
    assert_ne!(typed, good);
    let err = validate(&typed, out.path()).expect_err("a string port fails");
    assert!(err.contains("eighty"), "names the bad value: {err}");
}

/// Files and the out dir are not writable by others; an out dir that is, is refused; a
/// rewrite replaces the whole set at once and leaves no temp dir.
#[tokio::test]
async fn written_safely() {
    let root = tempfile::tempdir().expect("tempdir");
    let out = root.path().join("out");
    let d = Kustomize::new(&out, EngineConfig::default(), "t1");
    let s = slug("safe");
    let steps = Journal::default().steps(&s);
    d.provision(&s, &ProvisioningProfile::for_tier(Tier::Solo), &steps)
        .await
        .expect("provision");
    let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(&out), 0o750);
    assert_eq!(mode(&out.join("safe")), 0o750);
    for f in [
        "kustomization.yaml",
        "namespace.yaml",
        "cairnet.yaml",
        "lore.yaml",
    ] {
        assert_eq!(mode(&out.join("safe").join(f)), 0o640, "{f}");
    }
    d.upgrade(
        &d.provision(&s, &ProvisioningProfile::for_tier(Tier::Solo), &steps)
            .await
            .expect("again"),
        &ProvisioningProfile::for_tier(Tier::Team),
        &steps,
    )
    .await
    .expect("upgrade");
    let names: Vec<String> = std::fs::read_dir(&out)
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["safe"], "no temp dir left");
    let k = std::fs::read_to_string(out.join("safe/kustomization.yaml")).expect("k");
    assert!(k.contains("dev.hearth.tier: team"), "{k}");
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let err = d
        .provision(
            &slug("other"),
            &ProvisioningProfile::for_tier(Tier::Solo),
            &steps,
        )
        .await
        .expect_err("an out dir others can write");
    assert!(
        err.to_string().contains("writable by its group or others"),
        "{err}"
    );
    assert!(!out.join("other").exists());
}

/// A role whose name would leave the out dir is refused before anything is written.
#[tokio::test]
async fn a_role_that_would_escape_is_refused() {
    let out = tempfile::tempdir().expect("tempdir");
    let mut bad = role("ok", Some(80), Probe::None);
    bad.name = "../../etc/x".into();
    let d = Kustomize::new(
        out.path(),
        config_with(
            Tier::Solo,
            Template {
                front_door: "ok".into(),
                roles: vec![bad],
            },
        ),
        "t1",
    );
    let s = slug("esc");
    let err = d
        .provision(
            &s,
            &ProvisioningProfile::for_tier(Tier::Solo),
            &Journal::default().steps(&s),
        )
        .await
        .expect_err("escape");
    assert_eq!(err.code(), "invalid_request");
    assert!(err.to_string().contains("../../etc/x"), "{err}");
    assert_eq!(
        std::fs::read_dir(out.path()).expect("ls").count(),
        0,
        "nothing written"
    );
}

/// Under `hearth.lock`, a role runs its locked `repo@sha256:…`; a lock of a local image ID
/// (which no cluster can pull) keeps the image as written and says so.
#[test]
fn the_lock_pins_the_image() {
    use hearth::lockfile::{ImageLock, LockedImage};
    let template = Template::default_for(&BTreeMap::new(), 80);
    let caps = Tier::Solo.default_caps();
    let s = slug("locked");
    let digest = format!("nginx@sha256:{}", "a".repeat(64));
    let lock = ImageLock {
        version: 1,
        roles: [
            (
                "cairnet".to_owned(),
                LockedImage {
                    image: "nginx:alpine".into(),
                    digest: digest.clone(),
                    id: format!("sha256:{}", "b".repeat(64)),
                },
            ),
            (
                "lore".to_owned(),
                LockedImage {
                    image: "nginx:alpine".into(),
                    digest: format!("sha256:{}", "c".repeat(64)),
                    id: format!("sha256:{}", "c".repeat(64)),
                },
            ),
        ]
        .into(),
    };
    let emitted = emit(&Workspace {
        slug: &s,
        tier: Tier::Solo,
        caps: &caps,
        template: &template,
        instance: "t1",
        created: Utc::now(),
        dir: "OUT/locked",
        limits: TierLimits {
            memory_bytes: 256 * 1024 * 1024,
            nano_cpus: 500_000_000,
            pids: 256,
        },
        lock: Some(&lock),
    })
    .expect("emit");
    assert_eq!(emitted.images["cairnet"], digest);
    let cairnet = &emitted
        .files
        .iter()
        .find(|f| f.name == "cairnet.yaml")
        .expect("cairnet")
        .text;
    assert!(cairnet.contains(&format!("image: {digest}")), "{cairnet}");
    let lore = &emitted
        .files
        .iter()
        .find(|f| f.name == "lore.yaml")
        .expect("lore")
        .text;
    assert!(lore.contains("image: nginx:alpine"), "{lore}");
    assert!(lore.contains("local image ID"), "{lore}");
}

/// The real daemon, killed with SIGKILL: what it wrote stays whole, and what a write cut
/// short leaves (a temp dir of this instance beside the workspaces) is removed by the next
/// start's reconcile. (The cut-short write is planted: a real write takes milliseconds, too
/// short to kill inside reliably.)
#[tokio::test]
async fn a_daemon_killed_with_sigkill_restarts_from_what_is_on_disk() {
    use hearth_testkit::daemon::{Daemon, Serve};
    use nix::sys::signal::Signal;
    let dir = tempfile::Builder::new()
        .prefix("hk")
        .tempdir_in("/tmp")
        .expect("tempdir");
    let socket = dir.path().join("h.sock");
    let out = dir.path().join("out");
    let start = || {
        let cmd = Serve::new(&socket, &dir.path().join("state"))
            .driver("kustomize")
            .instance("k9")
            .args(["--out".as_ref(), out.as_os_str()])
            .command(Path::new(env!("CARGO_BIN_EXE_hearth")));
        Daemon::spawn(cmd, &socket)
    };
    let first = start();
    let client = first.ready(Duration::from_secs(20)).await;
    let r = client
        .provision("kept", &ProvisioningProfile::for_tier(Tier::Solo))
        .await
        .expect("provision");
    assert_eq!(
        r.endpoint,
        format!("kustomize://{}", out.join("kept").display())
    );
    let files = |d: &Path| -> BTreeMap<String, String> {
        std::fs::read_dir(d)
            .expect("ls")
            .map(|e| {
                let e = e.expect("entry");
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read_to_string(e.path()).expect("read"),
                )
            })
            .collect()
    };
    let before = files(&out.join("kept"));
    first.signal(Signal::SIGKILL);
    drop(first);
    let cut = out.join(".hearth-k9-cut-0badf00d");
    std::fs::create_dir(&cut).expect("mkdir");
    std::fs::write(cut.join("kustomization.yaml"), "apiVersion: kustom").expect("half");
    let second = start();
    let client = second.ready(Duration::from_secs(20)).await;
    assert!(!cut.exists(), "the cut-short write was removed at start");
    assert_eq!(
        client.status("kept").await.expect("status"),
        hearth_protocol::hearth::Status::Ready
    );
    assert_eq!(
        files(&out.join("kept")),
        before,
        "the finished workspace is whole"
    );
    client
        .provision("cut", &ProvisioningProfile::for_tier(Tier::Solo))
        .await
        .expect("the cut slug provisions afresh");
    client.teardown("cut").await.expect("teardown");
    client.teardown("kept").await.expect("teardown");
    let left: Vec<_> = std::fs::read_dir(&out).expect("ls").collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Two daemons sharing one out dir never overwrite or remove each other's workspaces.
#[tokio::test]
async fn another_instances_workspace_is_left_alone() {
    let out = tempfile::tempdir().expect("tempdir");
    let mine = Kustomize::new(out.path(), EngineConfig::default(), "mine");
    let theirs = Kustomize::new(out.path(), EngineConfig::default(), "theirs");
    let s = slug("shared");
    let steps = Journal::default().steps(&s);
    let solo = ProvisioningProfile::for_tier(Tier::Solo);
    theirs.provision(&s, &solo, &steps).await.expect("theirs");
    let before = std::fs::read_to_string(out.path().join("shared/kustomization.yaml")).expect("k");
    let err = mine
        .provision(&s, &solo, &steps)
        .await
        .expect_err("not mine");
    assert_eq!(err.code(), "conflict", "{err}");
    assert!(
        err.to_string().contains("another hearth instance (theirs)"),
        "{err}"
    );
    let err = mine
        .teardown(&s, &steps)
        .await
        .expect_err("not mine to remove");
    assert!(err.to_string().contains("another hearth instance"), "{err}");
    assert!(mine.owned().await.expect("owned").is_empty());
    assert_eq!(theirs.owned().await.expect("owned").len(), 4);
    assert_eq!(
        std::fs::read_to_string(out.path().join("shared/kustomization.yaml")).expect("k"),
        before
    );
}
