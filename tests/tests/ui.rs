//! The console's web page in a real browser (headless chromium over chromedriver, both from
//! Debian's packages) against the real stack on the Docker engine: log in with the code
//! `console serve` printed; see a workspace provisioned through the API turn up `ready`
//! without a reload; pause it from the page (and find its containers paused on the engine),
//! resume it; run four prompts and see four nodes; delete it and see it gone, and the chain
//! verdict `OK — all 10 acts in order`. Also: a used login code is refused, `console ui`
//! prints a working one, and requests from another origin (or without the page's header)
//! are refused. Screenshots go to `target/e2e/ui/`. Needs `HEARTH_E2E=1`; with it set, a
//! missing engine, chromium or chromedriver fails the test.

use std::time::Duration;

use anyhow::{bail, ensure, Context};
use bollard::Docker;
use fantoccini::Locator;
use hearth_e2e::browser::Browser;
use hearth_e2e::engine::{self, find_instance};
use hearth_e2e::junit::{self, case, Outcome};
use hearth_e2e::stack::{mock_prompts, Stack, StackConfig};
use serde_json::Value;

const PROMPTS: usize = 4;
/// Bound on what the page must show after an act (provision and delete wait on the engine).
const SHOW: Duration = Duration::from_secs(120);
/// The wording `console hatch verify` prints after `verdict: ` for the whole play.
const WHOLE_CHAIN: &str = "OK — all 10 acts in order";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_in_a_browser() {
    case("ui", "the_page_in_a_browser", async {
        let Some(docker) = engine::engine_for("the_page_in_a_browser").await? else {
            return Ok(Outcome::Skipped("HEARTH_E2E is not 1".into()));
        };
        let shots = junit::e2e_dir()?.join("ui");
        std::fs::create_dir_all(&shots)?;
        let stack = Stack::start(&StackConfig::docker("ui")).await?;
        let browser = Browser::start(1280, 800).await?;
        let result = drive(&stack, &browser, &docker, &shots).await;
        if result.is_err() {
            let _ = browser.screenshot(&shots, "failure").await;
        }
        browser.close().await;
        result?;
        let left = find_instance(&docker, &stack.instance).await?;
        ensure!(
            left.is_empty(),
            "the delete left objects labelled dev.hearth.instance={} on the engine: {left:?}",
            stack.instance
        );
        Ok(Outcome::Passed)
    })
    .await;
}

async fn drive(
    stack: &Stack,
    browser: &Browser,
    docker: &Docker,
    shots: &std::path::Path,
) -> anyhow::Result<()> {
    let b = &browser.client;
    let slug = format!("ui-{:06x}", rand::random::<u32>() & 0xff_ffff);
    let row = format!("tr[data-slug=\"{slug}\"]");

    // Log in with the printed code: a session cookie, and the code leaves the address bar.
    let login = stack.ui_login_url(Duration::from_secs(10)).await?;
    ensure!(
        login.starts_with(&format!("{}/login?code=", stack.console_url)),
        "the ui line {login:?} does not point at the console {}",
        stack.console_url
    );
    b.goto(&login).await?;
    browser
        .wait_css("#app:not([hidden])", "the page after login", SHOW)
        .await?;
    let here = b.current_url().await?;
    ensure!(
        here.path() == "/" && here.query().is_none(),
        "after login the browser is at {here}, expected / with no code in it"
    );
    let cookies = b.get_all_cookies().await?;
    let session = cookies
        .iter()
        .find(|c| c.name() == "hearth_console_session")
        .context("no session cookie after login")?;
    ensure!(
        session.http_only() == Some(true),
        "the session cookie is not HttpOnly"
    );
    let script_sees = b
        .execute("return document.cookie;", vec![])
        .await?
        .as_str()
        .unwrap_or_default()
        .to_owned();
    ensure!(
        !script_sees.contains("hearth_console_session"),
        "page script can read the session cookie: {script_sees:?}"
    );
    let session_pair = format!("hearth_console_session={}", session.value());

    // The same code a second time is refused, in the console's JSON error shape.
    b.goto(&login).await?;
    let refused = b.find(Locator::Css("body")).await?.text().await?;
    ensure!(
        refused.contains("login_refused"),
        "a used login code was not refused: {refused}"
    );
    // `console ui` prints a fresh code for the running console, and it works.
    let (code, out) = stack.console_ui()?;
    ensure!(code == 0, "`console ui` exited {code}: {out}");
    let fresh = out
        .lines()
        .find_map(|l| l.strip_prefix("ui "))
        .with_context(|| format!("`console ui` printed no ui line: {out:?}"))?
        .trim()
        .to_owned();
    ensure!(fresh != login, "`console ui` printed the same code again");
    b.goto(&fresh).await?;
    browser
        .wait_css(
            "#app:not([hidden])",
            "the page after `console ui`'s link",
            SHOW,
        )
        .await?;

    // First render on loopback: the page is tiny and has no third-party anything.
    let dcl = b
        .execute(
            "const n = performance.getEntriesByType('navigation')[0]; \
             return n.domContentLoadedEventEnd - n.responseStart;",
            vec![],
        )
        .await?
        .as_f64()
        .unwrap_or(f64::MAX);
    ensure!(
        dcl <= 300.0,
        "the page took {dcl:.0} ms from its first byte to DOMContentLoaded (at most 300 ms)"
    );

    // An error is shown where it was caused, with its hint.
    let slug_input = b.find(Locator::Id("new-slug")).await?;
    slug_input.send_keys("Not_A_Slug").await?;
    click(browser, "#new-ws button[type=submit]").await?;
    let shown = browser
        .wait_text("#new-ws .result", "invalid_slug", SHOW)
        .await?;
    ensure!(
        shown.contains("Hint:"),
        "the provision error shows no hint: {shown:?}"
    );
    slug_input.clear().await?;

    // A mark in the page's memory: still there at the end means no reload happened.
    b.execute("window.__noReload = 42;", vec![]).await?;

    // Provisioned through the API; the page shows it ready by itself.
    let provisioned = stack.api.provision(&slug, "solo").await?;
    ensure!(
        provisioned.ok(),
        "provision through the API failed: {}",
        provisioned.body
    );
    browser
        .wait_css(
            &format!("{row} .status[data-status=\"ready\"]"),
            "the provisioned workspace, ready, without a reload",
            SHOW,
        )
        .await?;
    b.find(Locator::Css(&format!("{row} .slug-btn")))
        .await?
        .click()
        .await?;
    browser
        .wait_css(
            "#waterfall .wf",
            "the boot waterfall of the workspace",
            SHOW,
        )
        .await?;
    browser.wait_text("#waterfall", "role_ready", SHOW).await?;
    // Each role's probe is a step of its own lane.
    browser
        .wait_text("#waterfall", "probe_passed", SHOW)
        .await?;
    // The operation and its outcome come from each step's typed `op` and `phase`.
    browser
        .wait_text("#waterfall summary", "provision · done", SHOW)
        .await?;
    // The Roles panel: each role, running, on hearth's own engine (one Docker engine names no
    // node; a swarm names the task's).
    roles_show(browser, "running").await?;
    for role in ["cairnet", "lore"] {
        let node = b
            .find(Locator::Css(&format!(
                "#roles-body tr[data-role=\"{role}\"] .node-cell"
            )))
            .await?
            .text()
            .await?;
        ensure!(
            node == "hearth's engine",
            "the Roles panel puts {role} on {node:?}, expected hearth's engine"
        );
    }
    browser.screenshot(shots, "1-ready").await?;

    // Pause from the page: the engine shows every container of the ref paused.
    let containers = container_ids(&provisioned.body)?;
    act_on_page(browser, docker, &row, "pause", "paused", &containers).await?;
    browser
        .wait_text(&format!("{row} .row-result"), "now paused", SHOW)
        .await?;
    roles_show(browser, "paused").await?;
    browser.screenshot(shots, "2-paused").await?;
    act_on_page(browser, docker, &row, "resume", "ready", &containers).await?;
    roles_show(browser, "running").await?;

    // Four prompts from the page: four nodes, the run succeeded.
    let prompts = b.find(Locator::Id("run-prompts")).await?;
    prompts.clear().await?;
    prompts.send_keys(&mock_prompts(PROMPTS).join("\n")).await?;
    let chosen = b
        .execute("return document.getElementById('run-ws').value;", vec![])
        .await?;
    ensure!(
        chosen == Value::String(slug.clone()),
        "the run form targets {chosen}, not {slug}"
    );
    click(browser, "#run-form button[type=submit]").await?;
    browser
        .wait_css(
            "li.run[data-status=\"succeeded\"]",
            "the run, succeeded",
            SHOW,
        )
        .await?;
    let nodes = b
        .find_all(Locator::Css(
            "li.run[data-status=\"succeeded\"] .node.succeeded",
        ))
        .await?;
    ensure!(
        nodes.len() == PROMPTS,
        "the run shows {} succeeded nodes, expected {PROMPTS}",
        nodes.len()
    );
    browser.screenshot(shots, "3-run").await?;
    b.set_window_size(420, 900).await?;
    b.execute("window.scrollTo(0, 0);", vec![]).await?;
    browser.screenshot(shots, "3-narrow-workspace").await?;
    b.set_window_size(1280, 800).await?;

    // Requests that are not the page's own are refused, even with the session cookie.
    refused_without_page(stack, &session_pair, &slug).await?;

    // Delete, with a confirmation that names the slug; the row goes away.
    click(browser, &format!("{row} button[data-action=\"delete\"]")).await?;
    let asked = browser
        .wait_text("#confirm[open]", &slug, Duration::from_secs(5))
        .await?;
    ensure!(
        asked.contains(&format!("Delete {slug}")),
        "the confirmation does not name the workspace: {asked:?}"
    );
    browser.screenshot(shots, "4-confirm").await?;
    click(browser, "#confirm-ok").await?;
    browser
        .wait_gone(&row, "the deleted workspace's row", SHOW)
        .await?;

    // The chain of the whole play, as `console hatch verify` words it.
    let verdict = browser.wait_text("#verdict", WHOLE_CHAIN, SHOW).await?;
    let cli = stack.verify(PROMPTS, false)?;
    ensure!(
        cli.code == 0 && cli.stdout.contains(&format!("verdict: {WHOLE_CHAIN}")),
        "the page says {verdict:?} but `console hatch verify` says:\n{}{}",
        cli.stdout,
        cli.stderr
    );
    let acts = b.find_all(Locator::Css("#acts-body tr")).await?;
    ensure!(
        acts.len() == 10,
        "the chain lists {} acts, expected 10",
        acts.len()
    );
    b.execute(
        "document.getElementById('chain-h').scrollIntoView({block: 'start'});",
        vec![],
    )
    .await?;
    browser.screenshot(shots, "5-chain").await?;

    let mark = b.execute("return window.__noReload;", vec![]).await?;
    ensure!(mark == 42, "the page was reloaded along the way");

    // A narrow window: the page still lays out (one column, workspace cards).
    b.set_window_size(420, 900).await?;
    browser.screenshot(shots, "6-narrow").await?;
    let overflow = b
        .execute(
            "return document.documentElement.scrollWidth > window.innerWidth + 1;",
            vec![],
        )
        .await?;
    ensure!(
        overflow == Value::Bool(false),
        "the page scrolls sideways at 420 px"
    );
    Ok(())
}

/// Waits until the Roles panel lists `cairnet` and `lore`, each in `state`, and nothing else.
async fn roles_show(browser: &Browser, state: &str) -> anyhow::Result<()> {
    for role in ["cairnet", "lore"] {
        browser
            .wait_css(
                &format!(
                    "#roles-body tr[data-role=\"{role}\"] .role-state[data-state=\"{state}\"]"
                ),
                &format!("role {role} {state} in the Roles panel"),
                SHOW,
            )
            .await?;
    }
    let rows = browser
        .client
        .find_all(Locator::Css("#roles-body tr"))
        .await?;
    ensure!(
        rows.len() == 2,
        "the Roles panel lists {} roles, expected cairnet and lore",
        rows.len()
    );
    Ok(())
}

/// Clicks `action` in the workspace's row, waits for the row to show `status` (pushed by the
/// console, not reloaded), then checks on the engine that every container of the ref is
/// running, paused exactly when `status` is `paused`.
async fn act_on_page(
    browser: &Browser,
    docker: &Docker,
    row: &str,
    action: &str,
    status: &str,
    containers: &[String],
) -> anyhow::Result<()> {
    click(browser, &format!("{row} button[data-action=\"{action}\"]")).await?;
    browser
        .wait_css(
            &format!("{row} .status[data-status=\"{status}\"]"),
            &format!("the workspace {status} after {action}"),
            SHOW,
        )
        .await?;
    let paused = status == "paused";
    for id in containers {
        let st = docker.inspect_container(id, None).await?.state;
        ensure!(
            st.as_ref().and_then(|s| s.paused) == Some(paused)
                && st.as_ref().and_then(|s| s.running) == Some(true),
            "after {action} on the page, container {id} is not running with paused={paused} \
             on the engine: {st:?}"
        );
    }
    Ok(())
}

/// Scrolls `css` into view and clicks it.
async fn click(browser: &Browser, css: &str) -> anyhow::Result<()> {
    let e = browser.wait_css(css, css, SHOW).await?;
    browser
        .client
        .execute(
            "arguments[0].scrollIntoView({block: 'center'});",
            vec![serde_json::to_value(&e)?],
        )
        .await?;
    e.click().await.with_context(|| format!("click {css}"))?;
    Ok(())
}

/// The container ids in a `DeploymentRef`'s services.
fn container_ids(reference: &Value) -> anyhow::Result<Vec<String>> {
    let ids: Vec<String> = reference["services"]
        .as_array()
        .map(|s| {
            s.iter()
                .filter_map(|svc| svc["container_id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if ids.is_empty() {
        bail!("the ref names no containers: {reference}");
    }
    Ok(ids)
}

/// With the page's own session cookie: a request from another origin is refused, and so is
/// a state-changing one without the page's header; hearth never sees either (the workspace
/// stays ready).
async fn refused_without_page(stack: &Stack, cookie: &str, slug: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::builder().no_proxy().build()?;
    let pause = format!("{}/api/hearth/workspaces/{slug}/pause", stack.console_url);
    let resp = http
        .post(&pause)
        .header("cookie", cookie)
        .header("x-hearth-console", "1")
        .header("origin", "http://evil.example")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await?;
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    ensure!(
        status == 403 && body["error"]["code"] == "forbidden_origin",
        "a cross-origin pause answered {status} {body}"
    );
    let resp = http.post(&pause).header("cookie", cookie).send().await?;
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    ensure!(
        status == 403 && body["error"]["code"] == "page_header_missing",
        "a cookie-only pause answered {status} {body}"
    );
    let now = stack.api.workspace(slug).await?;
    ensure!(
        now.body["last_status"] == "ready",
        "a refused request changed the workspace: {}",
        now.body
    );
    Ok(())
}
