//! After a rollout failure: every switched host goes back to the release and formation it
//! ran before (last switched first, through the same rollout core), then every host logs
//! and unlocks. Exit 4, or 5 when a host could not be reverted.

use super::policy;
use super::proxy::ProxyHooks;
use super::session;
use super::state::{summary, End, Host, Phase, Session, Step, StepError};
use super::switch::{self, Direction};
use super::Request;
use crate::outcome::Outcome;
use crate::plan::log::LogResult;
use crate::remote::RemoteError;
use crate::ui::event::{Event, Reporter};

/// A host's way back: `reverted` (`host.reverted`), or `not reverted` (`host.failed` at
/// `revert`); its lock is still held either way.
pub fn record(session: &mut Session, back: Result<(), StepError>, reporter: &dyn Reporter) {
    match back {
        Ok(()) => {
            session.phase = Phase::Reverted;
            reporter.event(&Event::HostReverted {
                host: session.name(),
            });
        }
        Err(e) => {
            session.report_failure(reporter, Step::Revert, &e);
            session.phase = Phase::RevertFailed {
                reason: e.to_string(),
            };
        }
    }
}

pub fn revert(
    req: &Request,
    hosts: &mut [Host],
    hooks: &ProxyHooks<'_>,
    reporter: &dyn Reporter,
    error: &str,
) -> Outcome {
    // And those whose switch's round trip failed, which may have changed something; not
    // where nothing was deployed before (there is nothing to go back to, and nothing ran).
    let switched: Vec<usize> = (0..hosts.len())
        .filter(|&i| match hosts[i].session.phase {
            Phase::Switched => true,
            Phase::Swapping => hosts[i].facts.current.is_some(),
            _ => false,
        })
        .collect();
    for i in policy::revert_order(&switched) {
        let h = &mut hosts[i];
        let mut back =
            switch::host(req, h, Direction::Back { why: error }, hooks, reporter).map(drop);
        // A host that closed the run's session (not one gone silent) is reached again.
        if matches!(
            back,
            Err(StepError::Remote(RemoteError::Disconnected { .. }))
        ) && h.session.revive(reporter)
        {
            back = switch::host(req, h, Direction::Back { why: error }, hooks, reporter).map(drop);
        }
        record(&mut h.session, back, reporter);
    }
    // Those back now: here, or (`surge`) before their batch's flip.
    let reverted: Vec<String> = hosts
        .iter()
        .filter(|h| h.session.phase == Phase::Reverted)
        .map(|h| h.session.name())
        .collect();
    session::finish(req, hosts, reporter, |phase| match phase {
        Phase::Reverted => (LogResult::Reverted, End::Reverted),
        Phase::RevertFailed { reason } => (
            LogResult::RevertFailed,
            End::NotReverted {
                reason: reason.clone(),
            },
        ),
        _ => (LogResult::Failed, End::NotSwitched),
    });
    hooks.proxies.release(reporter);
    reporter.event(&Event::DeployReverted { hosts: reverted });
    let outcome = if hosts
        .iter()
        .any(|h| matches!(h.session.phase, Phase::Ended(End::NotReverted { .. })))
    {
        Outcome::RevertFailed
    } else {
        Outcome::Reverted
    };
    reporter.event(&Event::DeployFailed {
        error: error.to_string(),
        code: outcome.code(),
        summary: summary(req, hosts.iter().map(|h| &h.session)),
    });
    outcome
}
