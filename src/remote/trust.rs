//! `deliver trust`: fetch a host's key with a handshake only (no authentication; through
//! `ProxyJump` hosts, which must already be trusted), show its fingerprint and what
//! `known_hosts` says about it, and format the `known_hosts` line. The caller asks, then appends
//! the line; nothing here writes a file.

use super::handshake::opened;
use super::known_hosts::lookup_name;
use super::options::ConnectOptions;
use super::target::{Check, Target};
use super::{HostKeyProblem, RemoteError};
use crate::config::host::HostSpec;

/// A host key as the host offered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedKey {
    /// The host or alias as written.
    pub host: String,
    pub port: u16,
    /// `ssh-ed25519`, `ecdsa-sha2-nistp256`, ...
    pub key_type: String,
    /// `SHA256:<base64>`, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    /// What to append to `known_hosts`: the alias, the `HostName` and the address connected
    /// to (bracketed with the port when it is not 22), the key type and the key.
    pub known_hosts_line: String,
    /// `None` when `known_hosts` already has exactly this key for the host.
    pub problem: Option<HostKeyProblem>,
}

/// Connects to `spec` as [`connect`](super::connect) does, up to the handshake.
pub fn scan(spec: &HostSpec, opts: &ConnectOptions) -> Result<ScannedKey, RemoteError> {
    let target = Target::resolve(spec, opts)?;
    let scanned = opened(&target, opts, 0, Check::Scan)?;
    let _ = scanned
        .session
        .disconnect(None, "deliver: host key scanned", None);
    let mut names = vec![target.alias.clone()];
    for name in [
        Some(target.hostname.clone()),
        scanned.ip.map(|ip| ip.to_string()),
    ]
    .into_iter()
    .flatten()
    {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let names: Vec<String> = names.iter().map(|n| lookup_name(n, target.port)).collect();
    Ok(ScannedKey {
        host: target.alias.clone(),
        port: target.port,
        known_hosts_line: known_hosts_line(&names, &scanned.key.key_type, &scanned.key.base64),
        key_type: scanned.key.key_type,
        fingerprint: scanned.key.fingerprint,
        problem: scanned.problem,
    })
}

/// `names,... key_type key_base64`, the names as `known_hosts` takes them (see
/// [`known_hosts_name`]).
pub fn known_hosts_line(names: &[String], key_type: &str, key_base64: &str) -> String {
    format!("{} {key_type} {key_base64}", names.join(","))
}

/// How `known_hosts` names `host` on `port`: `host`, or `[host]:port` when the port is not 22.
pub fn known_hosts_name(host: &str, port: u16) -> String {
    lookup_name(host, port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_list_every_name_and_bracket_other_ports() {
        let names = vec![
            known_hosts_name("h1", 22),
            known_hosts_name("10.79.0.2", 22),
        ];
        assert_eq!(
            known_hosts_line(&names, "ssh-ed25519", "AAAAC3"),
            "h1,10.79.0.2 ssh-ed25519 AAAAC3"
        );
        let names = vec![known_hosts_name("web", 2222), known_hosts_name("::1", 2222)];
        assert_eq!(
            known_hosts_line(&names, "ssh-rsa", "AAAAB3"),
            "[web]:2222,[::1]:2222 ssh-rsa AAAAB3"
        );
    }
}
