//! `deliver history [ENV] [-n N]`: the deploy log of every host of the environment (one round
//! trip each, in parallel), merged into one line per deploy or rollback, newest first: when,
//! who, action, release, commit, result, duration, and the hosts (each with its result when
//! they differ). Runs that changed nothing (no-ops, dry runs) are not logged.

use std::path::Path;

use anyhow::{anyhow, Result};

use super::fleet::{self, Fleet};
use crate::cli::HistoryArgs;
use crate::outcome::Outcome;
use crate::plan::history::{self, Run};
use crate::ui::event::Event;
use crate::ui::human::human_ms;
use crate::ui::Ui;

pub fn run(args: &HistoryArgs, config_path: &Path, ui: &Ui) -> Result<Outcome> {
    let fleet = Fleet::load(config_path, args.env.as_deref(), ui)?;
    let script = history::read(&fleet.layout);
    let results = fleet.each(|_, _, remote| {
        let out = remote.run(&script, &mut |_, _| {})?;
        if out.status != 0 {
            return Err(anyhow!(
                "reading the deploy log exited {}: {}",
                out.status,
                out.stderr.trim()
            ));
        }
        Ok(history::parse(&out.stdout))
    })?;
    let mut logs = Vec::new();
    for r in &results {
        let Ok((lines, skipped)) = &r.result else {
            continue;
        };
        if *skipped > 0 {
            ui.warn(&format!(
                "{}: {skipped} line(s) of the deploy log are not deliver's: skipped",
                r.host
            ));
        }
        logs.push((r.host.clone(), lines.clone()));
    }
    let runs = history::merge(&logs, args.runs);
    if ui.json {
        for run in runs {
            ui.event(&Event::HistoryRun(run));
        }
    } else {
        for line in table(&runs) {
            ui.result(&line);
        }
    }
    fleet::failures(ui, "history", &results)?;
    Ok(Outcome::Done)
}

/// The runs under a header; `no deploys yet` when there are none.
fn table(runs: &[Run]) -> Vec<String> {
    if runs.is_empty() {
        return vec!["no deploys yet".to_owned()];
    }
    let rows: Vec<[String; 8]> = runs
        .iter()
        .map(|r| {
            let hosts: Vec<String> = r
                .hosts
                .iter()
                .map(|h| match r.result.as_str() {
                    "mixed" => format!("{} {}", h.host, h.result),
                    _ => h.host.clone(),
                })
                .collect();
            [
                r.when
                    .replacen('T', " ", 1)
                    .trim_end_matches('Z')
                    .to_owned(),
                r.who.clone(),
                r.action.clone(),
                r.release.clone(),
                r.sha[..r.sha.len().min(7)].to_owned(),
                r.result.clone(),
                r.ms.map_or_else(|| "-".to_owned(), human_ms),
                hosts.join(", "),
            ]
        })
        .collect();
    let header = [
        "WHEN (UTC)",
        "WHO",
        "ACTION",
        "RELEASE",
        "COMMIT",
        "RESULT",
        "TIME",
        "HOSTS",
    ];
    let widths: Vec<usize> = (0..8)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].len())
                .fold(header[i].len(), usize::max)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:w$}"))
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    let mut lines = vec![line(header.to_vec())];
    lines.extend(
        rows.iter()
            .map(|r| line(r.iter().map(String::as_str).collect())),
    );
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::history::HostRun;

    #[test]
    fn the_table_names_each_hosts_result_when_they_differ() {
        let host = |host: &str, result: &str| HostRun {
            host: host.into(),
            result: result.into(),
            ms: Some(1),
        };
        let run = |action: &str, result: &str, hosts: Vec<HostRun>| Run {
            when: "2026-11-23T08:44:23Z".into(),
            who: "bob@laptop".into(),
            action: action.into(),
            release: "20261123084423-abc1234".into(),
            sha: "abc1234def".into(),
            result: result.into(),
            ms: Some(4200),
            hosts,
        };
        let runs = [
            run(
                "rollback",
                "done",
                vec![host("h1", "done"), host("h2", "done")],
            ),
            run(
                "deploy",
                "mixed",
                vec![host("h1", "reverted"), host("h2", "failed")],
            ),
        ];
        insta::assert_snapshot!(table(&runs).join("\n"), @r"
        WHEN (UTC)           WHO         ACTION    RELEASE                 COMMIT   RESULT  TIME   HOSTS
        2026-11-23 08:44:23  bob@laptop  rollback  20261123084423-abc1234  abc1234  done    4.2 s  h1, h2
        2026-11-23 08:44:23  bob@laptop  deploy    20261123084423-abc1234  abc1234  mixed   4.2 s  h1 reverted, h2 failed
        ");
        assert_eq!(table(&[]), ["no deploys yet"]);
    }
}
