//! One authenticated SSH session per host, for the whole command: resolve the host through
//! the ssh config, connect (directly, or through `ProxyJump` hosts), check the host key
//! strictly against `known_hosts` BEFORE authenticating, authenticate, then hand the session to
//! [`SshRemote`]. After connecting, the session is non-blocking: every operation loops on
//! libssh2's `EAGAIN` and waits with poll(2) on the socket ([`Io`]), so output is read while
//! input is written (no deadlock on big outputs), deadlines hold, and keepalives go out.

use std::path::Path;
use std::time::{Duration, Instant};

use super::handshake::open;
use super::io::Io;
use super::known_hosts::lookup_name;
use super::options::ConnectOptions;
use super::target::{Check, Target};
use super::{exec, http, push, Output, PushStats, Remote, RemoteError, Stream};
use crate::config::host::HostSpec;
use crate::plan::Script;

/// A connected, authenticated host: the one session every operation of the command uses.
pub struct SshRemote {
    host: String,
    user: String,
    address: String,
    io: Io,
    run_timeout: Option<Duration>,
    /// What it connected with: [`Remote::reconnect`] connects the same way.
    spec: HostSpec,
    opts: ConnectOptions,
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
    let (io, target) = open_io(spec, opts)?;
    Ok(SshRemote {
        host: spec.to_string(),
        address: format!(
            "{}@{}",
            target.user,
            lookup_name(&target.hostname, target.port)
        ),
        user: target.user,
        io,
        run_timeout: None,
        spec: spec.clone(),
        opts: opts.clone(),
    })
}

/// Resolves, connects, checks the host key and authenticates: the session, ready.
fn open_io(spec: &HostSpec, opts: &ConnectOptions) -> Result<(Io, Target), RemoteError> {
    let target = Target::resolve(spec, opts)?;
    let (session, fd) = open(&target, opts, 0, Check::Strict)?;
    let io = Io::new(session, fd, spec.to_string(), target.alive, opts.interrupt);
    Ok((io, target))
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

    fn reconnect(&mut self) -> Result<bool, RemoteError> {
        if !self.io.broken() {
            return Ok(false);
        }
        // The same checks as the first connect: host key first, then authentication.
        let (io, _) = open_io(&self.spec, &self.opts)?;
        self.io = io;
        Ok(true)
    }
}

impl Drop for SshRemote {
    fn drop(&mut self) {
        // A polite goodbye, bounded: the server logs a clean disconnect.
        self.io.close();
    }
}
