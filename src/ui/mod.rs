//! Everything deliver prints goes through here. `Ui` decides visibility (quiet, verbose,
//! colour, JSON) once, from the global flags and the environment.

#![allow(clippy::print_stdout, clippy::print_stderr)]

pub mod event;
pub mod human;
pub mod json;
pub mod printable;
mod progress;
pub mod record;

use std::io::{BufRead, IsTerminal, Write};

use crate::cli::{ColorChoice, GlobalArgs};
use event::{Event, StreamName};
use printable::printable;

pub struct Ui {
    pub quiet: bool,
    pub verbose: bool,
    pub json: bool,
    color: bool,
}

impl Ui {
    pub fn new(g: &GlobalArgs) -> Ui {
        let color = match g.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stderr().is_terminal()
                    && std::env::var_os("CI").is_none()
            }
        };
        Ui {
            quiet: g.quiet,
            verbose: g.verbose,
            json: g.json,
            color,
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// `error: <top>` then one `caused by:` line per source.
    pub fn error(&self, err: &anyhow::Error) {
        self.event(&Event::Error {
            message: err.to_string(),
            causes: err.chain().skip(1).map(ToString::to_string).collect(),
        });
        eprintln!(
            "{} {}",
            self.paint("1;31", "error:"),
            printable(&err.to_string())
        );
        for cause in err.chain().skip(1) {
            eprintln!(
                "  {} {}",
                self.paint("2", "caused by:"),
                printable(&cause.to_string())
            );
        }
    }

    /// A result line on stdout (suppressed by --quiet and --json).
    pub fn out(&self, text: &str) {
        if !self.quiet && !self.json {
            println!("{text}");
        }
    }

    /// Data the user asked for on stdout (export, completions): printed even with --quiet.
    pub fn data(&self, text: &str) {
        print!("{text}");
    }

    /// Under --json, a command's event as one JSON line on stdout (`ts`, `event`, then its
    /// fields); nothing otherwise: the command prints its own view of it for people.
    pub fn event(&self, event: &Event) {
        if self.json {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            println!("{}", json::JsonReporter::line(event, None, now));
        }
    }

    /// A line of what the user asked for (a table row, remote output) on stdout: printed
    /// with --quiet too; callers print JSON instead under --json.
    pub fn result(&self, text: &str) {
        println!("{text}");
    }

    /// A line of remote output as `HOST | line`, on stdout or stderr as it came; under
    /// --json a `host.output` record on stdout.
    pub fn host_output(&self, host: &str, stderr: bool, line: &str) {
        if self.json {
            self.event(&Event::HostOutput {
                host: host.to_owned(),
                stream: if stderr {
                    StreamName::Stderr
                } else {
                    StreamName::Stdout
                },
                line: line.to_owned(),
            });
        } else if stderr {
            eprintln!("{host} | {line}");
        } else {
            println!("{host} | {line}");
        }
    }

    /// Asks `question [y/N] ` on stderr and reads the answer from stdin: true for y or yes.
    pub fn confirm(&self, question: &str) -> std::io::Result<bool> {
        let mut err = std::io::stderr().lock();
        write!(err, "{question} [y/N] ")?;
        err.flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        Ok(matches!(
            answer.trim().to_ascii_lowercase().as_str(),
            "y" | "yes"
        ))
    }

    /// A notice on stderr (suppressed by --quiet).
    pub fn note(&self, text: &str) {
        if !self.quiet {
            eprintln!("{}", printable(text));
        }
    }

    pub fn warn(&self, text: &str) {
        eprintln!("{} {}", self.paint("1;33", "warning:"), printable(text));
    }

    /// The reporter for deploy-like commands: JSON lines, spinners on a terminal, or plain
    /// `host | message` lines (not a terminal, or `CI` set).
    pub fn reporter(&self) -> Box<dyn event::Reporter> {
        if self.json {
            Box::new(json::JsonReporter::default())
        } else {
            let terminal = std::io::stdout().is_terminal() && std::env::var_os("CI").is_none();
            Box::new(human::HumanReporter::new(
                self.verbose,
                self.quiet,
                terminal,
            ))
        }
    }

    pub fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }
}
