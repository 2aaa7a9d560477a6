//! What deploys and rollbacks report, as values (SPEC §8). `deploy::` emits [`Event`]s to a
//! [`Reporter`]; `ui::json` prints each as one JSON line, `ui::human` as progress or
//! `host | message` lines. No printing here.

use serde::Serialize;

/// Which stream a line of remote output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamName {
    Stdout,
    Stderr,
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
    #[serde(rename = "host.switched")]
    HostSwitched { host: String },
    #[serde(rename = "instance.restarted")]
    InstanceRestarted { host: String, unit: String },
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
            | Event::InstanceRestarted { host, .. }
            | Event::InstanceHealthy { host, .. }
            | Event::HostFailed { host, .. }
            | Event::HostReverted { host } => Some(host),
            _ => None,
        }
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
