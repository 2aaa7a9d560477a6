//! The session in non-blocking mode: every libssh2 call loops on `EAGAIN` and waits with
//! poll(2) on the socket, so output is read while input is written, deadlines hold, and
//! keepalives go out.

use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};
use ssh2::{BlockDirections, ErrorCode, Session};

use super::RemoteError;

/// libssh2's "would block" (`LIBSSH2_ERROR_EAGAIN`).
const EAGAIN: i32 = -37;
/// Longest single poll(2): a safety net for data libssh2 buffered without a socket event.
const POLL_SLICE: Duration = Duration::from_millis(100);

/// The session in non-blocking mode, and the socket to wait on.
pub(crate) struct Io {
    pub(crate) session: Session,
    pub(crate) fd: OwnedFd,
    /// The host as written, for errors.
    pub(crate) host: String,
}

/// Which way libssh2 waits: `read` is always polled; `write` when it blocked sending.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Want {
    pub(crate) write: bool,
}

impl std::ops::BitOrAssign for Want {
    fn bitor_assign(&mut self, other: Want) {
        self.write |= other.write;
    }
}

/// Why a retried libssh2 call gave up.
pub(crate) enum Fail {
    Ssh(ssh2::Error),
    Io(std::io::Error),
    TimedOut,
}

impl Io {
    pub(crate) fn new(session: Session, fd: OwnedFd, host: String, keepalive: Duration) -> Io {
        let secs = u32::try_from(keepalive.as_secs()).unwrap_or(u32::MAX);
        session.set_keepalive(true, secs);
        session.set_timeout(0);
        session.set_blocking(false);
        Io { session, fd, host }
    }

    /// The direction libssh2 blocked on in its last call.
    pub(crate) fn want(&self) -> Want {
        Want {
            write: matches!(
                self.session.block_directions(),
                BlockDirections::Outbound | BlockDirections::Both
            ),
        }
    }

    /// Waits until the socket may have moved (at most [`POLL_SLICE`] and the deadline),
    /// sending a keepalive first when one is due.
    pub(crate) fn wait(&self, want: Want, deadline: Option<Instant>) {
        if !want.write {
            // Only while nothing is half-sent: libssh2 resumes a partial packet only with the
            // same buffer, and the keepalive's would be gone (see keepalive.c).
            let _ = self.session.keepalive_send();
        }
        poll(&mut [(self.fd.as_fd(), want.write)], deadline);
    }

    /// Calls `op` until it does not block, waiting in between; stops at `deadline`.
    pub(crate) fn retry<T>(
        &self,
        deadline: Option<Instant>,
        mut op: impl FnMut() -> Result<T, ssh2::Error>,
    ) -> Result<T, Fail> {
        loop {
            match op() {
                Ok(v) => return Ok(v),
                Err(e) if would_block(&e) => {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Err(Fail::TimedOut);
                    }
                    self.wait(self.want(), deadline);
                }
                Err(e) => return Err(Fail::Ssh(e)),
            }
        }
    }

    /// As [`retry`](Self::retry), for the `Read`/`Write` side of channels.
    pub(crate) fn retry_io<T>(
        &self,
        deadline: Option<Instant>,
        mut op: impl FnMut() -> std::io::Result<T>,
    ) -> Result<T, Fail> {
        loop {
            match op() {
                Ok(v) => return Ok(v),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Err(Fail::TimedOut);
                    }
                    self.wait(self.want(), deadline);
                }
                Err(e) => return Err(Fail::Io(e)),
            }
        }
    }

    /// The session failed under `what`.
    pub(crate) fn lost(&self, what: &str, e: &dyn std::fmt::Display) -> RemoteError {
        RemoteError::Disconnected {
            host: self.host.clone(),
            message: format!("{what}: {e}"),
        }
    }

    pub(crate) fn timeout(&self, what: &str, after: Duration) -> RemoteError {
        RemoteError::Timeout {
            host: self.host.clone(),
            what: what.to_owned(),
            after,
        }
    }

    /// Sends the disconnect message, giving up after a second.
    pub(crate) fn close(&self) {
        let deadline = Some(Instant::now() + Duration::from_secs(1));
        let _ = self.retry(deadline, || {
            self.session.disconnect(None, "deliver: done", None)
        });
    }
}

/// poll(2) on `fds` (readable, and writable when the flag says so), for at most
/// [`POLL_SLICE`] or until `deadline`.
pub(crate) fn poll(fds: &mut [(std::os::fd::BorrowedFd<'_>, bool)], deadline: Option<Instant>) {
    let mut slice = POLL_SLICE;
    if let Some(d) = deadline {
        slice = slice.min(d.saturating_duration_since(Instant::now()));
    }
    let mut polled: Vec<PollFd<'_>> = fds
        .iter()
        .map(|(fd, write)| {
            let flags = if *write {
                PollFlags::IN | PollFlags::OUT
            } else {
                PollFlags::IN
            };
            PollFd::from_borrowed_fd(*fd, flags)
        })
        .collect();
    let timeout = Timespec::try_from(slice).unwrap_or_default();
    // An error (EINTR) only shortens the wait; the caller tries again.
    let _ = rustix::event::poll(&mut polled, Some(&timeout));
}

pub(crate) fn would_block(e: &ssh2::Error) -> bool {
    e.code() == ErrorCode::Session(EAGAIN)
}
