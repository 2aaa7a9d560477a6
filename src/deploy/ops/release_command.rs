//! The `[release] command` of a deploy (SPEC §9; migrations): once, on its one host, in the
//! new release, after every host built and before anything switches. A failure fails the
//! run before any switch (`prepare::abort`: release dirs removed, exit 1). A rollback never
//! runs it; `--skip-release-command` drops it from the request.

use std::time::Instant;

use super::super::state::{millis, Host, Step};
use super::super::Request;
use crate::config::Release;
use crate::plan::log::Action;
use crate::plan::{release_command, Script};
use crate::ui::event::{Event, Reporter};

/// The release command of this run, if it runs one.
fn of(req: &Request) -> Option<&Release> {
    req.env
        .release
        .as_ref()
        .filter(|_| req.action == Action::Deploy)
}

/// The script `h` runs for the release command: `None` unless `h` is its host.
pub(super) fn script(req: &Request, h: &Host) -> Option<Script> {
    let release = of(req).filter(|r| r.host.to_string() == h.session.name())?;
    Some(release_command::script(
        &h.session.layout,
        &req.release,
        &req.env.vars,
        &release.command,
        req.env.build.timeout,
    ))
}

/// Runs the release command on its host, its output streamed; the error names the host,
/// the step (`release`) and the command's status.
pub(super) fn run(
    req: &Request,
    hosts: &mut [Host],
    reporter: &dyn Reporter,
) -> Result<(), String> {
    let Some(release) = of(req) else {
        return Ok(());
    };
    let Some(h) = hosts.iter_mut().find(|h| script(req, h).is_some()) else {
        return Err(format!(
            "the release command runs on {}, which this run does not deploy to",
            release.host
        ));
    };
    let script = script(req, h).expect("the release command's host");
    reporter.event(&Event::ReleaseStart {
        host: h.session.name(),
        command: release.command.clone(),
    });
    let started = Instant::now();
    match h.session.run(&script, reporter) {
        Ok(_) => {
            reporter.event(&Event::ReleaseDone {
                host: h.session.name(),
                ms: millis(started),
            });
            Ok(())
        }
        Err(e) => Err(h.session.failed_at(reporter, Step::Release, &e)),
    }
}
