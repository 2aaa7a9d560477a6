//! `deliver run [ENV] -- CMD...`: runs CMD in the `current` release on every host at once,
//! with `[env]` and `shared/.env`, each output line printed as `HOST | line` as it arrives.
//! Exit 0 when it exits 0 everywhere, else 1 naming each host and its status.

use std::path::Path;

use anyhow::{anyhow, Result};

use super::fleet::{self, Fleet};
use crate::cli::RunArgs;
use crate::outcome::Outcome;
use crate::plan::inspect;
use crate::remote::Stream;
use crate::shell::quote;
use crate::ui::event::Event;
use crate::ui::Ui;

pub fn run(args: &RunArgs, config_path: &Path, ui: &Ui) -> Result<Outcome> {
    let fleet = Fleet::load(config_path, args.env.as_deref(), ui)?;
    let script = inspect::run_in_current(&fleet.layout, &fleet.env.vars, &command_line(&args.cmd));
    let results = fleet.each(|spec, _, remote| {
        let host = spec.to_string();
        let out = remote.run(&script, &mut |stream, line| {
            ui.host_output(&host, stream == Stream::Stderr, line);
        })?;
        Ok(out.status)
    })?;
    let mut failed = Vec::new();
    for r in &results {
        let Ok(status) = r.result else { continue };
        ui.event(&Event::HostExited {
            host: r.host.clone(),
            status,
        });
        match status {
            0 => {}
            inspect::NO_CURRENT => failed.push(format!("nothing deployed on {}", r.host)),
            n => failed.push(format!("{} (exit {n})", r.host)),
        }
    }
    fleet::failures(ui, "run", &results)?;
    if failed.is_empty() {
        Ok(Outcome::Done)
    } else {
        Err(anyhow!("the command failed on {}", failed.join(", ")))
    }
}

/// The shell command for `CMD...`: one argument is a command line as written (like `ssh
/// host 'a | b'`); several are words, each quoted (`sh -c 'exit 3'` stays three words).
fn command_line(words: &[String]) -> String {
    match words {
        [one] => one.clone(),
        _ => words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_words_are_quoted_one_is_a_command_line() {
        let words = |w: &[&str]| w.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            command_line(&words(&["sh", "-c", "exit 3"])),
            "sh -c 'exit 3'"
        );
        assert_eq!(command_line(&words(&["cat", "it's"])), "cat 'it'\\''s'");
        assert_eq!(command_line(&words(&["ls | wc -l"])), "ls | wc -l");
    }
}
