//! Reads the user's OpenSSH client config (`DELIVER_SSH_CONFIG`, else `~/.ssh/config`) so
//! that host aliases resolve the way `ssh` resolves them. The parsing is pure
//! (`config::ssh_config`); this is the file access around it.

use std::path::{Path, PathBuf};

use crate::config::ssh_config;

/// The ssh config text and where `Include` paths are relative to.
pub struct SshConfig {
    text: String,
    base: PathBuf,
}

/// Loads the ssh config; a missing file is an empty config, as for `ssh`.
pub fn load() -> SshConfig {
    let path = std::env::var_os("DELIVER_SSH_CONFIG")
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".ssh/config")));
    let text = path
        .as_deref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    let base = dirs::home_dir().map_or_else(|| PathBuf::from("."), |h| h.join(".ssh"));
    SshConfig { text, base }
}

impl SshConfig {
    /// The address `ssh` would connect to for `host`.
    pub fn hostname(&self, host: &str) -> String {
        let base = self.base.clone();
        let mut include = |pattern: &str| read_include(&base, pattern);
        ssh_config::lookup_with(&self.text, host, &mut include)
            .hostname
            .unwrap_or_else(|| host.to_string())
    }
}

/// `Include` paths: `~/` is the home, relative ones are under `~/.ssh`. No globbing.
fn read_include(base: &Path, pattern: &str) -> Vec<String> {
    let path = if let Some(rest) = pattern.strip_prefix("~/") {
        dirs::home_dir().unwrap_or_default().join(rest)
    } else if Path::new(pattern).is_absolute() {
        PathBuf::from(pattern)
    } else {
        base.join(pattern)
    };
    std::fs::read_to_string(path).into_iter().collect()
}
