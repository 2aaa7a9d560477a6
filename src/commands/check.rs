//! `deliver check --offline [ENV] [--cpus N]`: validates deliver.toml and the Procfile and
//! prints, per environment, the resolved hosts and the formation with its ports. Contacts no
//! host; `check_online` runs this first, then reaches the hosts.

use anyhow::Result;

use super::project::{local_cpus, Project};
use crate::cli::CheckArgs;
use crate::config::{duration, format_size, Environment, RolloutMode};
use crate::outcome::Outcome;
use crate::release::Formation;
use crate::ui::event::Event;
use crate::ui::record::FormationType;
use crate::ui::Ui;

pub fn run(args: &CheckArgs, config_path: &std::path::Path, ui: &Ui) -> Result<Outcome> {
    let project = Project::load(config_path)?;
    let (cpus, cpus_given) = match args.cpus {
        Some(n) => (n, true),
        None => (local_cpus(), false),
    };
    let envs: Vec<&Environment> = match &args.env {
        Some(name) => vec![project.config.environment(Some(name))?],
        None if args.offline => project.config.environments.iter().collect(),
        None => vec![project.config.environment(None)?],
    };
    // Resolve every formation before printing anything: an error must not follow half a report.
    let mut resolved = Vec::new();
    for env in envs {
        let formation = super::input_check::checked_formation(&project, env, cpus)?;
        resolved.push((env, formation));
    }
    ui.out(&format!(
        "{}: ok (app {}), {}: {} process types",
        project.config.file.display(),
        project.config.app,
        project.procfile_path.display(),
        project.types.len()
    ));
    for (env, formation) in &resolved {
        report(ui, env, formation, cpus_given);
        for warning in warnings(env, formation) {
            ui.warn(&format!("{}: {warning}", env.name));
        }
        let sharing: Vec<&str> = project
            .config
            .sharing_upstream(env)
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        if !sharing.is_empty() {
            ui.warn(&format!(
                "{}: the proxy's upstream file is also `{}`'s: deploys of either would drop \
                 the other's servers, so deliver refuses them; give each its own [proxy]",
                env.name,
                sharing.join("`, `")
            ));
        }
    }
    Ok(Outcome::Done)
}

fn report(ui: &Ui, env: &Environment, formation: &Formation, cpus_given: bool) {
    if ui.json {
        let types = formation
            .types
            .iter()
            .map(|t| FormationType {
                name: t.name.clone(),
                instances: t.instances,
                auto: t.auto,
                ports: formation
                    .instances()
                    .into_iter()
                    .filter(|i| i.type_name == t.name)
                    .map(|i| i.port)
                    .collect(),
            })
            .collect();
        ui.event(&Event::CheckEnvironment {
            environment: env.name.clone(),
            hosts: env.hosts.iter().map(ToString::to_string).collect(),
            supervisor: env.supervisor.as_str().to_owned(),
            deploy_to: env.deploy_to.clone(),
            auto_cpus: formation.auto_cpus,
            formation: types,
        });
        return;
    }
    let hosts: Vec<String> = env.hosts.iter().map(ToString::to_string).collect();
    ui.out("");
    ui.out(&format!(
        "{}  supervisor {}, deploy_to {}",
        ui.bold(&env.name),
        env.supervisor.as_str(),
        env.deploy_to
    ));
    ui.out(&format!("  hosts      {}", hosts.join(", ")));
    ui.out(&format!("  rollout    {}", rollout_line(env)));
    let width = formation
        .types
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(0)
        .max(9);
    let instances = formation.instances();
    for t in &formation.types {
        let ports: Vec<u16> = instances
            .iter()
            .filter(|i| i.type_name == t.name)
            .map(|i| i.port)
            .collect();
        let count = match t.instances {
            0 => "off".to_string(),
            1 => "1 instance".to_string(),
            n => format!("{n} instances"),
        };
        let auto = if t.auto { " (auto)" } else { "" };
        let ports = match (ports.first(), ports.last()) {
            (Some(a), Some(b)) if a == b => format!("  port {a}"),
            (Some(a), Some(b)) => format!("  ports {a}-{b}"),
            _ => String::new(),
        };
        ui.out(&format!("  {:<width$}  {count}{auto}{ports}", t.name));
    }
    if let Some(cpus) = formation.auto_cpus {
        let from = if cpus_given {
            "--cpus"
        } else {
            "this machine's count; at deploy time each host's own"
        };
        let share = if env.cpu_share < 1.0 {
            format!(" x cpu_share {}", env.cpu_share)
        } else {
            String::new()
        };
        ui.out(&format!(
            "  \"auto\" resolved with {cpus} CPUs{share} ({from})"
        ));
    }
    for l in &env.limits {
        let mut parts = Vec::new();
        if let (Some(life), Some(spread)) = (l.max_lifetime, l.lifetime_spread()) {
            parts.push(format!(
                "recycled after {} (+ up to {})",
                duration::format(life),
                duration::format(spread)
            ));
        }
        if let Some(bytes) = l.memory_max {
            parts.push(format!("restarted past {}", format_size(bytes)));
        }
        ui.out(&format!(
            "  {:<width$}  limits: {}",
            l.process,
            parts.join(", ")
        ));
    }
}

/// Things that are valid but probably not meant.
/// How the environment's rollout meets its proxy (SPEC §7): what it drives, or, without
/// `[proxy] hosts`, what zero failed requests then rests on.
fn rollout_line(env: &Environment) -> String {
    let mode = match env.rollout.mode {
        RolloutMode::Rolling => "rolling",
        RolloutMode::AllAtOnce => "all-at-once",
        RolloutMode::Surge => "surge",
    };
    match &env.proxy {
        Some(p) => {
            let hosts: Vec<String> = p.hosts.iter().map(ToString::to_string).collect();
            let drain = if env.rollout.mode == RolloutMode::Rolling && p.drain {
                format!(
                    ", drain up to {}",
                    crate::config::duration::format(p.drain_timeout)
                )
            } else {
                String::new()
            };
            format!(
                "{mode}, batch {}, nginx upstream `{}` on {} managed{drain}",
                env.rollout.batch,
                p.upstream,
                hosts.join(", ")
            )
        }
        None => format!(
            "{mode}, batch {}; no [proxy]: instances restart behind your proxy without telling \
             it, so zero failed requests holds only for what nginx retries (connection errors \
             on idempotent requests: not POSTs)",
            env.rollout.batch
        ),
    }
}

fn warnings(env: &Environment, formation: &Formation) -> Vec<String> {
    let mut out = Vec::new();
    match formation
        .types
        .iter()
        .find(|t| t.name == env.health.process)
    {
        None => out.push(format!(
            "health.process `{}` is not a Procfile type: restarts are gated only on staying active",
            env.health.process
        )),
        Some(t) if t.instances == 0 => out.push(format!(
            "health.process `{}` has 0 instances: nothing is health-checked",
            env.health.process
        )),
        Some(_) => {}
    }
    out
}
