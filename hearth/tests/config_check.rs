//! `hearth config check`: the real binary reads a config file as `hearth serve` would and
//! answers one line per tier (exit 0), or every problem of its `[tiers]` with its key path
//! (exit 1), running nothing.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_hearth");

/// The three-role template: a TCP-ready store, a one-shot migration, a web front.
const GOOD: &str = include_str!("templates/three-roles.toml");

fn check(dir: &Path, toml: &str, extra: &[&str]) -> Output {
    let config = dir.join("hearth.toml");
    std::fs::write(&config, toml).expect("write config");
    Command::new(BIN)
        .args(["config", "check", "--config"])
        .arg(&config)
        .args(extra)
        .env_remove("HEARTH_CONFIG")
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run hearth config check")
}

#[test]
fn a_good_template_is_summed_up_one_line_per_tier() {
    let dir = support::short_tempdir();
    let out = check(dir.path(), GOOD, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "solo: own template, 3 roles (lore:9000, migrate once, cairnet:8080), front door \
             cairnet, start lore → migrate → cairnet",
            "team: default template, 2 roles (cairnet:80, lore:80), front door cairnet, start \
             cairnet + lore",
            "studio: default template, 2 roles (cairnet:80, lore:80), front door cairnet, start \
             cairnet + lore",
            "bespoke: default template, 2 roles (cairnet:80, lore:80), front door cairnet, start \
             cairnet + lore",
        ]
    );
    let out = check(dir.path(), GOOD, &["-o", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["ok"], true);
    assert_eq!(
        json["tiers"]["solo"]["start_order"],
        serde_json::json!([["lore"], ["migrate"], ["cairnet"]])
    );
    assert_eq!(json["tiers"]["team"]["template"], "default");
}

#[test]
fn bad_templates_are_refused_naming_the_key_path_and_the_problem() {
    let dir = support::short_tempdir();
    let cases: [(String, &[&str]); 9] = [
        (
            GOOD.replace(
                "depends_on = { lore = \"ready\" }",
                "depends_on = { cairnet = \"ready\" }",
            ),
            &["tiers.solo.roles.migrate.depends_on: cycle migrate → cairnet → migrate"],
        ),
        (
            GOOD.replace("migrate = \"completed\"", "db = \"ready\""),
            &["tiers.solo.roles.cairnet.depends_on.db: db is not a role of this tier"],
        ),
        (
            GOOD.replace("lore = \"ready\", migrate", "lore = \"completed\", migrate"),
            &["tiers.solo.roles.cairnet.depends_on.lore: `completed` waits for a one-shot"],
        ),
        (
            GOOD.replace("front_door = \"cairnet\"", "front_door = \"migrate\""),
            &["tiers.solo.front_door: migrate is a one-shot"],
        ),
        (
            GOOD.replace("port = 8080", "port = 9000"),
            &["tiers.solo.roles.cairnet.port: 9000 is also role lore's port"],
        ),
        (
            GOOD.replace("ready = { tcp = 9000 }", "ready = { grpc = 9000 }"),
            &["tiers.solo.roles.lore.ready: unknown probe kind `grpc`"],
        ),
        (
            GOOD.replace("{{lore.host}}", "{{lroe.host}}"),
            &["tiers.solo.roles.cairnet.env.LORE_URL: `{{lroe.host}}` names no role"],
        ),
        (
            GOOD.replace("registry.example.com/lore:1.4", "registry.example.com/Lore:1.4"),
            &["tiers.solo.roles.lore.image: \"registry.example.com/Lore:1.4\" is not an image reference"],
        ),
        (
            // Several at once: each is named.
            GOOD.replace("[tiers.solo.roles.lore]", "[tiers.solo.roles.Lore_]")
                .replace("front_door = \"cairnet\"", "front_door = \"web\""),
            &[
                "problems in [tiers]:",
                "tiers.solo.front_door: \"web\" is not a role of this tier",
                "tiers.solo.roles.Lore_: \"Lore_\" is not a role name",
            ],
        ),
    ];
    for (toml, wants) in &cases {
        let out = check(dir.path(), toml, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "exit code; stderr: {stderr}");
        assert!(!stderr.contains("panicked"), "a panic: {stderr}");
        assert!(out.stdout.is_empty(), "no summary for a refused file");
        for w in *wants {
            assert!(stderr.contains(w), "stderr names {w:?}: {stderr}");
        }
    }
    // An unknown key of a role is the TOML reader's refusal, naming the key.
    let out = check(dir.path(), &GOOD.replace("volume =", "volumes ="), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("unknown field `volumes`"), "{stderr}");
}

/// `hearth lock --config FILE` pins every role of every tier the file configures, beside
/// `cairnet` and `lore`; `lock --check` then passes, and names a role added to a template
/// since (not in the lock) with exit 1.
#[test]
fn lock_pins_every_role_of_every_configured_tier() {
    if !support::e2e("lock_pins_every_role_of_every_configured_tier") {
        return;
    }
    let dir = support::short_tempdir();
    let image = support::test_image();
    let config = dir.path().join("hearth.toml");
    let lock = dir.path().join("hearth.lock");
    let template = format!(
        "[tiers.team.roles.store]\nimage = \"{image}\"\nport = 9000\n\
         [tiers.team.roles.web]\nimage = \"{image}\"\nport = 8080\n"
    );
    std::fs::write(&config, &template).expect("write config");
    let lock_cmd = |extra: &[&str]| {
        Command::new(BIN)
            .arg("lock")
            .arg("--config")
            .arg(&config)
            .arg("--out")
            .arg(&lock)
            .args(["--cairnet-image", &image, "--lore-image", &image])
            .args(extra)
            .env_remove("HEARTH_CONFIG")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("run hearth lock")
    };
    let out = lock_cmd(&[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&lock).expect("lock")).expect("json");
    let roles: Vec<&str> = written["roles"]
        .as_object()
        .expect("roles")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(roles, ["cairnet", "lore", "store", "web"]);
    assert_eq!(written["roles"]["web"]["image"], image.as_str());
    let out = lock_cmd(&["--check"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // A role added since is not pinned: --check says so and fails.
    std::fs::write(
        &config,
        format!("{template}[tiers.team.roles.cache]\nimage = \"{image}\"\nport = 6379\n"),
    )
    .expect("write config");
    let out = lock_cmd(&["--check"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stdout.contains("cache    not in the lock"), "{stdout}");
}

/// Kills the daemon when the test ends, passed or not.
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `hearth serve --driver fake --config FILE` runs the file's template: a provision through
/// the CLI starts its three roles, `hearth ls` and `hearth status` list them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_the_template_and_ls_and_status_list_its_roles() {
    let dir = support::short_tempdir();
    let config = dir.path().join("hearth.toml");
    std::fs::write(&config, GOOD).expect("write config");
    let socket = dir.path().join("h.sock");
    let child = Command::new(BIN)
        .args(["serve", "--driver", "fake", "--instance", "tpl", "--config"])
        .arg(&config)
        .arg("--socket")
        .arg(&socket)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .env_remove("HEARTH_CONFIG")
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut daemon = Daemon(child);
    let client = hearth::client::HearthClient::new(&socket);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while client.healthz().await.is_err() {
        assert!(
            daemon.0.try_wait().expect("wait").is_none(),
            "hearth exited"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "hearth never answered"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let cli = |args: &[&str]| {
        let out = Command::new(BIN)
            .arg("--socket")
            .arg(&socket)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run hearth");
        assert_eq!(out.status.code(), Some(0), "hearth {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let provisioned = cli(&["provision", "acme"]);
    assert!(
        provisioned.starts_with("acme: ready (solo, fake)"),
        "{provisioned}"
    );
    for role in ["lore", "cairnet"] {
        assert!(provisioned.contains(role), "{role} in {provisioned}");
    }
    let ls = cli(&["ls"]);
    assert!(
        ls.lines().next().is_some_and(|h| h.contains("ROLES")),
        "{ls}"
    );
    // The roles that serve; the one-shot (migrate) is done, not listed.
    assert!(ls.contains("lore, cairnet"), "{ls}");
    let status = cli(&["status", "acme"]);
    assert_eq!(
        status.trim_end(),
        "acme: ready\n  ROLE     STATE    NODE\n  lore     running  -\n  cairnet  running  -"
    );
    let r = client.get("acme").await.expect("get");
    let front = r
        .services
        .iter()
        .find(|s| s.role == "cairnet")
        .expect("cairnet");
    assert_eq!(r.endpoint, front.endpoint, "the front door's endpoint");
    cli(&["teardown", "acme"]);
    assert_eq!(cli(&["status", "acme"]).trim_end(), "acme: tier_torn_down");
    // `--image ROLE=IMAGE` overrides any role's image for one workspace.
    cli(&[
        "provision",
        "beta",
        "--image",
        "lore=registry.example.com/lore:1.5",
    ]);
    let r = client.get("beta").await.expect("get");
    let lore = r.services.iter().find(|s| s.role == "lore").expect("lore");
    assert_eq!(lore.image, "registry.example.com/lore:1.5");
    cli(&["teardown", "beta"]);
    let out = Command::new(BIN)
        .arg("--socket")
        .arg(&socket)
        .args(["provision", "gamma", "--image", "db=postgres:16"])
        .stdin(Stdio::null())
        .output()
        .expect("run hearth");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "bad input: {stderr}");
    assert!(
        stderr.contains("driver_flags.db_image: db is not a role of this tier"),
        "{stderr}"
    );
    drop(daemon);
}
