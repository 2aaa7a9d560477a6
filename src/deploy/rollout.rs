//! The one rollout core: replace a host's running formation with a target formation. Deploy,
//! rollback and revert all come here (after `switch` pointed `current` at the release to
//! run); a restart without a new release (env, scale) will too. Which instances restart, in
//! which order and behind which gate is `policy`'s; the per-instance hooks
//! ([`InstanceHooks`]) are where a proxy drain hangs: before an instance stops, after it is
//! healthy again.

use super::health;
use std::time::Instant;

use super::policy::{self, Gate};
use super::state::{Session, StepError};
use crate::config::{Environment, RolloutMode};
use crate::plan::facts::Facts;
use crate::plan::supervisor;
use crate::procfile::ProcessType;
use crate::release::{self, Instance};
use crate::render;
use crate::ui::event::{Event, Reporter};

/// A host's move from what it runs to what it should run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The target formation's instances: each is (re)started and gated.
    pub run: Vec<Instance>,
    /// Instances that leave the formation: stopped once the others are up.
    pub stop: Vec<Instance>,
    /// Types of `run` of which nothing runs yet (a first deploy, a new type): nothing can
    /// be disrupted there, so they start all at once and gate together (SPEC §7).
    pub fresh: Vec<String>,
}

impl Change {
    /// Forward to `new`, from `old` when known (else nothing is stopped, and every type is
    /// taken to run already).
    pub fn forward(new: Vec<Instance>, old: Option<Vec<Instance>>) -> Change {
        let fresh = old.as_ref().map_or_else(Vec::new, |o| {
            let mut fresh: Vec<String> = new
                .iter()
                .filter(|n| !o.iter().any(|i| i.type_name == n.type_name))
                .map(|n| n.type_name.clone())
                .collect();
            fresh.dedup();
            fresh
        });
        let stop = old.map(|o| policy::removed(&o, &new)).unwrap_or_default();
        Change {
            run: new,
            stop,
            fresh,
        }
    }

    /// From `from` to `to` under the release that runs (`deliver scale`, and its revert):
    /// only the difference. The instances `to` adds start all at once and gate together
    /// (the running ones are not touched, so nothing can be disrupted); those it drops stop.
    pub fn diff(to: &[Instance], from: &[Instance]) -> Change {
        let stop = policy::removed(from, to);
        let run: Vec<Instance> = policy::removed(to, from);
        let mut fresh: Vec<String> = run.iter().map(|i| i.type_name.clone()).collect();
        fresh.dedup();
        Change { run, stop, fresh }
    }

    /// Back to `old` from `new`; when nothing was recorded (an older layout), the same
    /// instances under the old release.
    pub fn back(new: &[Instance], old: Option<Vec<Instance>>) -> Change {
        let keep = old.unwrap_or_else(|| new.to_vec());
        let stop = policy::removed(new, &keep);
        Change {
            run: keep,
            stop,
            fresh: Vec::new(),
        }
    }
}

/// What happens around each instance's restart. Both default to nothing.
pub trait InstanceHooks: Sync {
    /// Before `unit` stops (e.g. take it out of the proxy and let it drain).
    fn before_stop(
        &self,
        _session: &mut Session,
        _instance: &Instance,
        _unit: &str,
    ) -> Result<(), StepError> {
        Ok(())
    }

    /// After `unit` passed its gate (e.g. put it back in the proxy).
    fn after_healthy(
        &self,
        _session: &mut Session,
        _instance: &Instance,
        _unit: &str,
    ) -> Result<(), StepError> {
        Ok(())
    }

    /// After `instances` left the formation and stopped (e.g. drop them from the proxy).
    fn after_removed(
        &self,
        _session: &mut Session,
        _instances: &[Instance],
    ) -> Result<(), StepError> {
        Ok(())
    }
}

/// Units restarted whose "stays active" gate is left to the caller ([`replace`] with
/// `defer`): `rolling` checks them once the next batch is done, so that their second never
/// blocks it (SPEC §7). A failure then still fails the rollout.
pub struct Deferred {
    instances: Vec<Instance>,
    units: Vec<String>,
    since: Instant,
}

impl Deferred {
    /// The gate, at last (waiting out what is left of its second), then the hooks.
    pub fn settle(
        self,
        env: &Environment,
        session: &mut Session,
        hooks: &dyn InstanceHooks,
        reporter: &dyn Reporter,
    ) -> Result<(), StepError> {
        health::stays_active(session, env.supervisor, &self.units, self.since, reporter)?;
        for (instance, unit) in self.instances.iter().zip(&self.units) {
            hooks.after_healthy(session, instance, unit)?;
        }
        Ok(())
    }
}

/// No hooks: nothing coordinates with a proxy.
pub struct NoHooks;

impl InstanceHooks for NoHooks {}

/// Restarts `change.run` on the host in `policy` order and gates it, then stops
/// `change.stop`. `rolling`: the health process one instance at a time (all at once where
/// none runs yet), the other types together with its first instance; `all-at-once`:
/// everything together. Units that are not health-checked are gated together (one second
/// from their start, one query) once the health process is done. The hooks run before each
/// instance stops (those of `change.stop` too) and after each passed its gate, and once the
/// removed instances stopped. With `defer` (`rolling` forward), that "stays active" gate
/// comes back [`Deferred`] instead of being waited for.
pub fn replace(
    env: &Environment,
    session: &mut Session,
    change: &Change,
    hooks: &dyn InstanceHooks,
    defer: bool,
    reporter: &dyn Reporter,
) -> Result<Option<Deferred>, StepError> {
    let host = session.name();
    let unit = |i: &Instance| render::unit_name(env.supervisor, &env.app, i);
    let steps = policy::order(change.run.clone(), &env.health.process);
    let (checked, others): (Vec<&policy::Step>, Vec<&policy::Step>) =
        steps.iter().partition(|s| s.gate == Gate::Health);
    let batches: Vec<Vec<&policy::Step>> = match env.rollout.mode {
        RolloutMode::Rolling => {
            let mut batches: Vec<Vec<&policy::Step>> = if change.fresh.contains(&env.health.process)
            {
                vec![checked]
            } else {
                checked.into_iter().map(|s| vec![s]).collect()
            };
            // The other types restart with the first batch, so that their second overlaps
            // the health process's boots instead of following them (SPEC §7).
            match batches.first_mut() {
                Some(first) => first.extend(others),
                None => batches.push(others),
            }
            batches
        }
        // `surge` restarts through here only what it does not flip (workers; a revert):
        // together, gated together.
        RolloutMode::AllAtOnce | RolloutMode::Surge => vec![steps.iter().collect()],
    };
    let batches: Vec<Vec<&policy::Step>> = batches.into_iter().filter(|b| !b.is_empty()).collect();
    // The units gated on staying active, from the batch they restarted in: one gate for all,
    // once the other batches are done (or left to the caller with `defer`).
    let mut pending: Option<Deferred> = None;
    for batch in batches {
        let units: Vec<String> = batch.iter().map(|s| unit(&s.instance)).collect();
        for (step, unit) in batch.iter().zip(&units) {
            hooks.before_stop(session, &step.instance, unit)?;
        }
        session.run(&supervisor::restart(env.supervisor, &units), reporter)?;
        let started = Instant::now();
        for unit in &units {
            reporter.event(&Event::InstanceRestarted {
                host: host.clone(),
                unit: unit.clone(),
            });
        }
        for (step, unit) in batch.iter().zip(&units) {
            if step.gate == Gate::StaysActive {
                let p = pending.get_or_insert_with(|| Deferred {
                    instances: Vec::new(),
                    units: Vec::new(),
                    since: started,
                });
                p.instances.push(step.instance.clone());
                p.units.push(unit.clone());
                continue;
            }
            health::gate(
                session,
                env.supervisor,
                &env.health,
                &step.instance,
                unit,
                &step.gate,
                reporter,
            )?;
            hooks.after_healthy(session, &step.instance, unit)?;
        }
    }
    let deferred = match pending {
        Some(p) if !defer => {
            p.settle(env, session, hooks, reporter)?;
            None
        }
        other => other,
    };
    if !change.stop.is_empty() {
        let stop: Vec<String> = change.stop.iter().map(unit).collect();
        for (instance, unit) in change.stop.iter().zip(&stop) {
            hooks.before_stop(session, instance, unit)?;
        }
        session.run(&supervisor::stop_removed(env.supervisor, &stop), reporter)?;
        hooks.after_removed(session, &change.stop)?;
    }
    Ok(deferred)
}

/// The instances the host ran before this run, from the installed target's `Wants=`
/// (systemd); `None` when nothing was installed or the supervisor has no target (upstart).
pub fn running_before(
    env: &Environment,
    types: &[ProcessType],
    facts: &Facts,
) -> Option<Vec<Instance>> {
    if facts.wants.is_empty() {
        return None;
    }
    let instances = facts
        .wants
        .iter()
        .filter_map(|unit| {
            let (type_name, port) = render::parse_instance_unit(&env.app, unit)?;
            // Instance numbers only name upstart jobs; from the port where the type is known.
            let number = types
                .iter()
                .find(|t| t.name == type_name)
                .and_then(|t| release::instance_number(env.port_base, t.index, port))
                .map_or(1, |(n, _)| n);
            Some(Instance {
                type_name: type_name.to_string(),
                number,
                port,
            })
        })
        .collect();
    Some(instances)
}
