//! The OSS-parity network check: while the play runs, sample every child's open sockets
//! (`/proc/PID/fd` → `socket:[INODE]`) against its network namespace's TCP and UDP tables
//! (`/proc/PID/net/{tcp,tcp6,udp,udp6}`) and record any remote address that is not loopback
//! nor on one of the given local bridge subnets (hearth's Swarm relays reach the project's
//! own task containers on the node's `docker_gwbridge`). Unix sockets do not appear in those
//! tables and are always allowed.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Pause between two samples.
const SAMPLE_EVERY: Duration = Duration::from_millis(20);

/// What the watch saw.
#[derive(Debug, Default, Clone)]
pub struct NetReport {
    /// Rounds of sampling done.
    pub samples: usize,
    /// Distinct inet sockets seen open in the children.
    pub sockets_seen: usize,
    /// Distinct connected inet sockets (a remote address set) seen.
    pub connected_seen: usize,
    /// `process: local -> remote` for every non-loopback remote address seen.
    pub violations: Vec<String>,
}

/// A background sampler; [`NetWatch::finish`] stops it and returns the report.
#[derive(Debug)]
pub struct NetWatch {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<NetReport>>,
}

impl NetWatch {
    /// Starts sampling the processes `(name, pid)`; remote addresses in `bridges` (local
    /// bridge subnets, as `(network, prefix length)`) are allowed beside loopback.
    pub fn start(pids: Vec<(String, u32)>, bridges: Vec<(Ipv4Addr, u8)>) -> NetWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut report = NetReport::default();
            let mut seen = HashSet::new();
            let mut connected = HashSet::new();
            let mut reported = HashSet::new();
            loop {
                // One more round after the stop flag, so the last moment is covered too.
                let last = flag.load(Ordering::SeqCst);
                for (name, pid) in &pids {
                    for s in sample(*pid) {
                        seen.insert(s.inode);
                        if s.remote.1 == 0 && s.remote.0.is_unspecified() {
                            continue;
                        }
                        connected.insert(s.inode);
                        if !is_loopback(s.remote.0) && !on_bridge(s.remote.0, &bridges) {
                            let line = format!(
                                "{name} (pid {pid}) {} {}:{} -> {}:{}",
                                s.proto, s.local.0, s.local.1, s.remote.0, s.remote.1
                            );
                            if reported.insert(line.clone()) {
                                report.violations.push(line);
                            }
                        }
                    }
                }
                report.samples += 1;
                if last {
                    break;
                }
                std::thread::sleep(SAMPLE_EVERY);
            }
            report.sockets_seen = seen.len();
            report.connected_seen = connected.len();
            report
        });
        NetWatch {
            stop,
            handle: Some(handle),
        }
    }

    /// Stops sampling and returns what was seen.
    pub fn finish(mut self) -> NetReport {
        self.stop.store(true, Ordering::SeqCst);
        self.handle
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for NetWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Whether `ip` lies in one of `bridges` (`(network, prefix length)`).
pub fn on_bridge(ip: IpAddr, bridges: &[(Ipv4Addr, u8)]) -> bool {
    let v4 = match ip {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4,
            None => return false,
        },
    };
    bridges.iter().any(|(net, prefix)| {
        let mask = u32::MAX.checked_shl(32 - u32::from(*prefix)).unwrap_or(0);
        u32::from(v4) & mask == u32::from(*net) & mask
    })
}

/// Parses `a.b.c.d/n`.
pub fn parse_subnet(text: &str) -> Option<(Ipv4Addr, u8)> {
    let (net, prefix) = text.trim().split_once('/')?;
    let prefix: u8 = prefix.parse().ok().filter(|p| *p <= 32)?;
    Some((net.parse().ok()?, prefix))
}

/// The subnets of the engine's `docker_gwbridge` (the bridge a swarm's task containers use
/// on this node), or none when there is no such network.
pub fn gwbridge_subnets() -> Vec<(Ipv4Addr, u8)> {
    gwbridge_subnets_at(None)
}

/// [`gwbridge_subnets`] of the engine at `host` (`None`: `DOCKER_HOST` or the local socket).
pub fn gwbridge_subnets_at(host: Option<&str>) -> Vec<(Ipv4Addr, u8)> {
    let mut cmd = std::process::Command::new("docker");
    if let Some(h) = host {
        cmd.env("DOCKER_HOST", h);
    }
    cmd.args([
        "network",
        "inspect",
        "docker_gwbridge",
        "--format",
        "{{range .IPAM.Config}}{{.Subnet}} {{end}}",
    ])
    .output()
    .ok()
    .filter(|o| o.status.success())
    .map(|o| {
        String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .filter_map(parse_subnet)
            .collect()
    })
    .unwrap_or_default()
}

/// Whether a remote address stays on this machine.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// One inet socket of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InetSocket {
    pub proto: &'static str,
    pub inode: u64,
    pub local: (IpAddr, u16),
    pub remote: (IpAddr, u16),
}

/// The inet sockets `pid` holds right now (empty if it has exited).
pub fn sample(pid: u32) -> Vec<InetSocket> {
    let inodes = socket_inodes(pid);
    if inodes.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for proto in ["tcp", "tcp6", "udp", "udp6"] {
        let Ok(table) = std::fs::read_to_string(format!("/proc/{pid}/net/{proto}")) else {
            continue;
        };
        for (inode, local, remote) in parse_table(&table) {
            if inodes.contains(&inode) {
                out.push(InetSocket {
                    proto,
                    inode,
                    local,
                    remote,
                });
            }
        }
    }
    out
}

/// The inodes behind `socket:[N]` links in `/proc/PID/fd`.
fn socket_inodes(pid: u32) -> HashSet<u64> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return HashSet::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|target| {
            let t = target.to_string_lossy().into_owned();
            t.strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse::<u64>()
                .ok()
        })
        .collect()
}

type Endpoint = (IpAddr, u16);

/// Parses a `/proc/net/{tcp,udp}[6]` table into `(inode, local, remote)` rows.
pub fn parse_table(text: &str) -> Vec<(u64, Endpoint, Endpoint)> {
    let mut rows = Vec::new();
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() < 10 {
            continue;
        }
        let (Some(local), Some(remote), Ok(inode)) = (
            parse_endpoint(cols[1]),
            parse_endpoint(cols[2]),
            cols[9].parse::<u64>(),
        ) else {
            continue;
        };
        rows.push((inode, local, remote));
    }
    rows
}

/// `0100007F:1F90` → 127.0.0.1:8080; IPv6 as four little-endian 32-bit words.
fn parse_endpoint(s: &str) -> Option<Endpoint> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(
            u32::from_str_radix(addr, 16).ok()?.swap_bytes(),
        )),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                let word = u32::from_str_radix(&addr[i * 8..i * 8 + 8], 16).ok()?;
                chunk.copy_from_slice(&word.swap_bytes().to_be_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some((ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:A1B2 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 20 4 30 10 -1
   2: 0A00020F:C000 08080808:0035 01 00000000:00000000 00:00000000 00000000     0        0 4444 1 0000000000000000 20 4 30 10 -1
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:A000 01 00000000:00000000 00:00000000 00000000     0        0 5555 1 0000000000000000 20 4 30 10 -1
   1: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:A001 01 00000000:00000000 00:00000000 00000000     0        0 5656 1 0000000000000000 20 4 30 10 -1
";

    #[test]
    fn ipv4_rows_parse() {
        let rows = parse_table(TCP);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].0, 4242);
        assert_eq!(rows[0].1, (IpAddr::V4(Ipv4Addr::LOCALHOST), 8080));
        assert_eq!(rows[1].2, (IpAddr::V4(Ipv4Addr::LOCALHOST), 8080));
        assert_eq!(rows[2].2, (IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8)), 53));
        assert!(!is_loopback(rows[2].2 .0));
    }

    #[test]
    fn ipv6_rows_parse_loopback_and_mapped() {
        let rows = parse_table(TCP6);
        assert_eq!(rows[0].2 .0, IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert!(is_loopback(rows[0].2 .0));
        assert!(is_loopback(rows[1].2 .0), "{:?}", rows[1].2);
    }

    #[test]
    fn a_live_loopback_connection_is_seen_and_allowed() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let client =
            std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let mine = sample(std::process::id());
        let local = client.local_addr().expect("local");
        let row = mine
            .iter()
            .find(|s| s.local.1 == local.port() && s.proto == "tcp")
            .expect("the client socket is sampled");
        assert!(is_loopback(row.remote.0));
        assert_eq!(row.remote.1, listener.local_addr().expect("addr").port());
    }

    #[test]
    fn bridge_subnets_contain_their_hosts_only() {
        let net = parse_subnet("192.168.80.0/20").expect("subnet");
        assert!(on_bridge("192.168.80.4".parse().expect("ip"), &[net]));
        assert!(on_bridge("192.168.95.254".parse().expect("ip"), &[net]));
        assert!(!on_bridge("192.168.96.1".parse().expect("ip"), &[net]));
        assert!(!on_bridge("10.0.0.1".parse().expect("ip"), &[net]));
        assert!(!on_bridge("10.0.0.1".parse().expect("ip"), &[]));
        assert_eq!(parse_subnet("nonsense"), None);
    }
}
