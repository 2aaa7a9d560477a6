//! Public key authentication of a new session.

use std::path::Path;
use std::time::Duration;

use ssh2::{ErrorCode, Session};

use super::handshake::TIMED_OUT;
use super::options::ConnectOptions;
use super::target::Target;
use super::RemoteError;

/// Public key authentication, in order: the in-memory key, the config's `IdentityFile`s,
/// the agent, then (only when the config names no `IdentityFile`, as in OpenSSH) the
/// default keys. The error lists what was tried, never a key.
pub(crate) fn authenticate(
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
