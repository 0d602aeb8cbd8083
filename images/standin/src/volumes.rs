//! `hearth-standin remove-volumes NAME…`: a one-off task hearth runs on a swarm worker node to
//! remove a torn-down workspace's volumes there (the manager's API cannot remove a volume on
//! another node). It asks the node's own engine, whose socket the task mounts at
//! `/var/run/docker.sock`, to `DELETE /volumes/NAME` for each name; a volume already gone
//! counts as removed. Exit 0 when every volume is gone, 1 (with the engine's answer on
//! stderr) otherwise.

use crate::say::say;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// Where the task mounts its node's engine socket.
const SOCKET: &str = "/var/run/docker.sock";

/// Removes every named volume; the exit code.
pub(crate) fn run(names: &[String]) -> i32 {
    if names.is_empty() {
        say!("hearth-standin: remove-volumes: name at least one volume");
        return 2;
    }
    let mut code = 0;
    for name in names {
        match remove(SOCKET, name) {
            Ok(status) => println!("hearth-standin: volume {name}: {status}"),
            Err(e) => {
                say!("hearth-standin: volume {name}: {e}");
                code = 1;
            }
        }
    }
    code
}

/// `DELETE /volumes/NAME` on the engine at `socket`: `removed` or `already gone`.
fn remove(socket: &str, name: &str) -> Result<&'static str, String> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    {
        return Err(format!("{name:?} is not a volume name"));
    }
    let mut s = UnixStream::connect(socket).map_err(|e| format!("cannot reach {socket}: {e}"))?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    write!(
        s,
        "DELETE /volumes/{name} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).map_err(|e| e.to_string())?;
    let status = answer.split(' ').nth(1).unwrap_or("");
    match status {
        "204" => Ok("removed"),
        "404" => Ok("already gone"),
        _ => Err(format!(
            "the engine answered: {}",
            answer.lines().last().unwrap_or(&answer)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    fn engine(answer: &'static str) -> (std::path::PathBuf, std::thread::JoinHandle<String>) {
        let dir = std::env::temp_dir().join(format!(
            "standin-vol-{}-{}",
            std::process::id(),
            answer.len()
        ));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("d.sock");
        let _ = std::fs::remove_file(&path);
        let l = UnixListener::bind(&path).unwrap();
        let h = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let mut buf = [0u8; 512];
            let n = c.read(&mut buf).unwrap();
            c.write_all(answer.as_bytes()).unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        });
        (path, h)
    }

    #[test]
    fn asks_the_engine_to_delete_and_reads_its_answer() {
        let (path, h) = engine("HTTP/1.1 204 No Content\r\n\r\n");
        assert_eq!(
            remove(path.to_str().unwrap(), "hearth-x_ws_lore-data"),
            Ok("removed")
        );
        assert!(h
            .join()
            .unwrap()
            .starts_with("DELETE /volumes/hearth-x_ws_lore-data HTTP/1.1\r\n"));
        let (path, _h) = engine("HTTP/1.1 409 Conflict\r\n\r\n{\"message\":\"volume is in use\"}");
        let e = remove(path.to_str().unwrap(), "v").unwrap_err();
        assert!(e.contains("in use"), "{e}");
        assert!(remove("/nonexistent", "a/b")
            .unwrap_err()
            .contains("not a volume name"));
    }
}
