//! `deliver.toml`: the file as written, with a span for every key and value (`raw.rs`), is
//! merged and validated (`resolve.rs`) into a [`Config`] whose environments are fully
//! resolved [`Environment`] values; every error names `file:line:column`. Also host strings
//! (`host.rs`), durations (`duration.rs`) and `~/.ssh/config` lookups (`ssh_config.rs`).
//! Pure: the caller reads the files and passes their text in; nothing here touches the disk,
//! clock or network.

pub mod duration;
pub mod host;
mod raw;
mod resolve;
pub mod ssh_config;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use host::HostSpec;

/// A place in a file, 1-based, as editors show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// An invalid `deliver.toml`: where, what, and (for unknown keys) the nearest valid key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}{}", location.as_ref().map(|l| format!("{l}: ")).unwrap_or_default(), suggestion.as_ref().map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
pub struct ConfigError {
    pub location: Option<Location>,
    /// Lowercase, names the key (`keep_releases must be at least 1, got 0`).
    pub message: String,
    pub suggestion: Option<String>,
}

/// The whole file, resolved: every environment merged over the top-level defaults.
#[derive(Debug, Clone)]
pub struct Config {
    pub file: PathBuf,
    pub app: AppName,
    pub default_environment: Option<String>,
    /// In file order. When the file has no `[environments]`, one environment named
    /// `default` made of the top-level keys alone.
    pub environments: Vec<Environment>,
}

impl Config {
    /// Parses and validates `text`, read from `file` (used in error locations only).
    pub fn parse(file: &Path, text: &str) -> Result<Config, ConfigError> {
        resolve::resolve(file, text)
    }

    /// `name`, else `default_environment`, else the only environment.
    pub fn environment(&self, name: Option<&str>) -> Result<&Environment, ConfigError> {
        resolve::pick_environment(self, name)
    }
}

/// `[a-z][a-z0-9-]{0,31}`; names units, directories and the lock.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AppName(pub(crate) String);

impl AppName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AppName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One environment with every key resolved (defaults applied, values validated).
#[derive(Debug, Clone)]
pub struct Environment {
    pub name: String,
    pub app: AppName,
    /// SSH user for hosts that do not name one (`user`), if set.
    pub user: Option<String>,
    /// Remote base directory, as written (`~/shop`); default `~/<app>`.
    pub deploy_to: String,
    /// What `deliver` deploys when `--ref` is not given; default `HEAD`.
    pub git_ref: String,
    pub keep_releases: u32,
    pub linked_dirs: Vec<String>,
    pub linked_files: Vec<String>,
    pub supervisor: Supervisor,
    pub port_base: u16,
    /// `[env]`, sorted by key: exported to hooks, processes and `deliver run`.
    pub vars: BTreeMap<String, String>,
    pub build: Build,
    /// `[processes]` entries in file order; where each was written, for formation errors.
    pub processes: Vec<ProcessSetting>,
    pub health: Health,
    pub rollout: Rollout,
    pub proxy: Option<Proxy>,
    pub hosts: Vec<HostSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Supervisor {
    SystemdUser,
    Systemd,
    Upstart,
}

impl Supervisor {
    pub fn as_str(self) -> &'static str {
        match self {
            Supervisor::SystemdUser => "systemd-user",
            Supervisor::Systemd => "systemd",
            Supervisor::Upstart => "upstart",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    pub hooks: Vec<String>,
    /// Per hook; default 10 minutes.
    pub timeout: Duration,
}

/// Instances of one process type per host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instances {
    /// 0 = off, else 1..=100.
    Count(u32),
    /// CPU cores of the host minus one, clamped to 1..=100.
    Auto,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSetting {
    pub name: String,
    pub instances: Instances,
    pub location: Location,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// Default `web`.
    pub process: String,
    /// Starts with `/`; default `/health`.
    pub path: String,
    /// Default 200.
    pub expect: u16,
    /// Per attempt; default 2s.
    pub timeout: Duration,
    /// Default 250ms.
    pub interval: Duration,
    /// Default 30s.
    pub deadline: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloutMode {
    Rolling,
    AllAtOnce,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollout {
    pub mode: RolloutMode,
    /// >= 1; default 1.
    pub batch: u32,
    /// Default 30s.
    pub stop_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxy {
    pub hosts: Vec<HostSpec>,
    /// nginx upstream name; default the app name.
    pub upstream: String,
    /// Default `/etc/nginx/conf.d/<app>-upstream.conf`.
    pub config: String,
    pub drain: bool,
}
