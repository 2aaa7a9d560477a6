//! Commands over the session: one exec channel each. [`run`] sends a [`Script`] to `sh -s`
//! on stdin and streams its output lines; [`upload`] writes bytes to a file atomically;
//! [`exec`] is the loop under both (and under `push`): it writes stdin as the channel window
//! allows while reading stdout and stderr as they come, so neither side can stall the other.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use ssh2::Channel;

use super::io::{would_block, Fail, Io, Want};
use super::{Output, RemoteError, Stream};
use crate::plan::Script;
use crate::shell::quote;

/// Runs `script` with `sh -s`, calling `on_line` for each line of output as it arrives, until
/// it ends or `stop` returns true (see [`exec_until`]).
///
/// The script is sent as one `{ ... } </dev/null` group: `sh` parses the whole group before
/// running any of it, so a command that reads stdin cannot eat the rest of the script, and a
/// script cut short by a lost connection is a syntax error that runs nothing.
pub(crate) fn run(
    io: &Io,
    script: &Script,
    deadline: Option<Instant>,
    stop: &dyn Fn() -> bool,
    on_line: &mut dyn FnMut(Stream, &str),
) -> Result<Output, RemoteError> {
    let text = format!("{{\n{}\n}} </dev/null\n", script.render());
    let mut out = Lines::default();
    let mut err = Lines::default();
    let status = exec_until(
        io,
        "sh -s",
        text.as_bytes(),
        deadline,
        stop,
        &script.name,
        &mut |s, bytes| match s {
            Stream::Stdout => out.push(bytes, &mut |l| on_line(Stream::Stdout, l)),
            Stream::Stderr => err.push(bytes, &mut |l| on_line(Stream::Stderr, l)),
        },
    )?;
    out.finish(&mut |l| on_line(Stream::Stdout, l));
    err.finish(&mut |l| on_line(Stream::Stderr, l));
    Ok(Output {
        status,
        stdout: out.into_text(),
        stderr: err.into_text(),
    })
}

/// Writes `contents` to `path` (home-relative, `~/` allowed, or absolute) with `mode`: into
/// a new temporary file beside it (created under `umask 077`), checked for its full length,
/// chmodded, then renamed over `path`. The bytes travel on stdin, never on a command line.
pub(crate) fn upload(io: &Io, path: &str, contents: &[u8], mode: i32) -> Result<(), RemoteError> {
    let fail = |message: String| RemoteError::Upload {
        host: io.host.clone(),
        path: path.to_owned(),
        message,
    };
    if !(0..=0o7777).contains(&mode) {
        return Err(fail(format!("mode {mode:o} is not a file mode")));
    }
    if path.is_empty() || path.ends_with('/') {
        return Err(fail("not a file path".to_owned()));
    }
    let target = quote(home_relative(path));
    let tmp = quote(&format!(
        "{}.deliver-tmp.{:016x}",
        home_relative(path),
        fastrand::u64(..)
    ));
    let inner = format!(
        "umask 077; t={tmp}; if cat >\"$t\" && [ \"$(wc -c <\"$t\")\" -eq {len} ] && chmod {mode:o} \"$t\" \
         && mv -f \"$t\" {target}; then exit 0; fi; rm -f \"$t\"; exit 1",
        len = contents.len(),
    );
    let mut stderr = Vec::new();
    let status = exec(
        io,
        &format!("sh -c {}", quote(&inner)),
        contents,
        None,
        "upload",
        &mut |s, b| {
            if s == Stream::Stderr {
                stderr.extend_from_slice(b);
            }
        },
    )?;
    if status == 0 {
        Ok(())
    } else {
        let text = String::from_utf8_lossy(&stderr).trim().to_owned();
        Err(fail(if text.is_empty() {
            format!("exit status {status}")
        } else {
            text
        }))
    }
}

/// A `~/` prefix dropped: commands start in the home directory, and a quoted `~` would not
/// expand.
pub(crate) fn home_relative(path: &str) -> &str {
    path.strip_prefix("~/").unwrap_or(path)
}

/// Runs `command` on an exec channel with `stdin` as its input, passing output chunks to
/// `sink` as they arrive; returns the exit status (128 + N for a signal, as shells report).
/// `what` names the command in errors.
pub(crate) fn exec(
    io: &Io,
    command: &str,
    stdin: &[u8],
    deadline: Option<Instant>,
    what: &str,
    sink: &mut dyn FnMut(Stream, &[u8]),
) -> Result<i32, RemoteError> {
    exec_until(io, command, stdin, deadline, &|| false, what, sink)
}

/// As [`exec`], checking `stop` on every turn of the loop (a turn waits at most
/// `POLL_SLICE`): once it returns true the channel is closed, without waiting for the
/// command, and this returns `RemoteError::Interrupted`. Closing the channel closes the
/// command's stdout and stderr on the host: sshd does not kill it, but a follower that
/// watches its output (`journalctl -f`) or writes to it next gets the hang-up and ends.
pub(crate) fn exec_until(
    io: &Io,
    command: &str,
    stdin: &[u8],
    deadline: Option<Instant>,
    stop: &dyn Fn() -> bool,
    what: &str,
    sink: &mut dyn FnMut(Stream, &[u8]),
) -> Result<i32, RemoteError> {
    let started = Instant::now();
    io.begin();
    let failed = |f: Fail| io.failed(what, started, f);
    let mut channel = io
        .retry(deadline, || io.session.channel_session())
        .map_err(failed)?;
    io.retry(deadline, || channel.exec(command))
        .map_err(failed)?;
    let mut written = 0;
    // The last write of stdin blocked: libssh2 may hold a packet of it half-sent.
    let mut blocked = false;
    let mut eof_sent = false;
    let mut done = [false, false];
    let mut buf = vec![0u8; 32 * 1024];
    while !(done[0] && done[1]) {
        if stop() {
            finish_packet(io, &mut channel, blocked.then(|| &stdin[written..]));
            abandon(io, &mut channel);
            io.stopped();
            return Err(RemoteError::Interrupted {
                host: io.host.clone(),
                what: what.to_owned(),
            });
        }
        let mut progress = false;
        let mut want = Want::default();
        if !eof_sent && written < stdin.len() {
            blocked = false;
            match channel.write(&stdin[written..]) {
                Ok(n) => {
                    written += n;
                    progress |= n > 0;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    blocked = true;
                    want |= io.want();
                }
                // The command stopped reading (it exited): its status tells why.
                Err(_) => written = stdin.len(),
            }
        }
        if !eof_sent && written == stdin.len() {
            match channel.send_eof() {
                Ok(()) => {
                    eof_sent = true;
                    progress = true;
                }
                Err(e) if would_block(&e) => want |= io.want(),
                Err(_) => eof_sent = true,
            }
        }
        for (i, stream) in [Stream::Stdout, Stream::Stderr].into_iter().enumerate() {
            if done[i] {
                continue;
            }
            let id = i32::from(stream == Stream::Stderr);
            match channel.stream(id).read(&mut buf) {
                Ok(0) => done[i] = true,
                Ok(n) => {
                    sink(stream, &buf[..n]);
                    progress = true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => want |= io.want(),
                Err(e) => return Err(io.lost(what, &e)),
            }
        }
        if !(progress || done[0] && done[1]) {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                finish_packet(io, &mut channel, blocked.then(|| &stdin[written..]));
                abandon(io, &mut channel);
                return Err(io.timeout(what, started.elapsed()));
            }
            io.wait(want, deadline);
            if let Err(f) = io.check() {
                abandon(io, &mut channel);
                return Err(failed(f));
            }
        }
    }
    // Close our side too: sshd frees a channel (and counts it against MaxSessions) until
    // both sides closed it.
    io.retry(deadline, || channel.close()).map_err(failed)?;
    io.retry(deadline, || channel.wait_close())
        .map_err(failed)?;
    let signal = channel
        .exit_signal()
        .ok()
        .and_then(|s| s.exit_signal)
        .filter(|s| !s.is_empty());
    match signal {
        Some(name) => Ok(128 + signal_number(&name)),
        None => channel.exit_status().map_err(|e| io.lost(what, &e)),
    }
}

/// Before a channel whose stdin write blocked is given up on: completes the packet libssh2
/// may hold half-sent, by repeating that write (`rest`, the same bytes) until it goes
/// through, the host is given up on (`Io::check`) or a second has passed. libssh2 sends no
/// other packet until that one is complete (`transport_send_existing` answers EAGAIN to
/// anything else), so without this every later command on the session would block: the
/// cleanup after a push cut short by SIGINT never ran.
fn finish_packet(io: &Io, channel: &mut Channel, rest: Option<&[u8]>) {
    if let Some(rest) = rest.filter(|r| !r.is_empty()) {
        let deadline = Some(Instant::now() + Duration::from_secs(1));
        let _ = io.retry_io(deadline, || channel.write(rest));
    }
}

/// Closes a channel that is given up on: sends its close (within a second), without waiting
/// for the host's. libssh2's close then waits to read the host's close, which sshd sends
/// only once the command has ended: a silent command (a build hook that sleeps) held every
/// run that gave up on it for that second. Only a close that blocked sending (half a packet
/// out, which must be completed before any other) is retried.
fn abandon(io: &Io, channel: &mut Channel) {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        match channel.close() {
            Err(e) if would_block(&e) && io.want().write && Instant::now() < deadline => {
                io.wait(io.want(), Some(deadline));
                if io.check().is_err() {
                    return;
                }
            }
            _ => return,
        }
    }
}

/// The number of a signal that ended a remote command (RFC 4254 §6.10 names them).
fn signal_number(name: &str) -> i32 {
    match name {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ILL" => 4,
        "ABRT" => 6,
        "FPE" => 8,
        "KILL" => 9,
        "USR1" => 10,
        "SEGV" => 11,
        "USR2" => 12,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        _ => 127,
    }
}

/// Splits a byte stream into lines, keeping the whole text.
#[derive(Default)]
struct Lines {
    text: Vec<u8>,
    /// Where the unfinished last line starts in `text`.
    start: usize,
}

impl Lines {
    fn push(&mut self, bytes: &[u8], emit: &mut dyn FnMut(&str)) {
        self.text.extend_from_slice(bytes);
        while let Some(end) = self.text[self.start..].iter().position(|&b| b == b'\n') {
            let line = &self.text[self.start..self.start + end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            emit(&String::from_utf8_lossy(line));
            self.start += end + 1;
        }
    }

    /// The last line when it has no newline.
    fn finish(&mut self, emit: &mut dyn FnMut(&str)) {
        if self.start < self.text.len() {
            emit(&String::from_utf8_lossy(&self.text[self.start..]));
            self.start = self.text.len();
        }
    }

    fn into_text(self) -> String {
        String::from_utf8(self.text)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_across_chunks_and_flush_the_last_partial_line() {
        let mut lines = Lines::default();
        let mut seen = Vec::new();
        for chunk in ["a", "b\nc", "\r\n\nd\n", "tail"] {
            lines.push(chunk.as_bytes(), &mut |l| seen.push(l.to_owned()));
        }
        lines.finish(&mut |l| seen.push(l.to_owned()));
        assert_eq!(seen, ["ab", "c", "", "d", "tail"]);
        assert_eq!(lines.into_text(), "ab\nc\r\n\nd\ntail");
    }

    #[test]
    fn home_relative_paths_drop_the_tilde() {
        assert_eq!(home_relative("~/shop/shared/.env"), "shop/shared/.env");
        assert_eq!(home_relative("/etc/x"), "/etc/x");
        assert_eq!(home_relative("~other/x"), "~other/x");
    }
}
