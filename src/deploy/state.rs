//! One host's state through a run: its session ([`Session`]: the remote, where the app lives
//! on it, and how far the run got there as a typed [`Phase`]), its facts and what it should
//! run ([`Host`]). Cleanup reads the phase (a held lock, a release dir that may exist, a
//! swapped `current`), the summary reads how each host ended, and every failure is a typed
//! [`StepError`] naming the [`Step`]. No remote effect is decided here.

use std::time::Instant;

use super::health::GateError;
use super::target::HostTarget;
use super::Request;
use crate::plan::facts::Facts;
use crate::plan::layout::Layout;
use crate::plan::Script;
use crate::remote::{Output, Remote, RemoteError, Stream};
use crate::ui::event::{Event, Reporter, StreamName, SummaryRow};

/// The step of a run, as `host.failed` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Lock,
    Push,
    Build,
    Units,
    Release,
    Switch,
    Revert,
    Cleanup,
    Finish,
    Unlock,
    /// A new session to clean up a host whose session was closed.
    Reconnect,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Lock => "lock",
            Step::Push => "push",
            Step::Build => "build",
            Step::Units => "units",
            Step::Release => "release",
            Step::Switch => "switch",
            Step::Revert => "revert",
            Step::Cleanup => "cleanup",
            Step::Finish => "finish",
            Step::Unlock => "unlock",
            Step::Reconnect => "reconnect",
        }
    }
}

/// How far the run got on a host. From `Locked` until it has `Ended` the run holds the
/// host's lock; an [`End`] means the run is over there (and released its lock, if it ever
/// took it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Reached; nothing taken yet.
    Connected,
    /// The lock is ours and the facts are read.
    Locked,
    /// The push began: a release dir of this run may exist.
    Prepared,
    /// The switch's round trip is under way (or failed): the units may be replaced and
    /// `current` may point at the run's release; nothing restarted yet. A revert puts back
    /// what that round trip changed and restarts nothing.
    Swapping,
    /// `current` points at the run's release (instances may be restarting).
    Switched,
    /// Switched, then back on the release it served before (the lock is still ours).
    Reverted,
    /// Switched, and the revert failed too (the lock is still ours).
    RevertFailed {
        reason: String,
    },
    Ended(End),
}

/// How a host ended, as the summary says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The run stopped before reaching this host's turn (nothing changed there).
    Skipped,
    /// Nothing to do: it already runs this commit with these units.
    Unchanged,
    DryRun,
    Deployed,
    /// The run failed before this host switched; its release dir was removed.
    NotSwitched,
    /// Another run holds its lock.
    LockHeld {
        holder: String,
    },
    /// Its first step (lock and facts) failed.
    Failed {
        step: Step,
        reason: String,
    },
    /// Switched, then back on the release it served before.
    Reverted,
    /// Switched, and the revert failed too: needs a human.
    NotReverted {
        reason: String,
    },
}

impl End {
    /// The summary's `result`.
    pub fn result(&self) -> &'static str {
        match self {
            End::Skipped => "skipped",
            End::Unchanged => "unchanged",
            End::DryRun => "dry run",
            End::Deployed => "deployed",
            End::NotSwitched => "not switched",
            End::LockHeld { .. } | End::Failed { .. } => "failed",
            End::Reverted => "reverted",
            End::NotReverted { .. } => "not reverted",
        }
    }
}

/// Why a step failed on a host. Callers branch on the variant, never on the text.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The session failed (connection lost, timeout, ...). The text leaves the host out:
    /// whoever reports a step error names the host once.
    #[error("{}", .0.detail())]
    Remote(#[from] RemoteError),
    /// A script exited non-zero: its name, status and last stderr line.
    #[error("{script} exited {status}{}", if last_line.is_empty() { String::new() } else { format!(": {last_line}") })]
    Exit {
        script: String,
        status: i32,
        last_line: String,
    },
    /// The first round trip answered with a status other than success or `lock::HELD`.
    #[error("lock and facts: exited {status}: {stderr}")]
    Gather { status: i32, stderr: String },
    /// The facts could not be read.
    #[error("facts: {0}")]
    Facts(String),
    /// The formation or the units could not be made from the host's facts.
    #[error("{0}")]
    Target(String),
    /// An instance did not pass its gate.
    #[error(transparent)]
    Gate(Box<GateError>),
    /// A proxy host refused the new upstream (`nginx -t`, the reload, the write): by host.
    #[error("proxy: {0}")]
    Proxy(String),
    /// A revert found no release to go back to.
    #[error("no previous release to go back to")]
    NoPrevious,
}

impl From<GateError> for StepError {
    fn from(e: GateError) -> StepError {
        StepError::Gate(Box::new(e))
    }
}

/// A host's session and the run's progress there.
pub struct Session {
    pub remote: Box<dyn Remote>,
    pub layout: Layout,
    pub phase: Phase,
    started: Instant,
    /// When this host finished its part (switched and gated, or failed).
    finished: Option<Instant>,
}

impl Session {
    /// How long the run has taken so far (the deploy log's `ms`).
    pub fn run_ms(&self) -> u64 {
        millis(self.started)
    }

    pub fn new(remote: Box<dyn Remote>, layout: Layout, started: Instant) -> Session {
        Session {
            remote,
            layout,
            phase: Phase::Connected,
            started,
            finished: None,
        }
    }

    pub fn name(&self) -> String {
        self.remote.host().to_string()
    }

    /// The run holds this host's lock.
    pub fn locked(&self) -> bool {
        !matches!(self.phase, Phase::Connected | Phase::Ended(_))
    }

    /// Ends the run on this host (the caller released its lock, or never had it).
    pub fn end(&mut self, end: End) {
        self.phase = Phase::Ended(end);
    }

    pub fn mark_finished(&mut self) {
        self.finished = Some(Instant::now());
    }

    /// Runs `script`, streaming its lines as `host.output` events; a non-zero exit is
    /// [`StepError::Exit`].
    pub fn run(&mut self, script: &Script, reporter: &dyn Reporter) -> Result<Output, StepError> {
        self.run_until(script, reporter, &|| false)
    }

    /// As [`run`](Self::run), given up at once (`RemoteError::Interrupted`) when `stop`
    /// returns true: for steps whose work may be dropped, as the build before the switch.
    pub fn run_until(
        &mut self,
        script: &Script,
        reporter: &dyn Reporter,
        stop: &dyn Fn() -> bool,
    ) -> Result<Output, StepError> {
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
        let out = self.remote.run_until(script, &mut sink, stop)?;
        if out.status == 0 {
            Ok(out)
        } else {
            Err(StepError::Exit {
                script: script.name.clone(),
                status: out.status,
                last_line: out.stderr.lines().last().unwrap_or("").trim().to_string(),
            })
        }
    }

    /// Runs `script` without streaming and whatever its status (status queries, cleanup).
    pub fn query(&mut self, script: &Script) -> Result<Output, StepError> {
        Ok(self.remote.run(script, &mut |_, _| {})?)
    }

    /// Runs `f` (a step of the run's cleanup: unlock, remove a half release, revert); when the
    /// session turns out lost while the host was answering (closed or reset by it), connects
    /// again once (`host.reconnected`) and runs `f` again: every host the run can still reach
    /// is cleaned (issue 12). A silent host is not tried again.
    pub fn cleaning<T>(
        &mut self,
        reporter: &dyn Reporter,
        mut f: impl FnMut(&mut Session) -> Result<T, StepError>,
    ) -> Result<T, StepError> {
        match f(self) {
            Err(StepError::Remote(RemoteError::Disconnected { .. })) if self.revive(reporter) => {
                f(self)
            }
            other => other,
        }
    }

    /// A new session in place of one the host closed; whether there is one now. A failed
    /// connect is reported (`host.failed` at `reconnect`).
    pub(super) fn revive(&mut self, reporter: &dyn Reporter) -> bool {
        match self.remote.reconnect() {
            Ok(true) => {
                reporter.event(&Event::HostReconnected { host: self.name() });
                true
            }
            Ok(false) => false,
            Err(e) => {
                self.report_failure(reporter, Step::Reconnect, &StepError::Remote(e));
                false
            }
        }
    }

    /// From the start of the run until this host finished (or until now).
    pub fn ms(&self) -> u64 {
        let end = self.finished.unwrap_or_else(Instant::now);
        u64::try_from(end.duration_since(self.started).as_millis()).unwrap_or(u64::MAX)
    }

    fn result(&self) -> &'static str {
        match &self.phase {
            Phase::Ended(end) => end.result(),
            // Not ended: the run stopped before it got anywhere here.
            _ => "skipped",
        }
    }

    /// Reports a failed step of this host as `host.failed`, and returns the error as the
    /// run's failure names it: `host: step: error`.
    pub fn failed_at(
        &self,
        reporter: &dyn Reporter,
        step: Step,
        error: &dyn std::fmt::Display,
    ) -> String {
        self.report_failure(reporter, step, error);
        format!("{}: {}: {error}", self.name(), step.as_str())
    }

    /// Reports a failed step of this host as `host.failed`.
    pub fn report_failure(
        &self,
        reporter: &dyn Reporter,
        step: Step,
        error: &dyn std::fmt::Display,
    ) {
        reporter.event(&Event::HostFailed {
            host: self.name(),
            step: step.as_str().to_string(),
            error: error.to_string(),
        });
    }
}

/// A locked host with its facts and what the run makes it run.
pub struct Host {
    pub session: Session,
    pub facts: Facts,
    pub target: HostTarget,
}

/// The summary rows, in host order.
pub fn summary<'a>(
    req: &Request,
    sessions: impl IntoIterator<Item = &'a Session>,
) -> Vec<SummaryRow> {
    sessions
        .into_iter()
        .map(|s| SummaryRow {
            host: s.name(),
            release: req.release.to_string(),
            ms: s.ms(),
            result: s.result().to_string(),
        })
        .collect()
}

/// Ok when no host failed, else every host's error (`host: ...`) joined.
pub fn all_ok(results: impl IntoIterator<Item = Result<(), String>>) -> Result<(), String> {
    let errors: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// Milliseconds since `t`.
pub fn millis(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
}
