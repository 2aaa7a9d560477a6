//! `deliver check [ENV]` without `--offline`: the offline validation first, then every host
//! of the environment is reached (strict host keys, authentication) and checked as `setup`
//! checks it, without changing anything there, and its cores against the instances of every
//! deliver app there (a note when they take more than N-1). Exit 1 when a host is
//! unreachable or not ready.

use std::path::Path;

use anyhow::Result;

use super::fleet::{self, Fleet};
use super::project::Project;
use super::readiness;
use crate::cli::CheckArgs;
use crate::outcome::Outcome;
use crate::plan::facts;
use crate::plan::lock::Holder;
use crate::release::Formation;
use crate::sizing::CoreUse;
use crate::ui::event::Event;
use crate::ui::record::Check;
use crate::ui::Ui;

pub fn run(args: &CheckArgs, config_path: &Path, ui: &Ui) -> Result<Outcome> {
    let offline = CheckArgs {
        offline: true,
        ..args.clone()
    };
    super::check::run(&offline, config_path, ui)?;
    let project = Project::load(config_path)?;
    let fleet = Fleet::load(config_path, args.env.as_deref(), ui)?;
    let env = &fleet.env;
    let layout = &fleet.layout;
    if !ui.json {
        ui.out("");
    }
    let script = facts::gather(layout, &env.app, env.supervisor, facts::Depth::Readiness);
    let results = fleet.each(|_, reached, remote| {
        let facts = fleet::facts(remote, &script)?;
        let mut checks = vec![Check::ok(
            "ssh",
            format!("{}, host key known ({} ms)", reached.address, reached.ms),
        )];
        checks.extend(readiness::assess(env, &facts));
        checks.push(if facts.repo {
            Check::ok("layout", layout.absolute(&facts.home))
        } else {
            Check::note(
                "layout",
                "not set up yet (`deliver setup` or the first deploy creates it)",
            )
        });
        let cpus = facts.cpus.unwrap_or(1);
        checks.push(
            match Formation::for_environment(&project.types, env, cpus) {
                Ok(formation) => Check::ok(
                    "formation",
                    format!("{} ({cpus} CPUs)", formation_summary(&formation)),
                ),
                Err(e) => Check::missing(
                    "formation",
                    format!("with this host's {cpus} CPUs: {e}"),
                    "# change [processes] in deliver.toml",
                ),
            },
        );
        let cores = CoreUse {
            cpus,
            apps: facts.neighbours.clone(),
        };
        checks.push(match cores.warning() {
            None => Check::ok("cores", cores.summary()),
            Some(warning) => Check::note("cores", format!("{}: {warning}", cores.summary())),
        });
        if let Some(lock) = &facts.lock {
            let holder = lock.holder.as_deref().map_or_else(
                || "no holder.json".to_owned(),
                |text| Holder::parse(text).map_or_else(|| text.to_owned(), |h| h.to_string()),
            );
            checks.push(Check::note(
                "lock",
                format!("held by {holder} (`deliver unlock` if it is stale)"),
            ));
        }
        Ok(checks)
    })?;
    let mut results = results;
    results.extend(super::proxy_check::checks(&fleet)?);
    readiness::report(ui, "host.check", Event::HostCheck, &results)?;
    Ok(Outcome::Done)
}

/// `web 2, worker 1` (`off` for 0 instances).
pub fn formation_summary(formation: &Formation) -> String {
    formation
        .types
        .iter()
        .map(|t| match t.instances {
            0 => format!("{} off", t.name),
            n => format!("{} {n}", t.name),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
