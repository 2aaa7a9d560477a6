//! `deliver logs [ENV] [-p TYPE] [-n N] [-f]`: the supervisor's logs of the app's processes
//! on every host at once, each line printed as `HOST | line` as it arrives; `-f` follows
//! (one thread and session per host) until interrupted. SIGINT or SIGTERM ends it quietly,
//! with exit 0 (as `journalctl -f` and `kamal app logs -f` end): each host's channel is
//! closed, which ends the follower there (it loses its output), and the sessions close.

use std::path::Path;

use anyhow::{anyhow, Result};

use super::fleet::{self, Fleet};
use super::project::Project;
use super::UsageError;
use crate::cli::LogsArgs;
use crate::config::Supervisor;
use crate::deploy::interrupt;
use crate::outcome::Outcome;
use crate::plan::{facts, inspect};
use crate::release::Formation;
use crate::remote::{RemoteError, Stream};
use crate::ui::Ui;

/// Lines per host when `-n` is not given.
const DEFAULT_LINES: u32 = 50;

pub fn run(args: &LogsArgs, config_path: &Path, ui: &Ui) -> Result<Outcome> {
    let project = Project::load(config_path)?;
    if let Some(only) = &args.process {
        if !project.types.iter().any(|t| t.name == *only) {
            let names: Vec<&str> = project.types.iter().map(|t| t.name.as_str()).collect();
            return Err(UsageError(format!(
                "-p {only}: not a process type of {} (its types: {})",
                project.procfile_path.display(),
                names.join(", ")
            ))
            .into());
        }
    }
    let fleet = Fleet::load(config_path, args.env.as_deref(), ui)?;
    let env = &fleet.env;
    let lines = args.lines.unwrap_or(DEFAULT_LINES);
    // Ctrl-C ends the run through `interrupt::interrupted` (checked by every host's channel),
    // not by killing the process with channels open.
    interrupt::catch_interrupts();
    let results = fleet.each(|spec, _, remote| {
        // systemd's journal is asked per type; upstart logs one file per instance job, so
        // there the host's CPU count ("auto") and the counts `deliver scale` set matter.
        let (cpus, scaled) = if env.supervisor == Supervisor::Upstart {
            let facts = fleet::facts(
                remote,
                &facts::gather(
                    &fleet.layout,
                    &env.app,
                    env.supervisor,
                    facts::Depth::Layout,
                ),
            )?;
            (facts.cpus.unwrap_or(1), facts.scale)
        } else {
            (1, crate::plan::scale::Counts::new())
        };
        let formation = Formation::for_environment(&project.types, env, cpus)?.scaled(&scaled)?;
        let script = inspect::logs(
            env.supervisor,
            &env.app,
            &formation,
            args.process.as_deref(),
            lines,
            args.follow,
        );
        let host = spec.to_string();
        let out = remote.run_until(
            &script,
            &mut |stream, line| {
                ui.host_output(&host, stream == Stream::Stderr, line);
            },
            &interrupt::interrupted,
        );
        let out = match out {
            Err(RemoteError::Interrupted { .. }) => return Ok(()),
            other => other?,
        };
        if out.status == 0 {
            Ok(())
        } else {
            Err(anyhow!("reading the logs exited {}", out.status))
        }
    })?;
    fleet::failures(ui, "logs", &results)?;
    Ok(Outcome::Done)
}
