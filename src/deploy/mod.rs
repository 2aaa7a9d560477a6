//! Orchestration of deploys and rollbacks across hosts: prepare in parallel, switch batch by
//! batch following `policy`, revert on failure, and report `Event`s. Hosts are reached only
//! through `remote::Remote`, so tests drive this with a recorder.

pub mod engine;
pub mod policy;

#[cfg(test)]
mod tests;
