//! The values the host commands (`check`, `setup`, `status`, `releases`, `unlock`, `trust`)
//! report about each host: the payloads of their [`Event`](super::event::Event) variants,
//! serialized as their `--json` records (SPEC §8). The field order here is the order in
//! the JSON lines: a contract. No printing and no I/O here.

use serde::Serialize;

use crate::plan::lock::Holder;

/// One finding about a host (`deliver check`, `deliver setup`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked (`git`, `linger`, ...).
    pub name: String,
    pub state: CheckState,
    /// What the host answered, or what is wrong.
    pub detail: String,
    /// The commands an admin runs on the host to fix it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckState {
    Ok,
    /// Worth knowing, not a problem (not set up yet, a lock is held).
    Note,
    /// Deploys cannot work until it is fixed.
    Missing,
}

impl Check {
    pub fn ok(name: &str, detail: impl Into<String>) -> Check {
        Check {
            name: name.to_owned(),
            state: CheckState::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    pub fn note(name: &str, detail: impl Into<String>) -> Check {
        Check {
            state: CheckState::Note,
            ..Check::ok(name, detail)
        }
    }

    pub fn missing(name: &str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            state: CheckState::Missing,
            fix: Some(fix.into()),
            ..Check::ok(name, detail)
        }
    }
}

/// A host's checks: `host.check` and `host.setup`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostReadiness {
    pub host: String,
    /// True when no check is missing.
    pub ready: bool,
    pub checks: Vec<Check>,
}

/// One process type of an environment's formation as `check` resolved it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FormationType {
    #[serde(rename = "type")]
    pub name: String,
    pub instances: u32,
    /// Its count is `"auto"` (resolved from a CPU count).
    pub auto: bool,
    pub ports: Vec<u16>,
}

/// One release directory on a host (`deliver releases`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseEntry {
    pub id: String,
    /// The commit in its `REVISION`; `None` for an incomplete release.
    pub sha: Option<String>,
    /// `YYYY-mm-dd HH:MM:SS`, UTC, from the id.
    pub date: String,
    /// `current` points at it.
    pub current: bool,
    /// A failed rollout marked it (`releases/<ID>/.deliver-failed`): when, why, by whom
    /// (empty strings when the file holds no mark deliver wrote); `null` otherwise.
    pub failed: Option<crate::plan::failed::Mark>,
}

/// What one process type runs on a host (`deliver status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessStatus {
    #[serde(rename = "type")]
    pub name: String,
    pub instances: usize,
    pub active: usize,
    /// How many answered the health check; only for `health.process`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthy: Option<usize>,
    /// deliver.toml's count, when `deliver scale` set `instances`; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub configured: Option<u32>,
    pub units: Vec<UnitStatus>,
}

/// One instance's unit on a host (`deliver status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnitStatus {
    pub unit: String,
    pub port: u16,
    /// The supervisor's state (`active`, `failed`, ...).
    pub state: String,
    /// Whether it answered the health check; absent when it was not checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_error: Option<String>,
    /// How often systemd restarted it by itself since it was last started (`NRestarts`: a
    /// recycle after `max_lifetime`, a kill past `memory_max`, a crash); absent for upstart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restarts: Option<u32>,
    /// How its last run that ended ended, as systemd logged it (`UNIT_RESULT`: `oom-kill`,
    /// `signal`, `timeout`, ...; from the journal, else a current `Result` that is not
    /// `success`); absent when neither says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_result: Option<String>,
    /// How the main process of that run ended (`killed by SIGKILL`, `exited with status 1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_exit: Option<String>,
}

/// A host's cores against the instances of every deliver app on it (`deliver status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cores {
    pub cpus: u32,
    /// N-1 (at least 1): what the apps may take together.
    pub room: u32,
    /// The instances of every app together.
    pub instances: u32,
    /// `instances > room`: the apps fight for the CPU.
    pub over: bool,
    pub apps: Vec<AppInstances>,
}

/// One deliver app on a host, as its installed target says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppInstances {
    /// `user:<name>` or `system`.
    pub owner: String,
    pub app: String,
    pub instances: u32,
}

/// Who held a removed lock (`deliver unlock`): deliver's `holder.json`, or the file's text
/// when it is not deliver's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum LockHolder {
    Holder(Holder),
    Text(String),
}

impl LockHolder {
    /// A `holder.json` as read from a host: deliver's, or its text.
    pub fn read(text: &str) -> LockHolder {
        Holder::parse(text).map_or_else(|| LockHolder::Text(text.to_owned()), LockHolder::Holder)
    }
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockHolder::Holder(h) => write!(f, "{h}"),
            LockHolder::Text(t) => write!(f, "{t:?}"),
        }
    }
}
