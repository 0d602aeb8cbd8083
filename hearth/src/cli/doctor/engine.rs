//! The doctor's engine checks: where the engine is and why (the resolver's answer), whether
//! this user may use its socket, whether it answers and what it is (Docker or Podman,
//! version, API, cgroup version), pause support, swarm state, and the address pools left for
//! workspace networks; then the image and lock checks, which need the engine too.

use std::io::ErrorKind;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::Path;

use bollard::models::{LocalNodeState, SystemInfo, SystemInfoCgroupVersionEnum};
use bollard::query_parameters::ListNetworksOptions;
use bollard::Docker;
use hearth_protocol::hearth::DriverName;

use super::{images, Check, ONE_CHECK};
use crate::cli::settings::Settings;
use crate::driver::engine::flavor::Flavor;
use crate::driver::engine::{resolve, Engine, Inputs, CONNECT_TIMEOUT};

/// How many bridge networks Docker's default address pools hold (172.17-31.0.0/16 and
/// 192.168.0.0/16 in /20s).
const DEFAULT_POOLS: usize = 31;

/// The engine's checks, in order.
pub(super) async fn checks(settings: &Settings) -> Vec<Check> {
    if settings.driver == DriverName::Fake {
        return vec![Check::ok("engine", "not used: --driver fake")];
    }
    if settings.driver == DriverName::Kustomize {
        return vec![Check::ok(
            "engine",
            format!(
                "not used: --driver kustomize writes manifests to {}",
                settings.kustomize_out.display()
            ),
        )];
    }
    let endpoint = match resolve(&Inputs::from_env(settings.engine.clone())) {
        Ok(e) => e,
        Err(e) => return vec![Check::fail("engine", e.to_string(), e.hint())],
    };
    let mut out = vec![Check::ok("engine", endpoint.to_string())];
    if let Some(path) = endpoint.socket() {
        out.push(socket(path));
    }
    let engine = Engine::new(endpoint);
    let answered = tokio::time::timeout(CONNECT_TIMEOUT + ONE_CHECK, facts(&engine)).await;
    let docker = match answered {
        Ok(Ok((docker, version, info))) => {
            let flavor = Flavor::detect(&version, &info);
            out.push(api(&docker, &flavor, &info));
            out.push(pause(&flavor));
            out.push(swarm(settings, &info));
            docker
        }
        Ok(Err(e)) => {
            out.push(Check::fail(
                "engine-api",
                e.to_string(),
                e.hint().unwrap_or_default(),
            ));
            out.push(skipped());
            return out;
        }
        Err(_) => {
            out.push(Check::fail(
                "engine-api",
                format!("no answer within {:?}", CONNECT_TIMEOUT + ONE_CHECK),
                "the engine accepts connections but does not answer: restart it",
            ));
            out.push(skipped());
            return out;
        }
    };
    let (images, pools) = tokio::join!(
        images::checks(settings, &engine),
        Check::bounded("address-pools", ONE_CHECK, pools(settings, &docker))
    );
    out.extend(images);
    out.push(pools);
    out
}

/// What is left unchecked when the engine does not answer.
fn skipped() -> Check {
    Check::warn(
        "images",
        "not checked: the engine did not answer (nor the lock, nor the address pools)",
        "fix the engine first, then run `hearth doctor` again",
    )
}

/// The client, and the engine's version and info answers.
async fn facts(
    engine: &Engine,
) -> Result<(Docker, bollard::models::SystemVersion, SystemInfo), crate::error::HearthError> {
    let docker = engine.client().await?.clone();
    let map = crate::driver::engine::map_err;
    let version = docker
        .version()
        .await
        .map_err(|e| map("read the engine's version", e))?;
    let info = docker
        .info()
        .await
        .map_err(|e| map("read the engine's info", e))?;
    Ok((docker, version, info))
}

/// Who may use the socket, and whether this user can.
fn socket(path: &Path) -> Check {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            return Check::fail(
                "socket",
                format!("{}: {e}", path.display()),
                "start the engine",
            )
        }
    };
    let user = nix::unistd::User::from_uid(meta.uid().into())
        .ok()
        .flatten()
        .map_or_else(|| meta.uid().to_string(), |u| u.name);
    let group = nix::unistd::Group::from_gid(meta.gid().into())
        .ok()
        .flatten()
        .map_or_else(|| meta.gid().to_string(), |g| g.name);
    let about = format!(
        "{}: mode {:04o}, {user}:{group}",
        path.display(),
        meta.permissions().mode() & 0o7777
    );
    match UnixStream::connect(path) {
        Ok(_) => Check::ok("socket", format!("{about}; this user can connect")),
        Err(e) if e.kind() == ErrorKind::PermissionDenied => Check::fail(
            "socket",
            format!(
                "{about}; permission denied for uid {}",
                nix::unistd::geteuid()
            ),
            if group == "docker" {
                "add yourself to the docker group: `sudo usermod -aG docker $USER`, then log in \
                 again (or `newgrp docker`)"
                    .to_owned()
            } else {
                format!(
                    "ask for access to the socket (its group {group}), or run an engine of your \
                     own (rootless Docker, Podman) and point --docker-host at it"
                )
            },
        ),
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => Check::fail(
            "socket",
            format!("{about}; nobody listens on it (the engine stopped and left its socket)"),
            "start the engine (`sudo systemctl start docker`, `colima start`, …)",
        ),
        Err(e) => Check::fail("socket", format!("{about}; {e}"), "check the engine"),
    }
}

/// The engine's kind, version, API and cgroup version.
fn api(docker: &Docker, flavor: &Flavor, info: &SystemInfo) -> Check {
    let cgroup = match info.cgroup_version {
        Some(SystemInfoCgroupVersionEnum::_1) => "cgroup v1",
        Some(SystemInfoCgroupVersionEnum::_2) => "cgroup v2",
        _ => "cgroup version not said",
    };
    Check::ok(
        "engine-api",
        format!(
            "{} {}, API {}, {cgroup}, storage {}",
            flavor.kind,
            flavor.version,
            docker.client_version(),
            info.driver.as_deref().unwrap_or("unknown")
        ),
    )
}

fn pause(flavor: &Flavor) -> Check {
    match &flavor.no_pause {
        None => Check::ok("pause", "supported"),
        Some(why) => Check::warn(
            "pause",
            format!("not supported: {why}"),
            "pause and resume answer `unsupported` on this engine; a rootful engine, or cgroup \
             v2, can freeze containers",
        ),
    }
}

fn swarm(settings: &Settings, info: &SystemInfo) -> Check {
    let swarm = info.swarm.as_ref();
    let state = swarm
        .and_then(|s| s.local_node_state)
        .unwrap_or(LocalNodeState::INACTIVE);
    let manager = swarm.and_then(|s| s.control_available).unwrap_or(false);
    let detail = format!("{state}{}", if manager { ", a manager" } else { "" });
    if settings.driver == DriverName::Swarm && !(state == LocalNodeState::ACTIVE && manager) {
        return Check::fail(
            "swarm",
            format!("{detail}: --driver swarm needs a manager"),
            "`docker swarm init` on this engine, or point --docker-host at a manager",
        );
    }
    Check::ok("swarm", detail)
}

/// Bridge networks against the engine's default pools, and what is left of hearth's own.
async fn pools(settings: &Settings, docker: &Docker) -> Check {
    let networks = match docker.list_networks(None::<ListNetworksOptions>).await {
        Ok(n) => n,
        Err(e) => return Check::fail("address-pools", e.to_string(), "check the engine"),
    };
    let pool = &settings.docker.subnet_pool;
    let subnets = |n: &bollard::models::Network| -> Vec<String> {
        n.ipam
            .as_ref()
            .and_then(|i| i.config.clone())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|c| c.subnet)
            .collect()
    };
    let mut in_pool = 0;
    let mut bridges = 0;
    for n in networks
        .iter()
        .filter(|n| n.driver.as_deref() == Some("bridge"))
    {
        let s = subnets(n);
        if s.iter().any(|s| pool.contains(s)) {
            in_pool += 1;
        } else if !s.is_empty() {
            bridges += 1;
        }
    }
    let left = pool.len().saturating_sub(in_pool);
    let detail = format!(
        "{bridges} bridge networks on the engine's default pools (Docker's hold about \
         {DEFAULT_POOLS}); hearth's pool {pool}: {left} of {} left",
        pool.len()
    );
    if left == 0 {
        return Check::fail(
            "address-pools",
            detail,
            "set [network] subnet_pool to a larger free range, or tear workspaces down",
        );
    }
    if bridges >= DEFAULT_POOLS {
        return Check::warn(
            "address-pools",
            detail,
            "the default pools look used up: new workspace networks come from hearth's pool \
             (`docker network prune` frees unused ones)",
        );
    }
    Check::ok("address-pools", detail)
}
