//! Name resolution for `/peer` in a `FROM scratch` image. A static glibc binary resolves
//! `/etc/hosts` and IP literals through std, but its DNS needs NSS modules loaded at run
//! time, which a scratch image does not have — so service names (Docker's and Podman's
//! embedded DNS, Swarm's service names) would never resolve. When std fails, this asks the
//! `/etc/resolv.conf` name servers for an A record itself: one UDP query, std only.

use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long one name server gets to answer one query.
const QUERY_TIMEOUT: Duration = Duration::from_millis(1000);
const TYPE_A: u16 = 1;
const CLASS_IN: u16 = 1;

/// Resolves `host` to socket addresses: std first, then DNS over UDP.
pub(crate) fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    if let Ok(addrs) = (host, port).to_socket_addrs() {
        let addrs: Vec<_> = addrs.collect();
        if !addrs.is_empty() {
            return Ok(addrs);
        }
    }
    let conf = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let (servers, search) = parse_resolv_conf(&conf);
    let ips = lookup(host, &servers, &search)?;
    Ok(ips
        .into_iter()
        .map(|ip| SocketAddr::new(IpAddr::V4(ip), port))
        .collect())
}

/// The `nameserver` addresses (port 53) and `search` domains of a resolv.conf.
fn parse_resolv_conf(conf: &str) -> (Vec<SocketAddr>, Vec<String>) {
    let mut servers = Vec::new();
    let mut search = Vec::new();
    for line in conf.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                if let Some(ip) = words.next().and_then(|w| w.parse::<IpAddr>().ok()) {
                    servers.push(SocketAddr::new(ip, 53));
                }
            }
            Some("search" | "domain") => search = words.map(str::to_owned).collect(),
            _ => {}
        }
    }
    (servers, search)
}

/// Asks each server for `host` as given, then (for a bare name) with each search domain.
fn lookup(host: &str, servers: &[SocketAddr], search: &[String]) -> Result<Vec<Ipv4Addr>, String> {
    if servers.is_empty() {
        return Err(format!(
            "cannot resolve {host:?}: no nameserver in /etc/resolv.conf"
        ));
    }
    let host = host.trim_end_matches('.');
    let mut names = vec![host.to_owned()];
    if !host.contains('.') {
        names.extend(search.iter().map(|d| format!("{host}.{d}")));
    }
    let mut last = String::new();
    for name in &names {
        for server in servers {
            match query_a(name, *server) {
                Ok(ips) if !ips.is_empty() => return Ok(ips),
                Ok(_) => last = format!("{server} has no A record for {name:?}"),
                Err(e) => last = format!("{server} for {name:?}: {e}"),
            }
        }
    }
    Err(format!("cannot resolve {host:?}: {last}"))
}

/// One A query over UDP.
fn query_a(name: &str, server: SocketAddr) -> Result<Vec<Ipv4Addr>, String> {
    let id = query_id();
    let query = build_query(id, name)?;
    let bind = if server.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let socket = UdpSocket::bind(bind).map_err(|e| e.to_string())?;
    socket
        .set_read_timeout(Some(QUERY_TIMEOUT))
        .map_err(|e| e.to_string())?;
    socket.connect(server).map_err(|e| e.to_string())?;
    socket.send(&query).map_err(|e| e.to_string())?;
    let mut buf = [0u8; 1500];
    let n = socket.recv(&mut buf).map_err(|e| e.to_string())?;
    parse_response(id, &buf[..n])
}

/// A query id that differs from one query to the next (not a security boundary: test image).
fn query_id() -> u16 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (nanos ^ std::process::id()) as u16
}

/// A recursion-desired query for the A record of `name`.
fn build_query(id: u16, name: &str) -> Result<Vec<u8>, String> {
    let mut q = Vec::with_capacity(18 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!("{name:?} is not a valid host name"));
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&TYPE_A.to_be_bytes());
    q.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(q)
}

/// The A records in an answer to query `id` (CNAMEs and other records are skipped).
fn parse_response(id: u16, msg: &[u8]) -> Result<Vec<Ipv4Addr>, String> {
    let short = || "short DNS answer".to_owned();
    let u16_at = |i: usize| {
        msg.get(i..i + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(short)
    };
    if u16_at(0)? != id {
        return Err("DNS answer for another query".to_owned());
    }
    match u16_at(2)? & 0x000f {
        0 => {}
        3 => return Ok(Vec::new()),
        rcode => return Err(format!("DNS error code {rcode}")),
    }
    let (questions, answers) = (u16_at(4)?, u16_at(6)?);
    let mut at = 12;
    for _ in 0..questions {
        at = skip_name(msg, at).ok_or_else(short)? + 4;
    }
    let mut ips = Vec::new();
    for _ in 0..answers {
        at = skip_name(msg, at).ok_or_else(short)?;
        let (kind, class, len) = (u16_at(at)?, u16_at(at + 2)?, usize::from(u16_at(at + 8)?));
        let data = msg.get(at + 10..at + 10 + len).ok_or_else(short)?;
        if kind == TYPE_A && class == CLASS_IN && len == 4 {
            ips.push(Ipv4Addr::new(data[0], data[1], data[2], data[3]));
        }
        at += 10 + len;
    }
    Ok(ips)
}

/// The offset just past the (possibly compressed) name starting at `at`.
fn skip_name(msg: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *msg.get(at)?;
        match len {
            0 => return Some(at + 1),
            l if l & 0xc0 == 0xc0 => return Some(at + 2),
            l => at += 1 + usize::from(l),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    /// A name server on a real UDP socket that answers one query for `lore` with a CNAME and
    /// an A record (compressed names, as real servers send), and NXDOMAIN for anything else.
    fn fake_server() -> SocketAddr {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        thread::spawn(move || loop {
            let mut buf = [0u8; 512];
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                return;
            };
            let q = &buf[..n];
            let asked_lore = q[12..].starts_with(b"\x04lore\x00");
            let mut r = q[..2].to_vec();
            r.extend_from_slice(if asked_lore {
                &[0x81, 0x80]
            } else {
                &[0x81, 0x83]
            });
            r.extend_from_slice(&[0, 1, 0, if asked_lore { 2 } else { 0 }, 0, 0, 0, 0]);
            r.extend_from_slice(&q[12..]);
            if asked_lore {
                r.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 4, 1, b'x', 0xc0, 12]);
                r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 7]);
            }
            socket.send_to(&r, from).unwrap();
        });
        addr
    }

    #[test]
    fn queries_are_well_formed() {
        let q = build_query(0xabcd, "lore.net").unwrap();
        assert_eq!(
            q,
            b"\xab\xcd\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x04lore\x03net\x00\x00\x01\x00\x01"
        );
        assert!(build_query(1, "a..b").is_err());
    }

    #[test]
    fn resolv_conf_gives_servers_and_search_domains() {
        let conf = "# docker\nnameserver 127.0.0.11\nnameserver ::1\nsearch dns.podman corp\noptions ndots:0\n";
        let (servers, search) = parse_resolv_conf(conf);
        assert_eq!(
            servers,
            [
                "127.0.0.11:53".parse().unwrap(),
                "[::1]:53".parse().unwrap()
            ]
        );
        assert_eq!(search, ["dns.podman", "corp"]);
    }

    #[test]
    fn a_records_come_back_from_a_real_udp_server() {
        let server = fake_server();
        assert_eq!(
            lookup("lore", &[server], &[]).unwrap(),
            [Ipv4Addr::new(10, 0, 0, 7)]
        );
        let err = lookup("nosuch", &[server], &[]).unwrap_err();
        assert!(err.contains("no A record for \"nosuch\""), "{err}");
        assert!(lookup("lore", &[], &[])
            .unwrap_err()
            .contains("no nameserver"));
    }

    #[test]
    fn answers_for_other_queries_or_truncated_are_refused() {
        assert!(parse_response(1, &[0, 2, 0x81, 0x80]).is_err());
        assert!(parse_response(1, &[0, 1, 0x81, 0x80, 0, 0, 0, 1, 0, 0, 0, 0]).is_err());
        assert!(
            parse_response(1, &[0, 1, 0x81, 0x82, 0, 0, 0, 0, 0, 0, 0, 0])
                .unwrap_err()
                .contains("code 2")
        );
    }
}
