//! The keys outside any table: `user`, `deploy_to`, `ref`, `keep_releases`, `linked_dirs`,
//! `linked_files`, `supervisor`, `port_base`, `cpu_share` and `hosts`, with their checks,
//! merge and defaults. The checks of linked paths and host lists live in `linked.rs` and `hosts.rs`
//! (the proxy's hosts use the latter too). No I/O.

use crate::config::raw::{
    field, integer, string, strings, wrong_type, Entry, Field, Kind, Problem,
};
use crate::config::value::{at_least_one, non_empty, one_of, Set};
use crate::config::{AppName, HostSpec};

use super::{deploy_to, hosts, linked};

/// The keys outside any table, as written.
#[derive(Debug, Default)]
pub(in crate::config) struct RawGeneral {
    pub user: Option<Field<String>>,
    pub deploy_to: Option<Field<String>>,
    pub git_ref: Option<Field<String>>,
    pub keep_releases: Option<Field<i64>>,
    pub linked_dirs: Option<Field<Vec<Field<String>>>>,
    pub linked_files: Option<Field<Vec<Field<String>>>>,
    pub supervisor: Option<Field<String>>,
    pub port_base: Option<Field<i64>>,
    pub cpu_share: Option<Field<f64>>,
    pub hosts: Option<Field<Vec<Field<String>>>>,
}

impl RawGeneral {
    /// Reads `entry` when its key is one of this section's; `Ok(false)` when it is not.
    pub(super) fn take(&mut self, entry: &Entry) -> Result<bool, Problem> {
        match entry.key.as_str() {
            "user" => self.user = Some(string(entry)?),
            "deploy_to" => self.deploy_to = Some(string(entry)?),
            "ref" => self.git_ref = Some(string(entry)?),
            "keep_releases" => self.keep_releases = Some(integer(entry)?),
            "linked_dirs" => self.linked_dirs = Some(strings(entry)?),
            "linked_files" => self.linked_files = Some(strings(entry)?),
            "supervisor" => self.supervisor = Some(string(entry)?),
            "port_base" => self.port_base = Some(integer(entry)?),
            "cpu_share" => self.cpu_share = Some(number(entry)?),
            "hosts" => self.hosts = Some(strings(entry)?),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// One level's values, each checked on its own.
#[derive(Debug, Clone, Default)]
pub(super) struct General {
    user: Option<String>,
    deploy_to: Option<String>,
    git_ref: Option<String>,
    keep_releases: Option<u32>,
    linked_dirs: Option<Vec<Set<String>>>,
    linked_files: Option<Vec<Set<String>>>,
    supervisor: Option<Supervisor>,
    port_base: Option<Set<u16>>,
    cpu_share: Option<f64>,
    hosts: Option<hosts::Hosts>,
}

/// The merged values with their defaults applied.
pub(super) struct Resolved {
    pub user: Option<String>,
    pub deploy_to: String,
    pub git_ref: String,
    pub keep_releases: u32,
    pub linked_dirs: Vec<String>,
    pub linked_files: Vec<String>,
    pub supervisor: Supervisor,
    pub port_base: u16,
    /// Where `port_base` was written.
    pub port_base_at: Option<usize>,
    pub cpu_share: f64,
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

impl General {
    pub(super) fn check(raw: &RawGeneral) -> Result<General, Problem> {
        Ok(General {
            user: raw.user.as_ref().map(user).transpose()?,
            deploy_to: raw.deploy_to.as_ref().map(deploy_to::check).transpose()?,
            git_ref: raw.git_ref.as_ref().map(git_ref).transpose()?,
            keep_releases: raw.keep_releases.as_ref().map(at_least_one).transpose()?,
            linked_dirs: raw.linked_dirs.as_ref().map(linked::paths).transpose()?,
            linked_files: raw.linked_files.as_ref().map(linked::paths).transpose()?,
            supervisor: raw.supervisor.as_ref().map(supervisor).transpose()?,
            port_base: raw
                .port_base
                .as_ref()
                .map(|f| Ok::<_, Problem>(Set::at(f, port_base(f)?)))
                .transpose()?,
            cpu_share: raw.cpu_share.as_ref().map(cpu_share).transpose()?,
            hosts: raw.hosts.as_ref().map(hosts::list).transpose()?,
        })
    }

    /// `over` wins key by key; arrays are replaced whole.
    pub(super) fn overlay(self, over: General) -> General {
        General {
            user: over.user.or(self.user),
            deploy_to: over.deploy_to.or(self.deploy_to),
            git_ref: over.git_ref.or(self.git_ref),
            keep_releases: over.keep_releases.or(self.keep_releases),
            linked_dirs: over.linked_dirs.or(self.linked_dirs),
            linked_files: over.linked_files.or(self.linked_files),
            supervisor: over.supervisor.or(self.supervisor),
            port_base: over.port_base.or(self.port_base),
            cpu_share: over.cpu_share.or(self.cpu_share),
            hosts: over.hosts.or(self.hosts),
        }
    }

    /// The hosts of environment `env`, which must have some, none twice once `user` is
    /// applied. `table_at` as in [`super::Settings::finish`].
    pub(super) fn hosts(
        &self,
        env: &str,
        table_at: Option<usize>,
    ) -> Result<&[Set<HostSpec>], Problem> {
        if let Some(hosts) = &self.hosts {
            hosts::distinct(&hosts.value, self.user.as_deref())?;
            return Ok(&hosts.value);
        }
        let message = match table_at {
            Some(_) => format!(
                "environment `{env}` has no hosts; set hosts = [\"...\"] in \
                 [environments.{env}] or at the top level"
            ),
            None => {
                format!("environment `{env}` has no hosts; set hosts = [\"...\"] at the top level")
            }
        };
        Err(Problem::new(table_at.unwrap_or(0), message))
    }

    pub(super) fn check_linked_paths(&self, env: &str) -> Result<(), Problem> {
        linked::disjoint(
            self.linked_dirs
                .iter()
                .chain(self.linked_files.iter())
                .flatten(),
            env,
        )
    }

    pub(super) fn finish(self, app: &AppName) -> Resolved {
        let values = |sets: Option<Vec<Set<String>>>| -> Vec<String> {
            sets.unwrap_or_default()
                .into_iter()
                .map(|set| set.value)
                .collect()
        };
        Resolved {
            user: self.user,
            deploy_to: self.deploy_to.unwrap_or_else(|| format!("~/{app}")),
            git_ref: self.git_ref.unwrap_or_else(|| "HEAD".to_owned()),
            keep_releases: self.keep_releases.unwrap_or(5),
            linked_dirs: values(self.linked_dirs),
            linked_files: values(self.linked_files),
            supervisor: self.supervisor.unwrap_or(Supervisor::SystemdUser),
            port_base: self.port_base.as_ref().map_or(5000, |p| p.value),
            port_base_at: self.port_base.map(|p| p.at),
            cpu_share: self.cpu_share.unwrap_or(1.0),
        }
    }
}

fn user(field: &Field<String>) -> Result<String, Problem> {
    let name = &field.value;
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        && name.len() <= 32;
    if ok {
        Ok(name.clone())
    } else {
        Err(Problem::new(
            field.at,
            format!(
                "{} `{name}` is not a valid user name: a lowercase letter or `_`, then \
                 lowercase letters, digits, `_` or `-`, at most 32 ([a-z_][a-z0-9_-]*)",
                field.path
            ),
        ))
    }
}

fn git_ref(field: &Field<String>) -> Result<String, Problem> {
    non_empty(field)?;
    let value = &field.value;
    if value.chars().any(char::is_whitespace) {
        return Err(Problem::new(
            field.at,
            format!("{} `{value}` must not contain whitespace", field.path),
        ));
    }
    // git would read a leading `-` as an option.
    if value.starts_with('-') {
        return Err(Problem::new(
            field.at,
            format!("{} `{value}` must not start with `-`", field.path),
        ));
    }
    Ok(value.clone())
}

fn port_base(field: &Field<i64>) -> Result<u16, Problem> {
    match u16::try_from(field.value) {
        Ok(p) if p >= 1 => Ok(p),
        _ => Err(Problem::new(
            field.at,
            format!(
                "{} must be from 1 to 65535, got {}",
                field.path, field.value
            ),
        )),
    }
}

/// A TOML integer or float, as a float (`cpu_share = 1` is `1.0`).
fn number(entry: &Entry) -> Result<Field<f64>, Problem> {
    match entry.node.kind {
        Kind::Float(f) => Ok(field(entry, f)),
        #[allow(clippy::cast_precision_loss)] // the check below takes 0 < x <= 1 only
        Kind::Integer(i) => Ok(field(entry, i as f64)),
        _ => Err(wrong_type(entry, "a number")),
    }
}

/// The share of the host's cores an app's `"auto"` takes: more than 0, at most 1.
fn cpu_share(field: &Field<f64>) -> Result<f64, Problem> {
    let share = field.value;
    if share > 0.0 && share <= 1.0 {
        Ok(share)
    } else {
        Err(Problem::new(
            field.at,
            format!(
                "{} must be more than 0 and at most 1 (the share of the host's cores \
                 \"auto\" takes, like 0.5), got {share}",
                field.path
            ),
        ))
    }
}

fn supervisor(field: &Field<String>) -> Result<Supervisor, Problem> {
    let all = [
        Supervisor::SystemdUser,
        Supervisor::Systemd,
        Supervisor::Upstart,
    ];
    one_of(field, &all.map(|s| (s.as_str(), s)))
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::*;

    #[test]
    fn an_environment_without_hosts_names_itself_and_its_table() {
        insta::assert_snapshot!(
            error("app = \"shop\"\n[environments.production]\nhosts = [\"a\"]\n\n[environments.staging]\nuser = \"app\"\n"),
            @r#"deliver.toml:5:1: environment `staging` has no hosts; set hosts = ["..."] in [environments.staging] or at the top level"#
        );
        assert_eq!(
            error("app = \"shop\"\n"),
            "deliver.toml:1:1: environment `default` has no hosts; set hosts = [\"...\"] at the \
                 top level"
        );
        assert_eq!(
            error("app = \"shop\"\n[environments.production]\nhosts = []\n"),
            "deliver.toml:3:9: environments.production.hosts is empty; list at least one host"
        );
    }

    #[test]
    fn numbers_must_be_in_range() {
        assert_errors(&[
            (
                "keep_releases = 0\n",
                "3:17: keep_releases must be at least 1, got 0",
            ),
            (
                "keep_releases = 5000000000\n",
                "3:17: keep_releases must be at most 4294967295, got 5000000000",
            ),
            (
                "port_base = 0\n",
                "3:13: port_base must be from 1 to 65535, got 0",
            ),
            (
                "port_base = 65536\n",
                "3:13: port_base must be from 1 to 65535, got 65536",
            ),
            (
                "cpu_share = 0\n",
                "3:13: cpu_share must be more than 0 and at most 1 (the share of the host's \
                     cores \"auto\" takes, like 0.5), got 0",
            ),
            (
                "cpu_share = 1.5\n",
                "3:13: cpu_share must be more than 0 and at most 1 (the share of the host's \
                     cores \"auto\" takes, like 0.5), got 1.5",
            ),
            (
                "cpu_share = nan\n",
                "3:13: cpu_share must be more than 0 and at most 1 (the share of the host's \
                     cores \"auto\" takes, like 0.5), got NaN",
            ),
            (
                "cpu_share = \"half\"\n",
                "3:13: cpu_share must be a number, found a string",
            ),
        ]);
    }

    #[test]
    fn cpu_share_defaults_to_1_and_an_environment_overrides_it() {
        let text = "app = \"shop\"\nhosts = [\"h\"]\ncpu_share = 0.5\n\
                    [environments.a]\n[environments.b]\ncpu_share = 1\n";
        assert!((env_named(text, "a").cpu_share - 0.5).abs() < f64::EPSILON);
        assert!((env_named(text, "b").cpu_share - 1.0).abs() < f64::EPSILON);
        assert!((only_env(BASE).cpu_share - 1.0).abs() < f64::EPSILON);
    }

    #[test]
    fn names_paths_and_strings_are_checked() {
        assert_errors(&[
            (
                "user = \"Deploy\"\n",
                "3:8: user `Deploy` is not a valid user name: a lowercase letter or `_`, then \
                     lowercase letters, digits, `_` or `-`, at most 32 ([a-z_][a-z0-9_-]*)",
            ),
            ("ref = \"\"\n", "3:7: ref must not be empty"),
            ("ref = \"-x\"\n", "3:7: ref `-x` must not start with `-`"),
            (
                "ref = \"a b\"\n",
                "3:7: ref `a b` must not contain whitespace",
            ),
        ]);
    }
}
