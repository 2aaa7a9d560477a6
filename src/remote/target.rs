//! A host string resolved through the user's ssh config: address, port, user, keys,
//! `ProxyJump` hops and the `known_hosts` that apply.

use std::net::IpAddr;
use std::path::PathBuf;

use super::known_hosts::{lookup_name, KnownHosts};
use super::options::{expand_path, ConnectOptions, Tokens};
use super::RemoteError;
use crate::config::host::HostSpec;

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
    pub(crate) identity_files: Vec<PathBuf>,
    /// `ProxyJump` hops, first to last.
    pub(crate) jumps: Vec<HostSpec>,
    pub(crate) known_hosts: KnownHosts,
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

    pub(crate) fn connect_error(&self, message: String) -> RemoteError {
        RemoteError::Connect {
            host: self.display.clone(),
            message,
        }
    }

    /// The names `known_hosts` may list the host under: the `HostName`, the alias, and the
    /// address connected to (OpenSSH's `CheckHostIP`).
    pub(crate) fn names(&self, ip: Option<IpAddr>) -> Vec<String> {
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
}
