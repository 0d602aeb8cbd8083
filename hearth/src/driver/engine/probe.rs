//! The well-known sockets, tried in this order when nothing names an engine and the default
//! socket is absent: rootless Docker, Docker Desktop, colima, OrbStack, rootless Podman, then
//! rootful Podman. A socket counts when it accepts a connection (or refuses the user for want
//! of permission: it is there, and `hearth doctor` says why it cannot be used); a file left
//! behind by an engine that stopped is passed over.

use std::io::ErrorKind;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use super::resolve::Inputs;

/// The places, in the order they are tried, with the engine each belongs to.
pub fn places(inputs: &Inputs) -> Vec<(&'static str, PathBuf)> {
    let mut out = Vec::new();
    if let Some(run) = &inputs.xdg_runtime_dir {
        out.push(("rootless Docker", run.join("docker.sock")));
    }
    if let Some(home) = &inputs.home {
        out.push(("Docker Desktop", home.join(".docker/run/docker.sock")));
        out.push(("colima", home.join(".colima/default/docker.sock")));
        out.push(("OrbStack", home.join(".orbstack/run/docker.sock")));
    }
    if let Some(run) = &inputs.xdg_runtime_dir {
        out.push(("rootless Podman", run.join("podman/podman.sock")));
    }
    out.push(("rootful Podman", inputs.root.join("run/podman/podman.sock")));
    out
}

/// The first place whose socket is there and answers a connection.
pub fn first_answering(places: &[(&'static str, PathBuf)]) -> Option<(&'static str, PathBuf)> {
    places
        .iter()
        .find(|(_, path)| match UnixStream::connect(path) {
            Ok(_) => true,
            Err(e) => e.kind() == ErrorKind::PermissionDenied,
        })
        .cloned()
}
