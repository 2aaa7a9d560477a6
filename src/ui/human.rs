//! Events for people. On a terminal (and not under `CI`): one indicatif spinner per host
//! with its latest step, until the host is finished: then its line stops and ends with its
//! result (failed, reverted, or the summary's deployed, unchanged, ...; see `ui::progress`).
//! Otherwise plain `HOST | message` lines, one per event, which read well in CI logs. A
//! summary table ends every deploy and rollback.
//!
//! Remote scripts (`host.script`, emitted under `-v` and `--dry-run`) print as one
//! `HOST | $ line` per script line, above the spinners on a terminal. Hook output (stdout and
//! stderr alike: stderr is output, not a warning) is printed in full off a terminal; on one,
//! each host's spinner shows its latest line, and `-v` prints every line above the spinners.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fmt::Write as _;

use super::event::{Event, HookPhase, Reporter, SummaryRow};
use super::progress::Bars;

pub struct HumanReporter {
    verbose: bool,
    quiet: bool,
    /// `Some` on a terminal: spinners instead of lines.
    bars: Option<Bars>,
}

impl HumanReporter {
    pub fn new(verbose: bool, quiet: bool, terminal: bool) -> HumanReporter {
        let bars = (terminal && !quiet).then(Bars::default);
        HumanReporter {
            verbose,
            quiet,
            bars,
        }
    }

    /// The plain line for `event`, if it has one at this verbosity. Pure, for tests.
    pub fn line(&self, event: &Event) -> Option<String> {
        let host_line = |host: &str, msg: String| Some(format!("{host} | {msg}"));
        match event {
            Event::DeployStart {
                release,
                environment,
                action,
                sha,
                hosts,
            } => Some(format!(
                "{action} {} to {environment} ({}) as release {release}",
                &sha[..sha.len().min(7)],
                hosts.join(", ")
            )),
            Event::HostConnected { host, ms } => {
                host_line(host, format!("connected ({})", human_ms(*ms)))
            }
            Event::HostPushed {
                host,
                objects,
                bytes,
                ms,
            } => host_line(
                host,
                format!(
                    "pushed {objects} objects, {} ({})",
                    human_bytes(*bytes),
                    human_ms(*ms)
                ),
            ),
            Event::HostScript { host, script, .. } => Some(
                script
                    .lines()
                    .map(|l| format!("{host} | $ {l}").trim_end().to_string())
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            // Output, whichever stream it came on: tools write progress and notices on
            // stderr (systemctl's "Created symlink ..."); a failing step is `host.failed`.
            Event::HostOutput { host, line, .. } => host_line(host, line.clone()),
            Event::HostBuilt { host, ms } => host_line(host, format!("built ({})", human_ms(*ms))),
            Event::HostSwitched { host } => host_line(host, "switched `current`".to_string()),
            Event::HostDone { host, ms } => {
                host_line(host, format!("switched and healthy ({})", human_ms(*ms)))
            }
            Event::InstanceDrained {
                host,
                unit,
                ms,
                connections,
            } => host_line(host, drained(unit, *ms, *connections)),
            Event::ProxyReloaded {
                host,
                servers,
                down,
                ms,
            } => host_line(host, reloaded(*servers, *down, *ms)),
            Event::InstanceRestarted { host, unit } => host_line(host, format!("restarted {unit}")),
            Event::FormationChanged { .. }
            | Event::ReleaseStart { .. }
            | Event::ReleaseDone { .. }
            | Event::HostReconnected { .. } => run_line(event),
            Event::InstanceHealthy { host, unit, ms } => {
                host_line(host, format!("{unit} healthy ({})", human_ms(*ms)))
            }
            Event::HostFailed { host, step, error } => {
                host_line(host, format!("FAILED in {step}: {error}"))
            }
            Event::HostReverted { host } => {
                host_line(host, "reverted to the previous release".to_string())
            }
            Event::LockTakenOver { .. } | Event::LockWaiting { .. } => lock_line(event),
            Event::HookStart { .. }
            | Event::HookOutput { .. }
            | Event::HookDone { .. }
            | Event::HookFailed { .. }
            | Event::HookPlanned { .. } => hook_line(event),
            Event::DeployNoop { reason } => Some(format!("nothing to do: {reason}")),
            Event::DeployDone { ms, summary } => {
                Some(format!("{}done in {}", table(summary), human_ms(*ms)))
            }
            Event::DeployFailed {
                error,
                code,
                summary,
            } => Some(format!("{}failed (exit {code}): {error}", table(summary))),
            // No host came back (every revert failed): the failure lines and the table say
            // so; a bare `reverted` would say the opposite.
            Event::DeployReverted { hosts } if hosts.is_empty() => None,
            Event::DeployReverted { hosts } => Some(format!("reverted {}", hosts.join(", "))),
            // The host commands print their own tables and lines for these.
            Event::CheckEnvironment { .. }
            | Event::HostCheck(_)
            | Event::HostSetup(_)
            | Event::HostStatus { .. }
            | Event::HostReleases { .. }
            | Event::HistoryRun(_)
            | Event::HostExited { .. }
            | Event::HostUnlock { .. }
            | Event::EnvKeys { .. }
            | Event::EnvChanged { .. }
            | Event::HostKey { .. }
            | Event::TrustAdded { .. }
            | Event::Error { .. } => None,
        }
    }

    fn important(event: &Event) -> bool {
        matches!(
            event,
            Event::HostFailed { .. }
                | Event::HookFailed { .. }
                | Event::DeployDone { .. }
                | Event::DeployFailed { .. }
                | Event::DeployNoop { .. }
                | Event::DeployReverted { .. }
        )
    }
}

impl Reporter for HumanReporter {
    fn event(&self, event: &Event) {
        if self.quiet && !HumanReporter::important(event) {
            return;
        }
        let Some(line) = self.line(event) else { return };
        let Some(bars) = &self.bars else {
            if matches!(
                event,
                Event::HostFailed { .. } | Event::DeployFailed { .. } | Event::HookFailed { .. }
            ) {
                eprintln!("{line}");
            } else {
                println!("{line}");
            }
            return;
        };
        bars.event(event, line, self.verbose);
    }
}

/// The line of a held lock: taken over from a run that is gone, or waited for.
/// The release command's lines (`h2 | release command: bin/migrate`, `... done (1.2 s)`),
/// a reconnection, and `h1 | web: 3 -> 2 instances (deliver.toml applies again over
/// `deliver scale`)`.
fn run_line(event: &Event) -> Option<String> {
    match event {
        Event::HostReconnected { host } => {
            return Some(format!("{host} | connected again to clean up"));
        }
        Event::ReleaseStart { host, command } => {
            return Some(format!("{host} | release command: {command}"));
        }
        Event::ReleaseDone { host, ms } => {
            return Some(format!("{host} | release command done ({})", human_ms(*ms)));
        }
        _ => {}
    }
    let Event::FormationChanged {
        host,
        process,
        from,
        to,
        source,
        was_scaled,
    } = event
    else {
        return None;
    };
    let over = if *was_scaled {
        " applies again over `deliver scale`"
    } else {
        ""
    };
    Some(format!(
        "{host} | {process}: {from} -> {to} instances ({source}{over})"
    ))
}

fn lock_line(event: &Event) -> Option<String> {
    let host_line = |host: &str, msg: String| Some(format!("{host} | {msg}"));
    match event {
        Event::LockTakenOver { host, holder, age } => host_line(
            host,
            format!(
                "took over the lock of {}{}: its session on the host is gone",
                holder.as_ref().map_or_else(
                    || "a run that left no holder.json".to_owned(),
                    ToString::to_string
                ),
                age.as_ref()
                    .map(|a| format!(", taken {a} ago"))
                    .unwrap_or_default()
            ),
        ),
        Event::LockWaiting { host, holder, wait } => host_line(
            host,
            format!("locked by {holder}: waiting in line (up to {wait} more)"),
        ),
        _ => None,
    }
}

/// The line of a local hook's event: `local | ...`, or a warning for a failed `after` or
/// `failed` hook.
fn hook_line(event: &Event) -> Option<String> {
    match event {
        Event::HookStart { phase, command } => {
            Some(format!("local | {} hook: {command}", phase.as_str()))
        }
        Event::HookOutput { line, .. } => Some(format!("local | {line}")),
        Event::HookDone { phase, ms, .. } => Some(format!(
            "local | {} hook done ({})",
            phase.as_str(),
            human_ms(*ms)
        )),
        Event::HookFailed {
            phase,
            command,
            error,
        } => Some(match phase {
            HookPhase::Before => format!("local | before hook `{command}` failed: {error}"),
            _ => format!(
                "warning: {} hook `{command}` failed: {error} (the exit code stays)",
                phase.as_str()
            ),
        }),
        Event::HookPlanned { phase, command } => Some(format!(
            "local | would run {} hook: {command}",
            phase.as_str()
        )),
        _ => None,
    }
}

/// The summary table: host, release, duration, result.
fn table(rows: &[SummaryRow]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let w = |f: fn(&SummaryRow) -> usize, title: &str| {
        rows.iter().map(f).max().unwrap_or(0).max(title.len())
    };
    let (hw, rw) = (
        w(|r| r.host.len(), "HOST"),
        w(|r| r.release.len(), "RELEASE"),
    );
    let mut out = format!("{:hw$}  {:rw$}  {:>8}  RESULT\n", "HOST", "RELEASE", "TIME");
    for r in rows {
        let _ = writeln!(
            out,
            "{:hw$}  {:rw$}  {:>8}  {}",
            r.host,
            r.release,
            human_ms(r.ms),
            r.result
        );
    }
    out
}

/// `drained shop-web@5000.service (0.2 s)`, or how many connections a timeout left open.
fn drained(unit: &str, ms: u64, connections: u32) -> String {
    if connections == 0 {
        format!("drained {unit} ({})", human_ms(ms))
    } else {
        format!(
            "drain of {unit} timed out ({}): {connections} connection(s) still open",
            human_ms(ms)
        )
    }
}

/// `upstream reloaded: 6 server(s), 1 down (40 ms)`.
fn reloaded(servers: usize, down: usize, ms: u64) -> String {
    let down = if down > 0 {
        format!(", {down} down")
    } else {
        String::new()
    };
    format!(
        "upstream reloaded: {servers} server(s){down} ({})",
        human_ms(ms)
    )
}

pub fn human_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{}.{} s", ms / 1000, ms % 1000 / 100)
    }
}

pub fn human_bytes(bytes: u64) -> String {
    if bytes < 1024 {
        format!("{bytes} B")
    } else if bytes < 1024 * 1024 {
        format!("{}.{} KiB", bytes / 1024, bytes % 1024 * 10 / 1024)
    } else {
        format!("{}.{} MiB", bytes >> 20, ((bytes & 0xf_ffff) * 10) >> 20)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::event::StreamName;

    #[test]
    fn plain_lines_are_host_prefixed_and_end_with_a_summary_table() {
        let r = HumanReporter::new(false, false, false);
        let e = Event::HostPushed {
            host: "h1".into(),
            objects: 3,
            bytes: 2048,
            ms: 1500,
        };
        assert_eq!(
            r.line(&e).unwrap(),
            "h1 | pushed 3 objects, 2.0 KiB (1.5 s)"
        );
        let done = Event::DeployDone {
            ms: 2100,
            summary: vec![
                SummaryRow {
                    host: "h1".into(),
                    release: "20261123084423-abcdef1".into(),
                    ms: 900,
                    result: "deployed".into(),
                },
                SummaryRow {
                    host: "web-2".into(),
                    release: "20261123084423-abcdef1".into(),
                    ms: 1200,
                    result: "deployed".into(),
                },
            ],
        };
        insta::assert_snapshot!(r.line(&done).unwrap(), @r"
        HOST   RELEASE                     TIME  RESULT
        h1     20261123084423-abcdef1    900 ms  deployed
        web-2  20261123084423-abcdef1     1.2 s  deployed
        done in 2.1 s
        ");
    }

    #[test]
    fn scripts_print_one_host_prefixed_line_each() {
        let r = HumanReporter::new(true, false, false);
        let e = Event::HostScript {
            host: "web-1".into(),
            name: "release.build".into(),
            script: "# deliver: release.build\nset -eu\nexport API_TOKEN=[redacted]\n\n".into(),
        };
        insta::assert_snapshot!(r.line(&e).unwrap(), @r"
        web-1 | $ # deliver: release.build
        web-1 | $ set -eu
        web-1 | $ export API_TOKEN=[redacted]
        web-1 | $
        ");
    }

    #[test]
    fn every_line_of_remote_output_is_printed_as_output_whatever_its_stream() {
        for verbose in [false, true] {
            let r = HumanReporter::new(verbose, false, false);
            let out = |stream, line: &str| {
                r.line(&Event::HostOutput {
                    host: "h1".into(),
                    stream,
                    line: line.into(),
                })
            };
            assert_eq!(
                out(StreamName::Stdout, "added 3 packages").as_deref(),
                Some("h1 | added 3 packages")
            );
            assert_eq!(
                out(
                    StreamName::Stderr,
                    "Created symlink /home/app/.config/systemd/user/default.target.wants/shop.target"
                )
                .as_deref(),
                Some(
                    "h1 | Created symlink \
                     /home/app/.config/systemd/user/default.target.wants/shop.target"
                )
            );
            let long = "x".repeat(5000);
            assert_eq!(out(StreamName::Stdout, &long), Some(format!("h1 | {long}")));
        }
    }

    #[test]
    fn sizes_and_durations_read_naturally() {
        assert_eq!(human_ms(999), "999 ms");
        assert_eq!(human_ms(61_250), "61.2 s");
        assert_eq!(human_bytes(10), "10 B");
        assert_eq!(human_bytes(5 * 1024 * 1024 + 512 * 1024), "5.5 MiB");
    }
}
