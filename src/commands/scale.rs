//! `deliver scale TYPE=N... [--env NAME] [--lock-wait D] [--dry-run]` (SPEC §9): changes how
//! many instances of Procfile types run on every host, without a new release. A rollout of
//! the release every host runs, to itself, through the same pipeline as a rollback (lock,
//! proxy, revert, `--json` events), where only what the counts add starts (all at once,
//! gated, listed in the proxy's upstream once healthy) and what they drop is drained and
//! stopped: the running instances are not touched. The counts are recorded on each host
//! (`plan::scale`) for `status` and the restarts of `env`; the next deploy or rollback
//! applies deliver.toml again and says which counts that changes (`formation.changed`).

use std::path::Path;

use anyhow::Result;

use super::project::Project;
use super::rollback::{self, Kind};
use super::UsageError;
use crate::cli::{RollbackArgs, ScaleArgs};
use crate::config::Environment;
use crate::outcome::Outcome;
use crate::plan::scale::{self, Counts};
use crate::release::Formation;
use crate::ui::Ui;

pub fn run(args: &ScaleArgs, config_path: &Path, ui: &Ui) -> Result<Outcome> {
    let counts = scale::parse_args(&args.counts).map_err(UsageError)?;
    let rollback = RollbackArgs {
        env: args.env.clone(),
        to: None,
        force: false,
        lock_wait: args.lock_wait,
        dry_run: args.dry_run,
    };
    rollback::run_with(&rollback, config_path, ui, &Kind::Scale(counts))
}

/// The counts against the Procfile of the release that runs: every type one of its types,
/// the health process never 0 where a proxy serves it (nginx would have no server), and
/// every port within 65535. Bad counts are bad input (exit 2), refused before anything
/// changes on a host.
pub(super) fn check_counts(project: &Project, env: &Environment, counts: &Counts) -> Result<()> {
    let names: Vec<&str> = project.types.iter().map(|t| t.name.as_str()).collect();
    if let Some(unknown) = counts.keys().find(|k| !names.contains(&k.as_str())) {
        return Err(UsageError(format!(
            "`{unknown}` is no process type of the Procfile (its types: {})",
            names.join(", ")
        ))
        .into());
    }
    let process = &env.health.process;
    if counts.get(process) == Some(&0) && env.proxy.is_some() {
        return Err(UsageError(format!(
            "`{process}=0`: `{process}` is health.process, which the proxy's upstream serves; \
             it would have no server (scale it to 1 or more)"
        ))
        .into());
    }
    // Ports do not depend on the CPU count of the types the counts leave alone.
    Formation::for_environment(&project.types, env, super::input_check::ANY_CPUS)
        .and_then(|f| f.scaled(counts))
        .map_err(|e| UsageError(e.message))?;
    Ok(())
}
