//! One handler per subcommand: glue between the command line, the resolved config and the
//! work modules. Handlers return an `Outcome`; errors that mean bad input map to exit 2.

mod check;
mod check_online;
mod deploy;
mod export;
mod fleet;
mod hosts;
pub mod init;
mod logs;
mod project;
mod readiness;
mod releases;
mod remote_run;
mod setup;
mod status;
mod trust;
mod unlock;

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::{Cli, Command};
use crate::outcome::Outcome;
use crate::ui::Ui;

/// Runs the command of `cli`.
pub fn dispatch(cli: &Cli, ui: &Ui) -> Result<Outcome> {
    let config = cli.global.config.as_path();
    let name = match &cli.command {
        Some(Command::Check(args)) if args.offline => return check::run(args, config, ui),
        Some(Command::Check(args)) => return check_online::run(args, config, ui),
        Some(Command::Deploy(args)) => return deploy::run(args, config, ui),
        None => return deploy::run(&crate::cli::DeployArgs::default(), config, ui),
        Some(Command::Export(args)) => return export::run(args, config, ui),
        Some(Command::Init(args)) => return init::run(args, config, ui),
        Some(Command::Completions(args)) => {
            let mut out = Vec::new();
            clap_complete::generate(args.shell, &mut Cli::command(), "deliver", &mut out);
            ui.data(&String::from_utf8_lossy(&out));
            return Ok(Outcome::Done);
        }
        Some(Command::Implied(_)) => unreachable!("Cli::parse_args turns it into Deploy"),
        Some(Command::Rollback(_)) => "rollback",
        Some(Command::Setup(args)) => return setup::run(args, config, ui),
        Some(Command::Trust(args)) => return trust::run(args, config, ui),
        Some(Command::Releases(args)) => return releases::run(args, config, ui),
        Some(Command::Status(args)) => return status::run(args, config, ui),
        Some(Command::Logs(args)) => return logs::run(args, config, ui),
        Some(Command::Run(args)) => return remote_run::run(args, config, ui),
        Some(Command::Unlock(args)) => return unlock::run(args, config, ui),
    };
    Err(NotAvailable(name).into())
}

/// A command whose behaviour a later issue builds.
#[derive(Debug, thiserror::Error)]
#[error("`deliver {0}` is not available yet in this build")]
pub struct NotAvailable(pub &'static str);

/// The exit code an error stands for: invalid input is 2, anything else failed before any
/// host switched (1).
pub fn outcome_of(err: &anyhow::Error) -> Outcome {
    let usage = err.chain().any(|e| {
        e.is::<crate::config::ConfigError>()
            || e.is::<crate::procfile::ProcfileError>()
            || e.is::<crate::release::FormationError>()
            || e.is::<UsageError>()
    });
    if usage {
        Outcome::Usage
    } else {
        Outcome::FailedBeforeSwitch
    }
}

/// Bad usage found after parsing (a missing file, an unknown environment, ...): exit 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);
