//! What deliver reports, as values (SPEC §8). `deploy::` emits [`Event`]s to a
//! [`Reporter`]; `ui::json` prints each as one JSON line, `ui::human` as progress or
//! `host | message` lines. The host commands (`status`, `releases`, `trust`, ...) report
//! their per-host results as events too (payloads in `ui::record`), printed through
//! [`Ui::event`](super::Ui::event). No printing here.

use std::path::PathBuf;

use serde::Serialize;

use super::record::{Cores, FormationType, HostReadiness, LockHolder, ProcessStatus, ReleaseEntry};

/// Which stream a line of remote output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamName {
    Stdout,
    Stderr,
}

/// Which list of `[hooks]` a local hook belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HookPhase {
    Before,
    After,
    Failed,
}

impl HookPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            HookPhase::Before => "before",
            HookPhase::After => "after",
            HookPhase::Failed => "failed",
        }
    }
}

/// One thing that happened. The JSON form is `{"ts", "event", "release", ...fields}`, with
/// `event` the dotted name below and `host` on every per-host event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event")]
pub enum Event {
    #[serde(rename = "deploy.start")]
    DeployStart {
        release: String,
        environment: String,
        /// `deploy` or `rollback`.
        action: String,
        sha: String,
        hosts: Vec<String>,
    },
    #[serde(rename = "host.connected")]
    HostConnected { host: String, ms: u64 },
    #[serde(rename = "host.pushed")]
    HostPushed {
        host: String,
        objects: usize,
        bytes: u64,
        ms: u64,
    },
    /// A remote script about to run on `host` (`-v`), or one a run would send
    /// (`--dry-run`). `script` is the text as shown, with every exported value masked
    /// (`Script::render_masked`); `name` is its first line's name (`release.build`). Only
    /// `-v` and `--dry-run` emit it, with or without `--json`.
    #[serde(rename = "host.script")]
    HostScript {
        host: String,
        name: String,
        script: String,
    },
    /// A line of hook (or remote command) output.
    #[serde(rename = "host.output")]
    HostOutput {
        host: String,
        stream: StreamName,
        line: String,
    },
    #[serde(rename = "host.built")]
    HostBuilt { host: String, ms: u64 },
    /// The `[release] command` starts on its host (its output follows as `host.output`; a
    /// failure is `host.failed` at step `release`).
    #[serde(rename = "release.start")]
    ReleaseStart { host: String, command: String },
    /// The `[release] command` succeeded on its host after `ms`.
    #[serde(rename = "release.done")]
    ReleaseDone { host: String, ms: u64 },
    /// The host closed the run's session (a reset, not silence), and a new one was opened
    /// to clean up there.
    #[serde(rename = "host.reconnected")]
    HostReconnected { host: String },
    #[serde(rename = "host.switched")]
    HostSwitched { host: String },
    /// Every instance of the host passed its gate after the switch: its part of the rollout
    /// is done (a later failure elsewhere may still revert it: `host.reverted`).
    #[serde(rename = "host.done")]
    HostDone { host: String, ms: u64 },
    /// A host's instance count of a process type changes in this run: by `deliver scale`
    /// (`source` "scale"), or by deliver.toml (`source` "deliver.toml"; `was_scaled`: over a
    /// count that `deliver scale` had set).
    #[serde(rename = "formation.changed")]
    FormationChanged {
        host: String,
        process: String,
        from: u32,
        to: u32,
        source: String,
        was_scaled: bool,
    },
    #[serde(rename = "instance.restarted")]
    InstanceRestarted { host: String, unit: String },
    /// An instance left the proxy's upstream (`down`) and its in-flight requests finished
    /// (`connections` 0), or `drain_timeout` passed with `connections` still open.
    #[serde(rename = "instance.drained")]
    InstanceDrained {
        host: String,
        unit: String,
        ms: u64,
        connections: u32,
    },
    /// A proxy host took a new upstream file (`nginx -t` passed) and reloaded nginx.
    #[serde(rename = "proxy.reloaded")]
    ProxyReloaded {
        host: String,
        /// Servers listed (including `down` ones), and how many of them are `down`.
        servers: usize,
        down: usize,
        ms: u64,
    },
    #[serde(rename = "instance.healthy")]
    InstanceHealthy { host: String, unit: String, ms: u64 },
    /// A host's step failed; `deploy.failed` follows with the outcome.
    #[serde(rename = "host.failed")]
    HostFailed {
        host: String,
        step: String,
        error: String,
    },
    #[serde(rename = "host.reverted")]
    HostReverted { host: String },
    /// The lock on a host was held by a run whose SSH session there is gone (killed, or
    /// exited without unlocking): this run took it over. `holder` as the lock said; `age`
    /// since it was taken, when known.
    #[serde(rename = "lock.taken_over")]
    LockTakenOver {
        host: String,
        holder: Option<LockHolder>,
        age: Option<String>,
    },
    /// The lock on a host is held by another run and this one waits in line
    /// (`--lock-wait`): reported once per holder. `wait` is what is left of the wait.
    #[serde(rename = "lock.waiting")]
    LockWaiting {
        host: String,
        holder: LockHolder,
        wait: String,
    },
    /// A local hook (`[hooks]`) starts, in the project directory where deliver runs.
    #[serde(rename = "hook.start")]
    HookStart { phase: HookPhase, command: String },
    /// A line of a local hook's output.
    #[serde(rename = "hook.output")]
    HookOutput {
        phase: HookPhase,
        stream: StreamName,
        line: String,
    },
    /// A local hook exited 0.
    #[serde(rename = "hook.done")]
    HookDone {
        phase: HookPhase,
        command: String,
        ms: u64,
    },
    /// A local hook failed (exited non-zero, was killed, or could not start). A `before`
    /// hook's failure ends the run (exit 1); an `after` or `failed` hook's is a warning.
    #[serde(rename = "hook.failed")]
    HookFailed {
        phase: HookPhase,
        command: String,
        error: String,
    },
    /// `--dry-run`: a local hook the run would run (it does not).
    #[serde(rename = "hook.planned")]
    HookPlanned { phase: HookPhase, command: String },
    /// Every host already runs this commit with these units.
    #[serde(rename = "deploy.noop")]
    DeployNoop { reason: String },
    #[serde(rename = "deploy.done")]
    DeployDone { ms: u64, summary: Vec<SummaryRow> },
    #[serde(rename = "deploy.failed")]
    DeployFailed {
        error: String,
        /// The exit code this ends with (SPEC §2).
        code: u8,
        summary: Vec<SummaryRow>,
    },
    #[serde(rename = "deploy.reverted")]
    DeployReverted { hosts: Vec<String> },
    /// `check`: an environment as resolved offline. Not stamped ([`Event::stamped`]).
    #[serde(rename = "check.environment")]
    CheckEnvironment {
        environment: String,
        hosts: Vec<String>,
        supervisor: String,
        deploy_to: String,
        /// The CPU count `"auto"` counts were resolved with, when one is `"auto"`.
        auto_cpus: Option<u32>,
        formation: Vec<FormationType>,
    },
    /// `check` (online): whether a host is ready for deploys.
    #[serde(rename = "host.check")]
    HostCheck(HostReadiness),
    /// `setup`: whether a host is ready for deploys once set up.
    #[serde(rename = "host.setup")]
    HostSetup(HostReadiness),
    #[serde(rename = "host.status")]
    HostStatus {
        host: String,
        current: Option<String>,
        sha: Option<String>,
        cpus: u32,
        /// The deploy lock's holder, when it is taken.
        lock: Option<String>,
        /// The port bank the health process serves on: `base` (PORT) or `surge` (PORT + 50).
        bank: &'static str,
        processes: Vec<ProcessStatus>,
        /// Every deliver app on the host against its cores (SPEC §10).
        cores: Cores,
    },
    #[serde(rename = "host.releases")]
    HostReleases {
        host: String,
        releases: Vec<ReleaseEntry>,
    },
    /// `history`: one deploy or rollback, newest first, as the hosts it reached logged it.
    #[serde(rename = "history.run")]
    HistoryRun(crate::plan::history::Run),
    /// `run`: the command's exit status on a host.
    #[serde(rename = "host.exited")]
    HostExited { host: String, status: i32 },
    /// `unlock`: whether a host was locked, and by whom.
    #[serde(rename = "host.unlock")]
    HostUnlock {
        host: String,
        locked: bool,
        holder: Option<LockHolder>,
    },
    /// `env list`: the keys a host's `shared/.env` defines (never their values).
    #[serde(rename = "env.keys")]
    EnvKeys { host: String, keys: Vec<String> },
    /// `env set`/`unset`: the keys edited on a host, and whether its file changed (with
    /// `--dry-run`: would change).
    #[serde(rename = "env.changed")]
    EnvChanged {
        host: String,
        keys: Vec<String>,
        changed: bool,
        dry_run: bool,
    },
    /// `trust`: the key a host offered; `state` is `known`, `new`, `CHANGED` or `REVOKED`.
    #[serde(rename = "host.key")]
    HostKey {
        host: String,
        key_type: String,
        fingerprint: String,
        state: String,
        known_hosts: PathBuf,
    },
    /// `trust`: the hosts whose keys were appended to `known_hosts`.
    #[serde(rename = "trust.added")]
    TrustAdded {
        known_hosts: PathBuf,
        hosts: Vec<String>,
    },
    /// The error a command ends with, and its causes. Not stamped ([`Event::stamped`]).
    #[serde(rename = "error")]
    Error {
        message: String,
        causes: Vec<String>,
    },
}

impl Event {
    /// The host of a per-host event.
    pub fn host(&self) -> Option<&str> {
        match self {
            Event::HostConnected { host, .. }
            | Event::HostPushed { host, .. }
            | Event::HostScript { host, .. }
            | Event::HostOutput { host, .. }
            | Event::HostBuilt { host, .. }
            | Event::HostSwitched { host }
            | Event::HostReconnected { host }
            | Event::ReleaseStart { host, .. }
            | Event::ReleaseDone { host, .. }
            | Event::HostDone { host, .. }
            | Event::InstanceRestarted { host, .. }
            | Event::FormationChanged { host, .. }
            | Event::InstanceDrained { host, .. }
            | Event::ProxyReloaded { host, .. }
            | Event::InstanceHealthy { host, .. }
            | Event::HostFailed { host, .. }
            | Event::HostReverted { host }
            | Event::HostStatus { host, .. }
            | Event::HostReleases { host, .. }
            | Event::HostExited { host, .. }
            | Event::HostUnlock { host, .. }
            | Event::EnvKeys { host, .. }
            | Event::EnvChanged { host, .. }
            | Event::LockTakenOver { host, .. }
            | Event::LockWaiting { host, .. }
            | Event::HostKey { host, .. } => Some(host),
            Event::HostCheck(r) | Event::HostSetup(r) => Some(&r.host),
            _ => None,
        }
    }

    /// Whether its JSON line carries `ts`: every event but `check.environment` and `error`,
    /// which never did (their lines are a contract too).
    pub fn stamped(&self) -> bool {
        !matches!(self, Event::CheckEnvironment { .. } | Event::Error { .. })
    }
}

/// One line of the summary table printed at the end of a deploy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SummaryRow {
    pub host: String,
    pub release: String,
    pub ms: u64,
    /// `deployed`, `unchanged`, `failed`, `reverted`, `not reverted`, `skipped`.
    pub result: String,
}

/// Receives events from every host's thread (and may be shared with them: `Send`).
pub trait Reporter: Send + Sync {
    fn event(&self, event: &Event);
}
