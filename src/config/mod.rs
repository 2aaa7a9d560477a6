//! `deliver.toml`: the file as written, with a span for every key and value (`raw.rs`), is
//! merged and validated (`resolve.rs`) into a [`Config`] whose environments are fully
//! resolved [`Environment`] values; every error names `file:line:column`. Each section of
//! the file (`[health]`, `[proxy]`, the plain keys, ...) owns its keys, checks, merge,
//! defaults and resolved type in `section/`; checks several sections share are `value.rs`.
//! Also host strings (`host.rs`), durations (`duration.rs`) and `~/.ssh/config` lookups
//! (`ssh_config.rs`).
//! Pure: the caller reads the files and passes their text in; nothing here touches the disk,
//! clock or network.

pub mod duration;
pub mod host;
#[cfg(test)]
mod proptests;
mod raw;
mod resolve;
mod section;
pub mod ssh_config;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
mod value;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use host::HostSpec;
pub use section::build::Build;
pub use section::env::EnvVarName;
pub use section::general::Supervisor;
pub use section::health::{Health, HealthPath, InvalidHealthPath};
pub use section::hooks::Hooks;
pub use section::limits::{format_size, Limits};
pub use section::processes::{Instances, ProcessSetting};
pub use section::proxy::{Proxy, UpstreamName};
pub use section::release::Release;
pub use section::rollout::{BatchSize, Rollout, RolloutMode};
pub(crate) use value::too_long;
pub use value::MAX_ARG_BYTES;

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

    /// The environments other than `env` whose managed upstream is `env`'s: the same file on
    /// one of the same proxy hosts. Each run would write only its own hosts into it, so they
    /// cannot both manage it (SPEC §3's top-level `[proxy]` is shared by every environment
    /// that has none of its own).
    pub fn sharing_upstream(&self, env: &Environment) -> Vec<&Environment> {
        let Some(mine) = &env.proxy else {
            return Vec::new();
        };
        self.environments
            .iter()
            .filter(|other| other.name != env.name)
            .filter(|other| {
                other.proxy.as_ref().is_some_and(|theirs| {
                    theirs.config == mine.config
                        && theirs.hosts.iter().any(|h| mine.hosts.contains(h))
                })
            })
            .collect()
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
    /// The share of a host's cores (minus one) that `"auto"` takes: 0 < x <= 1, default 1.
    pub cpu_share: f64,
    /// `[env]`, sorted by key: exported to hooks, processes and `deliver run`.
    pub vars: BTreeMap<EnvVarName, String>,
    pub build: Build,
    /// `[processes]` entries in file order; where each was written, for formation errors.
    pub processes: Vec<ProcessSetting>,
    pub health: Health,
    pub rollout: Rollout,
    pub proxy: Option<Proxy>,
    /// `[limits.TYPE]` in file order (an environment's merged into the top level's).
    pub limits: Vec<Limits>,
    /// `[hooks]`: local commands around a deploy or rollback.
    pub hooks: Hooks,
    /// `[release]`: the command run once per deploy, on one host, before switching.
    pub release: Option<Release>,
    pub hosts: Vec<HostSpec>,
    /// Where some values were written, for checks that need the Procfile too.
    pub sources: Sources,
}

/// Where the values of an [`Environment`] that checks across files name were written;
/// `None` for a default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    pub port_base: Option<Location>,
    pub health_process: Option<Location>,
}
