//! The operations that ship a release to every host, composed of the phases of `deploy::`:
//! [`deploy`] (a new commit) and [`rollback`] (a release already on the hosts). Both run
//! [`ship`]: open every session (lock, facts), decide each host's target, stop at a no-op
//! or a dry run, prepare all hosts in parallel, run a deploy's release command on its host,
//! switch batch by batch through the rollout core, then finish (prune, log, unlock) or
//! revert. The local `[hooks]` run around it, in `commands::local_hooks`.

mod deploy;
mod release_command;
mod rollback;

pub use deploy::deploy;
pub use rollback::rollback;

use std::time::Instant;

use super::interrupt::interrupted;
use super::prepare;
use super::proxy::{self, Proxies, ProxyHooks};
use super::revert::revert;
use super::session;
use super::state::{millis, summary, End, Host, Session};
use super::switch;
use super::target;
use super::{Remotes, Request};
use crate::config::RolloutMode;
use crate::outcome::Outcome;
use crate::plan::layout::Layout;
use crate::plan::log::{Action, LogResult};
use crate::plan::{supervisor, Script};
use crate::render;
use crate::ui::event::{Event, Reporter};

/// The shared pipeline of [`deploy`] and [`rollback`].
fn ship(req: &Request, remotes: Remotes, reporter: &dyn Reporter) -> Outcome {
    let started = Instant::now();
    let layout = Layout::new(&req.env.deploy_to);
    let new_session = |remote| Session::new(remote, layout.clone(), started);
    let mut sessions: Vec<Session> = remotes.apps.into_iter().map(new_session).collect();
    let proxies = Proxies::new(req, remotes.proxies.into_iter().map(new_session).collect());
    let facts = match session::open(req, &mut sessions, reporter) {
        Ok(facts) => facts,
        Err(outcome) => return outcome,
    };
    let names: Vec<String> = sessions.iter().map(Session::name).collect();
    let refused = proxies.open(req, &names, reporter);
    if !refused.is_empty() {
        return proxy::refused(req, &mut sessions, &proxies, refused, reporter);
    }
    let mut hosts = match target::decide(req, sessions, facts) {
        Ok(hosts) => hosts,
        Err((mut sessions, e)) => {
            return prepare::abort(req, sessions.iter_mut().collect(), &proxies, reporter, &e);
        }
    };
    if target::is_noop(req, &hosts) {
        session::release_locks(hosts.iter_mut().map(|h| &mut h.session), reporter);
        proxies.release(reporter);
        for h in &mut hosts {
            h.session.end(End::Unchanged);
        }
        let reason = match req.action {
            Action::Scale => "every host runs these instance counts already",
            _ => "every host runs this commit with these units (--force deploys anyway)",
        };
        reporter.event(&Event::DeployNoop {
            reason: reason.to_string(),
        });
        return Outcome::Done;
    }
    report_counts(req, &hosts, reporter);
    if req.env.rollout.mode == RolloutMode::Surge && req.action != Action::Scale {
        // The new formation goes to the bank that does not serve now (a scale adds to the
        // serving bank and takes from it).
        if let Err(e) = target::to_other_bank(req, &mut hosts) {
            return prepare::abort(
                req,
                hosts.iter_mut().map(|h| &mut h.session).collect(),
                &proxies,
                reporter,
                &e,
            );
        }
    }
    if req.dry_run {
        dry_run(req, &mut hosts, &proxies, reporter);
        return Outcome::Done;
    }
    let failed = |hosts: &mut [Host], e: &str| {
        prepare::abort(
            req,
            hosts.iter_mut().map(|h| &mut h.session).collect(),
            &proxies,
            reporter,
            e,
        )
    };
    if let Err(e) = prepare::prepare(req, &mut hosts, reporter) {
        return failed(&mut hosts, &e);
    }
    if interrupted() {
        return failed(&mut hosts, "interrupted before switching");
    }
    if let Err(e) = release_command::run(req, &mut hosts, reporter) {
        return failed(&mut hosts, &e);
    }
    // The release command may take long: a signal during it still stops the run here.
    if interrupted() {
        return failed(&mut hosts, "interrupted before switching");
    }
    if let Err(e) = proxies.start(req, &hosts) {
        return failed(&mut hosts, &e);
    }
    let hooks = ProxyHooks {
        proxies: &proxies,
        req,
        reporter,
    };
    match switch::all(req, &mut hosts, &hooks, reporter) {
        Ok(()) => {
            session::finish(req, &mut hosts, reporter, |_| {
                (LogResult::Done, End::Deployed)
            });
            proxies.release(reporter);
            reporter.event(&Event::DeployDone {
                ms: millis(started),
                summary: summary(req, hosts.iter().map(|h| &h.session)),
            });
            Outcome::Done
        }
        Err(error) => revert(req, &mut hosts, &hooks, reporter, &error),
    }
}

/// `formation.changed` for each count a host's target changes (after the no-op test: a run
/// that changes a count is no no-op), dry runs included.
fn report_counts(req: &Request, hosts: &[Host], reporter: &dyn Reporter) {
    for h in hosts {
        for (process, from, to) in target::count_changes(req, h) {
            let was_scaled = req.action != Action::Scale && h.facts.scale.contains_key(&process);
            reporter.event(&Event::FormationChanged {
                host: h.session.name(),
                source: if req.action == Action::Scale && req.scale.contains_key(&process) {
                    "scale"
                } else {
                    "deliver.toml"
                }
                .to_owned(),
                was_scaled,
                process,
                from,
                to,
            });
        }
    }
}

/// `--dry-run`: the scripts a run would send to each host, as `host.script` events (shown
/// as `-v` shows the scripts it runs: exported values masked).
fn dry_run(req: &Request, hosts: &mut [Host], proxies: &Proxies, reporter: &dyn Reporter) {
    for h in hosts.iter_mut() {
        let mut scripts: Vec<Script> = Vec::new();
        match req.action {
            Action::Deploy => scripts.push(prepare::build_script(req, h)),
            Action::Rollback | Action::Restart | Action::Scale => {
                scripts.extend(prepare::stage_script(h));
            }
        }
        scripts.extend(release_command::script(req, h));
        scripts.push(switch::forward_script(req, h));
        // What the rollout core would (re)start, in its order, and stop.
        let change = switch::change(req, h, switch::Direction::Forward);
        let unit =
            |i: &crate::release::Instance| render::unit_name(req.env.supervisor, &req.env.app, i);
        let units: Vec<String> = super::policy::order(change.run, &req.env.health.process)
            .iter()
            .map(|s| unit(&s.instance))
            .collect();
        if !units.is_empty() {
            scripts.push(supervisor::restart(req.env.supervisor, &units));
        }
        let stop: Vec<String> = change.stop.iter().map(unit).collect();
        if !stop.is_empty() {
            scripts.push(supervisor::stop_removed(req.env.supervisor, &stop));
        }
        scripts.push(session::finish_script(req, h, LogResult::Done));
        for script in scripts {
            reporter.event(&Event::HostScript {
                host: h.session.name(),
                name: script.name.clone(),
                script: script.render_masked(),
            });
        }
        h.session.end(End::DryRun);
    }
    for (host, name, script) in proxies.dry_run_scripts(req, hosts) {
        reporter.event(&Event::HostScript { host, name, script });
    }
}
