//! What a host should run, decided locally from its facts: the formation (`"auto"` from its
//! CPU count), the port bank its health process serves on, the units rendered for its user
//! and home, and whether they differ from the installed ones. `deliver setup` renders the
//! same. Pure: no remote effect.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::state::{Host, Session, StepError};
use super::Request;
use crate::config::{Environment, Supervisor};
use crate::plan::facts::Facts;
use crate::plan::layout::Layout;
use crate::plan::log::Action;
use crate::plan::scale::Counts;
use crate::procfile::ProcessType;
use crate::release::{self, Bank, Formation, Instance};
use crate::render::{self, RenderedFile, Target};

/// One host's formation and units, and whether they differ from the installed ones.
#[derive(Debug, Clone)]
pub struct HostTarget {
    pub formation: Formation,
    /// The bank the health process serves on once the run is done.
    pub bank: Bank,
    pub units: Vec<RenderedFile>,
    /// The rendered units are not exactly the ones in `.deliver/units/` (the hashes the facts
    /// report): a run stages and installs them, and is not a no-op.
    pub changed: bool,
}

impl HostTarget {
    /// The instances the run leaves running: the health process's on [`HostTarget::bank`].
    pub fn instances(&self, env: &Environment) -> Vec<Instance> {
        self.formation.instances_on(self.bank, &env.health.process)
    }
}

/// The bank the host's health process serves on now, from what its installed target wants
/// (the record a `surge` rollout leaves); `Base` when nothing says otherwise.
pub fn serving_bank(env: &Environment, types: &[ProcessType], facts: &Facts) -> Bank {
    let Some(t) = types.iter().find(|t| t.name == env.health.process) else {
        return Bank::Base;
    };
    facts
        .wants
        .iter()
        .filter_map(|unit| render::parse_instance_unit(&env.app, unit))
        .filter(|(type_name, _)| *type_name == t.name)
        .find_map(|(_, port)| release::instance_number(env.port_base, t.index, port))
        .map_or(Bank::Base, |(_, bank)| bank)
}

/// The counts of `deliver scale` a run applies over deliver.toml's on the host that answered
/// `facts`: a deploy or rollback none (deliver.toml applies again), a restart those the
/// host's record has, a scale those with the run's own over them.
pub fn scaled(req: &Request, facts: &Facts) -> Counts {
    match req.action {
        Action::Deploy | Action::Rollback => Counts::new(),
        Action::Restart => facts.scale.clone(),
        Action::Scale => {
            let mut counts = facts.scale.clone();
            counts.extend(req.scale.iter().map(|(k, v)| (k.clone(), *v)));
            counts
        }
    }
}

/// The formation of `env` on the host that answered `facts`, with `scaled` counts over
/// deliver.toml's.
pub fn formation(
    env: &Environment,
    types: &[ProcessType],
    facts: &Facts,
    scaled: &Counts,
) -> Result<Formation, String> {
    let cpus = facts.cpus.unwrap_or(1);
    Formation::for_environment(types, env, cpus)
        .and_then(|f| f.scaled(scaled))
        .map_err(|e| e.to_string())
}

/// What a run renders for the host that answered `facts`, its health process on `bank`,
/// with `scaled` counts over deliver.toml's.
pub fn host_target(
    env: &Environment,
    types: &[ProcessType],
    layout: &Layout,
    facts: &Facts,
    (bank, scaled): (Bank, &Counts),
) -> Result<HostTarget, String> {
    let formation = formation(env, types, facts, scaled)?;
    if bank == Bank::Surge {
        let web = formation.instances_of(&env.health.process);
        if web.len() > usize::from(release::SURGE_OFFSET)
            || web.iter().any(|i| bank.port(i.port).is_none())
        {
            return Err(format!(
                "`surge` starts each `{}` instance on PORT + {} beside the running one: at most \
                 {} instances per host, on ports up to 65535 (this host would run {})",
                env.health.process,
                release::SURGE_OFFSET,
                release::SURGE_OFFSET,
                web.len()
            ));
        }
    }
    let deploy_path = layout.absolute(&facts.home);
    let target = Target {
        env,
        formation: &formation,
        user: &facts.user,
        deploy_path: &deploy_path,
        bank,
    };
    let units = match env.supervisor {
        Supervisor::SystemdUser => render::systemd(&target, true),
        Supervisor::Systemd => render::systemd(&target, false),
        Supervisor::Upstart => render::upstart(&target),
    }
    .map_err(|e| e.to_string())?;
    let hashes: BTreeMap<String, String> = units
        .iter()
        .map(|u| (u.name.clone(), sha256_hex(u.contents.as_bytes())))
        .collect();
    Ok(HostTarget {
        changed: hashes != facts.units,
        units,
        formation,
        bank,
    })
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            use std::fmt::Write as _;
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Every locked session with its facts and target, in host order; the first host whose
/// target cannot be made fails the run (its name leads the message), and the sessions come
/// back for cleanup.
pub fn decide(
    req: &Request,
    sessions: Vec<Session>,
    facts: Vec<Facts>,
) -> Result<Vec<Host>, (Vec<Session>, String)> {
    let targets: Result<Vec<HostTarget>, String> = sessions
        .iter()
        .zip(&facts)
        .map(|(s, f)| {
            let bank = serving_bank(&req.env, &req.types, f);
            host_target(&req.env, &req.types, &s.layout, f, (bank, &scaled(req, f)))
                .map_err(|e| format!("{}: {}", s.name(), StepError::Target(e)))
        })
        .collect();
    match targets {
        Ok(targets) => Ok(sessions
            .into_iter()
            .zip(facts)
            .zip(targets)
            .map(|((session, facts), target)| Host {
                session,
                facts,
                target,
            })
            .collect()),
        Err(e) => Err((sessions, e)),
    }
}

/// `surge`: every host's target moves to the bank that does not serve now (after the no-op
/// test, which compares with what runs); a host where nothing runs yet stays on the base
/// bank. The first host whose target cannot be made there names the error.
pub fn to_other_bank(req: &Request, hosts: &mut [Host]) -> Result<(), String> {
    for h in hosts
        .iter_mut()
        .filter(|h| h.facts.current.is_some() && !h.facts.wants.is_empty())
    {
        let bank = h.target.bank.other();
        let scaled = scaled(req, &h.facts);
        h.target = host_target(
            &req.env,
            &req.types,
            &h.session.layout,
            &h.facts,
            (bank, &scaled),
        )
        .map_err(|e| format!("{}: {}", h.session.name(), StepError::Target(e)))?;
    }
    Ok(())
}

/// The process types whose instance count on the host changes in this run: (type, count
/// running now, count after). None where nothing runs yet, or where what runs is not
/// recorded (upstart).
pub fn count_changes(req: &Request, h: &Host) -> Vec<(String, u32, u32)> {
    if h.facts.current.is_none() {
        return Vec::new();
    }
    let Some(running) = super::rollout::running_before(&req.env, &req.types, &h.facts) else {
        return Vec::new();
    };
    h.target
        .formation
        .types
        .iter()
        .filter_map(|t| {
            let now = running.iter().filter(|i| i.type_name == t.name).count();
            let now = u32::try_from(now).unwrap_or(u32::MAX);
            (now != t.instances).then(|| (t.name.clone(), now, t.instances))
        })
        .collect()
}

/// Every host already serves this commit (deploy) or release (rollback) with these units.
pub fn is_noop(req: &Request, hosts: &[Host]) -> bool {
    !req.force
        && hosts.iter().all(|h| {
            !h.target.changed
                && match req.action {
                    Action::Deploy => h.facts.current_revision() == Some(req.sha.as_str()),
                    Action::Rollback | Action::Restart | Action::Scale => {
                        h.facts.current.as_ref() == Some(&req.release)
                    }
                }
        })
}
