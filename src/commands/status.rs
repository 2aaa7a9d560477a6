//! `deliver status [ENV]`: per host, the current release and the formation (resolved from
//! the host's CPU count, the local Procfile and deliver.toml) with each instance's supervisor
//! state, how often systemd restarted it by itself, and, for `health.process`, a health GET
//! through the host's session; then the host's cores against the instances of every deliver
//! app there (SPEC §10). A report: exit 0 even when instances are down; exit 1 only when a
//! host cannot be reached. The lines and the event are `status_view.rs`'s.

use std::path::Path;

use anyhow::{anyhow, Result};

use super::fleet::{self, Fleet};
use super::project::Project;
use super::status_view::{event, lines, HostStatus, TypeStatus, UnitStatus};
use crate::cli::EnvArg;
use crate::config::Environment;
use crate::deploy::health::{probe, Probe};
use crate::deploy::target;
use crate::outcome::Outcome;
use crate::plan::lock::Holder;
use crate::plan::supervisor::{self, UnitState};
use crate::plan::{facts, restarts};
use crate::release::{Bank, Formation};
use crate::remote::Remote;
use crate::render;
use crate::sizing::CoreUse;
use crate::ui::Ui;

pub fn run(args: &EnvArg, config_path: &Path, ui: &Ui) -> Result<Outcome> {
    let project = Project::load(config_path)?;
    let fleet = Fleet::load(config_path, args.env.as_deref(), ui)?;
    let env = &fleet.env;
    let gather = facts::gather(
        &fleet.layout,
        &env.app,
        env.supervisor,
        facts::Depth::Layout,
    );
    let results = fleet.each(|_, _, remote| {
        let facts = fleet::facts(remote, &gather)?;
        let cpus = facts.cpus.unwrap_or(1);
        // What runs: deliver.toml's counts, with those `deliver scale` set over them.
        let configured = Formation::for_environment(&project.types, env, cpus)?;
        let formation = configured.clone().scaled(&facts.scale)?;
        let bank = target::serving_bank(env, &project.types, &facts);
        let mut types = states(env, &formation, bank, remote)?;
        for t in &mut types {
            t.configured = facts
                .scale
                .contains_key(&t.name)
                .then(|| configured.instances_of(&t.name).len())
                .and_then(|n| u32::try_from(n).ok());
        }
        Ok(HostStatus {
            bank,
            sha: facts.current_revision().map(str::to_owned),
            current: facts.current,
            cpus,
            lock: facts.lock.map(|lock| {
                lock.holder.as_deref().map_or_else(
                    || "(no holder.json)".to_owned(),
                    |t| Holder::parse(t).map_or_else(|| t.to_owned(), |h| h.to_string()),
                )
            }),
            types,
            cores: CoreUse {
                cpus,
                apps: facts.neighbours,
            },
        })
    })?;
    for r in &results {
        let Ok(status) = &r.result else { continue };
        if ui.json {
            ui.event(&event(&r.host, status));
        } else {
            for line in lines(status) {
                ui.result(&format!("{} | {line}", r.host));
            }
        }
    }
    fleet::failures(ui, "status", &results)?;
    Ok(Outcome::Done)
}

/// The supervisor state of every instance, and the health of the active instances of
/// `health.process`.
fn states(
    env: &Environment,
    formation: &Formation,
    bank: Bank,
    remote: &mut dyn Remote,
) -> Result<Vec<TypeStatus>> {
    let instances = formation.instances_on(bank, &env.health.process);
    let units: Vec<String> = instances
        .iter()
        .map(|i| render::unit_name(env.supervisor, &env.app, i))
        .collect();
    let out = remote.run(
        &supervisor::is_active(env.supervisor, &units),
        &mut |_, _| {},
    )?;
    if out.status != 0 {
        return Err(anyhow!(
            "unit states exited {}: {}",
            out.status,
            out.stderr.trim()
        ));
    }
    let mut states = supervisor::parse_states(&out.stdout).map_err(|e| anyhow!(e))?;
    if states.len() != units.len() {
        return Err(anyhow!(
            "unit states: asked for {} units, got {}",
            units.len(),
            states.len()
        ));
    }
    // A report: without the counts (a user manager that does not answer) it still shows
    // the states.
    let mut restarts = match restarts::show(env.supervisor, &units) {
        Some(script) => remote
            .run(&script, &mut |_, _| {})
            .ok()
            .filter(|out| out.status == 0)
            .map(|out| restarts::parse(&out.stdout))
            .unwrap_or_default(),
        None => Vec::new(),
    };
    // How the last run of each restarted unit ended: from the journal, when the SSH user may
    // read it (a report too: without it, the counts alone).
    let restarted: Vec<String> = restarts
        .iter()
        .filter(|r| r.count > 0)
        .map(|r| r.unit.clone())
        .collect();
    if let Some(script) = restarts::stops(env.supervisor, &restarted) {
        let stops = remote
            .run(&script, &mut |_, _| {})
            .ok()
            .filter(|out| out.status == 0)
            .map(|out| restarts::parse_stops(&out.stdout))
            .unwrap_or_default();
        for (unit, stop) in stops {
            if let Some(r) = restarts.iter_mut().find(|r| r.unit == unit) {
                r.last = Some(stop);
            }
        }
    }
    let health = &env.health;
    let mut types: Vec<TypeStatus> = formation
        .types
        .iter()
        .map(|t| TypeStatus {
            name: t.name.clone(),
            checked: t.name == health.process,
            configured: None,
            units: Vec::new(),
        })
        .collect();
    for (instance, (unit, state)) in instances.iter().zip(states.drain(..)) {
        let t = types
            .iter_mut()
            .find(|t| t.name == instance.type_name)
            .expect("instances come from the formation's types");
        let health = (t.checked && state == UnitState::Active).then(|| {
            match probe(remote, instance.port, health) {
                Probe::Healthy => Ok(()),
                Probe::Answered(code) => Err(format!("GET {} answered {code}", health.path)),
                Probe::Unreachable(e) => Err(e.to_string()),
            }
        });
        t.units.push(UnitStatus {
            restarts: restarts.iter().find(|r| r.unit == unit).cloned(),
            unit,
            port: instance.port,
            state,
            health,
        });
    }
    Ok(types)
}
