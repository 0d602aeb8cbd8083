//! Registry credentials never leave the credential store. Against the real daemon on the
//! Docker engine, a real loopback registry with a password (Debian's `docker-registry`) and
//! the console in front, every way credentials can be wrong is provisioned through the
//! console — a wrong password, an `auths` entry that is a string, a password of the wrong
//! type, truncated JSON, a `credHelpers` helper failing after printing its answer and one
//! failing with nothing on stdout, identity tokens (from `auths` and from a helper) — and then
//! every console answer, every RPC answer (`status`, `events`, `ls`, a provision by the CLI),
//! hearth's and the console's stderr, the state files and the HATCH log are searched for each
//! secret, `user:secret` and its base64: 0 hits. A right login last shows the path works.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{ensure, Context};
use base64::Engine as _;
use hearth_e2e::engine;
use hearth_e2e::junit::{case, Outcome};
use hearth_e2e::stack::{Answer, Stack, StackConfig};
use hearth_testkit::registry::{Registry, RegistryOptions};

const USER: &str = "rtuser";

/// The secrets of this run, each unique to it so that a hit cannot be a coincidence.
struct Secrets {
    password: String,
    wrong: String,
    token: String,
    helper_secret: String,
    helper_token: String,
}

impl Secrets {
    fn new() -> Secrets {
        let r = || format!("{:016x}", rand::random::<u64>());
        Secrets {
            password: format!("pw-{}", r()),
            wrong: format!("wrong-{}", r()),
            token: format!("idtok-{}", r()),
            helper_secret: format!("helper-{}", r()),
            helper_token: format!("helpertok-{}", r()),
        }
    }

    /// Every string that must never appear: each secret, `user:secret` and its base64.
    fn needles(&self) -> Vec<String> {
        let mut out = Vec::new();
        for s in [
            &self.password,
            &self.wrong,
            &self.token,
            &self.helper_secret,
            &self.helper_token,
        ] {
            let pair = format!("{USER}:{s}");
            out.push(b64(&pair));
            out.push(pair);
            out.push(s.clone());
        }
        out
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// A `docker-credential-NAME` script in `dir`.
fn helper(dir: &Path, name: &str, body: &str) -> anyhow::Result<()> {
    let path = dir.join(format!("docker-credential-{name}"));
    std::fs::write(&path, format!("#!/bin/sh\ncat >/dev/null\n{body}\n"))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// One way of being wrong: the config file's text, and what the answer must say about it
/// (so a test that finds no secret also proves the failure was the one meant).
struct Mode {
    slug: &'static str,
    config: String,
    says: &'static str,
}

fn modes(host: &str, s: &Secrets) -> Vec<Mode> {
    let auths = |entry: serde_json::Value| serde_json::json!({ "auths": { host: entry } });
    vec![
        Mode {
            slug: "wrong-password",
            config: auths(serde_json::json!({ "auth": b64(&format!("{USER}:{}", s.wrong)) }))
                .to_string(),
            says: "unauthorized",
        },
        Mode {
            slug: "entry-a-string",
            config:
                serde_json::json!({ "auths": { host: b64(&format!("{USER}:{}", s.password)) } })
                    .to_string(),
            says: "should be an object",
        },
        Mode {
            slug: "password-mistyped",
            config: auths(serde_json::json!({ "username": USER, "password": { "v": s.password } }))
                .to_string(),
            says: ".password should be a string",
        },
        Mode {
            slug: "truncated",
            config: {
                let full =
                    auths(serde_json::json!({ "auth": b64(&format!("{USER}:{}", s.password)) }))
                        .to_string();
                full[..full.len() - 6].to_owned()
            },
            says: "is not JSON",
        },
        Mode {
            slug: "helper-leaks",
            config: serde_json::json!({ "credHelpers": { host: "leaky" } }).to_string(),
            says: "exit code 1",
        },
        Mode {
            slug: "helper-silent",
            config: serde_json::json!({ "credHelpers": { host: "silent" } }).to_string(),
            says: "keychain locked",
        },
        Mode {
            slug: "identity-token",
            config: auths(serde_json::json!({ "identitytoken": s.token })).to_string(),
            says: "image_unavailable",
        },
        Mode {
            slug: "helper-token",
            config: serde_json::json!({ "credHelpers": { host: "token" } }).to_string(),
            says: "image_unavailable",
        },
    ]
}

/// Every file under `dir`, as text.
fn files(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            files(&path, out);
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
}

async fn run(stack: &Stack, registry: &Registry, image: &str, s: &Secrets) -> anyhow::Result<()> {
    let config = stack.home().join(".docker/config.json");
    std::fs::create_dir_all(config.parent().context("parent")?)?;
    let mut seen: Vec<(String, String)> = Vec::new();
    let answer = |what: &str, a: &Answer| (what.to_owned(), format!("{} {}", a.status, a.body));
    for m in modes(&registry.host, s) {
        // Read at every pull: no restart needed between modes.
        std::fs::write(&config, &m.config)?;
        let a = stack.api.provision(m.slug, "solo").await?;
        ensure!(!a.ok(), "{}: the provision succeeded: {}", m.slug, a.body);
        let text = a.body.to_string();
        ensure!(
            text.contains(m.says),
            "{}: the answer says {:?}: {text}",
            m.slug,
            m.says
        );
        seen.push(answer(&format!("console provision {}", m.slug), &a));
        seen.push(answer(
            "console workspace",
            &stack.api.workspace(m.slug).await?,
        ));
        for args in [
            vec!["provision", m.slug, "--cairnet-image", image, "-o", "json"],
            vec!["status", m.slug, "-o", "json"],
            vec!["events", m.slug, "-o", "json"],
        ] {
            let out = stack.hearth_cli(&args)?;
            seen.push((
                format!("hearth {args:?}"),
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            ));
        }
    }
    // The right login last: the same path, working.
    let good = serde_json::json!({ "auths": { registry.host.clone(): { "auth": b64(&format!("{USER}:{}", s.password)) } } });
    std::fs::write(&config, good.to_string())?;
    let ok = stack.api.provision("right-login", "solo").await?;
    ensure!(ok.ok(), "the right login provisions: {}", ok.body);
    seen.push(answer("console provision right-login", &ok));
    seen.push(answer(
        "console list",
        &stack.api.get("/api/hearth/workspaces").await?,
    ));
    seen.push(answer(
        "console hatch",
        &stack.api.get("/api/hatch/events").await?,
    ));
    let ls = stack.hearth_cli(&["ls", "-o", "json"])?;
    seen.push((
        "hearth ls".into(),
        String::from_utf8_lossy(&ls.stdout).into_owned(),
    ));
    ensure!(
        stack.api.decommission("right-login").await?.ok(),
        "decommission"
    );
    registry.untag(image).await;

    let mut on_disk = Vec::new();
    files(&stack.dir().join("logs"), &mut on_disk);
    files(&stack.dir().join("hearth-state"), &mut on_disk);
    files(&stack.dir().join("console-state"), &mut on_disk);
    on_disk.push((stack.hatch.clone(), std::fs::read_to_string(&stack.hatch)?));
    ensure!(
        on_disk
            .iter()
            .any(|(p, t)| p.ends_with("hearth.stderr") && t.contains("helper-leaks")),
        "hearth's log is among what is searched, and names the workspaces"
    );
    seen.extend(
        on_disk
            .into_iter()
            .map(|(p, t)| (p.display().to_string(), t)),
    );
    let mut hits = Vec::new();
    for (what, text) in &seen {
        for needle in s.needles() {
            if text.contains(&needle) {
                hits.push(format!("{what} shows {needle:?}"));
            }
        }
    }
    ensure!(
        hits.is_empty(),
        "credential material leaked:\n{}",
        hits.join("\n")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_failure_of_credentials_shows_them_anywhere() {
    case(
        "secrets",
        "no_failure_of_credentials_shows_them_anywhere",
        async {
            let Some(docker) =
                engine::engine_for("no_failure_of_credentials_shows_them_anywhere").await?
            else {
                return Ok(Outcome::Skipped("HEARTH_E2E is not 1".into()));
            };
            let s = Secrets::new();
            let registry = Registry::start(
                &docker,
                RegistryOptions {
                    auth: Some((USER.to_owned(), s.password.clone())),
                },
            )
            .await;
            let repo = format!("secrets-{:08x}", rand::random::<u32>());
            registry
                .push(&engine::test_image_for("cairnet"), &repo, "v1")
                .await;
            let image = registry.reference(&repo, "v1");

            let helpers = tempfile::tempdir()?;
            let answer = |secret: &str, user: &str| {
                format!(r#"printf '{{"ServerURL":"x","Username":"{user}","Secret":"{secret}"}}'"#)
            };
            helper(
                helpers.path(),
                "leaky",
                &format!("{}; exit 1", answer(&s.helper_secret, USER)),
            )?;
            helper(
                helpers.path(),
                "silent",
                "echo 'keychain locked' >&2; exit 1",
            )?;
            helper(helpers.path(), "token", &answer(&s.helper_token, "<token>"))?;
            let path = format!(
                "{}:{}",
                helpers.path().display(),
                std::env::var("PATH").unwrap_or_default()
            );
            let cfg = StackConfig {
                hearth_images: Some((image.clone(), engine::test_image_for("lore"))),
                hearth_env: vec![("PATH".into(), path)],
                ..StackConfig::docker("secrets")
            };
            let mut stack = Stack::start(&cfg).await?;
            let result = run(&stack, &registry, &image, &s).await;
            if result.is_err() {
                eprintln!("{}", stack.diagnose());
            }
            result.map(|()| Outcome::Passed)
        },
    )
    .await;
}
