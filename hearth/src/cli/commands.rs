//! The client subcommands: each makes one RPC call and prints the answer for a person (or as
//! JSON with `-o json`), exiting with a code a shell script can rely on.

use std::io::Write;
use std::process::ExitCode;

use futures::StreamExt;
use hearth_protocol::hearth::{
    DeploymentRef, ErrorCode, LifecycleEvent, ProvisioningProfile, Tier,
};
use hearth_protocol::verb::Verb;
use serde::Serialize;

use super::{Command, EventsArgs, Output, ProvisionArgs};
use crate::client::{ClientError, HearthClient};

/// Exit code: hearth refused or failed the call.
pub(crate) const EXIT_FAILED: u8 = 1;
/// Exit code: bad usage or input.
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit code: hearth not reachable.
pub(crate) const EXIT_UNREACHABLE: u8 = 3;
/// Exit code: no such workspace.
pub(crate) const EXIT_NOT_FOUND: u8 = 4;

/// Runs a client subcommand against `client`.
pub(crate) async fn run(client: &HearthClient, command: Command) -> ExitCode {
    let result = match command {
        Command::Serve(_) => unreachable_serve(),
        Command::Provision(a) => provision(client, a, false).await,
        Command::Upgrade(a) => provision(client, a, true).await,
        Command::Status(a) => super::status::run(client, a).await,
        Command::Teardown(a) => client.teardown(&a.slug).await.map(|()| {
            print_as(a.out.output, &serde_json::json!({ "ok": true }), || {
                format!(
                    "{}: torn down (no container, network or volume of it remains)",
                    a.slug
                )
            });
        }),
        Command::Act(a) => client
            .act(a.verb, &a.args.slug)
            .await
            .map(|r| print_ref(a.args.out.output, &r)),
        Command::Ls(o) => client.list().await.map(|list| {
            print_as(o.output, &serde_json::json!({ "workspaces": list }), || {
                if list.is_empty() {
                    return "no workspaces".to_owned();
                }
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|r| {
                        vec![
                            r.workspace_slug.to_string(),
                            r.tier.to_string(),
                            r.last_status.to_string(),
                            r.endpoint.clone(),
                            role_names(r),
                        ]
                    })
                    .collect();
                super::table::render(&["SLUG", "TIER", "STATUS", "ENDPOINT", "ROLES"], &rows)
            });
        }),
        Command::Pool(o) => client.pool().await.map(|pools| {
            print_as(o.output, &serde_json::json!({ "pools": pools }), || {
                pool_table(&pools)
            });
        }),
        Command::Events(a) => events(client, a).await,
        Command::Lock(a) => return super::lock::run(a).await,
        Command::Config(super::ConfigCommand::Check(a)) => return super::config_check::run(&a),
        Command::Doctor(a) => return super::doctor::run(client.socket().to_path_buf(), *a).await,
        Command::GenerateAssets(a) => {
            return hearth_cli_kit::assets::run(<super::Cli as clap::CommandFactory>::command(), &a)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e),
    }
}

/// `hearth pool` for a person.
fn pool_table(pools: &[hearth_protocol::hearth::PoolReport]) -> String {
    if pools.is_empty() {
        return "no warm pool (start hearth serve with --pool solo=N)".to_owned();
    }
    let mut out = format!(
        "{:<8} {:>4} {:>5} {:>8} {:>7} {:>7} {:>8}  DIGESTS",
        "TIER", "SIZE", "READY", "BUILDING", "CLAIMED", "DRAINED", "FAILURES"
    );
    for p in pools {
        let digests: Vec<String> = p
            .digests
            .iter()
            .map(|(role, d)| format!("{role}={}", d.get(..19).unwrap_or(d)))
            .collect();
        out.push_str(&format!(
            "\n{:<8} {:>4} {:>5} {:>8} {:>7} {:>7} {:>8}  {}",
            p.tier,
            p.size,
            p.ready,
            p.building,
            p.claimed,
            p.drained,
            p.refill_failures,
            digests.join(" ")
        ));
        if let Some(e) = &p.last_error {
            out.push_str(&format!("\n  last refill error: {e}"));
        }
        if let Some(t) = p.backoff_until {
            out.push_str(&format!(
                "\n  refills stopped until {t} (too many failures in a row)"
            ));
        }
    }
    out
}

fn unreachable_serve() -> Result<(), ClientError> {
    // `serve` is dispatched by main before client commands; keep a typed answer anyway.
    Err(ClientError::Decode {
        status: 0,
        detail: "serve is not a client command".into(),
    })
}

async fn provision(
    client: &HearthClient,
    a: ProvisionArgs,
    upgrade: bool,
) -> Result<(), ClientError> {
    let tier: Tier = match a.tier.parse() {
        Ok(t) => t,
        Err(message) => {
            return Err(ClientError::Api {
                status: 400,
                body: hearth_protocol::hearth::ErrorBody {
                    code: ErrorCode::InvalidRequest,
                    message,
                    retryable: false,
                    hint: None,
                },
            })
        }
    };
    let mut profile = ProvisioningProfile::for_tier(tier);
    if let Some(i) = a.cairnet_image {
        profile
            .driver_flags
            .insert("cairnet_image".into(), i.into());
    }
    if let Some(i) = a.lore_image {
        profile.driver_flags.insert("lore_image".into(), i.into());
    }
    for (role, image) in a.image {
        profile
            .driver_flags
            .insert(crate::template::image_flag(&role), image.into());
    }
    if a.out.output == Output::Human {
        eprintln!(
            "{} {} ({tier}): waiting until every service answers…",
            if upgrade { "upgrading" } else { "provisioning" },
            a.slug
        );
    }
    let verb = if upgrade {
        Verb::Upgrade
    } else {
        Verb::Provision
    };
    let progress = match a.out.output {
        Output::Human => Some(super::progress::Progress::follow(client, &a.slug, verb).await),
        Output::Json => None,
    };
    let r = if upgrade {
        client.upgrade(&a.slug, &profile).await
    } else {
        client.provision(&a.slug, &profile).await
    };
    if let Some(p) = progress {
        p.finish().await;
    }
    print_ref(a.out.output, &r?);
    Ok(())
}

fn print_ref(output: Output, r: &DeploymentRef) {
    print_as(output, r, || {
        let mut out = format!(
            "{}: {} ({}, {}) — {}",
            r.workspace_slug, r.last_status, r.tier, r.driver, r.endpoint
        );
        let rows: Vec<Vec<String>> = r
            .services
            .iter()
            .map(|s| {
                vec![
                    s.role.clone(),
                    s.endpoint.clone(),
                    s.image.clone(),
                    short(&s.image_digest).to_owned(),
                ]
            })
            .collect();
        if !rows.is_empty() {
            let table = super::table::render(&["ROLE", "ENDPOINT", "IMAGE", "DIGEST"], &rows);
            for line in table.lines() {
                out.push_str("\n  ");
                out.push_str(line);
            }
        }
        out
    });
}

/// A workspace's roles, as its ref lists them: `store, migrate, web`.
fn role_names(r: &DeploymentRef) -> String {
    r.services
        .iter()
        .map(|s| s.role.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn short(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}

pub(super) fn print_as<T: Serialize>(output: Output, value: &T, human: impl FnOnce() -> String) {
    let text = match output {
        Output::Json => {
            serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
        }
        Output::Human => human(),
    };
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{text}");
}

fn print_event(output: Output, e: &LifecycleEvent) {
    print_as(output, e, || {
        format!(
            "{:>7} ms  {:<20} {:<8} {}",
            e.elapsed_ms,
            e.step,
            e.role.as_deref().unwrap_or(""),
            e.detail.as_deref().unwrap_or("")
        )
    });
}

async fn events(client: &HearthClient, a: EventsArgs) -> Result<(), ClientError> {
    if !a.follow {
        let list = client.events(&a.slug).await?;
        if a.out.output == Output::Json {
            print_as(
                a.out.output,
                &serde_json::json!({ "events": list }),
                String::new,
            );
        } else {
            for e in &list {
                print_event(a.out.output, e);
            }
        }
        return Ok(());
    }
    let mut stream = client.follow_events(&a.slug).await?;
    while let Some(item) = stream.next().await {
        match item {
            Ok(e) => print_event(a.out.output, &e),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Prints a failed call and picks its exit code.
fn report(e: &ClientError) -> ExitCode {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "error: {} ({})", e.message(), e.code());
    if let Some(hint) = e.hint() {
        let _ = writeln!(stderr, "hint: {hint}");
    }
    ExitCode::from(match e.code() {
        ErrorCode::HearthUnreachable => EXIT_UNREACHABLE,
        ErrorCode::NotFound => EXIT_NOT_FOUND,
        ErrorCode::InvalidRequest | ErrorCode::InvalidSlug => EXIT_USAGE,
        _ => EXIT_FAILED,
    })
}
