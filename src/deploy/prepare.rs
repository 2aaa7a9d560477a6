//! Getting the release ready on every host, all in parallel, before anything switches: a
//! deploy pushes the commit and runs the build round trip (changed units staged, release
//! checked out and linked, hooks run); a rollback only stages its changed units. Any failure
//! ends the run through [`abort`]: this run's release dirs removed, log line, unlock, exit 1.

use std::time::Instant;

use super::interrupt::interrupted;
use super::proxy::Proxies;
use super::session;
use super::state::{millis, summary, End, Host, Phase, Session, Step, StepError};
use super::Request;
use crate::outcome::Outcome;
use crate::parallel;
use crate::plan::layout::Layout;
use crate::plan::log::{self, Action, LogResult};
use crate::plan::{lock, release_dir, supervisor, Script};
use crate::ui::event::{Event, Reporter};

/// The deploy's build round trip on `h`: changed units staged, the release checked out and
/// linked, the hooks run. The units first: `build` changes into the release dir, and the
/// staging paths are relative to the home directory.
pub fn build_script(req: &Request, h: &Host) -> Script {
    let env = &req.env;
    let layout = &h.session.layout;
    let mut script = Script::new("release.prepare");
    if h.target.changed {
        script = script.then(supervisor::stage_units(layout, &h.target.units));
    }
    script
        .then(release_dir::files(
            layout,
            &req.release,
            &req.sha,
            &env.linked_dirs,
            &env.linked_files,
        ))
        .then(release_dir::build(
            layout,
            &req.release,
            &env.build.hooks,
            &env.vars,
            env.build.timeout,
        ))
        .then(release_dir::complete(layout, &req.release))
}

/// A rollback's own round trip, when its units differ from the installed ones.
pub fn stage_script(h: &Host) -> Option<Script> {
    h.target
        .changed
        .then(|| supervisor::stage_units(&h.session.layout, &h.target.units))
}

/// A step that failed on one host: reported as `host.failed`, and `host: step: error`.
fn failed(h: &Host, reporter: &dyn Reporter, step: Step, e: &StepError) -> String {
    h.session.failed_at(reporter, step, e)
}

/// Push and build on one host (a deploy).
fn push_and_build(req: &Request, h: &mut Host, reporter: &dyn Reporter) -> Result<(), String> {
    let host = h.session.name();
    let repo = req.repo.as_ref().expect("a deploy has a repository");
    let t = Instant::now();
    let tips = h.facts.tip_shas();
    let pushed = h.session.remote.push(
        repo,
        &req.sha,
        &h.session.layout.repo(),
        &Layout::release_ref(&req.release),
        &tips,
    );
    let stats = pushed.map_err(|e| failed(h, reporter, Step::Push, &e.into()))?;
    reporter.event(&Event::HostPushed {
        host: host.clone(),
        objects: stats.objects,
        bytes: stats.bytes,
        ms: millis(t),
    });
    h.session.phase = Phase::Prepared;
    let t = Instant::now();
    let script = build_script(req, h);
    // A signal drops the build at once (nothing live depends on it): the abort then stops
    // its hook on the host (`release_dir::stop_hook`) and sets the release aside.
    let built = h.session.run_until(&script, reporter, &interrupted);
    built.map_err(|e| failed(h, reporter, Step::Build, &e))?;
    reporter.event(&Event::HostBuilt {
        host,
        ms: millis(t),
    });
    Ok(())
}

/// Stages changed units on one host (a rollback: no push, no build).
fn stage(h: &mut Host, reporter: &dyn Reporter) -> Result<(), String> {
    if let Some(script) = stage_script(h) {
        let staged = h.session.run(&script, reporter);
        staged.map_err(|e| failed(h, reporter, Step::Units, &e))?;
    }
    Ok(())
}

/// Prepares every host in parallel; the error joins every host's failure.
pub fn prepare(req: &Request, hosts: &mut [Host], reporter: &dyn Reporter) -> Result<(), String> {
    let results = parallel::each(hosts.iter_mut(), |h| match req.action {
        Action::Deploy => push_and_build(req, h, reporter),
        Action::Rollback | Action::Restart | Action::Scale => stage(h, reporter),
    });
    super::state::all_ok(results)
}

/// A failure before any host switched: remove this run's release dirs, log, unlock; every
/// host ends `not switched`; exit 1.
pub fn abort(
    req: &Request,
    mut sessions: Vec<&mut Session>,
    proxies: &Proxies,
    reporter: &dyn Reporter,
    error: &str,
) -> Outcome {
    let results = parallel::each(sessions.iter_mut(), |s| {
        let mut script = Script::new("deploy.abort");
        // Set aside (renamed) here, deleted by the sweep once the lock is released.
        let set_aside = s.phase == Phase::Prepared && req.action == Action::Deploy;
        if set_aside {
            script = script
                .then(release_dir::stop_hook(&s.layout, &req.release))
                .then(release_dir::set_aside(&s.layout, &req.release));
        }
        if s.locked() {
            let line = session::log_line(req, LogResult::Failed, s.run_ms());
            script = script
                .then(log::append(&s.layout, &line))
                .then(lock::release(&s.layout));
        }
        let r = s.cleaning(reporter, |s| s.query(&script));
        s.end(End::NotSwitched);
        if set_aside && r.is_ok() {
            session::sweep(s, reporter);
        }
        r
    });
    for (s, r) in sessions.iter().zip(results) {
        if let Err(e) = r {
            s.report_failure(reporter, Step::Cleanup, &e);
        }
    }
    proxies.release(reporter);
    reporter.event(&Event::DeployFailed {
        error: error.to_string(),
        code: Outcome::FailedBeforeSwitch.code(),
        summary: summary(req, sessions.iter().map(|s| &**s)),
    });
    Outcome::FailedBeforeSwitch
}
