//! Orchestration of deploys and rollbacks across hosts, as phases (SPEC §7):
//!
//! - `session`: lock + facts in the first round trip, prune + log + unlock in the last;
//! - `target`: what each host should run (formation, units), decided locally;
//! - `prepare`: push, build, stage units, all hosts in parallel; `abort` undoes it (exit 1);
//! - `switch`: swap `current`, batch by batch (`policy`), then `rollout`, the one core that
//!   replaces a host's running formation, gated by `health`;
//! - `surge`: per batch, the new formation on the other port bank, one proxy flip, drain;
//! - `revert`: switched hosts back through the same core (exit 4, or 5);
//! - `proxy`: the managed nginx upstream (lock, preflight, drain hooks of the core);
//! - `state`: each host's typed phase, read by cleanup, the summary and the exit code;
//! - `interrupt`: SIGINT/SIGTERM; `policy`: the pure rules; `ops`: the entry points.
//!
//! Hosts are reached only through `remote::Remote`, so tests drive this with a recorder;
//! everything said goes to a `Reporter`.

pub mod health;
pub mod interrupt;
pub mod lock_wait;
pub mod ops;
pub mod policy;
mod prepare;
pub mod proxy;
mod revert;
pub mod rollout;
mod session;
pub mod state;
mod surge;
mod switch;
pub mod target;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

use crate::config::Environment;
use crate::outcome::Outcome;
use crate::plan::log::Action;
use crate::procfile::ProcessType;
use crate::release_id::ReleaseId;
use crate::remote::Remote;
use crate::ui::event::{Event, Reporter};

/// Everything decided before any host is contacted.
#[derive(Debug, Clone)]
pub struct Request {
    pub env: Environment,
    /// The Procfile of the release being deployed (or rolled back to).
    pub types: Vec<ProcessType>,
    pub action: Action,
    pub release: ReleaseId,
    /// Full commit sha.
    pub sha: String,
    /// The local repository (deploys push from it; rollbacks push nothing).
    pub repo: Option<PathBuf>,
    pub force: bool,
    pub dry_run: bool,
    /// Hosts switched at the same time (`--batch`, else `rollout.batch`).
    pub batch: crate::config::BatchSize,
    pub holder_json: String,
    /// `--lock-wait`: how long to wait in line for a lock another run holds (`None`: exit 3
    /// at once).
    pub lock_wait: Option<std::time::Duration>,
    /// Who deploys (`user@machine`), for the log.
    pub who: String,
    pub now_unix: u64,
    /// `deliver scale`'s counts by type, over deliver.toml's and those a host's record
    /// already has (`plan::scale`); empty for every other action.
    pub scale: crate::plan::scale::Counts,
    /// With `[proxy] hosts`: per app host (in host order), the address nginx reaches it at
    /// (`proxy.addresses`, else the host deliver connects to). Empty without a proxy.
    pub proxy_addresses: Vec<String>,
}

/// The sessions of a run: the app hosts (in config order) and the proxy hosts.
pub struct Remotes {
    pub apps: Vec<Box<dyn Remote>>,
    pub proxies: Vec<Box<dyn Remote>>,
}

impl From<Vec<Box<dyn Remote>>> for Remotes {
    /// App hosts only: no managed proxy.
    fn from(apps: Vec<Box<dyn Remote>>) -> Remotes {
        Remotes {
            apps,
            proxies: Vec::new(),
        }
    }
}

/// The first event of a run, which the caller reports before connecting (so that every
/// event, `host.connected` included, carries the release).
pub fn start_event(req: &Request, hosts: &[String]) -> Event {
    Event::DeployStart {
        release: req.release.to_string(),
        environment: req.env.name.clone(),
        action: req.action.name().to_string(),
        sha: req.sha.clone(),
        hosts: hosts.to_vec(),
    }
}

/// Runs the request on `remotes` (connected, in config order) with the operation its action
/// names, and returns the outcome. The caller has reported [`start_event`].
pub fn run(req: &Request, remotes: impl Into<Remotes>, reporter: &dyn Reporter) -> Outcome {
    let remotes = remotes.into();
    match req.action {
        Action::Deploy => ops::deploy(req, remotes, reporter),
        Action::Rollback | Action::Restart | Action::Scale => ops::rollback(req, remotes, reporter),
    }
}
