//! `surge` (SPEC §7), one batch of hosts at a time: swap `current` and start the new
//! formation of the health process on the other port bank (PORT + 50) while the old one
//! serves, gate all of it at once, flip the batch in the proxy's upstream in one reload,
//! drain and stop the old bank, then restart the workers together; their 1 s gate is checked
//! once the next batch is done (or at the end), so it never blocks it. The bank that serves is
//! what the installed `<app>.target` wants, so the next run reads it back from the facts.
//!
//! A failure before the flip stops the new bank and swaps `current` back on every host of
//! the batch (nothing served changed; those hosts end `reverted`). After the flip the hosts
//! stay `switched`, and the revert takes them back through the rollout core with the
//! proxy's drain hooks: old instances up and healthy first, then the new ones drained out.

use std::time::{Duration, Instant};

use super::health::{self, GateError};
use super::policy::{self, Gate};
use super::proxy::{running, Flip, ProxyHooks};
use super::state::{millis, Host, Phase, StepError};
use super::switch;
use super::Request;
use crate::parallel;
use crate::plan::supervisor::{self, UnitState};
use crate::release::Instance;
use crate::render;
use crate::ui::event::{Event, Reporter};

/// A host's instances of the health process, and the others.
/// How long a worker must stay `active` to pass its gate.
const STAYS_ACTIVE: Duration = Duration::from_secs(1);

fn split(req: &Request, instances: Vec<Instance>) -> (Vec<Instance>, Vec<Instance>) {
    instances
        .into_iter()
        .partition(|i| i.type_name == req.env.health.process)
}

fn units(req: &Request, instances: &[Instance]) -> Vec<String> {
    instances
        .iter()
        .map(|i| render::unit_name(req.env.supervisor, &req.env.app, i))
        .collect()
}

fn ports(instances: &[Instance]) -> Vec<u16> {
    instances.iter().map(|i| i.port).collect()
}

/// Before the flip, on one host: swap, start the new bank, gate it.
fn start_new_bank(req: &Request, h: &mut Host, reporter: &dyn Reporter) -> Result<(), StepError> {
    let script = switch::forward_script(req, h);
    h.session.run(&script, reporter)?;
    h.session.phase = Phase::Switched;
    reporter.event(&Event::HostSwitched {
        host: h.session.name(),
    });
    let (new, _) = split(req, h.target.instances(&req.env));
    if new.is_empty() {
        return Ok(());
    }
    let names = units(req, &new);
    h.session
        .run(&supervisor::restart(req.env.supervisor, &names), reporter)?;
    for (instance, unit) in new.iter().zip(&names) {
        reporter.event(&Event::InstanceRestarted {
            host: h.session.name(),
            unit: unit.clone(),
        });
        health::gate(
            &mut h.session,
            req.env.supervisor,
            &req.env.health,
            instance,
            unit,
            &Gate::Health,
            reporter,
        )?;
    }
    Ok(())
}

/// A failure before the flip: stop the new bank, swap back. The host ends `reverted`.
fn undo_before_flip(req: &Request, h: &mut Host, reporter: &dyn Reporter) {
    if h.session.phase != Phase::Switched {
        return;
    }
    let (new, _) = split(req, h.target.instances(&req.env));
    let (old, _) = split(req, running(req, h));
    // Only what the old formation does not run (a bank never overlaps the other).
    let stop = policy::removed(&new, &old);
    let mut r = h
        .session
        .run(
            &supervisor::stop_removed(req.env.supervisor, &units(req, &stop)),
            reporter,
        )
        .map(drop);
    if r.is_ok() {
        r = switch::back_script(req, h).and_then(|s| h.session.run(&s, reporter).map(drop));
    }
    match r {
        Ok(()) => {
            h.session.phase = Phase::Reverted;
            reporter.event(&Event::HostReverted {
                host: h.session.name(),
            });
        }
        Err(e) => {
            h.session
                .report_failure(reporter, super::state::Step::Revert, &e);
            h.session.phase = Phase::RevertFailed {
                reason: e.to_string(),
            };
        }
    }
}

/// Workers restarted on a host whose 1 s "stays active" gate is still to be checked: it runs
/// while the next batch works (SPEC §7), and a failure still fails the rollout.
pub struct PendingGate {
    units: Vec<String>,
    since: Instant,
}

impl PendingGate {
    /// Waits out what is left of the second, then checks every unit at once; reports each
    /// healthy, and the host done.
    pub fn check(
        self,
        req: &Request,
        h: &mut Host,
        reporter: &dyn Reporter,
    ) -> Result<(), StepError> {
        if !self.units.is_empty() {
            if let Some(left) = STAYS_ACTIVE.checked_sub(self.since.elapsed()) {
                std::thread::sleep(left);
            }
            let out = h
                .session
                .query(&supervisor::is_active(req.env.supervisor, &self.units))?;
            let states = supervisor::parse_states(&out.stdout).map_err(GateError::Unreadable)?;
            for unit in &self.units {
                match states.iter().find(|(u, _)| u == unit) {
                    Some((_, UnitState::Active)) => reporter.event(&Event::InstanceHealthy {
                        host: h.session.name(),
                        unit: unit.clone(),
                        ms: millis(self.since),
                    }),
                    other => {
                        return Err(GateError::NotActive {
                            unit: unit.clone(),
                            state: other.map(|(_, s)| s.clone()),
                        }
                        .into())
                    }
                }
            }
        }
        h.session.mark_finished();
        reporter.event(&Event::HostDone {
            host: h.session.name(),
            ms: h.session.ms(),
        });
        Ok(())
    }
}

/// After the flip, on one host: drain the old bank, stop it, restart the workers (their
/// gate is left pending).
fn retire_old_bank(
    req: &Request,
    h: &mut Host,
    hooks: &ProxyHooks<'_>,
    reporter: &dyn Reporter,
) -> Result<PendingGate, StepError> {
    let (old_web, old_rest) = split(req, running(req, h));
    let (new_web, new_rest) = split(req, h.target.instances(&req.env));
    let retired = policy::removed(&old_web, &new_web);
    if !retired.is_empty() {
        if hooks.proxies.drains() {
            hooks.drain_all(&mut h.session, &retired, &units(req, &retired))?;
        }
        h.session.run(
            &supervisor::stop_removed(req.env.supervisor, &units(req, &retired)),
            reporter,
        )?;
        hooks.proxies.forget(&h.session.name(), &ports(&retired));
    }
    let gone = policy::removed(&old_rest, &new_rest);
    if !gone.is_empty() {
        h.session.run(
            &supervisor::stop_removed(req.env.supervisor, &units(req, &gone)),
            reporter,
        )?;
    }
    let workers = units(req, &new_rest);
    if !workers.is_empty() {
        h.session
            .run(&supervisor::restart(req.env.supervisor, &workers), reporter)?;
        for unit in &workers {
            reporter.event(&Event::InstanceRestarted {
                host: h.session.name(),
                unit: unit.clone(),
            });
        }
    }
    Ok(PendingGate {
        units: workers,
        since: Instant::now(),
    })
}

/// Starts the new bank of a batch and flips it; on a failure, undoes the batch before the
/// flip (or after a refused flip) and names each host that failed.
fn start_and_flip(
    req: &Request,
    hosts: &mut [Host],
    hooks: &ProxyHooks<'_>,
    reporter: &dyn Reporter,
) -> Result<(), String> {
    let started = parallel::each(hosts.iter_mut(), |h| {
        start_new_bank(req, h, reporter).map_err(|e| format!("{}: {e}", h.session.name()))
    });
    let mut errors: Vec<String> = started.into_iter().filter_map(Result::err).collect();
    if errors.is_empty() {
        let flips: Vec<Flip> = hosts
            .iter()
            .map(|h| {
                let before = running(req, h);
                Flip {
                    host: h.session.name(),
                    old: ports(&split(req, before).0),
                    new: ports(&split(req, h.target.instances(&req.env)).0),
                }
            })
            .collect();
        if let Err(e) = hooks.proxies.flip(req, &flips, reporter) {
            hooks.proxies.unflip(req, &flips, reporter);
            errors.push(e.to_string());
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    parallel::each(hosts.iter_mut(), |h| undo_before_flip(req, h, reporter));
    Err(errors.join("; "))
}

/// After a batch's flip: drain and stop its old bank, restart its workers and check their
/// gate; each host is done then.
fn retire(
    req: &Request,
    hosts: &mut [Host],
    hooks: &ProxyHooks<'_>,
    reporter: &dyn Reporter,
) -> Result<(), String> {
    let results = parallel::each(hosts.iter_mut(), |h| {
        retire_old_bank(req, h, hooks, reporter)
            .and_then(|gate| gate.check(req, h, reporter))
            .map_err(|e| format!("{}: {e}", h.session.name()))
    });
    let errors: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// Every batch of `surge`, pipelined: batch k is retired (drain, stop, workers and their
/// gate) while batch k + 1 boots its new bank and flips, so the critical path is one boot
/// and one flip per batch. Stops at the first failure (or an interrupt, before a batch
/// starts), once the batch being retired is done; the error names each host that failed.
pub fn all(
    req: &Request,
    hosts: &mut [Host],
    size: usize,
    hooks: &ProxyHooks<'_>,
    reporter: &dyn Reporter,
) -> Result<(), String> {
    std::thread::scope(|scope| {
        let mut retiring: Option<std::thread::ScopedJoinHandle<'_, Result<(), String>>> = None;
        let joined = |h: Option<std::thread::ScopedJoinHandle<'_, Result<(), String>>>| {
            h.map_or(Ok(()), |h| h.join().expect("a retiring batch panicked"))
        };
        for batch in hosts.chunks_mut(size.max(1)) {
            if super::interrupt::interrupted() {
                joined(retiring.take())?;
                return Err("interrupted".to_string());
            }
            if let Err(e) = start_and_flip(req, batch, hooks, reporter) {
                let before = joined(retiring.take());
                return Err(before.err().map_or(e.clone(), |b| format!("{b}; {e}")));
            }
            joined(retiring.take())?;
            retiring = Some(scope.spawn(move || retire(req, batch, hooks, reporter)));
        }
        joined(retiring.take())
    })
}
