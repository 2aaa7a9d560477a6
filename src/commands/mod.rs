//! One handler per subcommand: glue between the command line, the resolved config and the
//! work modules. Handlers return an `Outcome`; errors that mean bad input map to exit 2.

mod check;
mod check_online;
mod deploy;
mod env;
mod env_input;
mod export;
mod fleet;
mod held;
mod history;
mod hosts;
pub mod init;
mod input_check;
mod local_hooks;
mod logs;
mod project;
mod proxy_check;
mod readiness;
mod releases;
mod remote_run;
mod rollback;
mod scale;
mod setup;
mod status;
mod status_view;
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
    match &cli.command {
        Some(Command::Check(args)) if args.offline => check::run(args, config, ui),
        Some(Command::Check(args)) => check_online::run(args, config, ui),
        Some(Command::Deploy(args)) => deploy::run(args, config, ui),
        Some(Command::Rollback(args)) => rollback::run(args, config, ui),
        None => deploy::run(&crate::cli::DeployArgs::default(), config, ui),
        Some(Command::Export(args)) => export::run(args, config, ui),
        Some(Command::Init(args)) => init::run(args, config, ui),
        Some(Command::Completions(args)) => {
            let mut out = Vec::new();
            clap_complete::generate(args.shell, &mut Cli::command(), "deliver", &mut out);
            ui.data(&String::from_utf8_lossy(&out));
            Ok(Outcome::Done)
        }
        Some(Command::Implied(_)) => unreachable!("Cli::parse_args turns it into Deploy"),
        Some(Command::Setup(args)) => setup::run(args, config, ui),
        Some(Command::Trust(args)) => trust::run(args, config, ui),
        Some(Command::Releases(args)) => releases::run(args, config, ui),
        Some(Command::Status(args)) => status::run(args, config, ui),
        Some(Command::History(args)) => history::run(args, config, ui),
        Some(Command::Logs(args)) => logs::run(args, config, ui),
        Some(Command::Run(args)) => remote_run::run(args, config, ui),
        Some(Command::Unlock(args)) => unlock::run(args, config, ui),
        Some(Command::Env(args)) => env::run(args, config, ui),
        Some(Command::Scale(args)) => scale::run(args, config, ui),
    }
}

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
