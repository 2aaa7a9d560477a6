//! Side effects on hosts, and nothing about deploys: run a [`Script`] over the host's one SSH
//! session, upload bytes, push a commit, probe an HTTP port. `deploy::` sees hosts only
//! through the [`Remote`] trait, so orchestration tests use a recorder instead of SSH.
//!
//! [`connect`] opens the one session per host ([`SshRemote`]); [`ConnectOptions`] carries
//! what it needs (`from_env` reads `DELIVER_SSH_KEY`, `DELIVER_KNOWN_HOSTS`,
//! `DELIVER_SSH_CONFIG`); [`scan`] fetches a host key for `deliver trust`.

mod auth;
mod exec;
mod handshake;
mod host_key;
mod http;
mod io;
mod known_hosts;
mod options;
mod push;
mod secret;
mod session;
mod target;
mod trust;

pub(crate) use options::{expand_path, Tokens};
pub use options::{ConnectOptions, ReadError, SshConfigFile};
pub use secret::Secret;
pub use session::{connect, SshRemote};
pub use trust::{known_hosts_line, known_hosts_name, scan, ScannedKey};

use std::path::Path;
use std::time::Duration;

use crate::plan::Script;

/// Which stream a line of remote output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// What a finished remote script returned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Output {
    /// The script's exit status (named codes live beside the builders in `plan::`).
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

/// What a push sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PushStats {
    /// Objects in the pack (0: the host had everything).
    pub objects: usize,
    /// Pack bytes sent over the channel.
    pub bytes: u64,
}

/// A host key that is not the one `known_hosts` has for the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKeyProblem {
    /// No entry for this host (and port).
    Unknown,
    /// An entry exists with another key of the same type: possible man-in-the-middle.
    Changed,
    /// The key is listed as `@revoked`.
    Revoked,
}

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("{host}: cannot connect: {message}")]
    Connect { host: String, message: String },
    #[error("{host}: authentication failed as `{user}`: {message}")]
    Auth {
        host: String,
        user: String,
        message: String,
    },
    #[error("{host}:{port}: {}", host_key_message(*problem, key_type, fingerprint))]
    HostKey {
        host: String,
        port: u16,
        key_type: String,
        /// `SHA256:<base64>` as `ssh-keygen -l` prints it.
        fingerprint: String,
        problem: HostKeyProblem,
    },
    #[error("{host}: connection lost: {message}")]
    Disconnected { host: String, message: String },
    #[error("{host}: {what} timed out after {}ms", after.as_millis())]
    Timeout {
        host: String,
        what: String,
        after: Duration,
    },
    /// `stop` said so (`Remote::run_until`); the channel was closed.
    #[error("{host}: {what} interrupted")]
    Interrupted { host: String, what: String },
    #[error("{host}: push failed: {message}")]
    Push { host: String, message: String },
    #[error("{host}: upload to {path} failed: {message}")]
    Upload {
        host: String,
        path: String,
        message: String,
    },
    /// The health probe got no HTTP status (nothing listens, or not HTTP).
    #[error("{host}: GET 127.0.0.1:{port}: {message}")]
    Http {
        host: String,
        port: u16,
        message: String,
    },
}

impl RemoteError {
    /// The host the error is about.
    pub fn host(&self) -> &str {
        match self {
            RemoteError::Connect { host, .. }
            | RemoteError::Auth { host, .. }
            | RemoteError::HostKey { host, .. }
            | RemoteError::Disconnected { host, .. }
            | RemoteError::Timeout { host, .. }
            | RemoteError::Interrupted { host, .. }
            | RemoteError::Push { host, .. }
            | RemoteError::Upload { host, .. }
            | RemoteError::Http { host, .. } => host,
        }
    }

    /// The message without the leading `HOST: `, for a line that names the host already.
    pub fn detail(&self) -> String {
        let text = self.to_string();
        match text
            .strip_prefix(self.host())
            .and_then(|t| t.strip_prefix(": "))
        {
            Some(rest) => rest.to_owned(),
            None => text,
        }
    }
}

fn host_key_message(problem: HostKeyProblem, key_type: &str, fingerprint: &str) -> String {
    match problem {
        HostKeyProblem::Unknown => {
            format!("unknown host key {key_type} {fingerprint}; check it, then run `deliver trust`")
        }
        HostKeyProblem::Changed => format!(
            "CHANGED host key {key_type} {fingerprint} does not match known_hosts: refusing \
             (possible man-in-the-middle)"
        ),
        HostKeyProblem::Revoked => {
            format!("host key {key_type} {fingerprint} is marked @revoked in known_hosts: refusing")
        }
    }
}

/// One host, reached over one authenticated SSH session for the whole command.
pub trait Remote: Send {
    /// The host as written in deliver.toml (used in output and errors).
    fn host(&self) -> &str;

    /// Runs `script` with `sh -s` (the script travels on stdin), calling `on_line` for each
    /// line of output as it arrives. A non-zero exit is an `Ok(Output)`; `Err` means the
    /// session failed.
    fn run(
        &mut self,
        script: &Script,
        on_line: &mut dyn FnMut(Stream, &str),
    ) -> Result<Output, RemoteError>;

    /// As [`run`](Self::run), checking `stop` while the script runs (at least every 100 ms
    /// over SSH): once it returns true the channel is closed and this returns
    /// `RemoteError::Interrupted`. The remote command loses its stdout, so a follower
    /// (`journalctl -f`, `tail -F`) ends there too. For commands that end only when stopped.
    fn run_until(
        &mut self,
        script: &Script,
        on_line: &mut dyn FnMut(Stream, &str),
        stop: &dyn Fn() -> bool,
    ) -> Result<Output, RemoteError> {
        if stop() {
            return Err(RemoteError::Interrupted {
                host: self.host().to_owned(),
                what: script.name.clone(),
            });
        }
        self.run(script, on_line)
    }

    /// Writes `contents` to `path` (relative to the home directory, or absolute) with
    /// `mode`, atomically (a temporary file renamed into place). Never on a command line.
    fn upload(&mut self, path: &str, contents: &[u8], mode: i32) -> Result<(), RemoteError>;

    /// Sends the objects of `commit` (from the local repository at `repo`) that the bare
    /// repository `git_dir` on the host lacks, given the commits it already has
    /// (`remote_tips`), and points `refname` there.
    fn push(
        &mut self,
        repo: &Path,
        commit: &str,
        git_dir: &str,
        refname: &str,
        remote_tips: &[String],
    ) -> Result<PushStats, RemoteError>;

    /// `GET http://127.0.0.1:<port><path>` on the host, through the session (direct-tcpip);
    /// returns the HTTP status.
    fn http_get(&mut self, port: u16, path: &str, timeout: Duration) -> Result<u16, RemoteError>;

    /// After the session failed while the host was answering (closed or reset by it), a new
    /// session in its place, connected and checked as the first: for a run's cleanup
    /// (unlock, remove a half release, revert). `Ok(false)` when there is nothing to do (the
    /// session is fine) or nothing worth trying (the host went silent, or the run was
    /// interrupted); `Err` when the new connection failed.
    fn reconnect(&mut self) -> Result<bool, RemoteError> {
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_leaves_the_host_out_once() {
        let lost = RemoteError::Disconnected {
            host: "h2".into(),
            message: "release.prepare: no answer".into(),
        };
        assert_eq!(
            lost.to_string(),
            "h2: connection lost: release.prepare: no answer"
        );
        assert_eq!(lost.detail(), "connection lost: release.prepare: no answer");
        let key = RemoteError::HostKey {
            host: "h2".into(),
            port: 22,
            key_type: "ssh-ed25519".into(),
            fingerprint: "SHA256:x".into(),
            problem: HostKeyProblem::Unknown,
        };
        assert_eq!(key.detail(), key.to_string(), "h2:22: ... stays whole");
    }
}
