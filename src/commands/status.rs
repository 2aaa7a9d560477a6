//! `deliver status [ENV]`: per host, the current release and the formation (resolved from
//! the host's CPU count, the local Procfile and deliver.toml) with each instance's supervisor
//! state and, for `health.process`, a health GET through the host's session. A report: exit 0
//! even when instances are down; exit 1 only when a host cannot be reached.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{anyhow, Result};

use super::fleet::{self, Fleet};
use super::project::Project;
use crate::cli::EnvArg;
use crate::config::Environment;
use crate::deploy::health::{probe, Probe};
use crate::deploy::target;
use crate::outcome::Outcome;
use crate::plan::facts;
use crate::plan::lock::Holder;
use crate::plan::supervisor::{self, UnitState};
use crate::release::{Bank, Formation, SURGE_OFFSET};
use crate::release_id::ReleaseId;
use crate::remote::Remote;
use crate::render;
use crate::ui::event::Event;
use crate::ui::record::{self, ProcessStatus};
use crate::ui::Ui;

/// What one host runs.
struct HostStatus {
    current: Option<ReleaseId>,
    sha: Option<String>,
    cpus: u32,
    /// The deploy lock's holder, when it is taken.
    lock: Option<String>,
    /// Where the health process serves (`surge` alternates it).
    bank: Bank,
    types: Vec<TypeStatus>,
}

struct TypeStatus {
    name: String,
    /// Whether its instances are health-checked (`health.process`).
    checked: bool,
    units: Vec<UnitStatus>,
}

struct UnitStatus {
    unit: String,
    port: u16,
    state: UnitState,
    /// `None`: not health-checked (another type, or not active); `Some(Err)`: what failed.
    health: Option<Result<(), String>>,
}

impl TypeStatus {
    fn active(&self) -> usize {
        self.units
            .iter()
            .filter(|u| u.state == UnitState::Active)
            .count()
    }

    fn healthy(&self) -> usize {
        self.units
            .iter()
            .filter(|u| matches!(u.health, Some(Ok(()))))
            .count()
    }
}

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
        let formation = Formation::for_environment(&project.types, env, cpus)?;
        let bank = target::serving_bank(env, &project.types, &facts);
        let types = states(env, &formation, bank, remote)?;
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
    let health = &env.health;
    let mut types: Vec<TypeStatus> = formation
        .types
        .iter()
        .map(|t| TypeStatus {
            name: t.name.clone(),
            checked: t.name == health.process,
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
            unit,
            port: instance.port,
            state,
            health,
        });
    }
    Ok(types)
}

fn state_name(state: &UnitState) -> &str {
    match state {
        UnitState::Active => "active",
        UnitState::Activating => "activating",
        UnitState::Deactivating => "deactivating",
        UnitState::Inactive => "inactive",
        UnitState::Failed => "failed",
        UnitState::Other(answer) if answer.is_empty() => "unknown",
        UnitState::Other(answer) => answer,
    }
}

/// `20261123084423-abc1234  web 2/2 active 2/2 healthy  worker 1/1 active`, then a line per
/// instance that is not active or not healthy, and the lock when it is held.
fn lines(status: &HostStatus) -> Vec<String> {
    let mut head = vec![status
        .current
        .as_ref()
        .map_or_else(|| "no current release".to_owned(), ToString::to_string)];
    let mut details = Vec::new();
    for t in &status.types {
        let total = t.units.len();
        if total == 0 {
            head.push(format!("{} off", t.name));
            continue;
        }
        let mut part = format!("{} {}/{total} active", t.name, t.active());
        if t.checked {
            let _ = write!(part, " {}/{total} healthy", t.healthy());
        }
        head.push(part);
        for u in &t.units {
            match &u.health {
                _ if u.state != UnitState::Active => {
                    details.push(format!("  {} {}", u.unit, state_name(&u.state)));
                }
                Some(Err(e)) => details.push(format!("  {} unhealthy: {e}", u.unit)),
                _ => {}
            }
        }
    }
    if status.bank == Bank::Surge {
        head.push(format!("surge bank (PORT + {SURGE_OFFSET})"));
    }
    let mut out = vec![head.join("  ")];
    out.extend(details);
    if let Some(holder) = &status.lock {
        out.push(format!("  locked by {holder}"));
    }
    out
}

/// The `host.status` event of `host`.
fn event(host: &str, status: &HostStatus) -> Event {
    let processes = status
        .types
        .iter()
        .map(|t| ProcessStatus {
            name: t.name.clone(),
            instances: t.units.len(),
            active: t.active(),
            healthy: t.checked.then(|| t.healthy()),
            units: t
                .units
                .iter()
                .map(|u| record::UnitStatus {
                    unit: u.unit.clone(),
                    port: u.port,
                    state: state_name(&u.state).to_owned(),
                    healthy: u.health.as_ref().map(Result::is_ok),
                    health_error: u.health.as_ref().and_then(|h| h.clone().err()),
                })
                .collect(),
        })
        .collect();
    Event::HostStatus {
        host: host.to_owned(),
        current: status.current.as_ref().map(|id| id.as_str().to_owned()),
        sha: status.sha.clone(),
        cpus: status.cpus,
        lock: status.lock.clone(),
        bank: match status.bank {
            Bank::Base => "base",
            Bank::Surge => "surge",
        },
        processes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(unit: &str, state: UnitState, health: Option<Result<(), String>>) -> UnitStatus {
        UnitStatus {
            unit: unit.to_owned(),
            port: 5000,
            state,
            health,
        }
    }

    #[test]
    fn one_line_per_host_then_what_is_wrong() {
        let mut status = HostStatus {
            current: Some("20261123084423-abc1234".parse().unwrap()),
            sha: None,
            cpus: 2,
            lock: None,
            bank: Bank::Base,
            types: vec![
                TypeStatus {
                    name: "web".into(),
                    checked: true,
                    units: vec![
                        unit("a-web@5000.service", UnitState::Active, Some(Ok(()))),
                        unit("a-web@5001.service", UnitState::Active, Some(Ok(()))),
                    ],
                },
                TypeStatus {
                    name: "worker".into(),
                    checked: false,
                    units: vec![unit("a-worker@5100.service", UnitState::Active, None)],
                },
                TypeStatus {
                    name: "clock".into(),
                    checked: false,
                    units: vec![],
                },
            ],
        };
        assert_eq!(
            lines(&status),
            ["20261123084423-abc1234  web 2/2 active 2/2 healthy  worker 1/1 active  clock off"]
        );
        status.current = None;
        status.types[0].units[1] = unit(
            "a-web@5001.service",
            UnitState::Active,
            Some(Err("GET /health answered 503".into())),
        );
        status.types[1].units[0] = unit("a-worker@5100.service", UnitState::Failed, None);
        status.lock = Some("bob@laptop (pid 1)".into());
        insta::assert_snapshot!(lines(&status).join("\n"), @r"
        no current release  web 2/2 active 1/2 healthy  worker 0/1 active  clock off
          a-web@5001.service unhealthy: GET /health answered 503
          a-worker@5100.service failed
          locked by bob@laptop (pid 1)
        ");
        let json = serde_json::to_value(event("h1", &status)).unwrap();
        assert_eq!(json["processes"][0]["healthy"], 1);
        assert_eq!(json["processes"][1]["units"][0]["state"], "failed");
        assert!(json["processes"][1].get("healthy").is_none());
    }
}
