//! Whether an instance is up: one probe of the health process's `GET` ([`probe`], which
//! `deliver status` shows too) and the gate a rollout waits on after each start ([`gate`]:
//! the probe until it answers `expect` or `health.deadline` passes; other process types stay
//! `active` for a second).

use std::time::{Duration, Instant};

use super::policy::Gate;
use super::state::{millis, Session, StepError};
use crate::config::{duration, Health, Supervisor};
use crate::plan::supervisor::{self, UnitState};
use crate::release::Instance;
use crate::remote::{Remote, RemoteError};
use crate::ui::event::{Event, Reporter};

/// How soon a probe that found nothing listening tries again.
const REFUSED_RETRY: Duration = Duration::from_millis(20);

/// The shortest time a gate's last probe gets, however little of the deadline is left.
const LAST_PROBE: Duration = Duration::from_millis(100);

/// What one health probe saw.
#[derive(Debug)]
pub enum Probe {
    /// The expected status.
    Healthy,
    /// Another status.
    Answered(u16),
    /// No HTTP answer (refused, timed out, ...).
    Unreachable(RemoteError),
}

/// One `GET http://127.0.0.1:<port><health.path>` on the host, bounded by `health.timeout`.
pub fn probe(remote: &mut dyn Remote, port: u16, health: &Health) -> Probe {
    probe_within(remote, port, health, health.timeout)
}

/// As [`probe`], bounded by `timeout`.
fn probe_within(remote: &mut dyn Remote, port: u16, health: &Health, timeout: Duration) -> Probe {
    match remote.http_get(port, &health.path, timeout) {
        Ok(status) if status == health.expect => Probe::Healthy,
        Ok(status) => Probe::Answered(status),
        Err(e) => Probe::Unreachable(e),
    }
}

/// An instance that did not pass its gate.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("{unit}: GET {path} did not answer {expect} within {} ({})", duration::format(*deadline), seen(last))]
    NotHealthy {
        unit: String,
        path: String,
        expect: u16,
        deadline: Duration,
        last: Probe,
    },
    #[error("{unit} did not stay active: {state:?}")]
    NotActive {
        unit: String,
        state: Option<UnitState>,
    },
    #[error("{0}")]
    Unreadable(String),
}

fn seen(last: &Probe) -> String {
    match last {
        Probe::Healthy => "healthy".to_string(),
        Probe::Answered(status) => format!("last answer {status}"),
        Probe::Unreachable(e) => format!("last attempt: {e}"),
    }
}

/// How long a unit that is not health-checked must stay `active` to pass its gate.
pub const STAYS_ACTIVE: Duration = Duration::from_secs(1);

/// The gate of units that are not health-checked, several at once: waits until
/// [`STAYS_ACTIVE`] has passed since `since` (their start), then asks their states in one
/// round trip; reports each healthy, or fails naming the first that is not `active`.
pub fn stays_active(
    session: &mut Session,
    supervisor_kind: Supervisor,
    units: &[String],
    since: Instant,
    reporter: &dyn Reporter,
) -> Result<(), StepError> {
    if units.is_empty() {
        return Ok(());
    }
    if let Some(left) = STAYS_ACTIVE.checked_sub(since.elapsed()) {
        std::thread::sleep(left);
    }
    let out = session.query(&supervisor::is_active(supervisor_kind, units))?;
    let states = supervisor::parse_states(&out.stdout).map_err(GateError::Unreadable)?;
    for unit in units {
        match states.iter().find(|(u, _)| u == unit) {
            Some((_, UnitState::Active)) => reporter.event(&Event::InstanceHealthy {
                host: session.name(),
                unit: unit.clone(),
                ms: millis(since),
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
    Ok(())
}

/// Waits until `instance` (started as `unit`) passes `gate`, then reports it healthy.
pub fn gate(
    session: &mut Session,
    supervisor_kind: Supervisor,
    health: &Health,
    instance: &Instance,
    unit: &str,
    gate: &Gate,
    reporter: &dyn Reporter,
) -> Result<(), StepError> {
    let t = Instant::now();
    match gate {
        Gate::Health => loop {
            // A probe that hangs (the app accepts but never answers) ends with the deadline,
            // not up to a whole `timeout` after it.
            let left = health.deadline.saturating_sub(t.elapsed());
            let timeout = health.timeout.min(left).max(LAST_PROBE);
            let last = probe_within(session.remote.as_mut(), instance.port, health, timeout);
            match last {
                Probe::Healthy => break,
                // The session is gone (or given up after a signal): no later probe can pass,
                // and the step fails now, not at the deadline.
                Probe::Unreachable(
                    e @ (RemoteError::Disconnected { .. } | RemoteError::Interrupted { .. }),
                ) => return Err(e.into()),
                _ => {}
            }
            if t.elapsed() >= health.deadline {
                return Err(GateError::NotHealthy {
                    unit: unit.to_string(),
                    path: health.path.to_string(),
                    expect: health.expect,
                    deadline: health.deadline,
                    last,
                }
                .into());
            }
            // A refused connection (not listening yet) is retried soon, so the first good
            // answer is seen within ~20 ms of the app's; an answer that is not `expect` waits
            // `interval` (SPEC §7).
            std::thread::sleep(match last {
                Probe::Unreachable(_) => REFUSED_RETRY.min(health.interval),
                _ => health.interval,
            });
        },
        Gate::StaysActive => {
            return stays_active(session, supervisor_kind, &[unit.to_string()], t, reporter);
        }
    }
    reporter.event(&Event::InstanceHealthy {
        host: session.name(),
        unit: unit.to_string(),
        ms: millis(t),
    });
    Ok(())
}
