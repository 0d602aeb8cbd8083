//! The `hearth` command line: `serve` (the daemon; also what a bare `hearth` does, as the Go
//! binary did) and the client subcommands, which speak the same RPC any client uses.

pub(crate) mod commands;
mod config_check;
pub(crate) mod doctor;
mod lock;
pub(crate) mod main;
mod progress;
pub(crate) mod serve;
pub(crate) mod settings;
mod status;
mod table;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use hearth_protocol::verb::{Shape, Verb};

/// Provision solo-tier workspaces as Docker containers, behind a unix-socket RPC.
#[derive(Debug, Parser)]
#[command(
    name = "hearth",
    version = hearth_cli_kit::VERSION,
    after_help = "Run with no subcommand, hearth serves (as `hearth serve`), configured by \
                  environment: HEARTH_SOCKET, HEARTH_DRIVER, HEARTH_IMAGE_CAIRNET, \
                  HEARTH_IMAGE_LORE (or the Go hearth's ROCKY_HEARTH_* names).\n\n\
                  Examples:\n  hearth serve --socket /tmp/h.sock --driver local-docker\n  \
                  hearth --socket /tmp/h.sock provision acme\n  \
                  hearth --socket /tmp/h.sock status acme -o json\n  \
                  hearth --socket /tmp/h.sock teardown acme\n\n\
                  Exit codes: 0 ok, 1 hearth refused or failed the call, 2 bad usage or \
                  input, 3 hearth not reachable, 4 no such workspace."
)]
pub(crate) struct Cli {
    /// The daemon's socket [env: HEARTH_SOCKET, ROCKY_HEARTH_SOCKET] [default:
    /// $XDG_RUNTIME_DIR/hearth.sock or /tmp/hearth-UID.sock]
    #[arg(long, global = true)]
    pub socket: Option<PathBuf>,

    /// Log filter (e.g. `info`, `hearth=debug`) [env: RUST_LOG]
    #[arg(long, global = true)]
    pub log: Option<String>,

    #[command(flatten)]
    pub logging: hearth_cli_kit::log::LogArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the daemon on the unix socket.
    Serve(Box<serve::ServeArgs>),
    /// Provision a workspace (idempotent) and wait until every service answers.
    #[command(about = Verb::Provision.about(), long_about = None)]
    Provision(ProvisionArgs),
    /// Show a workspace's status.
    Status(SlugArgs),
    /// Change a live workspace's tier or caps, keeping its slug and data.
    #[command(about = Verb::Upgrade.about(), long_about = None)]
    Upgrade(ProvisionArgs),
    /// Tear a workspace down: every container, network and volume (irreversible, idempotent).
    #[command(about = Verb::Teardown.about(), long_about = None)]
    Teardown(SlugArgs),
    /// Every verb on the slug alone (pause, resume, hibernate, …): one subcommand each.
    #[command(flatten)]
    Act(ActArgs),
    /// List workspaces.
    Ls(OutputArgs),
    /// Show the warm pools: size, ready members, image digests, refill failures.
    Pool(OutputArgs),
    /// Show a workspace's boot and lifecycle steps with timings.
    Events(EventsArgs),
    /// Pin each role's image to its digest in a lock file that `hearth serve` then uses
    /// (pulling tags the engine lacks), every role of every tier --config configures too;
    /// --check reports which tags moved since (or are not pinned).
    Lock(LockArgs),
    /// Check what `hearth serve` would run with, one line per check (ok, warn, fail, and a
    /// hint): the engine and why it was chosen, the socket's permission, the images, the
    /// lock, the state dir, a running daemon, the address pools. Exit 1 if a check fails.
    Doctor(Box<doctor::DoctorArgs>),
    /// Check the config file as `hearth serve` reads it, running nothing.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Write shell completions and man pages (used by `make deb`).
    #[command(hide = true)]
    GenerateAssets(hearth_cli_kit::assets::GenerateArgs),
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum Output {
    /// Readable text.
    #[default]
    Human,
    /// The RPC's JSON answer.
    Json,
}

/// `-o`.
#[derive(Debug, Args)]
pub(crate) struct OutputArgs {
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    pub output: Output,
}

/// A verb on one workspace.
#[derive(Debug, Args)]
pub(crate) struct SlugArgs {
    /// The workspace slug (a lower-case DNS label, 1-32 characters).
    #[arg(value_parser = slug_arg)]
    pub slug: String,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// A [`Shape::Act`] verb with its slug: `hearth pause SLUG`, `hearth resume SLUG`, … The
/// subcommands are made from [`Verb::ALL`], so a new verb of that shape needs nothing here.
#[derive(Debug)]
pub(crate) struct ActArgs {
    pub verb: Verb,
    pub args: SlugArgs,
}

/// The verbs that are subcommands of their own through [`ActArgs`].
fn act_verbs() -> impl Iterator<Item = Verb> {
    Verb::ALL.into_iter().filter(|v| v.shape() == Shape::Act)
}

impl clap::FromArgMatches for ActArgs {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        Self::from_arg_matches_mut(&mut matches.clone())
    }

    fn from_arg_matches_mut(matches: &mut clap::ArgMatches) -> Result<Self, clap::Error> {
        let missing = || clap::Error::new(clap::error::ErrorKind::MissingSubcommand);
        let (name, mut sub) = matches.remove_subcommand().ok_or_else(missing)?;
        let verb = act_verbs()
            .find(|v| v.as_str() == name)
            .ok_or_else(|| clap::Error::new(clap::error::ErrorKind::InvalidSubcommand))?;
        Ok(ActArgs {
            verb,
            args: SlugArgs::from_arg_matches_mut(&mut sub)?,
        })
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl clap::Subcommand for ActArgs {
    fn augment_subcommands(cmd: clap::Command) -> clap::Command {
        act_verbs().fold(cmd, |cmd, v| {
            cmd.subcommand(
                SlugArgs::augment_args(clap::Command::new(v.as_str()))
                    .about(v.about())
                    .long_about(None),
            )
        })
    }

    fn augment_subcommands_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_subcommands(cmd)
    }

    fn has_subcommand(name: &str) -> bool {
        act_verbs().any(|v| v.as_str() == name)
    }
}

/// `provision` and `upgrade`.
#[derive(Debug, Args)]
pub(crate) struct ProvisionArgs {
    /// The workspace slug (a lower-case DNS label, 1-32 characters).
    #[arg(value_parser = slug_arg)]
    pub slug: String,
    /// The tier: solo, team, studio or bespoke.
    #[arg(long, default_value = "solo")]
    pub tier: String,
    /// Image for the cairnet role, for this workspace only.
    #[arg(long)]
    pub cairnet_image: Option<String>,
    /// Image for the lore role, for this workspace only.
    #[arg(long)]
    pub lore_image: Option<String>,
    /// Image for any role of the tier's template, for this workspace only (repeatable):
    /// `--image web=registry.example.com/web:2.1` (sent as `driver_flags.web_image`).
    #[arg(long, value_name = "ROLE=IMAGE", value_parser = role_image)]
    pub image: Vec<(String, String)>,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `ROLE=IMAGE`.
fn role_image(raw: &str) -> Result<(String, String), String> {
    match raw.split_once('=') {
        Some((role, image)) if !role.is_empty() && !image.is_empty() => {
            Ok((role.to_owned(), image.to_owned()))
        }
        _ => Err(format!(
            "{raw:?} is not ROLE=IMAGE (e.g. web=registry.example.com/web:2.1)"
        )),
    }
}

/// `events`.
#[derive(Debug, Args)]
pub(crate) struct EventsArgs {
    /// The workspace slug.
    #[arg(value_parser = slug_arg)]
    pub slug: String,
    /// Keep printing steps as they happen (SSE), until interrupted.
    #[arg(short, long)]
    pub follow: bool,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `lock`.
#[derive(Debug, Args)]
pub(crate) struct LockArgs {
    /// The lock file: written, or read with --check.
    #[arg(long, default_value = "hearth.lock")]
    pub out: PathBuf,
    /// Say which roles' tags moved since the lock (exit 1 if any did); change nothing.
    #[arg(long)]
    pub check: bool,
    /// Seconds one pull may take before it counts as failed.
    #[arg(long, default_value_t = 60)]
    pub pull_timeout: u64,
    /// The config file [env: HEARTH_CONFIG]: its `[images]`, and every role of every tier its
    /// `[tiers]` configures, are pinned (and checked) too.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Image for the cairnet role [env: HEARTH_IMAGE_CAIRNET, ROCKY_HEARTH_IMAGE_CAIRNET]
    /// [default: nginx:alpine]
    #[arg(long)]
    pub cairnet_image: Option<String>,
    /// Image for the lore role [env: HEARTH_IMAGE_LORE, ROCKY_HEARTH_IMAGE_LORE]
    /// [default: nginx:alpine]
    #[arg(long)]
    pub lore_image: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `hearth config …`.
#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Read the config file and check every tier's template (`[tiers]`): one line per tier
    /// (its roles, front door and start order), or every problem with its key path and exit 1.
    Check(ConfigCheckArgs),
}

/// `config check`.
#[derive(Debug, Args)]
pub(crate) struct ConfigCheckArgs {
    /// The config file [env: HEARTH_CONFIG]; with none, every tier runs the default template.
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// The slug rule of `hearth_protocol::slug`, applied before any call is made: a refused slug
/// is a usage error (exit 2) with the rule as its message.
fn slug_arg(raw: &str) -> Result<String, String> {
    hearth_protocol::slug::parse(raw)
        .map(str::to_owned)
        .map_err(|e| format!("{} ({})", e.why, hearth_protocol::slug::HINT))
}
