//! What a host should run, decided locally from its facts: the formation (`"auto"` from its
//! CPU count), the units rendered for its user and home, and whether they differ from the
//! installed ones. `deliver setup` renders the same. Pure: no remote effect.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::state::{Host, Session, StepError};
use super::Request;
use crate::config::{Environment, Supervisor};
use crate::plan::facts::Facts;
use crate::plan::layout::Layout;
use crate::plan::log::Action;
use crate::procfile::ProcessType;
use crate::release::Formation;
use crate::render::{self, RenderedFile, Target};

/// One host's formation and units, and whether they differ from the installed ones.
#[derive(Debug, Clone)]
pub struct HostTarget {
    pub formation: Formation,
    pub units: Vec<RenderedFile>,
    /// The rendered units are not exactly the ones in `.deliver/units/` (the hashes the facts
    /// report): a run stages and installs them, and is not a no-op.
    pub changed: bool,
}

/// What a run renders for the host that answered `facts`.
pub fn host_target(
    env: &Environment,
    types: &[ProcessType],
    layout: &Layout,
    facts: &Facts,
) -> Result<HostTarget, String> {
    let cpus = facts.cpus.unwrap_or(1);
    let formation = Formation::resolve(types, &env.processes, env.port_base, cpus)
        .map_err(|e| e.to_string())?;
    let deploy_path = layout.absolute(&facts.home);
    let target = Target {
        env,
        formation: &formation,
        user: &facts.user,
        deploy_path: &deploy_path,
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
            host_target(&req.env, &req.types, &s.layout, f)
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

/// Every host already serves this commit (deploy) or release (rollback) with these units.
pub fn is_noop(req: &Request, hosts: &[Host]) -> bool {
    !req.force
        && hosts.iter().all(|h| {
            !h.target.changed
                && match req.action {
                    Action::Deploy => h.facts.current_revision() == Some(req.sha.as_str()),
                    Action::Rollback => h.facts.current.as_ref() == Some(&req.release),
                }
        })
}
