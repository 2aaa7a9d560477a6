//! The session in non-blocking mode: every libssh2 call loops on `EAGAIN` and waits with
//! poll(2) on the socket, so output is read while input is written, deadlines hold, and
//! keepalives go out.

use std::cell::Cell;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};
use ssh2::{BlockDirections, ErrorCode, Session};

use super::RemoteError;

/// libssh2's "would block" (`LIBSSH2_ERROR_EAGAIN`).
const EAGAIN: i32 = -37;
/// Longest single poll(2): a safety net for data libssh2 buffered without a socket event.
const POLL_SLICE: Duration = Duration::from_millis(100);

/// After an interrupt, how long a host may stay silent before what waits on it gives up.
const INTERRUPT_GRACE: Duration = Duration::from_secs(1);

/// How long a host is silent before its acknowledgements are looked at ([`tx_queue`]), and
/// how often then (a read of /proc/net/tcp per look and host).
const ACK_LOOK: Duration = Duration::from_millis(300);

/// OpenSSH's `ServerAliveInterval` and `ServerAliveCountMax`: a keepalive (which the server
/// answers) goes out every `interval` while waiting, and a host that sent nothing for
/// `count_max` intervals is taken for dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alive {
    pub interval: Duration,
    pub count_max: u32,
}

impl Alive {
    /// How long a host may stay silent; `None` when keepalives are off (interval 0).
    pub(crate) fn limit(self) -> Option<Duration> {
        (!self.interval.is_zero()).then(|| self.interval * self.count_max.max(1))
    }
}

/// The session in non-blocking mode, and the socket to wait on.
pub(crate) struct Io {
    pub(crate) session: Session,
    pub(crate) fd: OwnedFd,
    /// The host as written, for errors.
    pub(crate) host: String,
    alive: Alive,
    /// When the socket last had something to read (reset as each command starts).
    heard: Cell<Instant>,
    /// When the command in flight started, and whether the run was interrupted by then.
    began: Cell<Instant>,
    began_interrupted: Cell<bool>,
    /// Set once the run is interrupted (SIGINT/SIGTERM).
    interrupt: Option<&'static AtomicBool>,
    /// Taken for dead once: every later wait on it gives up at once.
    dead: Cell<bool>,
    /// The session failed (closed or reset by the host, a transport error): see
    /// [`Io::broken`]. Every later wait on it gives up at once.
    lost: Cell<bool>,
    /// poll(2) saw the host hang up the connection.
    closed: Cell<bool>,
    /// When this session first saw the interrupt.
    interrupted_at: Cell<Option<Instant>>,
    /// Given up on after the interrupt for its silence: a later command must hear from the
    /// host within [`INTERRUPT_GRACE`] of its start.
    suspect: Cell<bool>,
    /// The socket's send queue when last looked at ([`tx_queue`]): when it shrinks, the host
    /// acknowledged our bytes, so it lives even if it says nothing.
    queued: Cell<Option<u64>>,
    /// When the send queue was last looked at: at most every [`ACK_LOOK`].
    looked: Cell<Instant>,
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
    /// Nothing came from the host for this long, keepalives unanswered.
    Dead(Duration),
    /// The run was interrupted while the host was silent.
    Interrupted,
}

impl Io {
    pub(crate) fn new(
        session: Session,
        fd: OwnedFd,
        host: String,
        alive: Alive,
        interrupt: Option<&'static AtomicBool>,
    ) -> Io {
        let secs = u32::try_from(alive.interval.as_secs()).unwrap_or(u32::MAX);
        session.set_keepalive(true, secs);
        session.set_timeout(0);
        session.set_blocking(false);
        Io {
            session,
            fd,
            host,
            alive,
            heard: Cell::new(Instant::now()),
            began: Cell::new(Instant::now()),
            began_interrupted: Cell::new(false),
            interrupt,
            dead: Cell::new(false),
            lost: Cell::new(false),
            closed: Cell::new(false),
            interrupted_at: Cell::new(None),
            suspect: Cell::new(false),
            queued: Cell::new(None),
            looked: Cell::new(Instant::now()),
        }
    }

    /// A command starts: the host's silence is counted from now.
    pub(crate) fn begin(&self) {
        let now = Instant::now();
        self.heard.set(now);
        self.began.set(now);
        self.began_interrupted.set(self.interrupted());
    }

    /// A command was given up on at a stop (an interrupt): as after a silence past the
    /// interrupt, the next command must hear from the host within [`INTERRUPT_GRACE`] of
    /// its start (a live host answers at once; a dead one is not waited for again).
    pub(crate) fn stopped(&self) {
        self.suspect.set(true);
    }

    /// Whether the run was interrupted (SIGINT/SIGTERM).
    pub(crate) fn interrupted(&self) -> bool {
        self.interrupt.is_some_and(|i| i.load(Ordering::SeqCst))
    }

    /// Whether to give up waiting on the host:
    /// - silent past the keepalive limit (`ServerAliveInterval` x `ServerAliveCountMax`);
    /// - a command that started before an interrupt, once the host said nothing for
    ///   [`INTERRUPT_GRACE`] since (what waits on a silent host is given up; a command that
    ///   gets answers runs on);
    /// - a later command (cleanup, revert) on a host given up so, when the host does not
    ///   answer within [`INTERRUPT_GRACE`] of its start: a live host answers at once.
    ///
    /// A host that says nothing but acknowledges what we send (the socket's send queue
    /// shrinks: a pack, or what waits behind one, still leaves) counts as heard from: it
    /// lives, and whatever comes next waits behind those bytes.
    pub(crate) fn check(&self) -> Result<(), Fail> {
        if self.closed.get() || self.lost.get() {
            return Err(Fail::Io(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "the host closed the connection",
            )));
        }
        if self.heard.get().elapsed() >= ACK_LOOK && self.looked.get().elapsed() >= ACK_LOOK {
            self.looked.set(Instant::now());
            let queued = tx_queue(&self.fd);
            if let (Some(now), Some(before)) = (queued, self.queued.get()) {
                if now < before {
                    self.heard.set(Instant::now());
                }
            }
            self.queued.set(queued);
        }
        let heard = self.heard.get();
        let silent = heard.elapsed();
        if let Some(limit) = self.alive.limit() {
            if silent > limit || self.dead.get() {
                self.dead.set(true);
                return Err(Fail::Dead(silent.max(limit)));
            }
        }
        let began = self.began.get();
        if self.suspect.get() {
            if heard > began {
                self.suspect.set(false);
            } else if began.elapsed() >= INTERRUPT_GRACE {
                return Err(Fail::Interrupted);
            }
        }
        if self.began_interrupted.get() || !self.interrupted() {
            return Ok(());
        }
        let since = self.interrupted_at.get().unwrap_or_else(|| {
            let now = Instant::now();
            self.interrupted_at.set(Some(now));
            now
        });
        if heard < since && since.elapsed() >= INTERRUPT_GRACE {
            self.suspect.set(true);
            return Err(Fail::Interrupted);
        }
        Ok(())
    }

    /// The error for a `Fail` under `what`, which started at `started`.
    pub(crate) fn failed(&self, what: &str, started: Instant, fail: Fail) -> RemoteError {
        match fail {
            Fail::TimedOut => self.timeout(what, started.elapsed()),
            Fail::Ssh(e) => self.lost(what, &e),
            Fail::Io(e) => self.lost(what, &e),
            Fail::Dead(silent) => RemoteError::Disconnected {
                host: self.host.clone(),
                message: format!(
                    "{what}: no answer for {} s, keepalives unanswered (ServerAliveInterval {} s, \
                     ServerAliveCountMax {}): the host or its network is down",
                    silent.as_secs(),
                    self.alive.interval.as_secs(),
                    self.alive.count_max
                ),
            },
            Fail::Interrupted => RemoteError::Interrupted {
                host: self.host.clone(),
                what: what.to_owned(),
            },
        }
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
        let events = poll_events(&mut [(self.fd.as_fd(), want.write)], deadline)[0];
        if events.contains(PollFlags::HUP) {
            // The host closed the connection (a reset): readable for ever, but never again
            // the host's word; libssh2 may go on answering "would block" (see `check`).
            self.closed.set(true);
        } else if events.contains(PollFlags::IN) {
            self.heard.set(Instant::now());
        }
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
                    self.check()?;
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
                    self.check()?;
                }
                Err(e) => return Err(Fail::Io(e)),
            }
        }
    }

    /// The session failed while the host was answering (closed or reset, not gone silent):
    /// a new connection is worth one try, for cleaning up. A silent host is not (the connect
    /// would only wait), nor is any after an interrupt (a signal asks to get out fast).
    pub(crate) fn broken(&self) -> bool {
        self.lost.get() && !self.dead.get() && !self.interrupted()
    }

    /// The session failed under `what`.
    pub(crate) fn lost(&self, what: &str, e: &dyn std::fmt::Display) -> RemoteError {
        self.lost.set(true);
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
/// [`POLL_SLICE`] or until `deadline`; for each, whether it had something to read.
pub(crate) fn poll(
    fds: &mut [(std::os::fd::BorrowedFd<'_>, bool)],
    deadline: Option<Instant>,
) -> Vec<bool> {
    // Only data counts as the host's word: an error or a hang-up on the socket is seen by the
    // next libssh2 call (a link that went down may leave the socket in error while the host
    // says nothing).
    poll_events(fds, deadline)
        .into_iter()
        .map(|e| e.contains(PollFlags::IN))
        .collect()
}

/// [`poll`], with what poll(2) said of each fd.
fn poll_events(
    fds: &mut [(std::os::fd::BorrowedFd<'_>, bool)],
    deadline: Option<Instant>,
) -> Vec<PollFlags> {
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
    polled.iter().map(PollFd::revents).collect()
}

/// The bytes of the TCP socket `fd` that the peer has not acknowledged yet, sent or not
/// (`tx_queue` in /proc/net/tcp and tcp6, found by the socket's inode); `None` when it
/// cannot be read (not Linux, not TCP). File reads only: the crate has no unsafe code for
/// the `SIOCOUTQ` ioctl.
fn tx_queue(fd: &OwnedFd) -> Option<u64> {
    use std::os::fd::AsRawFd;
    let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
    let inode = link
        .to_str()?
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .to_owned();
    ["/proc/self/net/tcp", "/proc/self/net/tcp6"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .find_map(|table| {
            table.lines().skip(1).find_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                if fields.get(9) != Some(&inode.as_str()) {
                    return None;
                }
                let (tx, _) = fields.get(4)?.split_once(':')?;
                u64::from_str_radix(tx, 16).ok()
            })
        })
}

pub(crate) fn would_block(e: &ssh2::Error) -> bool {
    e.code() == ErrorCode::Session(EAGAIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_send_queue_of_a_tcp_socket_is_read_and_of_anything_else_not() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_peer, _) = listener.accept().unwrap();
        assert_eq!(tx_queue(&OwnedFd::from(stream)), Some(0));
        let file = std::fs::File::open("/dev/null").unwrap();
        assert_eq!(tx_queue(&OwnedFd::from(file)), None);
    }
}
