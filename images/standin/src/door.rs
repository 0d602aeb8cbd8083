//! `hearth-standin forward PORT=HOST:PORT…`: a workspace's door on a multi-node swarm. It
//! listens on each PORT and copies every connection, both ways, to HOST:PORT, resolving HOST
//! again for each connection (a role's task moves to a new address after a wake or an
//! upgrade; Docker's embedded DNS answers with the current one). hearth runs it on its own
//! node, attached to the workspace's overlay, so a role on another node is reached from
//! hearth's loopback without anything listening beyond it.

use crate::say::say;
use std::io;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use crate::dns;

/// How long connecting to a role may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One forwarding rule: `listen=host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    pub listen: u16,
    pub host: String,
    pub port: u16,
}

/// Parses `PORT=HOST:PORT` rules; an error names the rule and what is wrong.
pub(crate) fn parse(args: &[String]) -> Result<Vec<Rule>, String> {
    if args.is_empty() {
        return Err("forward: give at least one PORT=HOST:PORT".into());
    }
    args.iter()
        .map(|a| {
            let bad = |why: &str| format!("forward: {a:?} {why} (want PORT=HOST:PORT)");
            let (listen, to) = a.split_once('=').ok_or_else(|| bad("has no '='"))?;
            let (host, port) = to.rsplit_once(':').ok_or_else(|| bad("has no ':PORT'"))?;
            let listen = listen.parse().map_err(|_| bad("has a bad listen port"))?;
            let port = port.parse().map_err(|_| bad("has a bad target port"))?;
            if host.is_empty() {
                return Err(bad("has no host"));
            }
            Ok(Rule {
                listen,
                host: host.to_owned(),
                port,
            })
        })
        .collect()
}

/// Binds every rule's port, then forwards until the process is stopped.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let rules = parse(args)?;
    let mut listeners = Vec::new();
    for r in &rules {
        let l = TcpListener::bind(("0.0.0.0", r.listen))
            .map_err(|e| format!("forward: cannot listen on 0.0.0.0:{}: {e}", r.listen))?;
        listeners.push((l, r.clone()));
    }
    say!("hearth-standin: forwarding {rules:?}");
    let handles: Vec<_> = listeners
        .into_iter()
        .map(|(l, r)| thread::spawn(move || accept(&l, &r)))
        .collect();
    for h in handles {
        let _ = h.join();
    }
    Ok(())
}

fn accept(listener: &TcpListener, rule: &Rule) {
    for inbound in listener.incoming().flatten() {
        let rule = rule.clone();
        thread::spawn(move || {
            if let Err(e) = forward(inbound, &rule) {
                say!(
                    "hearth-standin: forward to {}:{}: {e}",
                    rule.host,
                    rule.port
                );
            }
        });
    }
}

/// Connects to the rule's target (the first address that answers) and copies both ways.
fn forward(inbound: TcpStream, rule: &Rule) -> Result<(), String> {
    let addrs = dns::resolve(&rule.host, rule.port)?;
    let outbound = addrs
        .iter()
        .find_map(|a| TcpStream::connect_timeout(a, CONNECT_TIMEOUT).ok())
        .ok_or_else(|| format!("no address of {addrs:?} answers"))?;
    let (mut a_in, mut a_out) = (
        inbound.try_clone().map_err(|e| e.to_string())?,
        outbound.try_clone().map_err(|e| e.to_string())?,
    );
    let up = thread::spawn(move || {
        let _ = io::copy(&mut a_in, &mut a_out);
        let _ = a_out.shutdown(Shutdown::Write);
    });
    let (mut b_in, mut b_out) = (outbound, inbound);
    let _ = io::copy(&mut b_in, &mut b_out);
    let _ = b_out.shutdown(Shutdown::Write);
    let _ = up.join();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn rules_parse_and_bad_ones_name_themselves() {
        let ok = parse(&["8001=lore:9000".into(), "8002=10.0.0.2:80".into()]).unwrap();
        assert_eq!(
            ok[0],
            Rule {
                listen: 8001,
                host: "lore".into(),
                port: 9000
            }
        );
        assert_eq!(ok[1].host, "10.0.0.2");
        for bad in ["8001", "8001=lore", "x=lore:80", "8001=lore:x", "8001=:80"] {
            let e = parse(&[bad.into()]).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
        assert!(parse(&[]).is_err());
    }

    #[test]
    fn bytes_go_both_ways_to_the_target() {
        let echo = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = echo.local_addr().unwrap().port();
        thread::spawn(move || {
            for mut s in echo.incoming().flatten() {
                let mut buf = [0u8; 4];
                s.read_exact(&mut buf).unwrap();
                s.write_all(&buf).unwrap();
            }
        });
        let door = TcpListener::bind("127.0.0.1:0").unwrap();
        let door_addr = door.local_addr().unwrap();
        let rule = Rule {
            listen: door_addr.port(),
            host: "127.0.0.1".into(),
            port,
        };
        thread::spawn(move || accept(&door, &rule));
        let mut c = TcpStream::connect(door_addr).unwrap();
        c.write_all(b"ping").unwrap();
        let mut buf = [0u8; 4];
        c.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping");
    }
}
