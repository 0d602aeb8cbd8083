//! The docker CLI path: the same workspace built by a shell script would build it, one
//! `docker` call after another — what a user without hearth and without an API client does.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::process::Command;

use crate::ready::{self, Prober};
use crate::spec::{self, Names, ROLES, SERVICE_PORT};

/// Everything one CLI workspace needs to be built.
#[derive(Debug, Clone)]
pub(crate) struct Cli {
    /// The readiness probe shared with the floor.
    pub prober: Prober,
    /// The image of both services.
    pub image: String,
    /// The labels put on every object.
    pub labels: HashMap<String, String>,
    /// How long a service may take to answer HTTP.
    pub ready_deadline: Duration,
}

/// Runs `docker ARGS` and returns its stdout.
async fn docker(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("docker")
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .context("run the docker CLI")?;
    if !out.status.success() {
        bail!(
            "docker {} failed: {}",
            args.first().copied().unwrap_or(""),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Cli {
    fn label_args(&self) -> Vec<String> {
        let mut labels: Vec<_> = self.labels.iter().collect();
        labels.sort();
        labels
            .into_iter()
            .flat_map(|(k, v)| ["--label".to_owned(), format!("{k}={v}")])
            .collect()
    }

    /// Network, volumes, `docker run` per service, `docker port`, then HTTP-ready, in order.
    ///
    /// # Errors
    /// On a failing call or a service that does not answer in time.
    pub(crate) async fn provision(&self, names: &Names) -> anyhow::Result<()> {
        let labels = self.label_args();
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        let network = names.network();
        docker(&[&["network", "create"], &labels[..], &[&network]].concat()).await?;
        for role in ROLES {
            let volume = names.volume(role);
            docker(&[&["volume", "create"], &labels[..], &[&volume]].concat()).await?;
        }
        for role in ROLES {
            let (name, volume) = (names.container(role), names.volume(role));
            let (mount, env) = (format!("{volume}:/data"), format!("HEARTH_ROLE={role}"));
            let (memory, pids) = (spec::MEMORY_BYTES.to_string(), spec::PIDS_LIMIT.to_string());
            let cpus = format!("{}", spec::NANO_CPUS as f64 / 1e9);
            let publish = format!("127.0.0.1::{SERVICE_PORT}");
            let args = [
                &[
                    "run",
                    "-d",
                    "--init",
                    "--name",
                    &name,
                    "--network",
                    &network,
                ][..],
                &[
                    "--network-alias",
                    role,
                    "-v",
                    &mount,
                    "-e",
                    &env,
                    "-p",
                    &publish,
                ],
                &["--memory", &memory, "--pids-limit", &pids, "--cpus", &cpus],
                &labels[..],
                &[&self.image],
            ]
            .concat();
            docker(&args).await?;
        }
        let mut urls = Vec::new();
        for role in ROLES {
            let out = docker(&[
                "port",
                &names.container(role),
                &format!("{SERVICE_PORT}/tcp"),
            ])
            .await?;
            urls.push(ready::url(ready::parse_port(&out)?));
        }
        for url in urls {
            self.prober.wait(&url, self.ready_deadline).await?;
        }
        Ok(())
    }

    /// `docker stop`, `docker rm` per service, then the volumes and the network, in order.
    ///
    /// # Errors
    /// On a failing call.
    pub(crate) async fn teardown(&self, names: &Names) -> anyhow::Result<()> {
        let t = spec::STOP_TIMEOUT_S.to_string();
        for role in ROLES {
            docker(&["stop", "-t", &t, &names.container(role)]).await?;
        }
        for role in ROLES {
            docker(&["rm", &names.container(role)]).await?;
        }
        for role in ROLES {
            docker(&["volume", "rm", &names.volume(role)]).await?;
        }
        docker(&["network", "rm", &names.network()]).await?;
        Ok(())
    }
}
