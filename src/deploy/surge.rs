//! `surge` (SPEC §7), batch by batch: swap `current`, start the new formation of the health
//! process on the other port bank (PORT + 50) while the old one serves, and restart the
//! workers with it (they serve no request); gate the new bank; flip the batch in the
//! proxy's upstream in one reload; drain and stop the old bank. The workers' 1 s gate is
//! checked once that is done. Batches are pipelined: batch k is retired (drain, stop, gate)
//! while batch k + 1 boots and flips. The bank that serves is what the installed
//! `<app>.target` wants, so the next run reads it back from the facts.
//!
//! A failure before the flip stops the new bank, swaps `current` back and restarts the
//! workers on every host of the batch (nothing served changed; those hosts end `reverted`).
//! After the flip the hosts stay `switched`, and the revert takes them back through the
//! rollout core with the proxy's drain hooks: old instances up and healthy first, then the
//! new ones drained out.

use std::time::Instant;

use super::health;
use super::policy::{self, Gate};
use super::proxy::{running, Flip, ProxyHooks};
use super::state::{Host, Phase, Step, StepError};
use super::switch;
use super::Request;
use crate::parallel;
use crate::plan::supervisor;
use crate::release::Instance;
use crate::render;
use crate::ui::event::{Event, Reporter};

/// A host's instances of the health process, and the others.
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

/// Swaps `current` (and installs the units that want the new bank) on every host of a
/// batch, in parallel; the error names each host that failed.
fn swap(req: &Request, hosts: &mut [Host], reporter: &dyn Reporter) -> Result<(), String> {
    let results = parallel::each(hosts.iter_mut(), |h| {
        let script = switch::forward_script(req, h);
        // From here a failure may have changed the units or `current`: the undo looks.
        h.session.phase = Phase::Swapping;
        h.session
            .run(&script, reporter)
            .map_err(|e| h.session.failed_at(reporter, Step::Switch, &e))?;
        h.session.phase = Phase::Switched;
        reporter.event(&Event::HostSwitched {
            host: h.session.name(),
        });
        Ok(())
    });
    super::state::all_ok(results)
}

/// Undoes every swapped host of a batch that did not flip.
fn undo(req: &Request, hosts: &mut [Host], reporter: &dyn Reporter) {
    parallel::each(hosts.iter_mut(), |h| undo_before_flip(req, h, reporter));
}

/// Before the flip, on one swapped host: start the new bank and restart the workers (one
/// round trip: the workers serve no request, and their 1 s gate then runs beside the new
/// bank's boot), gate the new bank. The workers' gate comes back pending.
fn start_new_bank(
    req: &Request,
    h: &mut Host,
    reporter: &dyn Reporter,
) -> Result<PendingGate, StepError> {
    let (new, workers) = split(req, h.target.instances(&req.env));
    let names = units(req, &new);
    let workers = units(req, &workers);
    let all: Vec<String> = names.iter().chain(&workers).cloned().collect();
    if !all.is_empty() {
        h.session
            .run(&supervisor::restart(req.env.supervisor, &all), reporter)?;
    }
    let pending = PendingGate {
        units: workers,
        since: Instant::now(),
    };
    for unit in &all {
        reporter.event(&Event::InstanceRestarted {
            host: h.session.name(),
            unit: unit.clone(),
        });
    }
    for (instance, unit) in new.iter().zip(&names) {
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
    Ok(pending)
}

/// A failure before the flip: stop the new bank, swap back. The host ends `reverted`.
fn undo_before_flip(req: &Request, h: &mut Host, reporter: &dyn Reporter) {
    let why = "the rollout failed before the proxy flip of this host's batch";
    if h.session.phase == Phase::Swapping && h.facts.current.is_some() {
        // The swap's round trip failed: nothing started; put back what it changed.
        let r =
            switch::back_script(req, h, why).and_then(|s| h.session.run(&s, reporter).map(drop));
        super::revert::record(&mut h.session, r, reporter);
        return;
    }
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
        r = switch::back_script(req, h, why).and_then(|s| h.session.run(&s, reporter).map(drop));
    }
    // The workers restarted with the new bank: back on the old release.
    let (_, workers) = split(req, running(req, h));
    if r.is_ok() && !workers.is_empty() {
        let workers = units(req, &workers);
        r = h
            .session
            .run(&supervisor::restart(req.env.supervisor, &workers), reporter)
            .map(drop);
    }
    super::revert::record(&mut h.session, r, reporter);
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
        health::stays_active(
            &mut h.session,
            req.env.supervisor,
            &self.units,
            self.since,
            reporter,
        )?;
        h.session.mark_finished();
        reporter.event(&Event::HostDone {
            host: h.session.name(),
            ms: h.session.ms(),
        });
        Ok(())
    }
}

/// After the flip, on one host: drain the old bank, stop it and the workers that left.
fn retire_old_bank(
    req: &Request,
    h: &mut Host,
    hooks: &ProxyHooks<'_>,
    reporter: &dyn Reporter,
) -> Result<(), StepError> {
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
    Ok(())
}

/// Starts the new bank of a batch and flips it; on a failure, undoes the batch before the
/// flip (or after a refused flip) and names each host that failed.
fn start_and_flip(
    req: &Request,
    hosts: &mut [Host],
    hooks: &ProxyHooks<'_>,
    reporter: &dyn Reporter,
) -> Result<Vec<PendingGate>, String> {
    let started = parallel::each(hosts.iter_mut(), |h| {
        start_new_bank(req, h, reporter)
            .map_err(|e| h.session.failed_at(reporter, Step::Switch, &e))
    });
    let mut gates = Vec::new();
    let mut errors = Vec::new();
    for r in started {
        match r {
            Ok(gate) => gates.push(gate),
            Err(e) => errors.push(e),
        }
    }
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
            if let Err(back) = hooks.proxies.unflip(req, &flips, reporter) {
                // Some proxy host may point at the new bank: it stays up, and the batch
                // needs a human (exit 5).
                let reason = format!("the flip failed ({e}) and so did putting it back ({back})");
                for h in hosts.iter_mut() {
                    h.session.report_failure(reporter, Step::Revert, &reason);
                    h.session.phase = Phase::RevertFailed {
                        reason: reason.clone(),
                    };
                }
                return Err(reason);
            }
            errors.push(e.to_string());
        }
    }
    if errors.is_empty() {
        return Ok(gates);
    }
    undo(req, hosts, reporter);
    Err(errors.join("; "))
}

/// After a batch's flip: drain and stop its old bank, then check the workers' gate; each
/// host is done then. After the `last` batch, the upstream's last write (dropping the old
/// bank) goes while what is left of the workers' second runs out.
fn retire(
    req: &Request,
    hosts: &mut [Host],
    gates: Vec<PendingGate>,
    hooks: &ProxyHooks<'_>,
    last: bool,
    reporter: &dyn Reporter,
) -> Result<(), String> {
    let retired = parallel::each(hosts.iter_mut(), |h| {
        retire_old_bank(req, h, hooks, reporter)
            .map_err(|e| h.session.failed_at(reporter, Step::Switch, &e))
    });
    if last {
        hooks.proxies.tidy(req, reporter);
    }
    let results = parallel::each(
        hosts.iter_mut().zip(gates).zip(retired),
        |((h, gate), retired)| {
            retired?;
            gate.check(req, h, reporter)
                .map_err(|e| h.session.failed_at(reporter, Step::Switch, &e))
        },
    );
    super::state::all_ok(results)
}

/// Every batch of `surge`, pipelined: while batch k boots its new bank and flips, batch
/// k + 1 swaps `current` (installing its units); once batch k flipped, it is retired (drain,
/// stop, the workers' gate) while batch k + 1 boots and flips. The critical path is one
/// boot and one flip per batch. Stops at the first failure (or an interrupt, between
/// batches): a batch that swapped but did not flip is undone; a batch that flipped stays
/// switched for the revert. The error names each host that failed.
pub fn all(
    req: &Request,
    hosts: &mut [Host],
    size: usize,
    hooks: &ProxyHooks<'_>,
    reporter: &dyn Reporter,
) -> Result<(), String> {
    use std::thread::ScopedJoinHandle;
    let interrupted = super::interrupt::interrupted;
    std::thread::scope(|scope| {
        let join_retired = |h: Option<ScopedJoinHandle<'_, Result<(), String>>>| {
            h.map_or(Ok(()), |h| h.join().expect("a retiring batch panicked"))
        };
        let both = |a: Result<(), String>, b: String| match a {
            Ok(()) => b,
            Err(a) => format!("{a}; {b}"),
        };
        let mut chunks = hosts.chunks_mut(size.max(1));
        let Some(first) = chunks.next() else {
            return Ok(());
        };
        if interrupted() {
            return Err("interrupted".to_string());
        }
        let mut current = first;
        let mut swapped = swap(req, current, reporter);
        let mut retiring: Option<ScopedJoinHandle<'_, Result<(), String>>> = None;
        loop {
            let next = if swapped.is_ok() && !interrupted() {
                chunks.next()
            } else {
                None
            };
            let swapping = next.map(|n| {
                scope.spawn(move || {
                    let r = swap(req, n, reporter);
                    (n, r)
                })
            });
            let flipped = match swapped {
                Ok(()) => start_and_flip(req, current, hooks, reporter),
                Err(e) => {
                    undo(req, current, reporter);
                    Err(e)
                }
            };
            let next = swapping.map(|h| h.join().expect("a swapping batch panicked"));
            let gates = match flipped {
                Ok(gates) => gates,
                Err(e) => {
                    if let Some((n, _)) = next {
                        undo(req, n, reporter);
                    }
                    return Err(both(join_retired(retiring.take()), e));
                }
            };
            if let Err(e) = join_retired(retiring.take()) {
                if let Some((n, _)) = next {
                    undo(req, n, reporter);
                }
                return Err(e);
            }
            let last = next.is_none();
            retiring =
                Some(scope.spawn(move || retire(req, current, gates, hooks, last, reporter)));
            match next {
                Some((n, r)) => {
                    current = n;
                    swapped = r;
                }
                None if chunks.len() > 0 => {
                    return Err(both(join_retired(retiring.take()), "interrupted".into()));
                }
                None => break,
            }
        }
        join_retired(retiring.take())
    })
}
