//! Raw -> resolved: validates every value where it is written, merges each
//! `[environments.NAME]` over the top-level defaults key by key, applies the defaults and
//! checks what only the merged result can tell (hosts present, timeout within deadline).
//! Byte offsets become `file:line:column` here. No I/O.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::duration;
use super::raw::{self, Field, Problem, RawFile, RawInstances, RawSettings};
use super::{
    AppName, Build, Config, ConfigError, Environment, Health, HostSpec, Instances, Location,
    ProcessSetting, Proxy, Rollout, RolloutMode, Supervisor,
};

pub(super) fn resolve(file: &Path, text: &str) -> Result<Config, ConfigError> {
    let locator = Locator { file, text };
    resolve_file(&locator).map_err(|p| locator.error(p))
}

pub(super) fn pick_environment<'c>(
    config: &'c Config,
    name: Option<&str>,
) -> Result<&'c Environment, ConfigError> {
    let names: Vec<&str> = config
        .environments
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    let error = |message: String, suggestion: Option<&str>| ConfigError {
        location: None,
        message,
        suggestion: suggestion.map(str::to_owned),
    };
    match name.or(config.default_environment.as_deref()) {
        Some(name) => config
            .environments
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| {
                error(
                    format!(
                        "unknown environment `{name}`; the environments in {} are {}",
                        config.file.display(),
                        names.join(", ")
                    ),
                    raw::nearest(name, &names),
                )
            }),
        None => match config.environments.as_slice() {
            [only] => Ok(only),
            _ => Err(error(
                format!(
                    "{} defines several environments ({}) and no default_environment; name one \
                     on the command line (like `{}`) or set default_environment",
                    config.file.display(),
                    names.join(", "),
                    names.first().copied().unwrap_or("production"),
                ),
                None,
            )),
        },
    }
}

/// Turns byte offsets into 1-based lines and columns (columns count characters).
struct Locator<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Locator<'_> {
    fn location(&self, at: usize) -> Location {
        let mut at = at.min(self.text.len());
        while !self.text.is_char_boundary(at) {
            at -= 1;
        }
        let before = &self.text[..at];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Location {
            file: self.file.to_path_buf(),
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }

    fn error(&self, problem: Problem) -> ConfigError {
        ConfigError {
            location: Some(self.location(problem.at)),
            message: problem.message,
            suggestion: problem.suggestion,
        }
    }
}

/// A validated value and where it was written (for checks across keys).
#[derive(Debug, Clone)]
struct Set<T> {
    value: T,
    path: String,
    at: usize,
}

/// One level of settings (top level or one environment), each value validated; `None`
/// where the level does not set the key.
#[derive(Debug, Clone, Default)]
struct Settings {
    user: Option<String>,
    deploy_to: Option<String>,
    git_ref: Option<String>,
    keep_releases: Option<u32>,
    linked_dirs: Option<Vec<Set<String>>>,
    linked_files: Option<Vec<Set<String>>>,
    supervisor: Option<Supervisor>,
    port_base: Option<u16>,
    hosts: Option<Set<Vec<HostSpec>>>,
    env: BTreeMap<String, String>,
    build_hooks: Option<Vec<String>>,
    build_timeout: Option<Duration>,
    processes: Vec<ProcessSetting>,
    health_process: Option<String>,
    health_path: Option<String>,
    health_expect: Option<u16>,
    health_timeout: Option<Set<Duration>>,
    health_interval: Option<Duration>,
    health_deadline: Option<Set<Duration>>,
    rollout_mode: Option<RolloutMode>,
    rollout_batch: Option<u32>,
    rollout_stop_timeout: Option<Duration>,
    proxy: Option<ProxySettings>,
}

#[derive(Debug, Clone)]
struct ProxySettings {
    path: String,
    at: usize,
    hosts: Option<Set<Vec<HostSpec>>>,
    upstream: Option<String>,
    config: Option<String>,
    drain: Option<bool>,
}

fn resolve_file(locator: &Locator<'_>) -> Result<Config, Problem> {
    let raw = RawFile::parse(locator.text)?;
    let app = match &raw.app {
        Some(app) => app_name(app)?,
        None => {
            return Err(Problem::new(
                0,
                "missing required key `app` (the app name, like app = \"shop\")",
            ))
        }
    };
    let top = Settings::check(&raw.settings, locator)?;
    let mut environments = Vec::new();
    match &raw.environments {
        None => environments.push(finish("default", None, top, &app)?),
        Some(list) => {
            if list.value.is_empty() {
                return Err(Problem::new(
                    list.at,
                    "environments is empty; add a table like [environments.production] with \
                     its hosts, or remove it",
                ));
            }
            for env in &list.value {
                environment_name(&env.name, env.key_at)?;
                let own = Settings::check(&env.settings, locator)?;
                let merged = top.clone().overlay(own);
                environments.push(finish(&env.name, Some(env.at), merged, &app)?);
            }
        }
    }
    let default_environment = match &raw.default_environment {
        None => None,
        Some(field) => {
            let names: Vec<&str> = environments.iter().map(|e| e.name.as_str()).collect();
            if !names.contains(&field.value.as_str()) {
                return Err(Problem::new(
                    field.at,
                    format!(
                        "default_environment `{}` is not one of the environments ({})",
                        field.value,
                        names.join(", ")
                    ),
                )
                .suggest(raw::nearest(&field.value, &names)));
            }
            Some(field.value.clone())
        }
    };
    Ok(Config {
        file: locator.file.to_path_buf(),
        app,
        default_environment,
        environments,
    })
}

impl Settings {
    /// Validates each value of one level on its own.
    fn check(raw: &RawSettings, locator: &Locator<'_>) -> Result<Settings, Problem> {
        let mut s = Settings {
            user: raw.user.as_ref().map(user).transpose()?,
            deploy_to: raw.deploy_to.as_ref().map(deploy_to).transpose()?,
            git_ref: raw.git_ref.as_ref().map(git_ref).transpose()?,
            keep_releases: raw.keep_releases.as_ref().map(at_least_one).transpose()?,
            linked_dirs: raw.linked_dirs.as_ref().map(linked_paths).transpose()?,
            linked_files: raw.linked_files.as_ref().map(linked_paths).transpose()?,
            supervisor: raw.supervisor.as_ref().map(supervisor).transpose()?,
            port_base: raw.port_base.as_ref().map(port_base).transpose()?,
            hosts: raw.hosts.as_ref().map(hosts).transpose()?,
            ..Settings::default()
        };
        for (name, value) in &raw.env {
            env_var(name, value)?;
            s.env.insert(name.clone(), value.value.clone());
        }
        s.build_hooks = raw.build.hooks.as_ref().map(hooks).transpose()?;
        s.build_timeout = raw.build.timeout.as_ref().map(positive).transpose()?;
        for (name, value) in &raw.processes {
            s.processes.push(ProcessSetting {
                name: name.clone(),
                instances: instances(value)?,
                location: locator.location(value.key_at),
            });
        }
        let h = &raw.health;
        s.health_process = h.process.as_ref().map(process_name).transpose()?;
        s.health_path = h.path.as_ref().map(health_path).transpose()?;
        s.health_expect = h.expect.as_ref().map(status_code).transpose()?;
        s.health_timeout = h.timeout.as_ref().map(positive_set).transpose()?;
        s.health_interval = h.interval.as_ref().map(positive).transpose()?;
        s.health_deadline = h.deadline.as_ref().map(positive_set).transpose()?;
        let r = &raw.rollout;
        s.rollout_mode = r.mode.as_ref().map(rollout_mode).transpose()?;
        s.rollout_batch = r.batch.as_ref().map(at_least_one).transpose()?;
        s.rollout_stop_timeout = r.stop_timeout.as_ref().map(positive).transpose()?;
        if let Some(p) = &raw.proxy {
            s.proxy = Some(ProxySettings {
                path: p.path.clone(),
                at: p.at,
                hosts: p.hosts.as_ref().map(hosts).transpose()?,
                upstream: p.upstream.as_ref().map(upstream).transpose()?,
                config: p.config.as_ref().map(proxy_config).transpose()?,
                drain: p.drain.as_ref().map(|f| f.value),
            });
        }
        Ok(s)
    }

    /// `over` (an environment) wins key by key; tables merge, arrays are replaced whole.
    fn overlay(self, over: Settings) -> Settings {
        let mut env = self.env;
        env.extend(over.env);
        let mut processes = self.processes;
        for p in over.processes {
            match processes.iter_mut().find(|q| q.name == p.name) {
                Some(slot) => *slot = p,
                None => processes.push(p),
            }
        }
        let proxy = match (self.proxy, over.proxy) {
            (Some(base), Some(over)) => Some(ProxySettings {
                path: over.path,
                at: over.at,
                hosts: over.hosts.or(base.hosts),
                upstream: over.upstream.or(base.upstream),
                config: over.config.or(base.config),
                drain: over.drain.or(base.drain),
            }),
            (base, over) => over.or(base),
        };
        Settings {
            user: over.user.or(self.user),
            deploy_to: over.deploy_to.or(self.deploy_to),
            git_ref: over.git_ref.or(self.git_ref),
            keep_releases: over.keep_releases.or(self.keep_releases),
            linked_dirs: over.linked_dirs.or(self.linked_dirs),
            linked_files: over.linked_files.or(self.linked_files),
            supervisor: over.supervisor.or(self.supervisor),
            port_base: over.port_base.or(self.port_base),
            hosts: over.hosts.or(self.hosts),
            env,
            build_hooks: over.build_hooks.or(self.build_hooks),
            build_timeout: over.build_timeout.or(self.build_timeout),
            processes,
            health_process: over.health_process.or(self.health_process),
            health_path: over.health_path.or(self.health_path),
            health_expect: over.health_expect.or(self.health_expect),
            health_timeout: over.health_timeout.or(self.health_timeout),
            health_interval: over.health_interval.or(self.health_interval),
            health_deadline: over.health_deadline.or(self.health_deadline),
            rollout_mode: over.rollout_mode.or(self.rollout_mode),
            rollout_batch: over.rollout_batch.or(self.rollout_batch),
            rollout_stop_timeout: over.rollout_stop_timeout.or(self.rollout_stop_timeout),
            proxy,
        }
    }
}

/// Applies the defaults and checks the merged environment. `table_at` is where its
/// `[environments.NAME]` table starts (`None` for the implicit `default` environment).
fn finish(
    name: &str,
    table_at: Option<usize>,
    s: Settings,
    app: &AppName,
) -> Result<Environment, Problem> {
    let Some(hosts) = s.hosts.as_ref().map(|h| h.value.clone()) else {
        let message = match table_at {
            Some(_) => format!(
                "environment `{name}` has no hosts; set hosts = [\"...\"] in \
                 [environments.{name}] or at the top level"
            ),
            None => {
                format!("environment `{name}` has no hosts; set hosts = [\"...\"] at the top level")
            }
        };
        return Err(Problem::new(table_at.unwrap_or(0), message));
    };
    let health = health(&s, name)?;
    disjoint_linked_paths(&s, name)?;
    let proxy = match s.proxy {
        None => None,
        Some(p) => {
            let Some(proxy_hosts) = p.hosts else {
                return Err(Problem::new(
                    p.at,
                    format!(
                        "{} has no hosts (in environment `{name}`); set hosts = [\"...\"] to \
                         the host(s) nginx runs on",
                        p.path
                    ),
                ));
            };
            Some(Proxy {
                hosts: proxy_hosts.value,
                upstream: p.upstream.unwrap_or_else(|| app.to_string()),
                config: p
                    .config
                    .unwrap_or_else(|| format!("/etc/nginx/conf.d/{app}-upstream.conf")),
                drain: p.drain.unwrap_or(false),
            })
        }
    };
    Ok(Environment {
        name: name.to_owned(),
        app: app.clone(),
        user: s.user,
        deploy_to: s.deploy_to.unwrap_or_else(|| format!("~/{app}")),
        git_ref: s.git_ref.unwrap_or_else(|| "HEAD".to_owned()),
        keep_releases: s.keep_releases.unwrap_or(5),
        linked_dirs: values(s.linked_dirs),
        linked_files: values(s.linked_files),
        supervisor: s.supervisor.unwrap_or(Supervisor::SystemdUser),
        port_base: s.port_base.unwrap_or(5000),
        vars: s.env,
        build: Build {
            hooks: s.build_hooks.unwrap_or_default(),
            timeout: s.build_timeout.unwrap_or(Duration::from_secs(600)),
        },
        processes: s.processes,
        health,
        rollout: Rollout {
            mode: s.rollout_mode.unwrap_or(RolloutMode::Rolling),
            batch: s.rollout_batch.unwrap_or(1),
            stop_timeout: s.rollout_stop_timeout.unwrap_or(Duration::from_secs(30)),
        },
        proxy,
        hosts,
    })
}

fn health(s: &Settings, env: &str) -> Result<Health, Problem> {
    let timeout = s
        .health_timeout
        .as_ref()
        .map_or(Duration::from_secs(2), |t| t.value);
    let deadline = s
        .health_deadline
        .as_ref()
        .map_or(Duration::from_secs(30), |d| d.value);
    if timeout > deadline {
        // Point at whichever of the two was written last: that is usually the one just
        // changed (an environment's override comes after the top-level value).
        let t_at = s.health_timeout.as_ref().map(|t| t.at);
        let d_at = s.health_deadline.as_ref().map(|d| d.at);
        let at = t_at.max(d_at).unwrap_or(0);
        let name = |set: Option<&Set<Duration>>, key: &str| {
            set.map_or_else(|| format!("the default {key}"), |s| s.path.clone())
        };
        return Err(Problem::new(
            at,
            format!(
                "{} ({}) must not be longer than {} ({}) in environment `{env}`",
                name(s.health_timeout.as_ref(), "health.timeout"),
                duration::format(timeout),
                name(s.health_deadline.as_ref(), "health.deadline"),
                duration::format(deadline),
            ),
        ));
    }
    Ok(Health {
        process: s.health_process.clone().unwrap_or_else(|| "web".to_owned()),
        path: s
            .health_path
            .clone()
            .unwrap_or_else(|| "/health".to_owned()),
        expect: s.health_expect.unwrap_or(200),
        timeout,
        interval: s.health_interval.unwrap_or(Duration::from_millis(250)),
        deadline,
    })
}

fn app_name(field: &Field<String>) -> Result<AppName, Problem> {
    let name = &field.value;
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && name.len() <= 32;
    if ok {
        Ok(AppName(name.clone()))
    } else {
        Err(Problem::new(
            field.at,
            format!(
                "app `{name}` is not a valid app name: a lowercase letter, then up to 31 \
                 lowercase letters, digits or `-` ([a-z][a-z0-9-]{{0,31}})"
            ),
        ))
    }
}

fn environment_name(name: &str, at: usize) -> Result<(), Problem> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(Problem::new(
            at,
            format!(
                "environment name `{name}` is not valid: lowercase letters, digits, `_` and \
                 `-`, starting with a letter or digit ([a-z0-9][a-z0-9_-]*)"
            ),
        ))
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

/// Rejects what no path or shell word can hold; anything else (quotes, `;`, `$`) is kept
/// verbatim: quoting for the remote shell is the remote layer's job.
fn no_control_chars(field: &Field<String>) -> Result<(), Problem> {
    if field.value.contains(['\0', '\n', '\r']) {
        return Err(Problem::new(
            field.at,
            format!("{} must not contain NUL or line breaks", field.path),
        ));
    }
    Ok(())
}

fn non_empty(field: &Field<String>) -> Result<(), Problem> {
    if field.value.is_empty() {
        return Err(Problem::new(
            field.at,
            format!("{} must not be empty", field.path),
        ));
    }
    no_control_chars(field)
}

fn deploy_to(field: &Field<String>) -> Result<String, Problem> {
    non_empty(field)?;
    Ok(field.value.clone())
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

fn at_least_one(field: &Field<i64>) -> Result<u32, Problem> {
    match u32::try_from(field.value) {
        Ok(n) if n >= 1 => Ok(n),
        _ if field.value < 1 => Err(Problem::new(
            field.at,
            format!("{} must be at least 1, got {}", field.path, field.value),
        )),
        _ => Err(Problem::new(
            field.at,
            format!(
                "{} must be at most {}, got {}",
                field.path,
                u32::MAX,
                field.value
            ),
        )),
    }
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

fn status_code(field: &Field<i64>) -> Result<u16, Problem> {
    match u16::try_from(field.value) {
        Ok(code) if (100..=599).contains(&code) => Ok(code),
        _ => Err(Problem::new(
            field.at,
            format!(
                "{} must be an HTTP status code from 100 to 599, got {}",
                field.path, field.value
            ),
        )),
    }
}

/// One of `valid`, else an error listing them and suggesting the nearest.
fn one_of<T: Copy>(field: &Field<String>, valid: &[(&str, T)]) -> Result<T, Problem> {
    if let Some((_, value)) = valid.iter().find(|(name, _)| *name == field.value) {
        return Ok(*value);
    }
    let names: Vec<&str> = valid.iter().map(|(name, _)| *name).collect();
    Err(Problem::new(
        field.at,
        format!(
            "{} must be one of {}; got `{}`",
            field.path,
            names.join(", "),
            field.value
        ),
    )
    .suggest(raw::nearest(&field.value, &names)))
}

fn supervisor(field: &Field<String>) -> Result<Supervisor, Problem> {
    let all = [
        Supervisor::SystemdUser,
        Supervisor::Systemd,
        Supervisor::Upstart,
    ];
    one_of(field, &all.map(|s| (s.as_str(), s)))
}

fn rollout_mode(field: &Field<String>) -> Result<RolloutMode, Problem> {
    one_of(
        field,
        &[
            ("rolling", RolloutMode::Rolling),
            ("all-at-once", RolloutMode::AllAtOnce),
        ],
    )
}

fn values(sets: Option<Vec<Set<String>>>) -> Vec<String> {
    sets.unwrap_or_default()
        .into_iter()
        .map(|set| set.value)
        .collect()
}

/// No linked path may be another, or lie inside another (across `linked_dirs` and
/// `linked_files`): the release would get a link inside a link, and replacing the inner one
/// would write into `shared/` through the outer.
fn disjoint_linked_paths(s: &Settings, env: &str) -> Result<(), Problem> {
    let parts = |p: &str| -> Vec<String> {
        p.split('/')
            .filter(|part| !part.is_empty() && *part != ".")
            .map(str::to_owned)
            .collect()
    };
    let all: Vec<(&Set<String>, Vec<String>)> = s
        .linked_dirs
        .iter()
        .chain(s.linked_files.iter())
        .flatten()
        .map(|set| (set, parts(&set.value)))
        .collect();
    for (i, (later, later_parts)) in all.iter().enumerate() {
        for (earlier, earlier_parts) in &all[..i] {
            let (outer, inner) = if earlier_parts.len() <= later_parts.len() {
                (earlier, later)
            } else {
                (later, earlier)
            };
            let (outer_parts, inner_parts) = if earlier_parts.len() <= later_parts.len() {
                (earlier_parts, later_parts)
            } else {
                (later_parts, earlier_parts)
            };
            if inner_parts.starts_with(outer_parts) {
                let how = if inner_parts.len() == outer_parts.len() {
                    "is the same path as"
                } else {
                    "lies inside"
                };
                // At the one written last in the file: where an override brought the clash.
                return Err(Problem::new(
                    earlier.at.max(later.at),
                    format!(
                        "{} `{}` {how} {} `{}` (environment `{env}`): a release links each \
                         linked path once; keep the outer one",
                        inner.path, inner.value, outer.path, outer.value
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn linked_paths(field: &Field<Vec<Field<String>>>) -> Result<Vec<Set<String>>, Problem> {
    let mut out = Vec::with_capacity(field.value.len());
    for item in &field.value {
        non_empty(item)?;
        let path = &item.value;
        let problem = if path.starts_with('/') {
            Some("must be a path relative to the release, not an absolute one")
        } else if path.split('/').any(|part| part == "..") {
            Some("must not contain `..`")
        } else if path.split('/').all(|part| part.is_empty() || part == ".") {
            Some("must name a file or directory inside the release")
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(Problem::new(
                item.at,
                format!("{} `{path}` {problem}", item.path),
            ));
        }
        out.push(Set {
            value: path.clone(),
            path: item.path.clone(),
            at: item.at,
        });
    }
    Ok(out)
}

fn hosts(field: &Field<Vec<Field<String>>>) -> Result<Set<Vec<HostSpec>>, Problem> {
    if field.value.is_empty() {
        return Err(Problem::new(
            field.at,
            format!("{} is empty; list at least one host", field.path),
        ));
    }
    let mut specs: Vec<HostSpec> = Vec::with_capacity(field.value.len());
    for item in &field.value {
        let spec: HostSpec = item.value.parse().map_err(|reason| {
            Problem::new(
                item.at,
                format!("{}: invalid host `{}`: {reason}", item.path, item.value),
            )
        })?;
        let same = |other: &&HostSpec| {
            other.user == spec.user
                && other.port == spec.port
                && other.host.eq_ignore_ascii_case(&spec.host)
        };
        if let Some(first) = specs.iter().find(same) {
            return Err(Problem::new(
                item.at,
                format!("{} lists `{first}` twice", field.path),
            ));
        }
        specs.push(spec);
    }
    Ok(Set {
        value: specs,
        path: field.path.clone(),
        at: field.at,
    })
}

fn env_var(name: &str, value: &Field<String>) -> Result<(), Problem> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        return Err(Problem::new(
            value.key_at,
            format!(
                "{} is not a valid environment variable name: letters, digits and `_`, not \
                 starting with a digit ([A-Za-z_][A-Za-z0-9_]*)",
                value.path
            ),
        ));
    }
    no_control_chars(value)
}

fn hooks(field: &Field<Vec<Field<String>>>) -> Result<Vec<String>, Problem> {
    field
        .value
        .iter()
        .map(|hook| {
            if hook.value.trim().is_empty() {
                return Err(Problem::new(hook.at, format!("{} is empty", hook.path)));
            }
            if hook.value.contains('\0') {
                return Err(Problem::new(
                    hook.at,
                    format!("{} must not contain NUL", hook.path),
                ));
            }
            Ok(hook.value.clone())
        })
        .collect()
}

fn instances(field: &Field<RawInstances>) -> Result<Instances, Problem> {
    match &field.value {
        RawInstances::Integer(n) => match u32::try_from(*n) {
            Ok(n) if n <= 100 => Ok(Instances::Count(n)),
            _ => Err(Problem::new(
                field.at,
                format!("{} must be from 0 to 100 or \"auto\", got {n}", field.path),
            )),
        },
        RawInstances::String(s) if s == "auto" => Ok(Instances::Auto),
        RawInstances::String(s) => Err(Problem::new(
            field.at,
            format!(
                "{} must be from 0 to 100 or \"auto\", got \"{s}\"",
                field.path
            ),
        )),
    }
}

fn process_name(field: &Field<String>) -> Result<String, Problem> {
    let name = &field.value;
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(name.clone())
    } else {
        Err(Problem::new(
            field.at,
            format!(
                "{} `{name}` is not a Procfile process name: letters, digits, `_` and `-`, \
                 at most 63",
                field.path
            ),
        ))
    }
}

fn health_path(field: &Field<String>) -> Result<String, Problem> {
    let path = &field.value;
    if !path.starts_with('/') {
        return Err(Problem::new(
            field.at,
            format!("{} `{path}` must start with `/`", field.path),
        ));
    }
    // It goes into an HTTP request line.
    if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Problem::new(
            field.at,
            format!(
                "{} must not contain spaces or control characters (encode them, like %20)",
                field.path
            ),
        ));
    }
    Ok(path.clone())
}

fn upstream(field: &Field<String>) -> Result<String, Problem> {
    let name = &field.value;
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(name.clone())
    } else {
        Err(Problem::new(
            field.at,
            format!(
                "{} `{name}` is not a valid nginx upstream name: letters, digits, `.`, `-` \
                 and `_`",
                field.path
            ),
        ))
    }
}

fn proxy_config(field: &Field<String>) -> Result<String, Problem> {
    no_control_chars(field)?;
    if !field.value.starts_with('/') {
        return Err(Problem::new(
            field.at,
            format!(
                "{} `{}` must be an absolute path on the proxy host",
                field.path, field.value
            ),
        ));
    }
    Ok(field.value.clone())
}

fn duration_value(field: &Field<String>) -> Result<Duration, Problem> {
    duration::parse(&field.value)
        .map_err(|reason| Problem::new(field.at, format!("{}: {reason}", field.path)))
}

fn positive(field: &Field<String>) -> Result<Duration, Problem> {
    let d = duration_value(field)?;
    if d.is_zero() {
        return Err(Problem::new(
            field.at,
            format!("{} must be longer than 0", field.path),
        ));
    }
    Ok(d)
}

fn positive_set(field: &Field<String>) -> Result<Set<Duration>, Problem> {
    Ok(Set {
        value: positive(field)?,
        path: field.path.clone(),
        at: field.at,
    })
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    /// SPEC §3, verbatim.
    const SPEC_EXAMPLE: &str = r#"app = "shop"                        # required; [a-z][a-z0-9-]{0,31}; names units, dirs, lock
default_environment = "production"
user = "app"                        # SSH user when a host does not name one
deploy_to = "~/shop"                # default "~/<app>"
ref = "HEAD"                        # what `deliver` deploys when --ref is not given
keep_releases = 5                   # >= 1
linked_dirs = ["log", "tmp"]        # live in shared/, symlinked into every release
linked_files = [".env"]             # idem; a missing one is created empty, mode 0600
supervisor = "systemd-user"         # systemd-user | systemd | upstart
port_base = 5000                    # PORT = port_base + 100*type_index + (instance-1)

[env]                               # plain environment for every process (never secrets)
NODE_ENV = "production"

[build]
hooks = ["npm ci --omit=dev", "npm run build"]   # run in the new release dir, in order
timeout = "10m"                     # per hook

[processes]                         # instances per host; a Procfile type not listed gets 1; 0 = off
web = "auto"                        # "auto": one per CPU core of the host minus one, 1..100
worker = 1

[health]                            # gate for each restarted instance of `process`
process = "web"
path = "/health"                    # GET http://127.0.0.1:$PORT<path> through the SSH connection
expect = 200
timeout = "2s"                      # per attempt
interval = "250ms"
deadline = "30s"                    # give up -> rollout failure -> revert

[rollout]
mode = "rolling"                    # rolling | all-at-once
batch = 1                           # hosts switched at the same time
stop_timeout = "30s"                # SIGTERM grace before SIGKILL (TimeoutStopSec)

[proxy]                             # optional: nginx in front, on its own host(s)
hosts = ["lb1"]
upstream = "shop"
config = "/etc/nginx/conf.d/shop-upstream.conf"
drain = false                       # true: mark an instance `down` + reload before its restart

[environments.production]
hosts = ["web1.example.com", "deploy@web2.example.com:2222", "web3"]  # or ~/.ssh/config aliases

[environments.staging]
hosts = ["staging"]
processes = { web = 1 }
"#;

    /// The smallest valid file; value tests append one key after it (line 3 on).
    const BASE: &str = "app = \"shop\"\nhosts = [\"web1\"]\n";

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("deliver.toml"), text)
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    /// The error of `BASE` followed by `extra`.
    fn error_with(extra: &str) -> String {
        error(&format!("{BASE}{extra}"))
    }

    fn only_env(text: &str) -> Environment {
        let config = parse(text).unwrap();
        config.environment(None).unwrap().clone()
    }

    fn env_named(text: &str, name: &str) -> Environment {
        parse(text)
            .unwrap()
            .environment(Some(name))
            .unwrap()
            .clone()
    }

    fn host(text: &str) -> HostSpec {
        text.parse().unwrap()
    }

    fn at(line: usize, column: usize) -> Location {
        Location {
            file: PathBuf::from("deliver.toml"),
            line,
            column,
        }
    }

    fn setting(name: &str, instances: Instances, location: Location) -> ProcessSetting {
        ProcessSetting {
            name: name.to_owned(),
            instances,
            location,
        }
    }

    #[test]
    fn spec_example_parses_into_the_expected_values() {
        let config = parse(SPEC_EXAMPLE).unwrap();
        assert_eq!(config.app.as_str(), "shop");
        assert_eq!(config.default_environment.as_deref(), Some("production"));
        let names: Vec<&str> = config
            .environments
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(names, ["production", "staging"]);

        let production = config.environment(None).unwrap();
        assert_eq!(production.name, "production");
        assert_eq!(production.app.as_str(), "shop");
        assert_eq!(production.user.as_deref(), Some("app"));
        assert_eq!(production.deploy_to, "~/shop");
        assert_eq!(production.git_ref, "HEAD");
        assert_eq!(production.keep_releases, 5);
        assert_eq!(production.linked_dirs, ["log", "tmp"]);
        assert_eq!(production.linked_files, [".env"]);
        assert_eq!(production.supervisor, Supervisor::SystemdUser);
        assert_eq!(production.port_base, 5000);
        assert_eq!(
            production.vars,
            BTreeMap::from([("NODE_ENV".to_owned(), "production".to_owned())])
        );
        assert_eq!(
            production.build,
            Build {
                hooks: vec!["npm ci --omit=dev".to_owned(), "npm run build".to_owned()],
                timeout: Duration::from_secs(600),
            }
        );
        assert_eq!(
            production.processes,
            [
                setting("web", Instances::Auto, at(20, 1)),
                setting("worker", Instances::Count(1), at(21, 1)),
            ]
        );
        assert_eq!(
            production.health,
            Health {
                process: "web".to_owned(),
                path: "/health".to_owned(),
                expect: 200,
                timeout: Duration::from_secs(2),
                interval: Duration::from_millis(250),
                deadline: Duration::from_secs(30),
            }
        );
        assert_eq!(
            production.rollout,
            Rollout {
                mode: RolloutMode::Rolling,
                batch: 1,
                stop_timeout: Duration::from_secs(30),
            }
        );
        assert_eq!(
            production.proxy,
            Some(Proxy {
                hosts: vec![host("lb1")],
                upstream: "shop".to_owned(),
                config: "/etc/nginx/conf.d/shop-upstream.conf".to_owned(),
                drain: false,
            })
        );
        assert_eq!(
            production.hosts,
            [
                host("web1.example.com"),
                host("deploy@web2.example.com:2222"),
                host("web3")
            ]
        );

        let staging = config.environment(Some("staging")).unwrap();
        assert_eq!(staging.hosts, [host("staging")]);
        assert_eq!(
            staging.processes,
            [
                setting("web", Instances::Count(1), at(47, 15)),
                setting("worker", Instances::Count(1), at(21, 1)),
            ]
        );
        assert_eq!(staging.health, production.health);
        assert_eq!(staging.proxy, production.proxy);
    }

    #[test]
    fn defaults_apply_when_keys_are_missing() {
        let env = only_env(BASE);
        assert_eq!(env.name, "default");
        assert_eq!(env.user, None);
        assert_eq!(env.deploy_to, "~/shop");
        assert_eq!(env.git_ref, "HEAD");
        assert_eq!(env.keep_releases, 5);
        assert!(env.linked_dirs.is_empty() && env.linked_files.is_empty());
        assert_eq!(env.supervisor, Supervisor::SystemdUser);
        assert_eq!(env.port_base, 5000);
        assert!(env.vars.is_empty());
        assert_eq!(
            env.build,
            Build {
                hooks: Vec::new(),
                timeout: Duration::from_secs(600)
            }
        );
        assert!(env.processes.is_empty());
        assert_eq!(
            env.health,
            Health {
                process: "web".to_owned(),
                path: "/health".to_owned(),
                expect: 200,
                timeout: Duration::from_secs(2),
                interval: Duration::from_millis(250),
                deadline: Duration::from_secs(30),
            }
        );
        assert_eq!(
            env.rollout,
            Rollout {
                mode: RolloutMode::Rolling,
                batch: 1,
                stop_timeout: Duration::from_secs(30)
            }
        );
        assert_eq!(env.proxy, None);
        assert_eq!(env.hosts, [host("web1")]);
    }

    #[test]
    fn proxy_defaults_follow_the_app_name() {
        let env = only_env(&format!("{BASE}[proxy]\nhosts = [\"lb1\"]\n"));
        assert_eq!(
            env.proxy,
            Some(Proxy {
                hosts: vec![host("lb1")],
                upstream: "shop".to_owned(),
                config: "/etc/nginx/conf.d/shop-upstream.conf".to_owned(),
                drain: false,
            })
        );
    }

    #[test]
    fn environment_tables_merge_key_by_key_over_the_top_level() {
        let text = r#"app = "shop"
user = "app"
hosts = ["web1"]
[env]
A = "top"
B = "top"
[build]
hooks = ["make"]
timeout = "5m"
[health]
path = "/up"
timeout = "1s"
[proxy]
hosts = ["lb1"]
drain = true
[environments.production]
user = "deploy"
[environments.production.env]
B = "production"
C = "production"
[environments.production.build]
hooks = ["make release"]
[environments.production.health]
deadline = "60s"
[environments.production.proxy]
upstream = "shop-prod"
[environments.staging]
hosts = ["staging1", "staging2"]
"#;
        let production = env_named(text, "production");
        assert_eq!(production.user.as_deref(), Some("deploy"));
        assert_eq!(production.hosts, [host("web1")]);
        let env: Vec<(&str, &str)> = production
            .vars
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            env,
            [("A", "top"), ("B", "production"), ("C", "production")]
        );
        assert_eq!(production.build.hooks, ["make release"]);
        assert_eq!(production.build.timeout, Duration::from_secs(300));
        assert_eq!(production.health.path, "/up");
        assert_eq!(production.health.timeout, Duration::from_secs(1));
        assert_eq!(production.health.deadline, Duration::from_secs(60));
        let proxy = production.proxy.unwrap();
        assert_eq!(proxy.hosts, [host("lb1")]);
        assert_eq!(proxy.upstream, "shop-prod");
        assert!(proxy.drain);

        let staging = env_named(text, "staging");
        assert_eq!(staging.user.as_deref(), Some("app"));
        assert_eq!(staging.hosts, [host("staging1"), host("staging2")]);
        assert_eq!(staging.health.deadline, Duration::from_secs(30));
        assert_eq!(staging.build.hooks, ["make"]);
        assert_eq!(staging.proxy.unwrap().upstream, "shop");
    }

    #[test]
    fn processes_merge_by_name_in_file_order_with_the_place_each_was_written() {
        let text = r#"app = "shop"
hosts = ["web1"]
processes = { web = "auto", worker = 2 }
[environments.small]
processes.worker = 0
processes.clock = 1
"#;
        assert_eq!(
            env_named(text, "small").processes,
            [
                setting("web", Instances::Auto, at(3, 15)),
                setting("worker", Instances::Count(0), at(5, 11)),
                setting("clock", Instances::Count(1), at(6, 11)),
            ]
        );
    }

    #[test]
    fn without_environments_there_is_one_named_default() {
        let config = parse(BASE).unwrap();
        assert_eq!(config.environments.len(), 1);
        assert_eq!(config.environment(Some("default")).unwrap().name, "default");
    }

    #[test]
    fn hostile_values_are_kept_verbatim_for_the_remote_layer_to_quote() {
        let env = only_env(&format!(
            "{BASE}deploy_to = \"x\\\"; touch /tmp/pwned #\"\n[env]\nGREETING = \"$(id) `x` 'y'\"\n"
        ));
        assert_eq!(env.deploy_to, "x\"; touch /tmp/pwned #");
        assert_eq!(env.vars["GREETING"], "$(id) `x` 'y'");
    }

    #[test]
    fn misspelt_key_suggests_the_valid_one_at_its_line_and_column() {
        insta::assert_snapshot!(
            error_with("keep_relases = 3\n"),
            @"deliver.toml:3:1: unknown key `keep_relases`; did you mean `keep_releases`?"
        );
        assert_eq!(
            error(&format!(
                "{BASE}[environments.production]\n  keep_relases = 3\n"
            )),
            "deliver.toml:4:3: unknown key `environments.production.keep_relases`; did you mean \
             `keep_releases`?"
        );
    }

    #[test]
    fn unknown_keys_are_refused_in_every_table() {
        let cases = [
            (
                "[build]\nhook = []\n",
                "deliver.toml:4:1: unknown key `build.hook`; did you mean `hooks`?",
            ),
            (
                "[health]\ndeadlin = \"1s\"\n",
                "deliver.toml:4:1: unknown key `health.deadlin`; did you mean `deadline`?",
            ),
            (
                "[rollout]\nstop-timeout = \"1s\"\n",
                "deliver.toml:4:1: unknown key `rollout.stop-timeout`; did you mean \
                 `stop_timeout`?",
            ),
            (
                "[proxy]\nhosts = [\"lb\"]\nupstreams = \"x\"\n",
                "deliver.toml:5:1: unknown key `proxy.upstreams`; did you mean `upstream`?",
            ),
            (
                "[environments.production.health]\npaht = \"/\"\n",
                "deliver.toml:4:1: unknown key `environments.production.health.paht`; did you \
                 mean `path`?",
            ),
            (
                "[environments.production]\nsecrets = 1\n",
                "deliver.toml:4:1: unknown key `environments.production.secrets`",
            ),
            (
                "database = \"pg\"\n",
                "deliver.toml:3:1: unknown key `database`",
            ),
        ];
        for (extra, want) in cases {
            assert_eq!(error_with(extra), want, "{extra}");
        }
    }

    #[test]
    fn env_and_processes_keys_are_free_form() {
        let env = only_env(&format!(
            "{BASE}[env]\nANYTHING_GOES = \"1\"\n[processes]\nwhatever-type = 3\n"
        ));
        assert_eq!(env.vars["ANYTHING_GOES"], "1");
        assert_eq!(env.processes[0].name, "whatever-type");
        assert_eq!(env.processes[0].instances, Instances::Count(3));
    }

    #[test]
    fn wrong_types_name_the_key_the_expected_type_and_the_location() {
        let cases = [
            (
                "keep_releases = \"5\"\n",
                "deliver.toml:3:17: keep_releases must be an integer, found a string",
            ),
            (
                "linked_dirs = \"log\"\n",
                "deliver.toml:3:15: linked_dirs must be an array of strings, found a string",
            ),
            (
                "health = \"/health\"\n",
                "deliver.toml:3:10: health must be a table, found a string",
            ),
            (
                "[proxy]\nhosts = [\"lb1\"]\ndrain = \"no\"\n",
                "deliver.toml:5:9: proxy.drain must be a boolean (true or false), found a string",
            ),
            (
                "[environments]\nproduction = 1\n",
                "deliver.toml:4:14: environments.production must be a table, found an integer",
            ),
            (
                "[processes]\nweb = true\n",
                "deliver.toml:4:7: processes.web must be an integer from 0 to 100 or \"auto\", \
                 found a boolean",
            ),
        ];
        for (extra, want) in cases {
            assert_eq!(error_with(extra), want, "{extra}");
        }
        assert_eq!(
            error("app = 1\n"),
            "deliver.toml:1:7: app must be a string, found an integer"
        );
    }

    #[test]
    fn toml_syntax_errors_carry_their_location() {
        insta::assert_snapshot!(
            error_with("[health]\ndeadline = 5s\n"),
            @"deliver.toml:4:13: invalid TOML: expected newline, `#`"
        );
        assert_eq!(
            error_with("x = \"unterminated\n"),
            "deliver.toml:3:18: invalid TOML: invalid basic string"
        );
        assert_eq!(
            error_with("[health]\ndeadline = \"5s\"\ndeadline = \"6s\"\n"),
            "deliver.toml:5:1: invalid TOML: duplicate key `deadline` in table `health`"
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        assert_eq!(
            error_with("env = { A = \"ééé\", 1B = \"x\" }\n"),
            "deliver.toml:3:20: env.1B is not a valid environment variable name: letters, \
             digits and `_`, not starting with a digit ([A-Za-z_][A-Za-z0-9_]*)"
        );
    }

    #[test]
    fn app_is_required_and_must_be_a_valid_name() {
        assert_eq!(
            error("hosts = [\"web1\"]\n"),
            "deliver.toml:1:1: missing required key `app` (the app name, like app = \"shop\")"
        );
        let invalid = |name: &str| {
            format!(
                "deliver.toml:1:7: app `{name}` is not a valid app name: a lowercase letter, \
                 then up to 31 lowercase letters, digits or `-` ([a-z][a-z0-9-]{{0,31}})"
            )
        };
        for name in ["Shop", "1shop", "shop_x", "", &"a".repeat(33)] {
            assert_eq!(
                error(&format!("app = \"{name}\"\nhosts = [\"h\"]\n")),
                invalid(name)
            );
        }
        assert_eq!(
            only_env(&format!("app = \"{}\"\nhosts = [\"h\"]\n", "a".repeat(32))).keep_releases,
            5
        );
    }

    /// Asserts the error of `BASE` followed by each `extra`, without the file name.
    fn assert_errors(cases: &[(&str, &str)]) {
        for (extra, want) in cases {
            assert_eq!(error_with(extra), format!("deliver.toml:{want}"), "{extra}");
        }
    }

    #[test]
    fn linked_paths_that_only_share_a_prefix_are_disjoint() {
        let config = parse(&format!(
            "{BASE}linked_dirs = [\"tmp\", \"tmpx\", \"log/a\"]\n\
             linked_files = [\"tmp2/.env\", \"log/b\"]\n"
        ))
        .unwrap();
        let env = config.environment(None).unwrap();
        assert_eq!(env.linked_dirs, ["tmp", "tmpx", "log/a"]);
        assert_eq!(env.linked_files, ["tmp2/.env", "log/b"]);
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
                "[rollout]\nbatch = 0\n",
                "4:9: rollout.batch must be at least 1, got 0",
            ),
            (
                "[health]\nexpect = 99\n",
                "4:10: health.expect must be an HTTP status code from 100 to 599, got 99",
            ),
            (
                "[health]\nexpect = 600\n",
                "4:10: health.expect must be an HTTP status code from 100 to 599, got 600",
            ),
        ]);
    }

    #[test]
    fn durations_must_parse_and_be_longer_than_zero() {
        assert_errors(&[
            (
                "[health]\ninterval = \"0ms\"\n",
                "4:12: health.interval must be longer than 0",
            ),
            (
                "[health]\ntimeout = \"0s\"\n",
                "4:11: health.timeout must be longer than 0",
            ),
            (
                "[health]\ndeadline = \"5d\"\n",
                "4:12: health.deadline: invalid duration `5d`: unknown unit `d`; expected a \
                 whole number followed by ms, s, m or h, like \"500ms\", \"5s\", \"2m\" or \"1h\"",
            ),
            (
                "[build]\ntimeout = \"10\"\n",
                "4:11: build.timeout: invalid duration `10`: no unit; expected a whole number \
                 followed by ms, s, m or h, like \"500ms\", \"5s\", \"2m\" or \"1h\"",
            ),
            (
                "[rollout]\nstop_timeout = \"0s\"\n",
                "4:16: rollout.stop_timeout must be longer than 0",
            ),
        ]);
    }

    #[test]
    fn names_paths_and_strings_are_checked() {
        assert_errors(&[
            (
                "user = \"Deploy\"\n",
                "3:8: user `Deploy` is not a valid user name: a lowercase letter or `_`, then \
                 lowercase letters, digits, `_` or `-`, at most 32 ([a-z_][a-z0-9_-]*)",
            ),
            (
                "[health]\nprocess = \"web server\"\n",
                "4:11: health.process `web server` is not a Procfile process name: letters, \
                 digits, `_` and `-`, at most 63",
            ),
            (
                "[health]\npath = \"health\"\n",
                "4:8: health.path `health` must start with `/`",
            ),
            (
                "[build]\nhooks = [\"make\", \" \"]\n",
                "4:18: build.hooks[1] is empty",
            ),
            (
                "[env]\nA = \"x\\ny\"\n",
                "4:5: env.A must not contain NUL or line breaks",
            ),
            (
                "[env]\n\"MY-VAR\" = \"x\"\n",
                "4:1: env.MY-VAR is not a valid environment variable name: letters, digits and \
                 `_`, not starting with a digit ([A-Za-z_][A-Za-z0-9_]*)",
            ),
            (
                "linked_dirs = [\"log\", \"../x\"]\n",
                "3:23: linked_dirs[1] `../x` must not contain `..`",
            ),
            (
                "linked_files = [\"/etc/passwd\"]\n",
                "3:17: linked_files[0] `/etc/passwd` must be a path relative to the release, \
                 not an absolute one",
            ),
            (
                "linked_files = [\"\"]\n",
                "3:17: linked_files[0] must not be empty",
            ),
            (
                "linked_dirs = [\"./\"]\n",
                "3:16: linked_dirs[0] `./` must name a file or directory inside the release",
            ),
            (
                "linked_dirs = [\"log\", \"./log/\"]\n",
                "3:23: linked_dirs[1] `./log/` is the same path as linked_dirs[0] `log` \
                 (environment `default`): a release links each linked path once; keep the \
                 outer one",
            ),
            (
                "linked_dirs = [\"config\"]\nlinked_files = [\"config/database.yml\"]\n",
                "4:17: linked_files[0] `config/database.yml` lies inside linked_dirs[0] \
                 `config` (environment `default`): a release links each linked path once; \
                 keep the outer one",
            ),
            (
                "linked_files = [\"tmp/x\"]\n[environments.production]\nlinked_dirs = [\"tmp\"]\n",
                "5:16: linked_files[0] `tmp/x` lies inside environments.production.linked_dirs[0] \
                 `tmp` (environment `production`): a release links each linked path once; keep \
                 the outer one",
            ),
            ("ref = \"\"\n", "3:7: ref must not be empty"),
            ("ref = \"-x\"\n", "3:7: ref `-x` must not start with `-`"),
            (
                "ref = \"a b\"\n",
                "3:7: ref `a b` must not contain whitespace",
            ),
            ("deploy_to = \"\"\n", "3:13: deploy_to must not be empty"),
        ]);
    }

    #[test]
    fn proxy_values_are_checked() {
        assert_errors(&[
            (
                "[proxy]\nhosts = [\"lb\"]\nconfig = \"conf.d/x.conf\"\n",
                "5:10: proxy.config `conf.d/x.conf` must be an absolute path on the proxy host",
            ),
            (
                "[proxy]\nhosts = [\"lb\"]\nupstream = \"my app\"\n",
                "5:12: proxy.upstream `my app` is not a valid nginx upstream name: letters, \
                 digits, `.`, `-` and `_`",
            ),
            (
                "[proxy]\ndrain = true\n",
                "3:1: proxy has no hosts (in environment `default`); set hosts = [\"...\"] to \
                 the host(s) nginx runs on",
            ),
        ]);
    }

    #[test]
    fn enumerations_list_the_valid_values_and_suggest_the_nearest() {
        insta::assert_snapshot!(
            error_with("supervisor = \"systemd_user\"\n"),
            @"deliver.toml:3:14: supervisor must be one of systemd-user, systemd, upstart; got `systemd_user`; did you mean `systemd-user`?"
        );
        assert_eq!(
            error_with("[rollout]\nmode = \"blue-green\"\n"),
            "deliver.toml:4:8: rollout.mode must be one of rolling, all-at-once; got \
             `blue-green`"
        );
        let env = only_env(&format!(
            "{BASE}supervisor = \"upstart\"\n[rollout]\nmode = \"all-at-once\"\n"
        ));
        assert_eq!(env.supervisor, Supervisor::Upstart);
        assert_eq!(env.rollout.mode, RolloutMode::AllAtOnce);
    }

    #[test]
    fn processes_take_a_count_up_to_100_or_auto() {
        let cases = [
            (
                "web = 101",
                "processes.web must be from 0 to 100 or \"auto\", got 101",
            ),
            (
                "web = -1",
                "processes.web must be from 0 to 100 or \"auto\", got -1",
            ),
            (
                "web = \"many\"",
                "processes.web must be from 0 to 100 or \"auto\", got \"many\"",
            ),
        ];
        for (line, want) in cases {
            assert_eq!(
                error_with(&format!("[processes]\n{line}\n")),
                format!("deliver.toml:4:7: {want}")
            );
        }
        let env = only_env(&format!("{BASE}[processes]\nweb = 100\nworker = 0\n"));
        assert_eq!(env.processes[0].instances, Instances::Count(100));
        assert_eq!(env.processes[1].instances, Instances::Count(0));
    }

    #[test]
    fn hosts_must_parse_and_be_unique() {
        assert_eq!(
            error("app = \"shop\"\nhosts = [\"web1\", \"deploy@web1:0\"]\n"),
            "deliver.toml:2:18: hosts[1]: invalid host `deploy@web1:0`: port 0 is not allowed; \
             expected 1 to 65535"
        );
        assert_eq!(
            error("app = \"shop\"\nhosts = [\"web1\", \"WEB1\"]\n"),
            "deliver.toml:2:18: hosts lists `web1` twice"
        );
        assert_eq!(
            error("app = \"shop\"\n[environments.production]\nhosts = [\"a;b\"]\n"),
            "deliver.toml:3:10: environments.production.hosts[0]: invalid host `a;b`: host name \
             `a;b` contains `;`; host names and addresses may contain only letters, digits, \
             `.`, `-` and `_`"
        );
        let env = only_env("app = \"shop\"\nhosts = [\"web1\", \"deploy@web1\", \"web1:2222\"]\n");
        assert_eq!(env.hosts.len(), 3);
    }

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
    fn environments_must_have_valid_names_and_exist() {
        assert_eq!(
            error_with("[environments.Prod]\n"),
            "deliver.toml:3:15: environment name `Prod` is not valid: lowercase letters, digits, \
             `_` and `-`, starting with a letter or digit ([a-z0-9][a-z0-9_-]*)"
        );
        assert_eq!(
            error_with("[environments]\n"),
            "deliver.toml:3:1: environments is empty; add a table like [environments.production] \
             with its hosts, or remove it"
        );
        assert_eq!(
            error(&format!(
                "{BASE}default_environment = \"prod\"\n[environments.production]\n"
            )),
            "deliver.toml:3:23: default_environment `prod` is not one of the environments \
             (production); did you mean `production`?"
        );
    }

    #[test]
    fn timeout_longer_than_deadline_points_at_the_later_value() {
        assert_eq!(
            error_with("[health]\ntimeout = \"40s\"\n"),
            "deliver.toml:4:11: health.timeout (40s) must not be longer than the default \
             health.deadline (30s) in environment `default`"
        );
        assert_eq!(
            error_with(
                "[health]\ntimeout = \"5s\"\n[environments.fast.health]\ndeadline = \"2s\"\n"
            ),
            "deliver.toml:6:12: health.timeout (5s) must not be longer than \
             environments.fast.health.deadline (2s) in environment `fast`"
        );
        let env = only_env(&format!("{BASE}[health]\ntimeout = \"30s\"\n"));
        assert_eq!(env.health.timeout, env.health.deadline);
    }

    #[test]
    fn environment_picks_the_named_then_the_default_then_the_only_one() {
        let two = parse(SPEC_EXAMPLE).unwrap();
        assert_eq!(two.environment(Some("staging")).unwrap().name, "staging");
        assert_eq!(two.environment(None).unwrap().name, "production");
        let one = parse(BASE).unwrap();
        assert_eq!(one.environment(None).unwrap().name, "default");
    }

    #[test]
    fn unknown_environment_lists_the_available_ones_and_suggests() {
        let config = parse(SPEC_EXAMPLE).unwrap();
        let err = config.environment(Some("prod")).unwrap_err();
        assert_eq!(err.location, None);
        assert_eq!(
            err.to_string(),
            "unknown environment `prod`; the environments in deliver.toml are production, \
             staging; did you mean `production`?"
        );
        assert_eq!(
            config.environment(Some("qa")).unwrap_err().to_string(),
            "unknown environment `qa`; the environments in deliver.toml are production, staging"
        );
    }

    #[test]
    fn several_environments_without_default_ask_to_name_one() {
        let text = "app = \"shop\"\nhosts = [\"h\"]\n[environments.production]\n\
                    [environments.staging]\n";
        assert_eq!(
            parse(text)
                .unwrap()
                .environment(None)
                .unwrap_err()
                .to_string(),
            "deliver.toml defines several environments (production, staging) and no \
             default_environment; name one on the command line (like `production`) or set \
             default_environment"
        );
    }

    #[test]
    fn locations_of_implicit_tables_fall_back_to_their_key() {
        assert_eq!(
            error("app = \"shop\"\nenvironments.staging.user = \"app\"\n"),
            "deliver.toml:2:14: environment `staging` has no hosts; set hosts = [\"...\"] in \
             [environments.staging] or at the top level"
        );
    }
}
