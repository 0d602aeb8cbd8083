//! The `tcp` probe: something listens on the port *inside* the role. A connect to the
//! published port proves nothing (docker-proxy, or Podman's rootlessport, accepts it before
//! anything listens inside), so the backend looks inside ([`Target::listens`]: for an engine
//! beside hearth, the container's own `/proc/<pid>/net/tcp{,6}`, which works with a
//! `FROM scratch` image). A backend that cannot look inside falls back to the published port
//! and counts a connection that stays open (or answers) for a moment as listening; one the
//! proxy closes at once is not.

use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::{Target, Verdict};

/// How long a connection through the proxy must stay open to count as listening.
const HELD: Duration = Duration::from_millis(100);

pub(super) async fn attempt(target: &dyn Target, port: u16) -> Verdict {
    match target.listens(port).await {
        Ok(true) => Verdict::Pass,
        Ok(false) => Verdict::NotYet(format!("nothing listens on port {port} inside the role")),
        Err(why) => through_published(target, port, &why).await,
    }
}

async fn through_published(target: &dyn Target, port: u16, why: &str) -> Verdict {
    let Some(addr) = target.published(port) else {
        return Verdict::NotYet(format!(
            "port {port}: cannot look inside the role ({why}) and the port is not published"
        ));
    };
    let mut stream = match tokio::net::TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => return Verdict::NotYet(format!("port {port} (published {addr}): {e}")),
    };
    let mut buf = [0u8; 1];
    match tokio::time::timeout(HELD, stream.read(&mut buf)).await {
        // Held open, or it spoke: a listener is behind the proxy.
        Err(_) | Ok(Ok(1..)) => Verdict::Pass,
        Ok(Ok(_)) | Ok(Err(_)) => Verdict::NotYet(format!(
            "port {port}: the published port closed at once (nothing behind the proxy yet)"
        )),
    }
}

/// The ports in LISTEN state in a `/proc/<pid>/net/tcp` or `tcp6` table, leaving out Docker's
/// embedded DNS resolver (127.0.0.11), which listens in every container of a user network.
pub(crate) fn listening_ports(table: &str) -> Vec<u16> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let local = *cols.get(1)?;
            // st 0A is LISTEN; 0B00007F is 127.0.0.11, little-endian.
            if cols.get(3) != Some(&"0A") || local.starts_with("0B00007F:") {
                return None;
            }
            let (_, port) = local.rsplit_once(':')?;
            u16::from_str_radix(port, 16).ok()
        })
        .collect()
}
