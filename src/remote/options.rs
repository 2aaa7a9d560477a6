//! What [`connect`](super::connect) needs besides the host: the user's OpenSSH client
//! config, `known_hosts`, keys, timeouts. `connect` takes values only; [`ConnectOptions::from_env`]
//! is the one place that reads the environment (`DELIVER_SSH_KEY`, `DELIVER_KNOWN_HOSTS`,
//! `DELIVER_SSH_CONFIG`, `HOME`, `USER`, `SSH_AUTH_SOCK`) and the files they name.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::ssh_config::{self, SshHost};

use super::Secret;

/// How to reach and trust hosts.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// `user` from deliver.toml: the login for a host string that names none. It comes
    /// before the ssh config's `User`, which comes before `local_user`.
    pub default_user: Option<String>,
    /// This machine's login name (`USER`): the last resort, and `%u` in paths.
    pub local_user: Option<String>,
    /// The OpenSSH client config that aliases are looked up in.
    pub ssh_config: SshConfigFile,
    /// `known_hosts` text that applies to every host (`DELIVER_KNOWN_HOSTS`).
    pub known_hosts_text: String,
    /// The user's `known_hosts` files; a host whose ssh config names `UserKnownHostsFile`
    /// uses those instead, as OpenSSH does. Missing files are empty.
    pub user_known_hosts_files: Vec<PathBuf>,
    /// Files read for every host (OpenSSH's `GlobalKnownHostsFile`).
    pub global_known_hosts_files: Vec<PathBuf>,
    /// A private key held in memory (`DELIVER_SSH_KEY`), tried first.
    pub key: Option<Secret>,
    /// For `~` in paths and the default keys `~/.ssh/id_*`.
    pub home: Option<PathBuf>,
    /// Try the keys of the ssh-agent at `SSH_AUTH_SOCK` (libssh2 reads the variable).
    pub use_agent: bool,
    /// For the TCP connect to each address, the handshake and authentication.
    pub connect_timeout: Duration,
    /// A keepalive goes out after this long without traffic; zero disables them.
    pub keepalive_interval: Duration,
}

impl Default for ConnectOptions {
    /// Nothing from the environment: no config, no known hosts, no keys.
    fn default() -> ConnectOptions {
        ConnectOptions {
            default_user: None,
            local_user: None,
            ssh_config: SshConfigFile::default(),
            known_hosts_text: String::new(),
            user_known_hosts_files: Vec::new(),
            global_known_hosts_files: Vec::new(),
            key: None,
            home: None,
            use_agent: false,
            connect_timeout: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(15),
        }
    }
}

/// A file named by the environment that exists but cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {}: {source}", path.display())]
pub struct ReadError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl ConnectOptions {
    /// Options from this process's environment; `default_user` is still the caller's.
    pub fn from_env() -> Result<ConnectOptions, ReadError> {
        ConnectOptions::from_vars(&|name| std::env::var_os(name))
    }

    /// As [`from_env`](Self::from_env), with the variables from `var`.
    pub fn from_vars(var: &dyn Fn(&str) -> Option<OsString>) -> Result<ConnectOptions, ReadError> {
        let text = |name: &str| {
            var(name)
                .map(|v| v.to_string_lossy().into_owned())
                .filter(|v| !v.trim().is_empty())
        };
        let home = var("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .or_else(dirs::home_dir);
        let dot_ssh = home.as_ref().map(|h| h.join(".ssh"));
        let config_path = var("DELIVER_SSH_CONFIG")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .or_else(|| dot_ssh.as_ref().map(|d| d.join("config")));
        let ssh_config = match config_path {
            Some(path) => SshConfigFile::read(&path, home.as_deref())?,
            None => SshConfigFile::default(),
        };
        Ok(ConnectOptions {
            local_user: text("USER").or_else(|| text("LOGNAME")),
            ssh_config,
            known_hosts_text: text("DELIVER_KNOWN_HOSTS").unwrap_or_default(),
            user_known_hosts_files: dot_ssh
                .iter()
                .flat_map(|d| [d.join("known_hosts"), d.join("known_hosts2")])
                .collect(),
            global_known_hosts_files: vec![
                PathBuf::from("/etc/ssh/ssh_known_hosts"),
                PathBuf::from("/etc/ssh/ssh_known_hosts2"),
            ],
            key: text("DELIVER_SSH_KEY").map(Secret::new),
            use_agent: var("SSH_AUTH_SOCK").is_some_and(|s| !s.is_empty()),
            home,
            ..ConnectOptions::default()
        })
    }
}

/// An OpenSSH client config: its text, and where its `Include` lines look.
#[derive(Debug, Clone, Default)]
pub struct SshConfigFile {
    text: String,
    /// Relative `Include` paths are relative to this (`~/.ssh`, as for OpenSSH).
    include_dir: PathBuf,
    home: Option<PathBuf>,
}

impl SshConfigFile {
    pub fn new(
        text: impl Into<String>,
        include_dir: impl Into<PathBuf>,
        home: Option<PathBuf>,
    ) -> Self {
        SshConfigFile {
            text: text.into(),
            include_dir: include_dir.into(),
            home,
        }
    }

    /// Reads `path`; a missing file is an empty config, as for `ssh`.
    pub fn read(path: &Path, home: Option<&Path>) -> Result<SshConfigFile, ReadError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => {
                return Err(ReadError {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        let include_dir = home.map_or_else(|| PathBuf::from("."), |h| h.join(".ssh"));
        Ok(SshConfigFile::new(
            text,
            include_dir,
            home.map(Path::to_owned),
        ))
    }

    /// What the config says about `alias`, `Include`d files read (with `*`/`?` in the file
    /// name part); unreadable included files are skipped.
    pub fn lookup(&self, alias: &str) -> SshHost {
        let mut include = |pattern: &str| self.included(pattern);
        ssh_config::lookup_with(&self.text, alias, &mut include)
    }

    fn included(&self, pattern: &str) -> Vec<String> {
        let path = if let Some(rest) = pattern.strip_prefix("~/") {
            match &self.home {
                Some(home) => home.join(rest),
                None => return Vec::new(),
            }
        } else if Path::new(pattern).is_absolute() {
            PathBuf::from(pattern)
        } else {
            self.include_dir.join(pattern)
        };
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        match (path.parent(), name) {
            (Some(dir), Some(name)) if name.contains(['*', '?']) => {
                let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter(|e| wildcard(name.as_bytes(), e.file_name().as_encoded_bytes()))
                    .map(|e| e.path())
                    .collect();
                files.sort();
                files
                    .iter()
                    .filter_map(|f| std::fs::read_to_string(f).ok())
                    .collect()
            }
            _ => std::fs::read_to_string(path).into_iter().collect(),
        }
    }
}

/// `*` and `?` over file names; a leading `.` is matched only by a literal `.` (as glob(3)).
fn wildcard(pattern: &[u8], name: &[u8]) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some((b'*', rest)) => (0..=t.len()).any(|skip| go(rest, &t[skip..])),
            Some((b'?', rest)) => !t.is_empty() && go(rest, &t[1..]),
            Some((&c, rest)) => t.first() == Some(&c) && go(rest, &t[1..]),
        }
    }
    (name.first() != Some(&b'.') || pattern.first() == Some(&b'.')) && go(pattern, name)
}

/// Values for the `%` tokens of `IdentityFile` and `UserKnownHostsFile`.
pub(crate) struct Tokens<'a> {
    pub(crate) home: Option<&'a Path>,
    pub(crate) local_user: Option<&'a str>,
    pub(crate) remote_user: &'a str,
    pub(crate) host: &'a str,
    pub(crate) port: u16,
}

/// Expands a leading `~/` and the tokens `%d %u %r %h %p %%`; `None` when it needs a value
/// that is missing (no home).
pub(crate) fn expand_path(path: &str, t: &Tokens<'_>) -> Option<PathBuf> {
    let mut out = String::new();
    let rest = if let Some(rest) = path.strip_prefix("~/") {
        out.push_str(t.home?.to_str()?);
        out.push('/');
        rest
    } else if path == "~" {
        return t.home.map(Path::to_owned);
    } else {
        path
    };
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('d') => out.push_str(t.home?.to_str()?),
            Some('u') => out.push_str(t.local_user?),
            Some('r') => out.push_str(t.remote_user),
            Some('h') => out.push_str(t.host),
            Some('p') => out.push_str(&t.port.to_string()),
            Some('%') | None => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
        }
    }
    Some(PathBuf::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn from_vars_reads_the_deliver_variables_and_the_config_they_name() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("cfg");
        std::fs::create_dir_all(dir.path().join(".ssh/conf.d")).unwrap();
        std::fs::write(&config, "Include conf.d/*.conf\nHost web\n  User outer\n").unwrap();
        std::fs::write(
            dir.path().join(".ssh/conf.d/a.conf"),
            "Host web\n  Port 2222\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join(".ssh/conf.d/.hidden.conf"),
            "Host web\n  Port 1\n",
        )
        .unwrap();
        let vars: HashMap<&str, OsString> = [
            ("HOME", dir.path().into()),
            ("DELIVER_SSH_CONFIG", config.clone().into()),
            ("DELIVER_SSH_KEY", "-----BEGIN KEY-----\n".into()),
            ("DELIVER_KNOWN_HOSTS", "web ssh-ed25519 AAAA\n".into()),
            ("USER", "me".into()),
        ]
        .into_iter()
        .collect();
        let opts = ConnectOptions::from_vars(&|k| vars.get(k).cloned()).unwrap();
        assert_eq!(opts.home.as_deref(), Some(dir.path()));
        assert_eq!(
            opts.key.as_ref().map(Secret::expose),
            Some("-----BEGIN KEY-----\n")
        );
        assert_eq!(opts.known_hosts_text, "web ssh-ed25519 AAAA\n");
        assert_eq!(opts.local_user.as_deref(), Some("me"));
        assert!(!opts.use_agent);
        assert_eq!(
            opts.user_known_hosts_files,
            [
                dir.path().join(".ssh/known_hosts"),
                dir.path().join(".ssh/known_hosts2")
            ]
        );
        let web = opts.ssh_config.lookup("web");
        assert_eq!((web.port, web.user.as_deref()), (Some(2222), Some("outer")));
        assert!(!format!("{opts:?}").contains("BEGIN KEY"), "{opts:?}");
    }

    #[test]
    fn from_vars_without_files_is_empty_and_unreadable_config_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let vars: HashMap<&str, OsString> = [
            ("HOME", dir.path().into()),
            ("DELIVER_SSH_KEY", " \n".into()),
        ]
        .into_iter()
        .collect();
        let opts = ConnectOptions::from_vars(&|k| vars.get(k).cloned()).unwrap();
        assert!(opts.key.is_none());
        assert_eq!(opts.ssh_config.lookup("x"), SshHost::default());
        let err = ConnectOptions::from_vars(&|k| match k {
            "DELIVER_SSH_CONFIG" => Some(dir.path().into()),
            _ => None,
        })
        .unwrap_err();
        assert!(err.to_string().starts_with("cannot read "), "{err}");
    }

    #[test]
    fn paths_expand_home_and_tokens() {
        let t = Tokens {
            home: Some(Path::new("/home/me")),
            local_user: Some("me"),
            remote_user: "app",
            host: "web1",
            port: 22,
        };
        let cases = [
            ("~/.ssh/id_ed25519", "/home/me/.ssh/id_ed25519"),
            ("%d/keys/%r@%h:%p", "/home/me/keys/app@web1:22"),
            ("/k/%u%%%x", "/k/me%%x"),
        ];
        for (raw, want) in cases {
            assert_eq!(expand_path(raw, &t), Some(PathBuf::from(want)), "{raw}");
        }
        let homeless = Tokens { home: None, ..t };
        assert_eq!(expand_path("~/.ssh/id", &homeless), None);
    }
}
