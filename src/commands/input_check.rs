//! What `check --offline` and `export` find wrong only with deliver.toml and the Procfile
//! together: the formation's ports (naming the `port_base` line), upstart job names two
//! types share, a `health.process` the proxy cannot serve, and anything the renderers
//! refuse: `check` renders every file a deploy could write, so input that passes it never
//! fails later at render time (issue 12). All of it is bad input: exit 2.

use std::path::Path;

use anyhow::Result;

use super::export::{absolute_deploy_path, app_user};
use super::project::Project;
use super::UsageError;
use crate::config::{ConfigError, Environment, Location, Supervisor};
use crate::release::{Bank, Formation, MAX_INSTANCES};
use crate::render::{self, Target};

/// The CPU count deploy and rollback check with before the hosts answer: `"auto"` gives one
/// instance then, the fewest a host can run, so no count refuses input a host could take;
/// each host's own count is applied once its facts are in.
pub(super) const ANY_CPUS: u32 = 1;

/// The formation of `env` with `cpus` for `"auto"`, every check of this file passed.
pub(super) fn checked_formation(
    project: &Project,
    env: &Environment,
    cpus: u32,
) -> Result<Formation> {
    let formation = Formation::for_environment(&project.types, env, cpus).map_err(|mut e| {
        // A default port_base: the file.
        e.location.get_or_insert_with(|| Location {
            file: project.config.file.clone(),
            line: 1,
            column: 1,
        });
        e
    })?;
    upstart_names(project, env)?;
    if env.proxy.is_some() {
        health_serves(&project.config.file, env, &formation)?;
    }
    render_all(project, env, &formation)?;
    Ok(formation)
}

/// upstart names instance N of type `web` `<app>-web-N`: a type named `web-1` would have
/// the same job name (and file) as that instance, one overwriting the other.
fn upstart_names(project: &Project, env: &Environment) -> Result<()> {
    if env.supervisor != Supervisor::Upstart {
        return Ok(());
    }
    let lines: std::collections::HashMap<&str, usize> = project
        .types
        .iter()
        .map(|t| (t.name.as_str(), t.line))
        .collect();
    for t in &project.types {
        let Some((base, number)) = t.name.rsplit_once('-') else {
            continue;
        };
        let instance = number
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_INSTANCES).contains(n) && !number.starts_with('0'));
        if let (Some(n), Some(line)) = (instance, lines.get(base)) {
            return Err(UsageError(format!(
                "{}:{}: process type `{}` has the upstart job name `{app}-{}` of instance {n} \
                 of `{base}` (line {line}), which environment `{}` runs under upstart; \
                 rename one of them",
                project.procfile_path.display(),
                t.line,
                t.name,
                t.name,
                env.name,
                app = env.app,
            ))
            .into());
        }
    }
    Ok(())
}

/// The upstream lists the instances of `health.process`: it must be a Procfile type that
/// runs (nginx refuses an upstream without servers).
pub(super) fn health_serves(file: &Path, env: &Environment, formation: &Formation) -> Result<()> {
    let process = &env.health.process;
    let problem = match formation.types.iter().find(|t| &t.name == process) {
        None => "names no process type of the Procfile",
        Some(t) if t.instances == 0 => "has 0 instances",
        Some(_) => return Ok(()),
    };
    let (location, key) = match &env.sources.health_process {
        Some(at) => (at.clone(), format!("health.process `{process}`")),
        None => (
            Location {
                file: file.to_path_buf(),
                line: 1,
                column: 1,
            },
            format!("health.process (by default `{process}`)"),
        ),
    };
    Err(ConfigError {
        location: Some(location),
        message: format!(
            "{key} {problem} in environment `{}`, so the nginx upstream would have no \
             server; name a type that runs",
            env.name
        ),
        suggestion: None,
    }
    .into())
}

/// Renders what a deploy to `env` could install (the units of every supervisor, the
/// upstream with `[proxy]`), for the renderers' refusals.
fn render_all(project: &Project, env: &Environment, formation: &Formation) -> Result<()> {
    let user = app_user(env);
    let deploy_path = absolute_deploy_path(&env.deploy_to, &user);
    let target = Target {
        env,
        formation,
        user: &user,
        deploy_path: &deploy_path,
        bank: Bank::Base,
    };
    render::check_all(&target).map_err(|e| {
        UsageError(format!(
            "{}: environment `{}`: {e}",
            project.config.file.display(),
            env.name
        ))
        .into()
    })
}
