//! The sections of `deliver.toml` that may appear at the top level and again in each
//! `[environments.NAME]`. Each section file owns its keys: how they are read as written
//! (`Raw*`, with spans), how each value is checked (`*Settings`, one level), how an
//! environment's level merges over the top-level one (`overlay`), its defaults and its
//! resolved type (`finish`). Adding a key touches one section file (and SPEC §3).
//!
//! This file only dispatches a key to its section ([`RawSettings::take`]) and bundles the
//! sections of one level ([`Settings`]) in the order their errors are reported. The file as
//! a whole (`app`, environments, locations) is `resolve.rs`. No I/O.

pub(super) mod build;
mod deploy_to;
pub(super) mod env;
pub(super) mod general;
pub(super) mod health;
pub(super) mod hooks;
pub(super) mod hosts;
pub(super) mod limits;
pub(super) mod linked;
pub(super) mod processes;
pub(super) mod proxy;
pub(super) mod release;
pub(super) mod rollout;

use std::collections::BTreeMap;

use super::raw::{Entry, Problem};
use super::resolve::Locator;
use super::{AppName, Environment, Sources};
use build::{BuildSettings, RawBuild};
use env::EnvVarName;
use general::{General, RawGeneral};
use health::{HealthSettings, RawHealth};
use hooks::{HooksSettings, RawHooks};
use limits::{LimitSettings, RawLimits};
use processes::{ProcessSetting, RawProcesses};
use proxy::{ProxySettings, RawProxy};
use release::{RawRelease, ReleaseSettings};
use rollout::{RawRollout, RolloutSettings};

/// Keys of the top level and of every `[environments.NAME]`.
pub(super) const SETTINGS_KEYS: [&str; 19] = [
    "user",
    "deploy_to",
    "ref",
    "keep_releases",
    "linked_dirs",
    "linked_files",
    "supervisor",
    "port_base",
    "cpu_share",
    "hosts",
    "env",
    "build",
    "processes",
    "health",
    "rollout",
    "proxy",
    "limits",
    "hooks",
    "release",
];

/// One level (top level or one environment) as written.
#[derive(Debug, Default)]
pub(super) struct RawSettings {
    pub general: RawGeneral,
    /// `[env]` in file order; integers and booleans are kept as their TOML text.
    pub env: env::RawEnv,
    pub build: RawBuild,
    pub processes: RawProcesses,
    pub health: RawHealth,
    pub rollout: RawRollout,
    pub proxy: Option<RawProxy>,
    pub limits: RawLimits,
    pub hooks: RawHooks,
    pub release: RawRelease,
}

impl RawSettings {
    /// Reads `entry` when its key is one of [`SETTINGS_KEYS`]; `Ok(false)` when it is not.
    pub(super) fn take(&mut self, entry: &Entry) -> Result<bool, Problem> {
        match entry.key.as_str() {
            "env" => self.env = env::read(entry)?,
            "build" => self.build = RawBuild::read(entry)?,
            "processes" => self.processes = processes::read(entry)?,
            "health" => self.health = RawHealth::read(entry)?,
            "rollout" => self.rollout = RawRollout::read(entry)?,
            "proxy" => self.proxy = Some(RawProxy::read(entry)?),
            "limits" => self.limits = limits::read(entry)?,
            "hooks" => self.hooks = RawHooks::read(entry)?,
            "release" => self.release = RawRelease::read(entry)?,
            _ => return self.general.take(entry),
        }
        Ok(true)
    }
}

/// One level, each value checked on its own; `None` (or empty) where the level does not
/// set a key.
#[derive(Debug, Clone, Default)]
pub(super) struct Settings {
    general: General,
    env: BTreeMap<EnvVarName, String>,
    build: BuildSettings,
    processes: Vec<ProcessSetting>,
    health: HealthSettings,
    rollout: RolloutSettings,
    proxy: Option<ProxySettings>,
    limits: Vec<LimitSettings>,
    hooks: HooksSettings,
    release: ReleaseSettings,
}

impl Settings {
    /// Validates each value of one level on its own.
    pub(super) fn check(raw: &RawSettings, locator: &Locator<'_>) -> Result<Settings, Problem> {
        Ok(Settings {
            general: General::check(&raw.general)?,
            env: env::check(&raw.env)?,
            build: BuildSettings::check(&raw.build)?,
            processes: processes::check(&raw.processes, locator)?,
            health: HealthSettings::check(&raw.health)?,
            rollout: RolloutSettings::check(&raw.rollout)?,
            proxy: raw.proxy.as_ref().map(ProxySettings::check).transpose()?,
            limits: limits::check(&raw.limits, locator)?,
            hooks: HooksSettings::check(&raw.hooks)?,
            release: ReleaseSettings::check(&raw.release)?,
        })
    }

    /// `over` (an environment) wins key by key; tables merge, arrays are replaced whole.
    pub(super) fn overlay(self, over: Settings) -> Settings {
        Settings {
            general: self.general.overlay(over.general),
            env: env::overlay(self.env, over.env),
            build: self.build.overlay(over.build),
            processes: processes::overlay(self.processes, over.processes),
            health: self.health.overlay(over.health),
            rollout: self.rollout.overlay(over.rollout),
            proxy: ProxySettings::overlay(self.proxy, over.proxy),
            limits: limits::overlay(self.limits, over.limits),
            hooks: self.hooks.overlay(over.hooks),
            release: self.release.overlay(over.release),
        }
    }

    /// Applies the defaults and checks the merged environment `name`. `table_at` is where
    /// its `[environments.NAME]` table starts (`None` for the implicit `default`
    /// environment).
    pub(super) fn finish(
        self,
        name: &str,
        table_at: Option<usize>,
        app: &AppName,
        locator: &Locator<'_>,
    ) -> Result<Environment, Problem> {
        let hosts = self.general.hosts(name, table_at)?;
        let health_process_at = self.health.process_at();
        let health = self.health.finish(name)?;
        self.general.check_linked_paths(name)?;
        let proxy = self.proxy.map(|p| p.finish(name, app)).transpose()?;
        if let Some(proxy) = &proxy {
            hosts::reachable_by(hosts, proxy, name)?;
        }
        let hosts: Vec<_> = hosts.iter().map(|h| h.value.clone()).collect();
        let general = self.general.finish(app);
        let release = self.release.finish(name, &hosts, general.user.as_deref())?;
        let limits = limits::finish(self.limits, general.supervisor)?;
        Ok(Environment {
            name: name.to_owned(),
            app: app.clone(),
            user: general.user,
            deploy_to: general.deploy_to,
            git_ref: general.git_ref,
            keep_releases: general.keep_releases,
            linked_dirs: general.linked_dirs,
            linked_files: general.linked_files,
            supervisor: general.supervisor,
            port_base: general.port_base,
            cpu_share: general.cpu_share,
            vars: self.env,
            build: self.build.finish(),
            processes: self.processes,
            health,
            rollout: self.rollout.finish(proxy.is_some(), general.supervisor)?,
            proxy,
            limits,
            hooks: self.hooks.finish(),
            release,
            hosts,
            sources: Sources {
                port_base: general.port_base_at.map(|at| locator.location(at)),
                health_process: health_process_at.map(|at| locator.location(at)),
            },
        })
    }
}
