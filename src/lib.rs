//! deliver: deploys an app from its git repo to Linux servers over SSH with zero-downtime
//! restarts. `run` parses the command line, dispatches to `commands::`, prints the error (once)
//! and maps the `Outcome` to an exit code. Only `ui::` prints.

#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod cli;
pub mod commands;
pub mod config;
pub mod deploy;
pub mod outcome;
pub mod parallel;
pub mod plan;
pub mod procfile;
pub mod release;
pub mod release_id;
pub mod remote;
pub mod render;
pub mod shell;
pub mod sizing;
pub mod ui;

use std::ffi::OsString;
use std::process::ExitCode;

pub use outcome::Outcome;

/// Runs deliver with these arguments (the first is the program name).
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match cli::Cli::parse_args(args) {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and usage errors to stderr (exit 2).
            let _ = e.print();
            return if e.use_stderr() {
                Outcome::Usage.into()
            } else {
                Outcome::Done.into()
            };
        }
    };
    let ui = ui::Ui::new(&cli.global);
    match commands::dispatch(&cli, &ui) {
        Ok(outcome) => outcome.into(),
        Err(err) => {
            ui.error(&err);
            commands::outcome_of(&err).into()
        }
    }
}
