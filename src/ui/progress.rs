//! The terminal view of `ui::human`: one indicatif spinner per host showing its latest
//! step, until the host is finished; then the spinner stops and the host's line ends with its
//! result ([`Ends`], pure and tested). Remote scripts and `-v` output print above the
//! spinners; the summary prints below them.

#![allow(clippy::print_stdout)]

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use super::event::Event;

#[derive(Default)]
pub(super) struct Bars {
    multi: MultiProgress,
    state: Mutex<BarState>,
}

#[derive(Default)]
struct BarState {
    /// Each host's spinner, and the hosts in `DeployStart` order.
    bars: HashMap<String, ProgressBar>,
    names: Vec<String>,
    ends: Ends,
}

/// What each host's line ends with, once the host is finished: pure, so that what the lines
/// say is tested without a terminal.
#[derive(Debug, Default)]
pub struct Ends {
    /// Host -> its result.
    done: HashMap<String, String>,
    /// Hosts whose line ended at `host.done`: the summary still gives their final word.
    provisional: std::collections::HashSet<String>,
}

impl Ends {
    /// The host lines `event` ends, with the text each ends with. A failure or a revert ends
    /// a host's line (a later one replaces the text: failed, then reverted); the summary, or
    /// a no-op, ends every line of `hosts` not ended yet with the host's result.
    pub fn update(&mut self, event: &Event, hosts: &[String]) -> Vec<(String, String)> {
        let ended: Vec<(String, String)> = match event {
            Event::HostFailed { host, step, error } => {
                vec![(host.clone(), format!("FAILED in {step}: {error}"))]
            }
            Event::HostReverted { host } => {
                vec![(host.clone(), "reverted to the previous release".to_owned())]
            }
            Event::HostDone { host, .. } => {
                self.provisional.insert(host.clone());
                vec![(host.clone(), "switched and healthy".to_owned())]
            }
            Event::DeployNoop { .. } => hosts
                .iter()
                .filter(|h| !self.done.contains_key(*h))
                .map(|h| (h.clone(), "unchanged".to_owned()))
                .collect(),
            Event::DeployDone { summary, .. } | Event::DeployFailed { summary, .. } => summary
                .iter()
                .filter(|r| !self.done.contains_key(&r.host) || self.provisional.contains(&r.host))
                .map(|r| (r.host.clone(), r.result.clone()))
                .collect(),
            _ => Vec::new(),
        };
        for (host, text) in &ended {
            if !matches!(event, Event::HostDone { .. }) {
                self.provisional.remove(host);
            }
            self.done.insert(host.clone(), text.clone());
        }
        ended
    }

    /// Whether `host`'s line has ended (later progress no longer shows on it).
    pub fn is_done(&self, host: &str) -> bool {
        self.done.contains_key(host)
    }
}

impl Bars {
    /// Shows `event`, whose plain line is `line`.
    pub(super) fn event(&self, event: &Event, line: String, verbose: bool) {
        if let Event::HostScript { .. } = event {
            // Many lines, all wanted: above the spinners, on stdout as off a terminal.
            self.multi.suspend(|| println!("{line}"));
            return;
        }
        let mut state = self.state.lock().expect("reporter lock");
        if let Event::DeployStart { hosts: names, .. } = event {
            let style = ProgressStyle::with_template("{spinner} {prefix:.bold} {wide_msg}")
                .expect("valid template");
            let width = names.iter().map(String::len).max().unwrap_or(0);
            for name in names {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(style.clone());
                bar.set_prefix(format!("{name:width$}"));
                bar.enable_steady_tick(Duration::from_millis(120));
                state.bars.insert(name.clone(), bar);
            }
            state.names.clone_from(names);
            let _ = self.multi.println(line);
            return;
        }
        let BarState {
            bars: hosts,
            names,
            ends,
        } = &mut *state;
        // A finished host's line stops spinning and ends with its result.
        for (host, text) in ends.update(event, names) {
            if let Some(bar) = hosts.get(&host) {
                bar.finish_with_message(text);
            }
        }
        let bar = event
            .host()
            .and_then(|h| Some((hosts.get(h)?, ends.is_done(h))));
        match (bar, event) {
            // Hook output: the latest line on the spinner; every line above it with -v.
            (Some((bar, done)), Event::HostOutput { line: text, .. }) => {
                if !done {
                    bar.set_message(text.clone());
                }
                if verbose {
                    let _ = self.multi.println(line);
                }
            }
            // Its latest step, until the host's line has ended with its result.
            (Some((bar, false)), _) => bar.set_message(
                line.split_once(" | ")
                    .map_or(line.clone(), |(_, m)| m.to_string()),
            ),
            (Some((_, true)), _) => {}
            (
                None,
                Event::DeployDone { .. } | Event::DeployFailed { .. } | Event::DeployNoop { .. },
            ) => {
                // Hosts the summary does not name (it failed before they were reached).
                for bar in hosts.values().filter(|b| !b.is_finished()) {
                    bar.finish_and_clear();
                }
                println!("{line}");
            }
            (None, _) => {
                let _ = self.multi.println(line);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::event::SummaryRow;

    #[test]
    fn a_host_done_before_the_others_ends_its_line_and_the_summary_has_the_last_word() {
        let hosts = ["h1".to_owned(), "h2".to_owned()];
        let mut ends = Ends::default();
        let done = Event::HostDone {
            host: "h1".into(),
            ms: 800,
        };
        assert_eq!(
            ends.update(&done, &hosts),
            [("h1".into(), "switched and healthy".into())]
        );
        assert!(ends.is_done("h1") && !ends.is_done("h2"));
        let summary = Event::DeployDone {
            ms: 9,
            summary: vec![
                SummaryRow {
                    host: "h1".into(),
                    release: "r".into(),
                    ms: 800,
                    result: "deployed".into(),
                },
                SummaryRow {
                    host: "h2".into(),
                    release: "r".into(),
                    ms: 900,
                    result: "deployed".into(),
                },
            ],
        };
        assert_eq!(
            ends.update(&summary, &hosts),
            [
                ("h1".into(), "deployed".into()),
                ("h2".into(), "deployed".into())
            ]
        );
    }

    #[test]
    fn a_finished_hosts_line_ends_with_its_result() {
        let hosts = ["h1".to_owned(), "h2".to_owned(), "h3".to_owned()];
        let row = |host: &str, result: &str| SummaryRow {
            host: host.into(),
            release: "r".into(),
            ms: 1,
            result: result.into(),
        };
        let mut ends = Ends::default();
        let healthy = Event::InstanceHealthy {
            host: "h1".into(),
            unit: "shop-web@5000.service".into(),
            ms: 5,
        };
        assert_eq!(ends.update(&healthy, &hosts), []);
        let failed = Event::HostFailed {
            host: "h2".into(),
            step: "health".into(),
            error: "GET /health answered 503".into(),
        };
        assert_eq!(
            ends.update(&failed, &hosts),
            [(
                "h2".into(),
                "FAILED in health: GET /health answered 503".into()
            )]
        );
        assert!(ends.is_done("h2") && !ends.is_done("h1"));
        let reverted = Event::HostReverted { host: "h2".into() };
        assert_eq!(
            ends.update(&reverted, &hosts),
            [("h2".into(), "reverted to the previous release".into())]
        );
        // The summary ends the other lines; h2's keeps what it said.
        let summary = Event::DeployFailed {
            error: "h2: health".into(),
            code: 4,
            summary: vec![
                row("h1", "reverted"),
                row("h2", "reverted"),
                row("h3", "skipped"),
            ],
        };
        assert_eq!(
            ends.update(&summary, &hosts),
            [
                ("h1".into(), "reverted".into()),
                ("h3".into(), "skipped".into())
            ]
        );
        let mut ends = Ends::default();
        let done = Event::DeployDone {
            ms: 9,
            summary: vec![row("h1", "deployed"), row("h2", "unchanged")],
        };
        assert_eq!(
            ends.update(&done, &hosts[..2]),
            [
                ("h1".into(), "deployed".into()),
                ("h2".into(), "unchanged".into())
            ]
        );
        let mut ends = Ends::default();
        let noop = Event::DeployNoop {
            reason: "every host runs abcdef1".into(),
        };
        assert_eq!(
            ends.update(&noop, &hosts[..1]),
            [("h1".into(), "unchanged".into())]
        );
    }
}
