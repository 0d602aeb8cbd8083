//! The optional TCP-only listener (`TCP_PORT`): a service that is "ready" when its port
//! accepts, with no HTTP on it. It closes each connection at once, or echoes one line.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use crate::accept::accept_loop;
use crate::config::TcpMode;

/// How long an echo connection may take to send its line.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest line echoed; the rest is not read.
const MAX_LINE_BYTES: u64 = 4096;

/// Serves the TCP listener forever.
pub(crate) fn serve(listener: TcpListener, mode: TcpMode) {
    accept_loop(listener, b"", move |stream| match mode {
        TcpMode::Close => drop(stream),
        TcpMode::Echo => {
            let _ = echo(stream);
        }
    });
}

/// Reads one line (or up to `MAX_LINE_BYTES`) and writes it back.
fn echo(stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut line = Vec::new();
    BufReader::new(Read::take(&stream, MAX_LINE_BYTES)).read_until(b'\n', &mut line)?;
    let mut stream = stream;
    stream.write_all(&line)?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    fn start(mode: TcpMode) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || serve(listener, mode));
        addr
    }

    #[test]
    fn echo_mode_sends_the_line_back_and_closes() {
        let mut s = TcpStream::connect(start(TcpMode::Echo)).unwrap();
        s.write_all(b"ping lore\nnot this\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        assert_eq!(out, "ping lore\n");
    }

    #[test]
    fn close_mode_accepts_and_closes_without_a_byte() {
        let mut s = TcpStream::connect(start(TcpMode::Close)).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        assert!(out.is_empty());
    }
}
