//! The deploy/rollback engine (SPEC §7). Per host, in order:
//!
//! 1. one round trip: take the lock, create the layout, gather facts (`--dry-run`: facts only);
//! 2. decide locally: formation from the host's CPU count, units rendered for its user and
//!    home, "nothing to do" when every host runs this commit with these units;
//! 3. prepare, all hosts in parallel: push the commit, check it out, run the hooks, stage the
//!    changed units (in the build's round trip); any failure removes the new release
//!    everywhere and ends with exit 1;
//! 4. switch batch by batch (`policy::batches`): swap `current`, install changed units,
//!    restart instances and gate each (`policy::restart_order`); a failure reverts every
//!    switched host the same way (exit 4, or 5 when a revert fails too);
//! 5. one round trip: prune, append the log line, release the lock.
//!
//! Hosts are reached only through `remote::Remote`; everything said goes to a `Reporter`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::policy::{self, Gate};
use crate::config::{Environment, RolloutMode, Supervisor};
use crate::outcome::Outcome;
use crate::plan::facts::{self, Facts};
use crate::plan::log::{Action, LogResult};
use crate::plan::supervisor::UnitState;
use crate::plan::Script;
use crate::plan::{layout::Layout, lock, log, prune, release_dir, setup, supervisor, switch};
use crate::procfile::ProcessType;
use crate::release::{Formation, Instance, ReleaseId};
use crate::remote::{Output, Remote, Stream};
use crate::render::{self, RenderedFile, Target};
use crate::ui::event::{Event, Reporter, StreamName, SummaryRow};

/// Set by the SIGINT/SIGTERM handler: stop starting new work, revert, unlock.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Whether SIGINT or SIGTERM arrived. Checked between phases and batches: the step in flight
/// on each host finishes (or is reverted), then the run cleans up and unlocks.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Makes SIGINT and SIGTERM set [`INTERRUPTED`] instead of killing the process (once per
/// process; later calls do nothing).
pub fn catch_interrupts() {
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst));
}

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
    pub batch: u32,
    pub holder_json: String,
    /// Who deploys (`user@machine`), for the log.
    pub who: String,
    pub now_unix: u64,
}

/// One host's state through the run.
struct Host {
    remote: Box<dyn Remote>,
    layout: Layout,
    facts: Option<Facts>,
    formation: Option<Formation>,
    units: Vec<RenderedFile>,
    units_changed: bool,
    locked: bool,
    /// A release dir for this run may exist on the host.
    prepared: bool,
    switched: bool,
    started: Instant,
    /// When this host finished its part (switched and gated, or failed).
    finished: Option<Instant>,
    result: &'static str,
}

impl Host {
    fn name(&self) -> String {
        self.remote.host().to_string()
    }

    fn facts(&self) -> &Facts {
        self.facts.as_ref().expect("facts are gathered first")
    }

    /// Runs `script`, streaming its lines as `host.output` events; non-zero exit is an error
    /// naming the script, unless `allowed` lists it.
    fn run(
        &mut self,
        script: &Script,
        reporter: &dyn Reporter,
        allowed: &[i32],
    ) -> Result<Output, String> {
        let host = self.name();
        let mut sink = |stream: Stream, line: &str| {
            reporter.event(&Event::HostOutput {
                host: host.clone(),
                stream: match stream {
                    Stream::Stdout => StreamName::Stdout,
                    Stream::Stderr => StreamName::Stderr,
                },
                line: line.to_string(),
            });
        };
        let out = self
            .remote
            .run(script, &mut sink)
            .map_err(|e| e.to_string())?;
        if out.status == 0 || allowed.contains(&out.status) {
            Ok(out)
        } else {
            let tail = out.stderr.lines().last().unwrap_or("").trim();
            Err(format!(
                "{} exited {}{}",
                script.name,
                out.status,
                if tail.is_empty() {
                    String::new()
                } else {
                    format!(": {tail}")
                }
            ))
        }
    }

    /// Runs `script` without streaming (status queries).
    fn query(&mut self, script: &Script) -> Result<Output, String> {
        self.remote
            .run(script, &mut |_, _| {})
            .map_err(|e| e.to_string())
    }

    /// From the start of the run until this host finished (or until now).
    fn ms(&self) -> u64 {
        let end = self.finished.unwrap_or_else(Instant::now);
        u64::try_from(end.duration_since(self.started).as_millis()).unwrap_or(u64::MAX)
    }
}

/// Runs `f` on every host at once, one thread each; returns the per-host results in order.
fn parallel<T: Send>(hosts: &mut [&mut Host], f: impl Fn(&mut Host) -> T + Sync) -> Vec<T> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = hosts
            .iter_mut()
            .map(|h| {
                let f = &f;
                scope.spawn(move || f(h))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a host thread panicked"))
            .collect()
    })
}

/// The first event of a run, which the caller reports before connecting (so that every
/// event, `host.connected` included, carries the release).
pub fn start_event(req: &Request, hosts: &[String]) -> Event {
    Event::DeployStart {
        release: req.release.to_string(),
        environment: req.env.name.clone(),
        action: action_name(req.action).to_string(),
        sha: req.sha.clone(),
        hosts: hosts.to_vec(),
    }
}

/// Runs the request on `remotes` (connected, in config order) and returns the outcome. The
/// caller has reported [`start_event`].
pub fn run(req: &Request, remotes: Vec<Box<dyn Remote>>, reporter: &dyn Reporter) -> Outcome {
    let started = Instant::now();
    let layout = Layout::new(&req.env.deploy_to);
    let mut hosts: Vec<Host> = remotes
        .into_iter()
        .map(|remote| Host {
            remote,
            layout: layout.clone(),
            facts: None,
            formation: None,
            units: Vec::new(),
            units_changed: false,
            locked: false,
            prepared: false,
            switched: false,
            started,
            finished: None,
            result: "skipped",
        })
        .collect();
    match lock_and_gather(req, &mut hosts, reporter) {
        Err(outcome) => outcome,
        Ok(()) => match decide(req, &mut hosts) {
            Err(e) => fail_before_switch(req, &mut hosts, reporter, &e),
            Ok(()) if is_noop(req, &hosts) => {
                let reason =
                    "every host runs this commit with these units (--force deploys anyway)";
                unlock_all(&mut hosts, reporter);
                for h in &mut hosts {
                    h.result = "unchanged";
                }
                reporter.event(&Event::DeployNoop {
                    reason: reason.to_string(),
                });
                Outcome::Done
            }
            Ok(()) if req.dry_run => {
                dry_run(req, &mut hosts, reporter);
                Outcome::Done
            }
            Ok(()) => match prepare(req, &mut hosts, reporter) {
                Err(e) => fail_before_switch(req, &mut hosts, reporter, &e),
                Ok(()) if interrupted() => {
                    fail_before_switch(req, &mut hosts, reporter, "interrupted before switching")
                }
                Ok(()) => switch_all(req, &mut hosts, reporter, started),
            },
        },
    }
}

fn action_name(action: Action) -> &'static str {
    match action {
        Action::Deploy => "deploy",
        Action::Rollback => "rollback",
    }
}

/// Why a host's first round trip failed.
enum Gathered {
    /// Another deploy holds this host's lock (its holder, as text).
    Held(String),
    Failed(String),
}

/// Lock + setup + facts in one round trip on `h` (facts only with `--dry-run`).
fn gather_one(req: &Request, h: &mut Host) -> Result<(), Gathered> {
    let env = &req.env;
    let gather = facts::gather(&h.layout, &env.app, env.supervisor, facts::Depth::Layout);
    let script = if req.dry_run {
        gather
    } else {
        lock::acquire(&h.layout, &req.holder_json)
            .then(setup::setup(&h.layout, &env.linked_dirs, &env.linked_files))
            .then(gather)
    };
    let out = h.query(&script).map_err(Gathered::Failed)?;
    if out.status == lock::HELD {
        let holder = lock::Holder::parse(out.stdout.trim()).map_or_else(
            || out.stdout.trim().to_string(),
            |hd| match hd.age(req.now_unix) {
                Some(age) => format!("{hd}, taken {age} ago"),
                None => hd.to_string(),
            },
        );
        return Err(Gathered::Held(holder));
    }
    h.locked = !req.dry_run;
    if out.status != 0 {
        return Err(Gathered::Failed(format!(
            "gathering facts exited {}: {}",
            out.status,
            out.stderr.trim()
        )));
    }
    h.facts = Some(facts::parse(&out.stdout).map_err(|e| Gathered::Failed(format!("facts: {e}")))?);
    Ok(())
}

/// Step 1: the first host alone, then the others in parallel. Two deploys that start at once
/// meet at the first host's lock: one wins, and the other touches no other host (lock
/// ordering; in parallel, each could win some hosts and both would fail).
fn lock_and_gather(
    req: &Request,
    hosts: &mut [Host],
    reporter: &dyn Reporter,
) -> Result<(), Outcome> {
    let Some((first, rest)) = hosts.split_first_mut() else {
        return Ok(());
    };
    let mut results = vec![gather_one(req, first)];
    if results[0].is_ok() {
        results.extend(parallel(&mut rest.iter_mut().collect::<Vec<_>>(), |h| {
            gather_one(req, h)
        }));
    }
    let mut held = false;
    let mut failed = Vec::new();
    for (h, r) in hosts.iter_mut().zip(results) {
        let error = match r {
            Ok(()) => continue,
            Err(Gathered::Held(holder)) => {
                held = true;
                // Not ours: never release a lock we did not take.
                h.locked = false;
                format!("locked by another deploy: {holder}")
            }
            Err(Gathered::Failed(e)) => e,
        };
        h.result = "failed";
        reporter.event(&Event::HostFailed {
            host: h.name(),
            step: "lock".to_string(),
            error: error.clone(),
        });
        failed.push(format!("{}: {error}", h.name()));
    }
    if failed.is_empty() {
        return Ok(());
    }
    unlock_all(hosts, reporter);
    let outcome = if held {
        Outcome::Locked
    } else {
        Outcome::FailedBeforeSwitch
    };
    reporter.event(&Event::DeployFailed {
        error: failed.join("; "),
        code: outcome.code(),
        summary: summary(req, hosts),
    });
    Err(outcome)
}

/// Step 2: formation and units per host, from its facts.
fn decide(req: &Request, hosts: &mut [Host]) -> Result<(), String> {
    for h in hosts.iter_mut() {
        let units = host_units(&req.env, &req.types, &h.layout, h.facts())
            .map_err(|e| format!("{}: {e}", h.name()))?;
        h.units_changed = units.changed;
        h.units = units.units;
        h.formation = Some(units.formation);
    }
    Ok(())
}

/// One host's formation and units, and whether they differ from the installed ones.
#[derive(Debug, Clone)]
pub struct HostUnits {
    pub formation: Formation,
    pub units: Vec<RenderedFile>,
    /// The rendered units are not exactly the ones in `.deliver/units/` (the hashes the facts
    /// report): a deploy stages and installs them, and is not a no-op.
    pub changed: bool,
}

/// What a deploy renders for the host that answered `facts`: the formation from its CPU
/// count (`"auto"`), the units for its user and home. `deliver setup` installs the same.
pub fn host_units(
    env: &Environment,
    types: &[ProcessType],
    layout: &Layout,
    facts: &Facts,
) -> Result<HostUnits, String> {
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
    Ok(HostUnits {
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

/// Every host already serves this commit (deploy) or release (rollback) with these units.
fn is_noop(req: &Request, hosts: &[Host]) -> bool {
    !req.force
        && hosts.iter().all(|h| {
            let f = h.facts();
            !h.units_changed
                && match req.action {
                    Action::Deploy => f.current_revision() == Some(req.sha.as_str()),
                    Action::Rollback => f.current.as_ref() == Some(&req.release),
                }
        })
}

/// `--dry-run`: the scripts a run would send to each host, as `host.script` events (shown
/// as `-v` shows the scripts it runs: exported values masked).
fn dry_run(req: &Request, hosts: &mut [Host], reporter: &dyn Reporter) {
    for h in hosts.iter_mut() {
        let mut scripts = Vec::new();
        match req.action {
            Action::Deploy => scripts.push(build_script(req, h)),
            Action::Rollback if h.units_changed => {
                scripts.push(supervisor::stage_units(&h.layout, &h.units));
            }
            Action::Rollback => {}
        }
        scripts.push(switch_script(req, h));
        let units = instance_units(req, h.formation.as_ref().expect("decided"));
        scripts.push(supervisor::restart(req.env.supervisor, &units));
        scripts.push(finish_script(req, h, LogResult::Done));
        for script in scripts {
            reporter.event(&Event::HostScript {
                host: h.name(),
                name: script.name.clone(),
                script: script.render_masked(),
            });
        }
        h.result = "dry run";
    }
}

/// The deploy's build round trip on `h`: changed units staged, the release checked out and
/// linked, the hooks run. The units first: `build` changes into the release dir, and the
/// staging paths are relative to the home directory.
fn build_script(req: &Request, h: &Host) -> Script {
    let env = &req.env;
    let mut script = Script::new("release.prepare");
    if h.units_changed {
        script = script.then(supervisor::stage_units(&h.layout, &h.units));
    }
    script
        .then(release_dir::prepare(
            &h.layout,
            &req.release,
            &req.sha,
            &env.linked_dirs,
            &env.linked_files,
        ))
        .then(release_dir::build(
            &h.layout,
            &req.release,
            &env.build.hooks,
            &env.vars,
            env.build.timeout,
        ))
}

/// Step 3: push, check out, build, stage changed units; all hosts in parallel.
fn prepare(req: &Request, hosts: &mut [Host], reporter: &dyn Reporter) -> Result<(), String> {
    let results = parallel(&mut hosts.iter_mut().collect::<Vec<_>>(), |h| {
        let host = h.name();
        let fail = |step: &str, e: String| {
            reporter.event(&Event::HostFailed {
                host: host.clone(),
                step: step.to_string(),
                error: e.clone(),
            });
            format!("{host}: {step}: {e}")
        };
        if req.action == Action::Deploy {
            let repo = req.repo.as_ref().expect("a deploy has a repository");
            let t = Instant::now();
            let tips = h.facts().tip_shas();
            let stats = h
                .remote
                .push(
                    repo,
                    &req.sha,
                    &h.layout.repo(),
                    &Layout::release_ref(&req.release),
                    &tips,
                )
                .map_err(|e| fail("push", e.to_string()))?;
            reporter.event(&Event::HostPushed {
                host: host.clone(),
                objects: stats.objects,
                bytes: stats.bytes,
                ms: millis(t),
            });
            h.prepared = true;
            let t = Instant::now();
            let script = build_script(req, h);
            h.run(&script, reporter, &[])
                .map_err(|e| fail("build", e))?;
            reporter.event(&Event::HostBuilt {
                host: host.clone(),
                ms: millis(t),
            });
        }
        // A rollback has no build round trip: its changed units are staged in one of their own.
        if h.units_changed && req.action == Action::Rollback {
            let script = supervisor::stage_units(&h.layout, &h.units);
            h.run(&script, reporter, &[])
                .map_err(|e| fail("units", e))?;
        }
        Ok(())
    });
    let errors: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// A failure before any host switched: remove this run's release dirs, log, unlock; exit 1.
fn fail_before_switch(
    req: &Request,
    hosts: &mut [Host],
    reporter: &dyn Reporter,
    error: &str,
) -> Outcome {
    let results = parallel(&mut hosts.iter_mut().collect::<Vec<_>>(), |h| {
        let mut script = Script::new("deploy.abort");
        if h.prepared && req.action == Action::Deploy {
            script = script.then(release_dir::remove(&h.layout, &req.release));
        }
        if h.locked {
            let line = log::entry(
                &req.release,
                &req.sha,
                &req.who,
                req.now_unix,
                req.action,
                LogResult::Failed,
            );
            script = script
                .then(log::append(&h.layout, &line))
                .then(lock::release(&h.layout));
        }
        let r = h.query(&script);
        h.locked = false;
        r
    });
    for (h, r) in hosts.iter_mut().zip(results) {
        if h.result == "skipped" {
            h.result = "not switched";
        }
        if let Err(e) = r {
            reporter.event(&Event::HostFailed {
                host: h.name(),
                step: "cleanup".to_string(),
                error: e,
            });
        }
    }
    reporter.event(&Event::DeployFailed {
        error: error.to_string(),
        code: Outcome::FailedBeforeSwitch.code(),
        summary: summary(req, hosts),
    });
    Outcome::FailedBeforeSwitch
}

/// The swap of `current` plus, when the units changed, keeping the old ones and installing
/// the staged ones: one round trip.
fn switch_script(req: &Request, h: &Host) -> Script {
    let mut s = switch::swap_current(&h.layout, &req.release);
    if h.units_changed {
        s = s
            .then(supervisor::keep_previous(&h.layout))
            .then(supervisor::install_units(
                req.env.supervisor,
                &req.env.app,
                &h.layout,
            ));
    }
    s
}

/// Prune, log line, unlock: one round trip at the end.
fn finish_script(req: &Request, h: &Host, result: LogResult) -> Script {
    let f = h.facts();
    let mut releases = f.complete_releases();
    if req.action == Action::Deploy && result == LogResult::Done {
        releases.push(req.release.clone());
    }
    let current = if result == LogResult::Done {
        Some(req.release.clone())
    } else {
        f.current.clone()
    };
    let old = prune::to_prune(&releases, current.as_ref(), req.env.keep_releases);
    let line = log::entry(
        &req.release,
        &req.sha,
        &req.who,
        req.now_unix,
        req.action,
        result,
    );
    prune::prune(&h.layout, &old)
        .then(log::append(&h.layout, &line))
        .then(lock::release(&h.layout))
}

/// Unit names of the instances, in restart order.
fn instance_units(req: &Request, formation: &Formation) -> Vec<String> {
    policy::restart_order(formation, &req.env.health.process)
        .iter()
        .map(|s| unit_name(req, &s.instance))
        .collect()
}

fn unit_name(req: &Request, instance: &Instance) -> String {
    render::unit_name(req.env.supervisor, &req.env.app, instance)
}

/// Step 4: switch batch by batch; on failure revert the switched hosts.
fn switch_all(
    req: &Request,
    hosts: &mut [Host],
    reporter: &dyn Reporter,
    started: Instant,
) -> Outcome {
    let mut switched: Vec<usize> = Vec::new();
    let mut failure: Option<String> = None;
    for batch in policy::batches(hosts.len(), req.env.rollout.mode, req.batch) {
        if interrupted() {
            failure = Some("interrupted".to_string());
            break;
        }
        let mut in_batch: Vec<&mut Host> = hosts
            .iter_mut()
            .enumerate()
            .filter(|(i, _)| batch.contains(i))
            .map(|(_, h)| h)
            .collect();
        let results = parallel(&mut in_batch, |h| {
            let r = switch_host(req, h, reporter, false);
            h.finished = Some(Instant::now());
            r
        });
        for (i, r) in batch.iter().zip(results) {
            if hosts[*i].switched {
                switched.push(*i);
            }
            if let Err(e) = r {
                let msg = format!("{}: {e}", hosts[*i].name());
                failure = Some(failure.map_or(msg.clone(), |f| format!("{f}; {msg}")));
            }
        }
        if failure.is_some() {
            break;
        }
    }
    match failure {
        None => {
            let results = parallel(&mut hosts.iter_mut().collect::<Vec<_>>(), |h| {
                let script = finish_script(req, h, LogResult::Done);
                let r = h.query(&script);
                h.locked = false;
                h.result = "deployed";
                (h.name(), r)
            });
            for (host, r) in results {
                if let Err(e) = r {
                    reporter.event(&Event::HostFailed {
                        host,
                        step: "finish".to_string(),
                        error: e,
                    });
                }
            }
            reporter.event(&Event::DeployDone {
                ms: millis(started),
                summary: summary(req, hosts),
            });
            Outcome::Done
        }
        Some(error) => revert(req, hosts, &switched, reporter, &error),
    }
}

/// Swaps `current` on one host (to the new release, or back to its previous one when
/// `back`), installs units, restarts every instance and gates each.
fn switch_host(
    req: &Request,
    h: &mut Host,
    reporter: &dyn Reporter,
    back: bool,
) -> Result<(), String> {
    let host = h.name();
    let script =
        if back {
            let previous = h
                .facts()
                .current
                .clone()
                .ok_or("no previous release to go back to")?;
            let mut s = switch::swap_current(&h.layout, &previous);
            if h.units_changed {
                s = s.then(supervisor::restore_previous(&h.layout)).then(
                    supervisor::install_units(req.env.supervisor, &req.env.app, &h.layout),
                );
            }
            s
        } else {
            switch_script(req, h)
        };
    h.run(&script, reporter, &[])?;
    if !back {
        h.switched = true;
        reporter.event(&Event::HostSwitched { host: host.clone() });
    }
    let new = h.formation.as_ref().expect("decided").instances();
    let old = running_before(req, h);
    // Forward: the new formation; back: the one the host ran before (if it ran one).
    let (run, stop) = if back {
        // Nothing recorded (an older layout): the same instances, under the old release.
        let keep = old.clone().unwrap_or_else(|| new.clone());
        let stop = policy::removed(&new, &keep);
        (keep, stop)
    } else {
        let stop = old.map(|o| policy::removed(&o, &new)).unwrap_or_default();
        (new, stop)
    };
    let steps = policy::order(run, &req.env.health.process);
    match req.env.rollout.mode {
        RolloutMode::Rolling => {
            for step in &steps {
                let unit = unit_name(req, &step.instance);
                h.run(
                    &supervisor::restart(req.env.supervisor, std::slice::from_ref(&unit)),
                    reporter,
                    &[],
                )?;
                reporter.event(&Event::InstanceRestarted {
                    host: host.clone(),
                    unit: unit.clone(),
                });
                gate(req, h, &step.instance, &unit, &step.gate, reporter)?;
            }
        }
        RolloutMode::AllAtOnce => {
            let units: Vec<String> = steps.iter().map(|s| unit_name(req, &s.instance)).collect();
            h.run(
                &supervisor::restart(req.env.supervisor, &units),
                reporter,
                &[],
            )?;
            for (step, unit) in steps.iter().zip(&units) {
                reporter.event(&Event::InstanceRestarted {
                    host: host.clone(),
                    unit: unit.clone(),
                });
                gate(req, h, &step.instance, unit, &step.gate, reporter)?;
            }
        }
    }
    // Instances that left the formation stop once the ones that stay are up.
    if !stop.is_empty() {
        let stop: Vec<String> = stop.iter().map(|i| unit_name(req, i)).collect();
        h.run(
            &supervisor::stop_removed(req.env.supervisor, &stop),
            reporter,
            &[],
        )?;
    }
    Ok(())
}

/// The instances the host ran before this run, from the installed target's `Wants=`
/// (systemd); `None` when nothing was installed or the supervisor has no target (upstart).
fn running_before(req: &Request, h: &Host) -> Option<Vec<Instance>> {
    let wants = &h.facts().wants;
    if wants.is_empty() {
        return None;
    }
    let prefix = format!("{}-", req.env.app);
    let instances = wants
        .iter()
        .filter_map(|unit| {
            let (type_name, port) = unit
                .strip_prefix(&prefix)?
                .strip_suffix(".service")?
                .rsplit_once('@')?;
            let port: u16 = port.parse().ok()?;
            // Instance numbers only name upstart jobs; from the port where the type is known.
            let number = req
                .types
                .iter()
                .find(|t| t.name == type_name)
                .and_then(|t| {
                    let first = u32::from(req.env.port_base) + 100 * u32::try_from(t.index).ok()?;
                    u32::from(port).checked_sub(first).map(|n| n + 1)
                })
                .unwrap_or(1);
            Some(Instance {
                type_name: type_name.to_string(),
                number,
                port,
            })
        })
        .collect();
    Some(instances)
}

/// Waits until the instance passes its gate, or fails after `health.deadline`.
fn gate(
    req: &Request,
    h: &mut Host,
    instance: &Instance,
    unit: &str,
    gate: &Gate,
    reporter: &dyn Reporter,
) -> Result<(), String> {
    let health = &req.env.health;
    let t = Instant::now();
    match gate {
        Gate::Health => loop {
            let answer = h
                .remote
                .http_get(instance.port, &health.path, health.timeout);
            if let Ok(status) = answer {
                if status == health.expect {
                    break;
                }
            }
            if t.elapsed() >= health.deadline {
                let seen = match answer {
                    Ok(status) => format!("last answer {status}"),
                    Err(e) => format!("last attempt: {e}"),
                };
                return Err(format!(
                    "{unit}: GET {} did not answer {} within {} ({seen})",
                    health.path,
                    health.expect,
                    crate::config::duration::format(health.deadline)
                ));
            }
            std::thread::sleep(health.interval);
        },
        Gate::StaysActive => {
            std::thread::sleep(Duration::from_secs(1));
            let out = h.query(&supervisor::is_active(
                req.env.supervisor,
                &[unit.to_string()],
            ))?;
            let states = supervisor::parse_states(&out.stdout)?;
            if !matches!(states.first(), Some((_, UnitState::Active))) {
                return Err(format!(
                    "{unit} did not stay active: {:?}",
                    states.first().map(|(_, s)| s)
                ));
            }
        }
    }
    reporter.event(&Event::InstanceHealthy {
        host: h.name(),
        unit: unit.to_string(),
        ms: millis(t),
    });
    Ok(())
}

/// A rollout failure: switch every switched host back (last switched first), then log and
/// unlock everywhere. Exit 4, or 5 when a host could not be reverted.
fn revert(
    req: &Request,
    hosts: &mut [Host],
    switched: &[usize],
    reporter: &dyn Reporter,
    error: &str,
) -> Outcome {
    let mut all_reverted = true;
    let mut reverted = Vec::new();
    for i in policy::revert_order(switched) {
        let h = &mut hosts[i];
        match switch_host(req, h, reporter, true) {
            Ok(()) => {
                h.result = "reverted";
                reverted.push(h.name());
                reporter.event(&Event::HostReverted { host: h.name() });
            }
            Err(e) => {
                all_reverted = false;
                h.result = "not reverted";
                reporter.event(&Event::HostFailed {
                    host: h.name(),
                    step: "revert".to_string(),
                    error: e,
                });
            }
        }
    }
    let results = parallel(&mut hosts.iter_mut().collect::<Vec<_>>(), |h| {
        let result = match h.result {
            "reverted" => LogResult::Reverted,
            "not reverted" => LogResult::RevertFailed,
            _ => LogResult::Failed,
        };
        if h.result == "skipped" {
            h.result = "not switched";
        }
        let script = finish_script(req, h, result);
        let r = h.query(&script);
        h.locked = false;
        r
    });
    for (h, r) in hosts.iter().zip(results) {
        if let Err(e) = r {
            reporter.event(&Event::HostFailed {
                host: h.name(),
                step: "finish".to_string(),
                error: e,
            });
        }
    }
    reporter.event(&Event::DeployReverted { hosts: reverted });
    let outcome = if all_reverted {
        Outcome::Reverted
    } else {
        Outcome::RevertFailed
    };
    reporter.event(&Event::DeployFailed {
        error: error.to_string(),
        code: outcome.code(),
        summary: summary(req, hosts),
    });
    outcome
}

/// Releases every lock this run took (best effort: a failure is reported).
fn unlock_all(hosts: &mut [Host], reporter: &dyn Reporter) {
    for h in hosts.iter_mut().filter(|h| h.locked) {
        let script = lock::release(&h.layout);
        if let Err(e) = h.query(&script) {
            reporter.event(&Event::HostFailed {
                host: h.name(),
                step: "unlock".to_string(),
                error: e,
            });
        }
        h.locked = false;
    }
}

fn summary(req: &Request, hosts: &[Host]) -> Vec<SummaryRow> {
    hosts
        .iter()
        .map(|h| SummaryRow {
            host: h.name(),
            release: req.release.to_string(),
            ms: h.ms(),
            result: h.result.to_string(),
        })
        .collect()
}

fn millis(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
}
