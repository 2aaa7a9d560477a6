//! Formation (which instances of which types run on a host) and port arithmetic:
//! `PORT = port_base + 100*type_index + (instance-1)`. Pure: the CPU count is passed in.

use crate::config::Location;
use crate::config::ProcessSetting;
use crate::procfile::ProcessType;

/// Highest instance count per type, for a number and for `"auto"`.
pub const MAX_INSTANCES: u32 = 100;

/// The instances of every Procfile type on one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Formation {
    pub port_base: u16,
    /// Every Procfile type, in Procfile order (types with 0 instances included).
    pub types: Vec<TypeFormation>,
    /// The CPU count `"auto"` was resolved with, if any type used `"auto"`.
    pub auto_cpus: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeFormation {
    pub name: String,
    pub command: String,
    /// Position in the Procfile (0-based): ports start at `port_base + 100*index`.
    pub index: usize,
    /// 0 = off.
    pub instances: u32,
    /// The count came from `"auto"`.
    pub auto: bool,
}

/// One running process: instance `number` (1-based) of type `type_name` on `port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub type_name: String,
    pub number: u32,
    pub port: u16,
}

/// A formation that cannot run: a `[processes]` key naming no Procfile type, or ports that
/// do not fit in 1..=65535.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", location.as_ref().map(|l| format!("{l}: ")).unwrap_or_default())]
pub struct FormationError {
    pub location: Option<Location>,
    pub message: String,
}

impl Formation {
    /// Applies `[processes]` to the Procfile types: unlisted types get 1 instance, `"auto"`
    /// becomes `cpus - 1` clamped to 1..=100. Fails on a key that names no type (the message
    /// lists the types) and when the highest port exceeds 65535.
    pub fn resolve(
        types: &[ProcessType],
        settings: &[ProcessSetting],
        port_base: u16,
        cpus: u32,
    ) -> Result<Formation, FormationError> {
        let _ = (types, settings, port_base, cpus);
        todo!("issue 3: formation")
    }

    /// Every instance in start order: types in Procfile order, then instance number.
    pub fn instances(&self) -> Vec<Instance> {
        todo!("issue 3: formation")
    }
}
