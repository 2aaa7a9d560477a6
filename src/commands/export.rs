//! `deliver export [ENV] --format systemd|systemd-user|upstart|nginx [-o DIR] [--cpus N]`:
//! renders locally what a deploy would install, for review or for use without deliver.

use std::path::Path;

use anyhow::{Context, Result};

use super::project::{local_cpus, Project};
use crate::cli::{ExportArgs, ExportFormat};
use crate::config::Environment;
use crate::outcome::Outcome;
use crate::release::Formation;
use crate::remote::ConnectOptions;
use crate::render::{self, Backend, RenderedFile, Target};
use crate::ui::Ui;

pub fn run(args: &ExportArgs, config_path: &Path, ui: &Ui) -> Result<Outcome> {
    let project = Project::load(config_path)?;
    let env = project.config.environment(args.env.as_deref())?;
    let cpus = args.cpus.unwrap_or_else(local_cpus);
    let formation = super::input_check::checked_formation(&project, env, cpus)?;
    if args.format == ExportFormat::Nginx {
        super::input_check::health_serves(&project.config.file, env, &formation)?;
    }
    let user = app_user(env);
    let deploy_path = absolute_deploy_path(&env.deploy_to, &user);
    let target = Target {
        env,
        formation: &formation,
        user: &user,
        deploy_path: &deploy_path,
        bank: crate::release::Bank::Base,
    };
    let files = match args.format {
        ExportFormat::Systemd => render::systemd(&target, false)?,
        ExportFormat::SystemdUser => render::systemd(&target, true)?,
        ExportFormat::Upstart => render::upstart(&target)?,
        ExportFormat::Nginx => render::nginx(env, &backends(env, &formation)?)?,
    };
    if let Some(cpus) = formation.auto_cpus {
        ui.note(&format!(
            "note: \"auto\" instances resolved with {cpus} CPUs{}",
            if args.cpus.is_some() {
                " (--cpus)"
            } else {
                " (this machine's count; pass --cpus N for your hosts')"
            }
        ));
    }
    if args.format != ExportFormat::Nginx {
        ui.note(&format!(
            "note: rendered for user `{user}` with deploy_to {deploy_path} (a deploy uses each host's real home)"
        ));
    }
    match &args.output {
        Some(dir) => write_files(dir, &files, ui)?,
        None => print_files(&files, ui),
    }
    Ok(Outcome::Done)
}

/// The user the processes run as: the first host's `user@`, else `user`, else `app`.
pub(super) fn app_user(env: &Environment) -> String {
    env.hosts
        .first()
        .and_then(|h| h.user.clone())
        .or_else(|| env.user.clone())
        .unwrap_or_else(|| "app".to_string())
}

/// `deploy_to` with `~` (or a relative path, which ssh resolves against the home) made
/// absolute against the conventional home of `user`.
pub(super) fn absolute_deploy_path(deploy_to: &str, user: &str) -> String {
    let home = if user == "root" {
        "/root".to_string()
    } else {
        format!("/home/{user}")
    };
    if deploy_to == "~" {
        home
    } else if let Some(rest) = deploy_to.strip_prefix("~/") {
        format!("{home}/{rest}")
    } else if deploy_to.starts_with('/') {
        deploy_to.to_string()
    } else {
        format!("{home}/{deploy_to}")
    }
}

/// Every host's instances of `health.process`, at the address nginx reaches it by: the
/// `HostName` of an ~/.ssh/config alias, else the host as written.
fn backends(env: &Environment, formation: &Formation) -> Result<Vec<Backend>> {
    let ports: Vec<u16> = formation
        .instances()
        .into_iter()
        .filter(|i| i.type_name == env.health.process)
        .map(|i| i.port)
        .collect();
    let ssh = ConnectOptions::from_env()?.ssh_config;
    Ok(env
        .hosts
        .iter()
        .map(|h| Backend {
            address: ssh
                .lookup(&h.host)
                .hostname
                .unwrap_or_else(|| h.host.clone()),
            ports: ports.clone(),
        })
        .collect())
}

fn print_files(files: &[RenderedFile], ui: &Ui) {
    let many = files.len() > 1;
    for (i, f) in files.iter().enumerate() {
        if many {
            if i > 0 {
                ui.data("\n");
            }
            ui.data(&format!("# ==> {} <==\n", f.name));
        }
        ui.data(&f.contents);
    }
}

fn write_files(dir: &Path, files: &[RenderedFile], ui: &Ui) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for f in files {
        let path = dir.join(&f.name);
        std::fs::write(&path, &f.contents)
            .with_context(|| format!("writing {}", path.display()))?;
        ui.note(&format!("wrote {}", path.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::absolute_deploy_path;

    #[test]
    fn deploy_to_is_made_absolute_against_the_users_home() {
        assert_eq!(absolute_deploy_path("~/shop", "app"), "/home/app/shop");
        assert_eq!(absolute_deploy_path("~", "app"), "/home/app");
        assert_eq!(absolute_deploy_path("shop", "deploy"), "/home/deploy/shop");
        assert_eq!(absolute_deploy_path("/srv/shop", "app"), "/srv/shop");
        assert_eq!(absolute_deploy_path("~/shop", "root"), "/root/shop");
    }
}
