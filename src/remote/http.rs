//! The health probe: `GET http://127.0.0.1:<port><path>` on the host, through a direct-tcpip
//! channel of the session (sshd connects to the port on the host's loopback), so the app's
//! port need not be reachable from here. Reads the status line only.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use ssh2::ErrorCode;

use super::io::{Fail, Io};
use super::RemoteError;
use crate::config::HealthPath;

/// libssh2's "the server refused to open the channel" (`LIBSSH2_ERROR_CHANNEL_FAILURE`).
const CHANNEL_FAILURE: i32 = -21;
/// A status line longer than this is not HTTP.
const MAX_STATUS_LINE: usize = 8 * 1024;

pub(crate) fn get(io: &Io, port: u16, path: &str, timeout: Duration) -> Result<u16, RemoteError> {
    let what = format!("GET 127.0.0.1:{port}{path}");
    let fail = |message: String| RemoteError::Http {
        host: io.host.clone(),
        port,
        message,
    };
    if HealthPath::check(path).is_err() {
        return Err(fail(format!("`{path}` is not an absolute URL path")));
    }
    let started = Instant::now();
    let deadline = Some(started + timeout);
    let opened = io.retry(deadline, || {
        io.session.channel_direct_tcpip("127.0.0.1", port, None)
    });
    let mut channel = match opened {
        Ok(channel) => channel,
        Err(Fail::TimedOut) => return Err(io.timeout(&what, started.elapsed())),
        Err(Fail::Ssh(e)) if e.code() == ErrorCode::Session(CHANNEL_FAILURE) => {
            return Err(fail(format!(
                "nothing answers on 127.0.0.1:{port} ({})",
                e.message().to_lowercase()
            )))
        }
        Err(Fail::Ssh(e)) => return Err(io.lost(&what, &e)),
        Err(Fail::Io(e)) => return Err(io.lost(&what, &e)),
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: deliver\r\n\
         Connection: close\r\n\r\n"
    );
    let mut response = Vec::new();
    let result = exchange(
        io,
        &mut channel,
        request.as_bytes(),
        &mut response,
        deadline,
    );
    // Not waiting for the body: close, within a moment.
    let _ = io.retry(Some(Instant::now() + Duration::from_millis(500)), || {
        channel.close()
    });
    match result {
        Ok(()) => {}
        Err(Fail::TimedOut) => return Err(io.timeout(&what, started.elapsed())),
        Err(Fail::Ssh(e)) => return Err(io.lost(&what, &e)),
        Err(Fail::Io(e)) => return Err(io.lost(&what, &e)),
    }
    parse_status(&response).ok_or_else(|| {
        let shown = String::from_utf8_lossy(&response[..response.len().min(80)]).into_owned();
        fail(if response.is_empty() {
            "the connection closed without a response".to_owned()
        } else {
            format!("not an HTTP response: {shown:?}")
        })
    })
}

/// Writes the request, then reads until the end of the status line, the end of the
/// response, or [`MAX_STATUS_LINE`] bytes.
fn exchange(
    io: &Io,
    channel: &mut ssh2::Channel,
    request: &[u8],
    response: &mut Vec<u8>,
    deadline: Option<Instant>,
) -> Result<(), Fail> {
    let mut written = 0;
    while written < request.len() {
        written += io.retry_io(deadline, || channel.write(&request[written..]))?;
    }
    let mut buf = [0u8; 1024];
    while !response.windows(2).any(|w| w == b"\r\n") && response.len() < MAX_STATUS_LINE {
        let n = io.retry_io(deadline, || channel.read(&mut buf))?;
        if n == 0 {
            break;
        }
        response.extend_from_slice(&buf[..n]);
    }
    Ok(())
}

/// `HTTP/1.x NNN ...` → NNN.
fn parse_status(response: &[u8]) -> Option<u16> {
    let line = response.split(|&b| b == b'\r' || b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    let version = parts.next()?;
    let code = parts.next()?;
    (version.starts_with("HTTP/") && code.len() == 3)
        .then(|| code.parse().ok())
        .flatten()
        .filter(|c| (100..600).contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(parse_status(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(
            parse_status(b"HTTP/1.0 503 Service Unavailable\r\nx"),
            Some(503)
        );
        assert_eq!(parse_status(b"HTTP/1.1 204\r\n"), Some(204));
        assert_eq!(parse_status(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(parse_status(b"HTTP/1.1 2000 OK\r\n"), None);
        assert_eq!(parse_status(b""), None);
    }
}
