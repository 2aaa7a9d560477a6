//! One authenticated SSH session per host, for the whole command: resolve the host through
//! the ssh config, connect (directly, or through `ProxyJump` hosts), check the host key
//! strictly against `known_hosts` BEFORE authenticating, authenticate, then hand the session to
//! [`SshRemote`]. After connecting, the session is non-blocking: every operation loops on
//! libssh2's `EAGAIN` and waits with poll(2) on the socket ([`Io`]), so output is read while
//! input is written (no deadlock on big outputs), deadlines hold, and keepalives go out.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};
use ssh2::{BlockDirections, Channel, ErrorCode, HashType, MethodType, Session};

use super::host_key::HostKey;
use super::known_hosts::{lookup_name, KnownHosts};
use super::options::{expand_path, ConnectOptions, Tokens};
use super::{exec, http, push, HostKeyProblem, Output, PushStats, Remote, RemoteError, Stream};
use crate::config::host::HostSpec;
use crate::plan::Script;

/// libssh2's "would block" (`LIBSSH2_ERROR_EAGAIN`).
const EAGAIN: i32 = -37;
/// libssh2's blocking-call timeout (`LIBSSH2_ERROR_TIMEOUT`).
const TIMED_OUT: i32 = -9;
/// Longest single poll(2): a safety net for data libssh2 buffered without a socket event.
const POLL_SLICE: Duration = Duration::from_millis(100);
/// Jump hosts through jump hosts: enough for any real chain, and an end to a loop in configs.
const MAX_JUMPS: usize = 8;
/// Host key algorithms in OpenSSH's default order; those known for the host go first.
const HOST_KEY_TYPES: [&str; 5] = [
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
];

/// A connected, authenticated host: the one session every operation of the command uses.
pub struct SshRemote {
    host: String,
    user: String,
    address: String,
    io: Io,
    run_timeout: Option<Duration>,
}

impl std::fmt::Debug for SshRemote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshRemote")
            .field("host", &self.host)
            .field("user", &self.user)
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// Connects to `spec` (a deliver.toml host string or ssh config alias), checks its host key,
/// authenticates and returns the session. Fails within `connect_timeout` per address when a
/// host does not answer.
pub fn connect(spec: &HostSpec, opts: &ConnectOptions) -> Result<SshRemote, RemoteError> {
    let target = Target::resolve(spec, opts)?;
    let (session, fd) = open(&target, opts, 0, Check::Strict)?;
    Ok(SshRemote {
        host: spec.to_string(),
        address: format!(
            "{}@{}",
            target.user,
            lookup_name(&target.hostname, target.port)
        ),
        user: target.user,
        io: Io::new(session, fd, spec.to_string(), opts.keepalive_interval),
        run_timeout: None,
    })
}

impl SshRemote {
    /// The user the session is logged in as.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// `user@hostname` (with `[]:port` when not 22), as resolved through the ssh config.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// A limit for each later [`Remote::run`]; past it the channel is closed and `run`
    /// returns `RemoteError::Timeout` (the remote process loses its stdout and stdin).
    pub fn set_run_timeout(&mut self, timeout: Option<Duration>) {
        self.run_timeout = timeout;
    }
}

impl Remote for SshRemote {
    fn host(&self) -> &str {
        &self.host
    }

    fn run(
        &mut self,
        script: &Script,
        on_line: &mut dyn FnMut(Stream, &str),
    ) -> Result<Output, RemoteError> {
        self.run_until(script, on_line, &|| false)
    }

    fn run_until(
        &mut self,
        script: &Script,
        on_line: &mut dyn FnMut(Stream, &str),
        stop: &dyn Fn() -> bool,
    ) -> Result<Output, RemoteError> {
        let deadline = self.run_timeout.map(|t| Instant::now() + t);
        exec::run(&self.io, script, deadline, stop, on_line)
    }

    fn upload(&mut self, path: &str, contents: &[u8], mode: i32) -> Result<(), RemoteError> {
        exec::upload(&self.io, path, contents, mode)
    }

    fn push(
        &mut self,
        repo: &Path,
        commit: &str,
        git_dir: &str,
        refname: &str,
        remote_tips: &[String],
    ) -> Result<PushStats, RemoteError> {
        push::push(&self.io, repo, commit, git_dir, refname, remote_tips)
    }

    fn http_get(&mut self, port: u16, path: &str, timeout: Duration) -> Result<u16, RemoteError> {
        http::get(&self.io, port, path, timeout)
    }
}

impl Drop for SshRemote {
    fn drop(&mut self) {
        // A polite goodbye, bounded: the server logs a clean disconnect.
        self.io.close();
    }
}

/// The session in non-blocking mode, and the socket to wait on.
pub(crate) struct Io {
    pub(crate) session: Session,
    fd: OwnedFd,
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
    fn new(session: Session, fd: OwnedFd, host: String, keepalive: Duration) -> Io {
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
    fn close(&self) {
        let deadline = Some(Instant::now() + Duration::from_secs(1));
        let _ = self.retry(deadline, || {
            self.session.disconnect(None, "deliver: done", None)
        });
    }
}

/// poll(2) on `fds` (readable, and writable when the flag says so), for at most
/// [`POLL_SLICE`] or until `deadline`.
fn poll(fds: &mut [(std::os::fd::BorrowedFd<'_>, bool)], deadline: Option<Instant>) {
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

/// Whether a host key problem stops the connection (`connect`) or is reported (`scan`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    Strict,
    /// Handshake only: return the key and what `known_hosts` says about it.
    Scan,
}

/// A host with everything the ssh config says about it.
#[derive(Debug)]
pub(crate) struct Target {
    /// The host string as written (`deploy@web1:2222`), for errors.
    pub(crate) display: String,
    /// The host or alias as written.
    pub(crate) alias: String,
    /// What to connect to: the config's `HostName`, else the alias.
    pub(crate) hostname: String,
    pub(crate) port: u16,
    pub(crate) user: String,
    identity_files: Vec<PathBuf>,
    /// `ProxyJump` hops, first to last.
    jumps: Vec<HostSpec>,
    known_hosts: KnownHosts,
}

impl Target {
    /// Applies the ssh config: the host string's user, then deliver.toml's `user`, then the
    /// config's `User`, then the local user; the string's port, then the config's, then 22.
    pub(crate) fn resolve(spec: &HostSpec, opts: &ConnectOptions) -> Result<Target, RemoteError> {
        let display = spec.to_string();
        let fail = |message: String| RemoteError::Connect {
            host: display.clone(),
            message,
        };
        let cfg = opts.ssh_config.lookup(&spec.host);
        let hostname = cfg.hostname.clone().unwrap_or_else(|| spec.host.clone());
        let port = spec.port.or(cfg.port).unwrap_or(22);
        let user = spec
            .user
            .clone()
            .or_else(|| opts.default_user.clone())
            .or_else(|| cfg.user.clone())
            .or_else(|| opts.local_user.clone())
            .ok_or_else(|| {
                fail(
                    "no user to log in as: name one in the host (`user@host`) or set `user` in \
                      deliver.toml"
                        .to_owned(),
                )
            })?;
        let tokens = Tokens {
            home: opts.home.as_deref(),
            local_user: opts.local_user.as_deref(),
            remote_user: &user,
            host: &hostname,
            port,
        };
        let identity_files = cfg
            .identity_files
            .iter()
            .filter_map(|f| expand_path(f, &tokens))
            .collect();
        let user_files: Vec<PathBuf> = if cfg.user_known_hosts_files.is_empty() {
            opts.user_known_hosts_files.clone()
        } else {
            cfg.user_known_hosts_files
                .iter()
                .filter_map(|f| expand_path(f, &tokens))
                .collect()
        };
        let mut known_hosts = KnownHosts::default();
        for file in user_files.iter().chain(&opts.global_known_hosts_files) {
            match std::fs::read_to_string(file) {
                Ok(text) => known_hosts.add_text(&text),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(fail(format!("cannot read {}: {e}", file.display()))),
            }
        }
        known_hosts.add_text(&opts.known_hosts_text);
        let jumps = match &cfg.proxy_jump {
            None => Vec::new(),
            Some(value) => value
                .split(',')
                .map(|hop| {
                    let hop = hop.trim();
                    hop.strip_prefix("ssh://")
                        .unwrap_or(hop)
                        .parse::<HostSpec>()
                        .map_err(|e| fail(format!("ProxyJump `{hop}`: {e}")))
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(Target {
            display,
            alias: spec.host.clone(),
            hostname,
            port,
            user,
            identity_files,
            jumps,
            known_hosts,
        })
    }

    fn connect_error(&self, message: String) -> RemoteError {
        RemoteError::Connect {
            host: self.display.clone(),
            message,
        }
    }

    /// The names `known_hosts` may list the host under: the `HostName`, the alias, and the
    /// address connected to (OpenSSH's `CheckHostIP`).
    fn names(&self, ip: Option<IpAddr>) -> Vec<String> {
        let mut names = vec![lookup_name(&self.hostname, self.port)];
        let mut add = |name: String| {
            if !names.contains(&name) {
                names.push(name);
            }
        };
        add(lookup_name(&self.alias, self.port));
        if let Some(ip) = ip {
            add(lookup_name(&ip.to_string(), self.port));
        }
        names
    }
}

/// A connected transport: what the session reads and writes, and a handle to poll it.
enum Transport {
    Tcp(TcpStream, IpAddr),
    /// One end of a socket pair; a thread pumps the other end through a jump host's channel.
    Jump(UnixStream),
}

/// Transport, handshake, host key check and (when `Strict`) authentication. The session is
/// returned blocking, with the connect timeout set.
pub(crate) fn open(
    target: &Target,
    opts: &ConnectOptions,
    depth: usize,
    check: Check,
) -> Result<(Session, OwnedFd), RemoteError> {
    opened(target, opts, depth, check).map(|o| (o.session, o.fd))
}

/// A session after the handshake (and, when `Strict`, authenticated).
pub(crate) struct Opened {
    pub(crate) session: Session,
    fd: OwnedFd,
    pub(crate) key: HostKey,
    /// What `known_hosts` says about `key` (`None`: it is the known key).
    pub(crate) problem: Option<HostKeyProblem>,
    /// The address connected to (`None` through a jump host).
    pub(crate) ip: Option<IpAddr>,
}

/// As [`open`], with the host key, what `known_hosts` says about it, and the address.
pub(crate) fn opened(
    target: &Target,
    opts: &ConnectOptions,
    depth: usize,
    check: Check,
) -> Result<Opened, RemoteError> {
    let transport = if target.jumps.is_empty() {
        tcp(target, opts.connect_timeout)?
    } else {
        through_jumps(target, opts, depth)?
    };
    let ip = match &transport {
        Transport::Tcp(_, ip) => Some(*ip),
        Transport::Jump(_) => None,
    };
    let names = target.names(ip);
    let mut session = Session::new().map_err(|e| target.connect_error(e.to_string()))?;
    session.set_timeout(millis(opts.connect_timeout));
    let known = target.known_hosts.known_types(&names, &HOST_KEY_TYPES);
    let _ = session.method_pref(MethodType::HostKey, &host_key_prefs(&known));
    let fd = match transport {
        Transport::Tcp(stream, _) => {
            let fd = stream.try_clone().map(OwnedFd::from);
            session.set_tcp_stream(stream);
            fd
        }
        Transport::Jump(stream) => {
            let fd = stream.try_clone().map(OwnedFd::from);
            session.set_tcp_stream(stream);
            fd
        }
    }
    .map_err(|e| target.connect_error(format!("socket: {e}")))?;
    session.handshake().map_err(|e| {
        if e.code() == ErrorCode::Session(TIMED_OUT) {
            RemoteError::Timeout {
                host: target.display.clone(),
                what: format!(
                    "SSH handshake with {}",
                    lookup_name(&target.hostname, target.port)
                ),
                after: opts.connect_timeout,
            }
        } else {
            target.connect_error(format!(
                "SSH handshake with {} failed: {}",
                lookup_name(&target.hostname, target.port),
                e.message()
            ))
        }
    })?;
    let key = match (session.host_key(), session.host_key_hash(HashType::Sha256)) {
        (Some((blob, _)), Some(sha256)) => HostKey::new(blob, sha256),
        _ => return Err(target.connect_error("the server sent no host key".to_owned())),
    };
    let problem = target.known_hosts.check(&names, &key).err();
    if check == Check::Scan {
        return Ok(Opened {
            session,
            fd,
            key,
            problem,
            ip,
        });
    }
    if let Some(problem) = problem {
        return Err(RemoteError::HostKey {
            host: target.alias.clone(),
            port: target.port,
            key_type: key.key_type,
            fingerprint: key.fingerprint,
            problem,
        });
    }
    authenticate(&session, target, opts)?;
    Ok(Opened {
        session,
        fd,
        key,
        problem: None,
        ip,
    })
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX).max(1)
}

/// libssh2's host key method list: the known types first, each RSA type as its algorithms.
fn host_key_prefs(known: &[&str]) -> String {
    let ordered = known
        .iter()
        .chain(HOST_KEY_TYPES.iter().filter(|t| !known.contains(t)));
    ordered
        .map(|&t| {
            if t == "ssh-rsa" {
                "rsa-sha2-512,rsa-sha2-256,ssh-rsa"
            } else {
                t
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// TCP to each address of the host in turn, each within `timeout`.
fn tcp(target: &Target, timeout: Duration) -> Result<Transport, RemoteError> {
    let addrs: Vec<_> = (target.hostname.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| target.connect_error(format!("cannot resolve {}: {e}", target.hostname)))?
        .collect();
    let mut failures = Vec::new();
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(Transport::Tcp(stream, addr.ip()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => failures.push(format!(
                "{addr}: no answer within {}",
                crate::config::duration::format(timeout)
            )),
            Err(e) => failures.push(format!("{addr}: {e}")),
        }
    }
    if failures.is_empty() {
        failures.push(format!("{} has no address", target.hostname));
    }
    Err(target.connect_error(failures.join("; ")))
}

/// Connects to the last hop (through the hops before it, else through its own
/// `ProxyJump`), opens a direct-tcpip channel to the target there, and pumps it to one end
/// of a socket pair in a thread; the other end carries the target's session.
fn through_jumps(
    target: &Target,
    opts: &ConnectOptions,
    depth: usize,
) -> Result<Transport, RemoteError> {
    if depth >= MAX_JUMPS {
        return Err(target.connect_error(format!(
            "more than {MAX_JUMPS} ProxyJump hops (a loop in the ssh config?)"
        )));
    }
    let (last, before) = target.jumps.split_last().expect("called with hops");
    // A jump host's own errors keep their variant (an unknown host key stays `HostKey`,
    // naming the jump host); a failed connection says which way it went.
    let via = |e: RemoteError| match e {
        RemoteError::Connect { host, message } => {
            target.connect_error(format!("through ProxyJump {host}: {message}"))
        }
        other => other,
    };
    let mut hop = Target::resolve(last, opts).map_err(via)?;
    if !before.is_empty() {
        hop.jumps = before.to_vec();
    }
    let (session, fd) = open(&hop, opts, depth + 1, Check::Strict).map_err(via)?;
    let channel = session
        .channel_direct_tcpip(&target.hostname, target.port, None)
        .map_err(|e| {
            target.connect_error(format!(
                "{last} cannot reach {}: {}",
                lookup_name(&target.hostname, target.port),
                e.message()
            ))
        })?;
    let (ours, theirs) = UnixStream::pair().map_err(|e| target.connect_error(e.to_string()))?;
    theirs
        .set_nonblocking(true)
        .map_err(|e| target.connect_error(e.to_string()))?;
    let io = Io::new(session, fd, last.to_string(), opts.keepalive_interval);
    std::thread::Builder::new()
        .name(format!("deliver-jump-{last}"))
        .spawn(move || pump(&io, channel, &theirs))
        .map_err(|e| target.connect_error(format!("cannot start the ProxyJump thread: {e}")))?;
    Ok(Transport::Jump(ours))
}

/// Copies bytes both ways between the jump host's channel and the local socket until either
/// side ends, then closes the channel and the jump session.
fn pump(io: &Io, mut channel: Channel, local: &UnixStream) {
    let mut buf = vec![0u8; 32 * 1024];
    // Bytes read and not yet written, each way. A partial channel write is resumed with the
    // same buffer, as libssh2 requires.
    let (mut up, mut up_at) = (Vec::new(), 0);
    let (mut down, mut down_at) = (Vec::new(), 0);
    let mut remote_eof = false;
    loop {
        let mut progress = false;
        let mut want = Want::default();
        let mut local_out = false;
        if down_at == down.len() && !remote_eof {
            match channel.read(&mut buf) {
                Ok(0) => remote_eof = true,
                Ok(n) => {
                    down.clear();
                    down.extend_from_slice(&buf[..n]);
                    down_at = 0;
                    progress = true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => want |= io.want(),
                Err(_) => break,
            }
        }
        if down_at < down.len() {
            match (&*local).write(&down[down_at..]) {
                Ok(n) => {
                    down_at += n;
                    progress = true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => local_out = true,
                Err(_) => break,
            }
        }
        if remote_eof && down_at == down.len() {
            // The target's sshd went away: the session over the pair sees the end.
            break;
        }
        if up_at == up.len() {
            match (&*local).read(&mut buf) {
                // The target session was dropped.
                Ok(0) => break,
                Ok(n) => {
                    up.clear();
                    up.extend_from_slice(&buf[..n]);
                    up_at = 0;
                    progress = true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
        }
        if up_at < up.len() {
            match channel.write(&up[up_at..]) {
                Ok(n) => {
                    up_at += n;
                    progress = true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => want |= io.want(),
                Err(_) => break,
            }
        }
        if !progress {
            if !want.write {
                let _ = io.session.keepalive_send();
            }
            poll(
                &mut [(io.fd.as_fd(), want.write), (local.as_fd(), local_out)],
                None,
            );
        }
    }
    let _ = local.shutdown(std::net::Shutdown::Both);
    let deadline = Some(Instant::now() + Duration::from_secs(1));
    let _ = io.retry(deadline, || channel.close());
    io.close();
}

/// Public key authentication, in order: the in-memory key, the config's `IdentityFile`s,
/// the agent, then (only when the config names no `IdentityFile`, as in OpenSSH) the
/// default keys. The error lists what was tried, never a key.
fn authenticate(
    session: &Session,
    target: &Target,
    opts: &ConnectOptions,
) -> Result<(), RemoteError> {
    let mut auth = Attempts {
        session,
        target,
        timeout: opts.connect_timeout,
        tried: Vec::new(),
    };
    let user = target.user.as_str();
    if let Some(key) = &opts.key {
        let mut text = key.expose().replace("\r\n", "\n");
        if !text.ends_with('\n') {
            text.push('\n');
        }
        let result = session.userauth_pubkey_memory(user, None, &text, None);
        if auth.done("DELIVER_SSH_KEY", result)? {
            return Ok(());
        }
    }
    for path in &target.identity_files {
        if auth.key_file(path, true)? {
            return Ok(());
        }
    }
    if opts.use_agent && agent(session, user, &mut auth.tried) {
        return Ok(());
    }
    if target.identity_files.is_empty() {
        if let Some(home) = &opts.home {
            for key in ["id_ed25519", "id_ecdsa", "id_rsa"] {
                if auth.key_file(&home.join(".ssh").join(key), false)? {
                    return Ok(());
                }
            }
        }
    }
    if auth.tried.is_empty() {
        auth.tried
            .push("no key: set DELIVER_SSH_KEY, an IdentityFile, or start ssh-agent".to_owned());
    }
    Err(RemoteError::Auth {
        host: target.display.clone(),
        user: user.to_owned(),
        message: format!("tried {}", auth.tried.join("; ")),
    })
}

/// The authentication attempts so far.
struct Attempts<'a> {
    session: &'a Session,
    target: &'a Target,
    timeout: Duration,
    tried: Vec<String>,
}

impl Attempts<'_> {
    /// True when `result` logged the session in; a timeout ends the attempts.
    fn done(&mut self, what: &str, result: Result<(), ssh2::Error>) -> Result<bool, RemoteError> {
        match result {
            Ok(()) if self.session.authenticated() => return Ok(true),
            Ok(()) => self.tried.push(format!("{what}: refused")),
            Err(e) if e.code() == ErrorCode::Session(TIMED_OUT) => {
                return Err(RemoteError::Timeout {
                    host: self.target.display.clone(),
                    what: "authentication".to_owned(),
                    after: self.timeout,
                })
            }
            Err(e) => self.tried.push(format!("{what}: {}", e.message())),
        }
        Ok(false)
    }

    /// A private key file (without passphrase); a missing one is noted when it was named.
    fn key_file(&mut self, path: &Path, named: bool) -> Result<bool, RemoteError> {
        if !path.exists() {
            if named {
                self.tried.push(format!("{}: no such file", path.display()));
            }
            return Ok(false);
        }
        let result = self
            .session
            .userauth_pubkey_file(&self.target.user, None, path, None);
        self.done(&path.display().to_string(), result)
    }
}

/// Each identity of the agent at `SSH_AUTH_SOCK`; true once one is accepted.
fn agent(session: &Session, user: &str, tried: &mut Vec<String>) -> bool {
    let mut agent = match session.agent() {
        Ok(agent) => agent,
        Err(e) => {
            tried.push(format!("ssh-agent: {}", e.message()));
            return false;
        }
    };
    if let Err(e) = agent.connect().and_then(|()| agent.list_identities()) {
        tried.push(format!("ssh-agent: {}", e.message()));
        return false;
    }
    let identities = agent.identities().unwrap_or_default();
    if identities.is_empty() {
        tried.push("ssh-agent: no identities".to_owned());
    }
    for identity in &identities {
        if agent.userauth(user, identity).is_ok() && session.authenticated() {
            let _ = agent.disconnect();
            return true;
        }
        tried.push(format!("ssh-agent key {}: refused", identity.comment()));
    }
    let _ = agent.disconnect();
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::options::SshConfigFile;

    fn opts(config: &str) -> ConnectOptions {
        ConnectOptions {
            ssh_config: SshConfigFile::new(config, "/nonexistent", Some("/home/me".into())),
            local_user: Some("me".to_owned()),
            home: Some("/home/me".into()),
            ..ConnectOptions::default()
        }
    }

    #[test]
    fn resolve_applies_the_ssh_config_and_the_default_user() {
        let config = "Host web\n HostName 10.0.0.5\n User cfg\n Port 2222\n \
                      IdentityFile ~/.ssh/web_%r\n ProxyJump jump@bastion:2200,ssh://b2\n";
        let mut o = opts(config);
        let t = Target::resolve(&"web".parse().unwrap(), &o).unwrap();
        assert_eq!(
            (t.hostname.as_str(), t.port, t.user.as_str()),
            ("10.0.0.5", 2222, "cfg")
        );
        assert_eq!(t.identity_files, [PathBuf::from("/home/me/.ssh/web_cfg")]);
        let jumps: Vec<String> = t.jumps.iter().map(ToString::to_string).collect();
        assert_eq!(jumps, ["jump@bastion:2200", "b2"]);
        assert_eq!(
            t.names(Some("10.0.0.5".parse().unwrap())),
            ["[10.0.0.5]:2222", "[web]:2222"]
        );
        o.default_user = Some("app".to_owned());
        let t = Target::resolve(&"web".parse().unwrap(), &o).unwrap();
        assert_eq!(t.user, "app");
        let t = Target::resolve(&"root@web:22".parse().unwrap(), &o).unwrap();
        assert_eq!((t.user.as_str(), t.port), ("root", 22));
        let t = Target::resolve(&"other".parse().unwrap(), &opts("")).unwrap();
        assert_eq!(
            (t.hostname.as_str(), t.user.as_str(), t.port),
            ("other", "me", 22)
        );
        assert_eq!(
            t.names(Some("10.0.0.9".parse().unwrap())),
            ["other", "10.0.0.9"]
        );
    }

    #[test]
    fn resolve_without_any_user_says_where_to_set_one() {
        let o = ConnectOptions::default();
        let err = Target::resolve(&"web".parse().unwrap(), &o).unwrap_err();
        assert!(
            err.to_string().contains("set `user` in deliver.toml"),
            "{err}"
        );
    }

    #[test]
    fn host_key_preferences_put_known_types_first() {
        assert_eq!(
            host_key_prefs(&["ssh-rsa"]),
            "rsa-sha2-512,rsa-sha2-256,ssh-rsa,ssh-ed25519,ecdsa-sha2-nistp256,\
             ecdsa-sha2-nistp384,ecdsa-sha2-nistp521"
        );
        assert!(host_key_prefs(&[]).starts_with("ssh-ed25519,"));
    }
}
