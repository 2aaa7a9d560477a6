//! Switching: per host, point `current` at the release to run (installing changed units in
//! the same round trip) and hand the instances to the rollout core; across hosts, batch by
//! batch (`policy::batches`), stopping at the first batch with a failure or at an interrupt.

use super::interrupt::interrupted;
use super::policy;
use super::proxy::ProxyHooks;
use super::rollout::{self, Change, Deferred, InstanceHooks};
use super::state::{Host, Phase, Step, StepError};
use super::surge;
use super::Request;
use crate::config::RolloutMode;
use crate::parallel;
use crate::plan::log::Action;
use crate::plan::{failed, supervisor, switch, Script};
use crate::ui::event::{Event, Reporter};

/// Which way a host switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction<'a> {
    /// To the run's release and formation.
    Forward,
    /// Back to the release and formation it ran before the run (a revert), because of `why`
    /// (the rollout's error, which a deploy's failed mark keeps).
    Back { why: &'a str },
}

/// The units staged for the host installed, after `units` (keep or restore the previous
/// ones): `None` when they did not change.
fn units_script(req: &Request, h: &Host, units: Script) -> Option<Script> {
    h.target.changed.then(|| {
        units.then(supervisor::install_units(
            req.env.supervisor,
            &req.env.app,
            &h.session.layout,
        ))
    })
}

/// The switch to the run's release, one round trip: the release checked complete, the
/// previous units kept (recorded as this run's) and the new ones installed, then `current`
/// swapped, last. A failure anywhere leaves `current` as it was, and units that a revert
/// puts back only if this run replaced them (`supervisor::restore_previous`).
pub fn forward_script(req: &Request, h: &Host) -> Script {
    let layout = &h.session.layout;
    let mut s = switch::require_complete(layout, &req.release);
    let keep = supervisor::keep_previous(layout, &req.release);
    if let Some(units) = units_script(req, h, keep) {
        s = s.then(units);
    }
    let mut s = s.then(switch::link_current(layout, &req.release));
    "switch.swap_current".clone_into(&mut s.name);
    s
}

/// The swap back to the release the host ran before, restoring its units. A deploy marks
/// its release failed there first, in the same round trip (`plan::failed`; `why` is the
/// rollout's error): written before anything that could fail, so that a host whose revert
/// fails (exit 5) is marked too.
pub(super) fn back_script(req: &Request, h: &Host, why: &str) -> Result<Script, StepError> {
    let previous = h.facts.current.as_ref().ok_or(StepError::NoPrevious)?;
    let restore = supervisor::restore_previous(&h.session.layout, &req.release);
    let swap = switch::swap_current(&h.session.layout, previous);
    let swap = match units_script(req, h, restore) {
        Some(units) => swap.then(units),
        None => swap,
    };
    Ok(match req.action {
        Action::Deploy => {
            let mark = failed::Mark::new(req.now_unix, why, &req.who);
            let name = swap.name.clone();
            let mut s = failed::mark(&h.session.layout, &req.release, &mark).then(swap);
            // The round trip is still the swap (as `-v` and the recorder name it).
            s.name = name;
            s
        }
        Action::Rollback | Action::Restart | Action::Scale => swap,
    })
}

/// Switches one host `direction`: swaps `current`, then replaces its running formation
/// through the rollout core. Forward in `rolling`, the workers' gate comes back deferred.
pub fn host(
    req: &Request,
    h: &mut Host,
    direction: Direction<'_>,
    hooks: &dyn InstanceHooks,
    reporter: &dyn Reporter,
) -> Result<Option<Deferred>, StepError> {
    let script = match direction {
        Direction::Forward => forward_script(req, h),
        Direction::Back { why } => back_script(req, h, why)?,
    };
    let swapping = h.session.phase == Phase::Swapping;
    if direction == Direction::Forward {
        // From here a failure may have changed the units or `current`: the revert looks.
        h.session.phase = Phase::Swapping;
    }
    h.session.run(&script, reporter)?;
    if direction != Direction::Forward && swapping {
        // The switch's round trip failed: nothing restarted, so nothing restarts back.
        return Ok(None);
    }
    if direction == Direction::Forward {
        h.session.phase = Phase::Switched;
        reporter.event(&Event::HostSwitched {
            host: h.session.name(),
        });
    }
    let change = change(req, h, direction);
    let defer = direction == Direction::Forward && req.env.rollout.mode == RolloutMode::Rolling;
    rollout::replace(&req.env, &mut h.session, &change, hooks, defer, reporter)
}

/// What the rollout core does on `h` once it switched `direction`: which instances (re)start
/// and which stop.
pub fn change(req: &Request, h: &Host, direction: Direction<'_>) -> Change {
    let new = h.target.instances(&req.env);
    // Nothing deployed yet: nothing runs (every type starts at once).
    let old = if h.facts.current.is_none() {
        Some(Vec::new())
    } else {
        rollout::running_before(&req.env, &req.types, &h.facts)
    };
    match (direction, old) {
        // A scale touches only what it adds or drops (where the running formation is known).
        (Direction::Forward, Some(old)) if req.action == Action::Scale => Change::diff(&new, &old),
        (Direction::Back { .. }, Some(old)) if req.action == Action::Scale => {
            Change::diff(&old, &new)
        }
        (Direction::Forward, old) => Change::forward(new, old),
        (Direction::Back { .. }, old) => Change::back(&new, old),
    }
}

/// Settles the deferred gates of a batch's hosts (by index); each host is done then. The
/// error names each host that failed.
fn settle(
    req: &Request,
    hosts: &mut [Host],
    pending: Vec<(usize, Option<Deferred>)>,
    hooks: &dyn InstanceHooks,
    reporter: &dyn Reporter,
) -> Result<(), String> {
    let mut errors = Vec::new();
    for (i, deferred) in pending {
        let h = &mut hosts[i];
        let r = deferred.map_or(Ok(()), |d| {
            d.settle(&req.env, &mut h.session, hooks, reporter)
        });
        h.session.mark_finished();
        match r {
            Ok(()) => reporter.event(&Event::HostDone {
                host: h.session.name(),
                ms: h.session.ms(),
            }),
            Err(e) => errors.push(h.session.failed_at(reporter, Step::Switch, &e)),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// Switches every host forward, batch by batch (hosts that run nothing yet first, together).
/// Stops after the first batch where a host
/// failed (every host of that batch finishes its own switch), or before the next batch once
/// interrupted; the error names each failed host.
pub fn all(
    req: &Request,
    hosts: &mut [Host],
    hooks: &ProxyHooks<'_>,
    reporter: &dyn Reporter,
) -> Result<(), String> {
    let fresh: Vec<bool> = hosts.iter().map(|h| h.facts.current.is_none()).collect();
    if req.env.rollout.mode == RolloutMode::Surge && req.action != Action::Scale {
        // A first deploy to every host: nothing serves yet, so one batch (SPEC §7).
        let size = if fresh.iter().all(|f| *f) {
            hosts.len()
        } else {
            policy::batches(hosts.len(), req.env.rollout.mode, req.batch)
                .first()
                .map_or(1, Vec::len)
        };
        surge::all(req, hosts, size, hooks, reporter)?;
        hooks.proxies.tidy(req, reporter);
        return Ok(());
    }
    // The previous batch's hosts and their deferred gates: settled once this batch is done.
    let mut pending: Vec<(usize, Option<Deferred>)> = Vec::new();
    for batch in policy::switch_batches(&fresh, req.env.rollout.mode, req.batch) {
        if interrupted() {
            settle(req, hosts, pending, hooks, reporter)?;
            return Err("interrupted".to_string());
        }
        let in_batch: Vec<&mut Host> = hosts
            .iter_mut()
            .enumerate()
            .filter(|(i, _)| batch.contains(i))
            .map(|(_, h)| h)
            .collect();
        let results = parallel::each(in_batch, |h| {
            host(req, h, Direction::Forward, hooks, reporter)
                .map_err(|e| h.session.failed_at(reporter, Step::Switch, &e))
        });
        let mut errors = Vec::new();
        let mut next = Vec::new();
        for (i, r) in batch.iter().zip(results) {
            match r {
                Ok(deferred) => next.push((*i, deferred)),
                Err(e) => {
                    hosts[*i].session.mark_finished();
                    errors.push(e);
                }
            }
        }
        if let Err(e) = settle(
            req,
            hosts,
            std::mem::replace(&mut pending, next),
            hooks,
            reporter,
        ) {
            errors.insert(0, e);
        }
        if !errors.is_empty() {
            // This batch's other hosts switched; the revert takes them back.
            return Err(errors.join("; "));
        }
    }
    settle(req, hosts, pending, hooks, reporter)?;
    // The upstream may still list what the rollout stopped.
    hooks.proxies.tidy(req, reporter);
    Ok(())
}
