//! The run's hold on each host: the first round trip (take the lock, create the layout,
//! gather facts; facts only with `--dry-run`), and the last (prune, log line, unlock). Every
//! path out of a run passes through here, so no run leaves a lock it took on a host it can
//! still reach, and never releases one it did not take.

use std::time::Instant;

use super::interrupt::interrupted;
use super::lock_wait::wait_in_line;
use super::state::{summary, End, Host, Phase, Session, Step, StepError};
use super::Request;
use crate::outcome::Outcome;
use crate::parallel;
use crate::plan::facts::{self, Facts};
use crate::plan::log::{self, Action, LogResult};
use crate::plan::{lock, prune, release_dir, scale, setup, Script};
use crate::release_id::ReleaseId;
use crate::remote::RemoteError;
use crate::ui::event::{Event, Reporter};
use crate::ui::record::LockHolder;

/// Why a host's first round trip failed.
enum Refused {
    /// Another run holds this host's lock: its holder as shown, and its `holder.json`.
    Held(String, String),
    Failed(StepError),
}

/// Reports a lock that `acquire` took over from a run whose session on the host is gone.
pub(super) fn report_takeover(req: &Request, s: &Session, stderr: &str, reporter: &dyn Reporter) {
    if let Some(old) = lock::taken_over(stderr) {
        let holder = (!old.is_empty()).then(|| LockHolder::read(&old));
        let age = lock::Holder::parse(&old).and_then(|h| h.age(req.now_unix));
        reporter.event(&Event::LockTakenOver {
            host: s.name(),
            holder,
            age,
        });
    }
}

/// Lock + layout + facts in one round trip (facts only with `--dry-run`).
fn open_one(req: &Request, s: &mut Session, reporter: &dyn Reporter) -> Result<Facts, Refused> {
    let env = &req.env;
    let gather = facts::gather(&s.layout, &env.app, env.supervisor, facts::Depth::Layout);
    let script = if req.dry_run {
        gather
    } else {
        lock::acquire(&s.layout, &req.holder_json)
            .then(setup::setup(&s.layout, &env.linked_dirs, &env.linked_files))
            .then(gather)
    };
    let out = s.query(&script).map_err(Refused::Failed)?;
    report_takeover(req, s, &out.stderr, reporter);
    if out.status == lock::HELD {
        let holder = lock::Holder::parse(out.stdout.trim()).map_or_else(
            || out.stdout.trim().to_string(),
            |hd| match hd.age(req.now_unix) {
                Some(age) => format!("{hd}, taken {age} ago"),
                None => hd.to_string(),
            },
        );
        return Err(Refused::Held(holder, out.stdout.trim().to_owned()));
    }
    if !req.dry_run {
        s.phase = Phase::Locked;
    }
    if out.status != 0 {
        return Err(Refused::Failed(StepError::Gather {
            status: out.status,
            stderr: out.stderr.trim().to_string(),
        }));
    }
    facts::parse(&out.stdout).map_err(|e| Refused::Failed(StepError::Facts(e.clone())))
}

/// [`open_one`], waiting in line while another run holds the lock and `--lock-wait` leaves
/// time (`until`, [`wait_in_line`]). A lock whose holder is gone is taken over by the next
/// try ([`lock::acquire`]). SIGINT/SIGTERM ends the wait (exit 1, see [`open`]).
fn open_waiting(
    req: &Request,
    s: &mut Session,
    reporter: &dyn Reporter,
    until: Option<Instant>,
) -> Result<Facts, Refused> {
    let host = s.name();
    wait_in_line(
        until,
        || open_one(req, s, reporter),
        |result| match result {
            Err(Refused::Held(_, json)) => Some(json.clone()),
            _ => None,
        },
        |json, wait| {
            reporter.event(&Event::LockWaiting {
                host: host.clone(),
                holder: LockHolder::read(json),
                wait,
            });
        },
    )
}

/// The first host alone, then the others in parallel. Two runs that start at once meet at the
/// first host's lock: one wins, and the other touches no other host (lock ordering; in
/// parallel, each could win some hosts and both would fail). On any failure every lock taken
/// is released, `deploy.failed` reported, and the outcome returned: exit 3 when a lock is
/// held by another run, else 1.
pub fn open(
    req: &Request,
    sessions: &mut [Session],
    reporter: &dyn Reporter,
) -> Result<Vec<Facts>, Outcome> {
    let Some((first, rest)) = sessions.split_first_mut() else {
        return Ok(Vec::new());
    };
    let until = req.lock_wait.map(|wait| Instant::now() + wait);
    let mut results = vec![open_waiting(req, first, reporter, until)];
    if results[0].is_ok() {
        results.extend(parallel::each(rest.iter_mut(), |s| {
            open_waiting(req, s, reporter, until)
        }));
    }
    if results.iter().all(Result::is_ok) {
        return Ok(results
            .into_iter()
            .map(|r| r.ok().expect("all ok"))
            .collect());
    }
    let mut failed = Vec::new();
    let mut ends = Vec::new();
    for (s, r) in sessions.iter().zip(results) {
        let end = match r {
            Ok(_) => End::Skipped,
            // A signal ended the wait in line: the run stops as any interrupted run that
            // switched nothing does (SPEC §7: exit 1), not as one refused by a lock (3).
            Err(Refused::Held(holder, _)) if req.lock_wait.is_some() && interrupted() => {
                End::Failed {
                    step: Step::Lock,
                    reason: format!("interrupted while waiting in line: locked by {holder}"),
                }
            }
            Err(Refused::Held(holder, _)) => End::LockHeld { holder },
            Err(Refused::Failed(e)) => End::Failed {
                step: Step::Lock,
                reason: e.to_string(),
            },
        };
        let error = match &end {
            End::LockHeld { holder } => format!("locked by another deploy: {holder}"),
            End::Failed { reason, .. } => reason.clone(),
            _ => {
                ends.push(end);
                continue;
            }
        };
        s.report_failure(reporter, Step::Lock, &error);
        failed.push(format!("{}: {error}", s.name()));
        ends.push(end);
    }
    release_locks(sessions.iter_mut(), reporter);
    for (s, end) in sessions.iter_mut().zip(ends) {
        s.end(end);
    }
    let outcome = if sessions
        .iter()
        .any(|s| matches!(s.phase, Phase::Ended(End::LockHeld { .. })))
    {
        Outcome::Locked
    } else {
        Outcome::FailedBeforeSwitch
    };
    reporter.event(&Event::DeployFailed {
        error: failed.join("; "),
        code: outcome.code(),
        summary: summary(req, sessions.iter()),
    });
    Err(outcome)
}

/// Releases every lock this run holds, one host after another (best effort: a failure is
/// reported). Each released host ends as `skipped` unless the caller says otherwise.
pub fn release_locks<'a>(sessions: impl Iterator<Item = &'a mut Session>, reporter: &dyn Reporter) {
    for s in sessions.filter(|s| s.locked()) {
        let release = lock::release(&s.layout);
        if let Err(e) = s.cleaning(reporter, |s| s.query(&release)) {
            s.report_failure(reporter, Step::Unlock, &e);
        }
        s.end(End::Skipped);
    }
}

/// The log line of this run on a host, where it has run for `ms`.
pub fn log_line(req: &Request, result: LogResult, ms: u64) -> String {
    log::entry(
        &req.release,
        &req.sha,
        &req.who,
        req.now_unix,
        (req.action, result),
        ms,
    )
}

/// The releases the last round trip takes out on `h`, oldest first: old ones beyond
/// `keep_releases` (those marked failed first), and incomplete ones left by other runs.
fn to_prune(req: &Request, h: &Host, result: LogResult) -> Vec<ReleaseId> {
    let mut releases = h.facts.complete_releases();
    if req.action == Action::Deploy && result == LogResult::Done {
        releases.push(req.release.clone());
    }
    let current = if result == LogResult::Done {
        Some(req.release.clone())
    } else {
        h.facts.current.clone()
    };
    // Releases marked failed go first and are never kept as the one to roll back to.
    let mut old = prune::to_prune_marked(
        &releases,
        current.as_ref(),
        req.env.keep_releases,
        &h.facts.failed_releases(),
    );
    // Incomplete releases (no REVISION) that are not this run's: left by a run that was
    // killed or lost its host mid-build. This run holds the lock: nothing else builds them.
    old.extend(
        h.facts
            .releases
            .iter()
            .filter(|r| r.revision.is_none() && r.id != req.release)
            .map(|r| r.id.clone()),
    );
    old
}

/// Prune, log line, unlock: one round trip at the end of a run that got past preparing. The
/// pruned releases are only set aside there (renamed: instant); [`sweep`] deletes them
/// after the lock is released.
pub fn finish_script(req: &Request, h: &Host, result: LogResult) -> Script {
    let old = to_prune(req, h, result);
    let layout = &h.session.layout;
    // The counts of `deliver scale` live as long as what they scaled: a scale records them,
    // a deploy or rollback (deliver.toml again) forgets them, a restart keeps them.
    let record = match (req.action, result) {
        (Action::Scale, LogResult::Done) => {
            Some(scale::record(layout, &super::target::scaled(req, &h.facts)))
        }
        (Action::Deploy | Action::Rollback, LogResult::Done) if !h.facts.scale.is_empty() => {
            Some(scale::forget(layout))
        }
        _ => None,
    };
    let pruned = prune::prune(layout, &old);
    match record {
        Some(record) => pruned.then(record),
        None => pruned,
    }
    .then(log::append(
        layout,
        &log_line(req, result, h.session.run_ms()),
    ))
    .then(lock::release(layout))
}

/// Deletes the release dirs this run set aside on the host, once its lock is released: a
/// round trip of its own, so that deleting a big release holds neither the lock nor the run.
/// Skipped once SIGINT/SIGTERM came, and given up at once when one comes meanwhile: the
/// run's result does not depend on it, and the next sweep deletes what is left. Any other
/// failure is reported at `finish`.
pub fn sweep(s: &mut Session, reporter: &dyn Reporter) {
    if interrupted() {
        return;
    }
    let script = release_dir::sweep(&s.layout);
    match s.remote.run_until(&script, &mut |_, _| {}, &interrupted) {
        Ok(_) | Err(RemoteError::Interrupted { .. }) => {}
        Err(e) => s.report_failure(reporter, Step::Finish, &StepError::from(e)),
    }
}

/// Runs [`finish_script`] on every host in parallel, with the log result and end that each
/// host's phase gives; a failure is reported as `host.failed` at `finish`.
pub fn finish(
    req: &Request,
    hosts: &mut [Host],
    reporter: &dyn Reporter,
    outcome_of: impl Fn(&Phase) -> (LogResult, End) + Sync,
) {
    let results = parallel::each(hosts.iter_mut(), |h| {
        let (result, end) = outcome_of(&h.session.phase);
        let script = finish_script(req, h, result);
        let r = h.session.cleaning(reporter, |s| s.query(&script));
        h.session.end(end);
        if r.is_ok() && (h.facts.set_aside || !to_prune(req, h, result).is_empty()) {
            sweep(&mut h.session, reporter);
        }
        r
    });
    for (h, r) in hosts.iter().zip(results) {
        if let Err(e) = r {
            h.session.report_failure(reporter, Step::Finish, &e);
        }
    }
}
